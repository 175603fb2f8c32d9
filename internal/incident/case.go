package incident

import (
	"fmt"
	"strings"
	"time"

	"vigil/internal/fault"
)

// CaseState is where a customer case is in first-line triage.
type CaseState string

const (
	// CaseNew waits for first-line support.
	CaseNew CaseState = "new"
	// CaseAwaitingCustomer: support asked the reporter for information.
	CaseAwaitingCustomer CaseState = "awaiting-customer"
	// CaseEscalated: linked to an incident that engineering works on.
	CaseEscalated CaseState = "escalated"
	// CaseResolved: answered or fixed.
	CaseResolved CaseState = "resolved"
)

// CaseStates lists every case state, in triage order.
var CaseStates = []CaseState{CaseNew, CaseAwaitingCustomer, CaseEscalated, CaseResolved}

// Case is a customer's report, owned by one tenant.
type Case struct {
	ID          string    `json:"id"`
	Tenant      string    `json:"tenant"`
	Reporter    Contact   `json:"reporter"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Component   string    `json:"component,omitempty"`
	Impact      Impact    `json:"impact"`
	State       CaseState `json:"state"`
	// Severity is what the impact rules suggest; first-line support may act on it.
	Severity        Severity `json:"severity"`
	SeverityReasons []string `json:"severityReasons,omitempty"`
	IncidentID      string   `json:"incidentId,omitempty"`
	// Escalations counts the incidents this case was escalated into: a case
	// escalated again after its incident resolved opens a new one.
	Escalations int `json:"escalations,omitempty"`
	// Assignee is the first-line person handling the case.
	Assignee  string    `json:"assignee,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Timeline is internal: responders see it, customers do not.
	Timeline []Event `json:"timeline"`
	// Public holds the messages the customer sees on their case page.
	Public  []PublicNote `json:"public,omitempty"`
	Version int64        `json:"version"`
	ETag    string       `json:"-"`
}

// PublicNote is a message shown to the customer on their case page.
type PublicNote struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
	// Kind is empty for a status message, else question, answer, customer or
	// incident-update.
	Kind string `json:"kind,omitempty"`
	// Ref, Phase and ETA come with an incident's status update: its id (so it
	// is shown once), the phase, and the estimate it gives.
	Ref     string    `json:"ref,omitempty"`
	Phase   Phase     `json:"phase,omitempty"`
	ETA     time.Time `json:"eta,omitzero"`
	ETAKind string    `json:"etaKind,omitempty"`
}

// Public note kinds.
const (
	NoteQuestion = "question"
	NoteAnswer   = "answer"
	NoteCustomer = "customer"
	NoteIncident = "incident-update"
)

// NewCase records a customer's report for first-line triage.
func NewCase(r CaseReport, t Triage, now time.Time) *Case {
	c := &Case{
		ID:              r.CaseID,
		Tenant:          r.Tenant,
		Reporter:        r.Reporter,
		Title:           r.Title,
		Description:     r.Description,
		Component:       r.Component,
		Impact:          r.Impact,
		State:           CaseNew,
		Severity:        t.Severity,
		SeverityReasons: t.Reasons,
		CreatedAt:       r.ReceivedAt,
		UpdatedAt:       now,
	}
	c.Timeline = append(c.Timeline, Event{At: now, Actor: Actor("customer:" + r.Tenant), Kind: EventOpened,
		Text: fmt.Sprintf("Reported by %s: %d users affected, blocked: %t; suggested %s (%s)",
			r.Reporter.Name, r.Impact.UsersAffected, r.Impact.Blocked, t.Severity, joinReasons(t.Reasons))})
	c.Public = append(c.Public, PublicNote{At: now, Text: "We have received your report and support is looking at it."})
	return c
}

// Escalate links the case to an incident that engineering is working on.
func (c *Case) Escalate(incidentID string, who Actor, why string, now time.Time) bool {
	if c.IncidentID == incidentID && c.State == CaseEscalated {
		return false
	}
	if c.IncidentID != incidentID {
		c.Escalations++
	}
	c.IncidentID = incidentID
	c.State = CaseEscalated
	c.UpdatedAt = now
	text := "Escalated to incident " + incidentID
	if why != "" {
		text += ": " + why
	}
	c.Timeline = append(c.Timeline, Event{At: now, Actor: who, Kind: EventState, Text: text})
	c.Public = append(c.Public, PublicNote{At: now, Text: "Our engineers are working on this issue."})
	return true
}

// CustomerView is all a customer sees of their case: its status and the public
// messages, never internal notes, responders or other tenants.
type CustomerView struct {
	ID        string       `json:"id"`
	Title     string       `json:"title"`
	Status    string       `json:"status"`
	CreatedAt time.Time    `json:"createdAt"`
	UpdatedAt time.Time    `json:"updatedAt"`
	Updates   []PublicNote `json:"updates"`
	// Incident is the latest public update of the incident the case is linked
	// to, when there is one.
	Incident *PublicNote `json:"incident,omitempty"`
}

var customerStatus = map[CaseState]string{
	CaseNew:              "received",
	CaseAwaitingCustomer: "waiting for your reply",
	CaseEscalated:        "being worked on",
	CaseResolved:         "resolved",
}

// ForCustomer returns the customer's view of the case.
func (c *Case) ForCustomer() CustomerView {
	v := CustomerView{ID: c.ID, Title: c.Title, Status: customerStatus[c.State],
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Updates: c.Public}
	for i := len(c.Public) - 1; i >= 0; i-- {
		if c.Public[i].Kind == NoteIncident {
			n := c.Public[i]
			v.Incident = &n
			break
		}
	}
	return v
}

// AddIncidentUpdate shows an incident's status update on the case page, once.
func (c *Case) AddIncidentUpdate(u StatusUpdate, now time.Time) bool {
	for _, n := range c.Public {
		if n.Ref == u.ID {
			return false
		}
	}
	c.Public = append(c.Public, PublicNote{At: u.At, Text: u.Message, Kind: NoteIncident, Ref: u.ID, Phase: u.Phase, ETA: u.ETA, ETAKind: u.ETAKind})
	c.Timeline = append(c.Timeline, Event{At: now, Actor: System, Kind: EventStatusUpdate, Text: fmt.Sprintf("Incident %s status update %s shown to the customer", c.IncidentID, u.ID)})
	c.UpdatedAt = now
	return true
}

// ResolveWithIncident resolves a case whose incident was resolved, pointing
// the customer at the incident's final public update when there is one.
func (c *Case) ResolveWithIncident(incidentID string, final *StatusUpdate, now time.Time) bool {
	if c.State == CaseResolved || c.IncidentID != incidentID {
		return false
	}
	answer := "The incident behind your report is resolved."
	if final != nil {
		answer += fmt.Sprintf(" See the final update of %s above.", final.At.UTC().Format("2 Jan 2006 15:04 MST"))
		c.AddIncidentUpdate(*final, now)
	}
	c.Resolve(answer, Actor("incident:"+incidentID), now)
	if final != nil {
		c.Public[len(c.Public)-1].Ref = "final:" + final.ID
	}
	return true
}

// Assign gives the case to a first-line person.
func (c *Case) Assign(person string, who Actor, now time.Time) bool {
	if c.Assignee == person {
		return false
	}
	c.Assignee = person
	c.UpdatedAt = now
	c.Timeline = append(c.Timeline, Event{At: now, Actor: who, Kind: EventResponder, Text: "Assigned to " + person})
	return true
}

// Ask puts a question to the reporter: it shows on their case page and the case
// waits for their reply.
func (c *Case) Ask(question string, who Actor, now time.Time) error {
	if c.State == CaseResolved {
		return fault.New(fault.Conflict, "case %s is resolved", c.ID)
	}
	if c.State != CaseEscalated {
		c.State = CaseAwaitingCustomer
	}
	c.UpdatedAt = now
	c.Timeline = append(c.Timeline, Event{At: now, Actor: who, Kind: EventNote, Text: "Asked the reporter: " + question})
	c.Public = append(c.Public, PublicNote{At: now, Text: question, Kind: NoteQuestion})
	return nil
}

// Reply records the reporter's answer; a case waiting for it goes back to support.
func (c *Case) Reply(text string, now time.Time) error {
	if c.State == CaseResolved {
		return fault.New(fault.Conflict, "case %s is resolved; open a new case", c.ID)
	}
	if c.State == CaseAwaitingCustomer {
		c.State = CaseNew
	}
	c.UpdatedAt = now
	c.Timeline = append(c.Timeline, Event{At: now, Actor: Actor("customer:" + c.Tenant), Kind: EventNote, Text: "Reporter replied: " + text})
	c.Public = append(c.Public, PublicNote{At: now, Text: text, Kind: NoteCustomer})
	return nil
}

// Resolve closes the case with an answer the customer sees.
func (c *Case) Resolve(answer string, who Actor, now time.Time) bool {
	if c.State == CaseResolved {
		return false
	}
	c.State = CaseResolved
	c.UpdatedAt = now
	c.Timeline = append(c.Timeline, Event{At: now, Actor: who, Kind: EventState, Text: "Resolved: " + answer})
	c.Public = append(c.Public, PublicNote{At: now, Text: answer, Kind: NoteAnswer})
	return true
}

// EscalationKey identifies the next incident escalating this case would open:
// the same on a retry, a new one once the case was escalated before.
func (c *Case) EscalationKey() string {
	if c.Escalations == 0 {
		return "case:" + c.ID
	}
	return fmt.Sprintf("case:%s#%d", c.ID, c.Escalations)
}

// Gathered is what first-line support learnt about a case, handed to engineering
// when it is escalated: the report, the questions and answers, the internal notes.
func (c *Case) Gathered() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Case %s from %s: %s\n%s\n", c.ID, c.Tenant, c.Title, c.Description)
	fmt.Fprintf(&b, "Impact: %d users affected, blocked: %t\n", c.Impact.UsersAffected, c.Impact.Blocked)
	for _, e := range c.Timeline {
		if e.Kind == EventNote {
			fmt.Fprintf(&b, "- %s: %s\n", e.At.UTC().Format("2006-01-02 15:04"), e.Text)
		}
	}
	return b.String()
}
