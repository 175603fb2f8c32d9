package incident

import "time"

// Notification is one message to one person, on one channel, about an incident or a
// case. Key makes it idempotent end to end: the queue drops a duplicate send and every
// channel records or delivers a key at most once.
type Notification struct {
	Key        string   `json:"key"`
	Event      string   `json:"event"`
	IncidentID string   `json:"incidentId,omitempty"`
	CaseID     string   `json:"caseId,omitempty"`
	Severity   Severity `json:"severity"`
	Urgency    Urgency  `json:"urgency,omitempty"`
	To         string   `json:"to"`
	Channel    string   `json:"channel"`
	Address    string   `json:"address"`
	Subject    string   `json:"subject"`
	Text       string   `json:"text"`
	Link       string   `json:"link,omitempty"`
	// AckURL is the signed, expiring link that acknowledges the incident as this
	// person; set on pages, empty on plain notifications.
	AckURL string `json:"ackUrl,omitempty"`
	// Person is the catalog id of the person paged, when the page came from on-call.
	Person string `json:"person,omitempty"`
	// Round and Step place a page in its escalation policy (both from 1);
	// Cycle and Position name the page on the incident.
	Round    int `json:"round,omitempty"`
	Cycle    int `json:"cycle,omitempty"`
	Position int `json:"position,omitempty"`
	// Operation, on a message of the notify queue, is a provider's operation
	// to check (ACS e-mail accepted but not yet sent), for the Checks-th time.
	Operation string `json:"operation,omitempty"`
	Checks    int    `json:"checks,omitempty"`
	// Deferrals counts how often a channel's Retry-After held it back.
	Deferrals int `json:"deferrals,omitempty"`
	// Flush, on a message of the notify queue, asks for the digest of the
	// bundle of this contact's generation Flush-1 (see Bundle).
	Flush int `json:"flush,omitempty"`
	// Digest: this carries a bundle; it is the throttle's bound, not held by it.
	Digest    bool      `json:"digest,omitempty"`
	Step      int       `json:"step,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// Notification events.
const (
	NotifyIncidentOpened = "incident-opened"
	NotifyCaseReceived   = "case-received"
	NotifyPage           = "page"
	// NotifyStatusLate: a customer-visible incident's status update is overdue.
	NotifyStatusLate = "status-late"
	// NotifyCaseReply: a reporter replied on their case (to support).
	NotifyCaseReply = "case-reply"
	// NotifyCaseUpdate: the reporter's case page says something new (to the reporter).
	NotifyCaseUpdate = "case-update"
)

// Channels a contact can be reached on. For email and sms the address is the
// mailbox or the E.164 number; for teams, slack and webhook it is the name of the
// app setting that holds the webhook URL (a Key Vault reference in Azure), so no
// secret travels in a message or a log line.
const (
	ChannelEmail   = "email"
	ChannelSMS     = "sms"
	ChannelTeams   = "teams"
	ChannelSlack   = "slack"
	ChannelWebhook = "webhook"
)

// Channels lists every channel, in the order a person's contacts are tried.
var Channels = []string{ChannelTeams, ChannelSlack, ChannelSMS, ChannelEmail, ChannelWebhook}
