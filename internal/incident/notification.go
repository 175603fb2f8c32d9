package incident

import "time"

// Notification is one message to one person, on one channel, about an incident or a
// case. Key makes it idempotent end to end: the queue drops a duplicate send and every
// channel records or delivers a key at most once.
type Notification struct {
	Key        string    `json:"key"`
	Event      string    `json:"event"`
	IncidentID string    `json:"incidentId,omitempty"`
	CaseID     string    `json:"caseId,omitempty"`
	Severity   Severity  `json:"severity"`
	Urgency    Urgency   `json:"urgency,omitempty"`
	To         string    `json:"to"`
	Channel    string    `json:"channel"`
	Address    string    `json:"address"`
	Subject    string    `json:"subject"`
	Text       string    `json:"text"`
	Link       string    `json:"link,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
}

// Notification events.
const (
	NotifyIncidentOpened = "incident-opened"
	NotifyCaseReceived   = "case-received"
)

// Channels a contact can be reached on.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)
