package incident

import (
	"fmt"
	"slices"
	"time"

	"vigil/internal/fault"
)

// Escalation is where an incident is in its escalation policy. Positions count the
// steps paged across rounds (1-based): with three steps and one repeat, positions 1-3
// are round 1, 4-6 round 2, and 7 the policy's final step if it has one.
//
// Cycle changes whenever the schedule is changed by hand (un-acknowledge, jump to a
// step, reassign): every scheduled message and page key carries it, so a timer from
// an earlier cycle finds nothing to do and a page of a new cycle is never mistaken
// for a duplicate of an old one.
type Escalation struct {
	Policy string `json:"policy"`
	Cycle  int    `json:"cycle"`
	// Next is the position paged when DueAt comes.
	Next int `json:"next"`
	// DueAt is when Next is due; zero while nothing is pending (acknowledged,
	// resolved, or the policy is exhausted).
	DueAt time.Time `json:"dueAt,omitzero"`
	// Waiting explains a delay that is not a step's delay (business hours).
	Waiting string `json:"waiting,omitempty"`
	Done    bool   `json:"done,omitempty"`
	// Timer is the scheduled message armed to drive Next at DueAt.
	Timer *Timer `json:"timer,omitempty"`
}

// Timer is a scheduled message armed to drive one escalation position; its
// sequence number lets a change that makes it moot cancel it.
type Timer struct {
	Cycle    int       `json:"cycle"`
	Position int       `json:"position"`
	At       time.Time `json:"at"`
	Seq      int64     `json:"seq,omitempty"`
}

// EscalationDue is when the incident's next escalation position is due: zero
// unless it is triggered and a position is pending. The stores index it for
// the sweep.
func (inc *Incident) EscalationDue() time.Time {
	if e := inc.Escalation; e != nil && inc.State == Triggered && !e.Done {
		return e.DueAt
	}
	return time.Time{}
}

// EventDelivery: what a provider finally did with a page it had accepted.
const EventDelivery = "delivery"

// RecordUndelivered notes that a page (cycle, position) to person on channel
// never arrived, once, and reports whether the incident still waits on that
// page: triggered, and its escalation's next position the one after it. The
// caller then pages onward at once when the person has no other way to be
// reached.
func (inc *Incident) RecordUndelivered(person, channel string, cycle, position int, why string, now time.Time) (waiting bool) {
	inc.record(Event{At: now, Actor: System, Kind: EventDelivery, Key: fmt.Sprintf("undelivered:%d:%d:%s:%s", cycle, position, person, channel),
		Text: fmt.Sprintf("The %s page to %s did not arrive: %s", channel, person, why),
		Data: map[string]string{"person": person, "channel": channel}})
	inc.touch(now)
	e := inc.Escalation
	return !inc.EscalationDue().IsZero() && e.Cycle == cycle && e.Next == position+1
}

// PageOnwardNow brings the pending escalation position forward to now.
func (inc *Incident) PageOnwardNow(why string, now time.Time) {
	if inc.EscalationDue().IsZero() {
		return
	}
	inc.Escalation.DueAt = now
	inc.record(Event{At: now, Actor: System, Kind: EventEscalation, Text: why})
}

// RecordReplan notes on the timeline what a change of severity re-planned.
func (inc *Incident) RecordReplan(from, to Severity, what string, now time.Time) {
	inc.record(Event{At: now, Actor: System, Kind: EventEscalation,
		Text: fmt.Sprintf("Re-planned for %s (was %s): %s", to, from, what), Data: map[string]string{"from": from.String(), "to": to.String()}})
	inc.touch(now)
}

// Page records one person paged for one position of one cycle. Replaying the pages
// of a position (after a crash between the state write and the sends) resends
// exactly these, under the same keys.
type Page struct {
	Cycle    int       `json:"cycle"`
	Position int       `json:"position"`
	Round    int       `json:"round"`
	Step     int       `json:"step"`
	Final    bool      `json:"final,omitempty"`
	Person   string    `json:"person"`
	Via      string    `json:"via"`
	Reminder string    `json:"reminder,omitempty"`
	At       time.Time `json:"at"`
}

// Timeline event kinds for on-call.
const (
	EventPaged        = "paged"
	EventStepSkipped  = "step-skipped"
	EventEscalation   = "escalation"
	EventRole         = "role"
	EventResponder    = "responder"
	EventAcknowledged = "acknowledged"
	EventReminder     = "reminder"
)

const maxPages = 300

// Due reports whether an escalation position is due at now: the incident still
// needs someone (triggered) and the timer for this cycle and position has come.
func (inc *Incident) Due(cycle, position int, now time.Time, early time.Duration) bool {
	due := inc.EscalationDue()
	e := inc.Escalation
	return !due.IsZero() && e.Cycle == cycle && e.Next == position && !now.Add(early).Before(due)
}

// RecordPages notes the people paged at one position and moves the escalation on.
func (inc *Incident) RecordPages(pages []Page, skipped []string, reminder string, next int, dueAt time.Time, done bool, now time.Time) {
	for _, s := range skipped {
		inc.record(Event{At: now, Actor: System, Kind: EventStepSkipped, Text: s})
	}
	for _, p := range pages {
		where := fmt.Sprintf("step %d, round %d", p.Step, p.Round)
		if p.Final {
			where = "final step"
		}
		inc.record(Event{At: now, Actor: System, Kind: EventPaged,
			Text: fmt.Sprintf("Paged %s via %s (%s)", p.Person, p.Via, where),
			Data: map[string]string{"person": p.Person, "position": fmt.Sprint(p.Position), "cycle": fmt.Sprint(p.Cycle)}})
		if !slices.Contains(inc.Assignees, p.Person) {
			inc.Assignees = append(inc.Assignees, p.Person)
		}
	}
	if reminder != "" {
		inc.record(Event{At: now, Actor: System, Kind: EventReminder, Text: reminder})
	}
	inc.Pages = append(inc.Pages, pages...)
	if len(inc.Pages) > maxPages {
		inc.Pages = slices.Delete(inc.Pages, 0, len(inc.Pages)-maxPages)
	}
	e := inc.Escalation
	e.Next, e.DueAt, e.Done, e.Waiting = next, dueAt, done, ""
	if done {
		e.DueAt = time.Time{}
		inc.record(Event{At: now, Actor: System, Kind: EventEscalation,
			Text: "Escalation policy " + e.Policy + " exhausted: nobody further to page"})
	}
	inc.touch(now)
}

// StartEscalation puts the incident on a policy, first position due at dueAt (now,
// or later when a low-urgency page waits for business hours).
func (inc *Incident) StartEscalation(policy string, dueAt time.Time, waiting string, now time.Time) {
	cycle := 1
	if inc.Escalation != nil {
		cycle = inc.Escalation.Cycle + 1
	}
	inc.Escalation = &Escalation{Policy: policy, Cycle: cycle, Next: 1, DueAt: dueAt, Waiting: waiting}
	if waiting != "" {
		inc.record(Event{At: now, Actor: System, Kind: EventEscalation, Text: waiting})
	}
}

// Acknowledge stops the escalation: nobody further is paged while acknowledged.
// via names how (the API, a signed link); key, when set, makes it idempotent.
// It reports whether the incident changed (acknowledging twice does not).
func (inc *Incident) Acknowledge(who Actor, via, key string, now time.Time) (bool, error) {
	if key != "" && inc.hasKey(key) {
		return false, fault.New(fault.Conflict, "this acknowledge link has already been used")
	}
	if inc.State == Acknowledged {
		return false, nil
	}
	if _, err := inc.Move(Acknowledged, who, via, now); err != nil {
		return false, err
	}
	if key != "" {
		inc.record(Event{At: now, Actor: who, Kind: EventAcknowledged, Key: key, Text: "Acknowledged " + via})
	}
	if e := inc.Escalation; e != nil {
		e.DueAt = time.Time{}
	}
	return true, nil
}

// Unacknowledge puts the incident back to triggered and restarts its escalation
// from the first step, in a new cycle.
func (inc *Incident) Unacknowledge(who Actor, why string, now time.Time) error {
	if inc.State != Acknowledged {
		return fault.New(fault.Conflict, "incident %s is %s, not acknowledged", inc.ID, inc.State)
	}
	if _, err := inc.Move(Triggered, who, why, now); err != nil {
		return err
	}
	if e := inc.Escalation; e != nil {
		inc.StartEscalation(e.Policy, now, "", now)
	}
	return nil
}

// JumpTo restarts the escalation at a position, now, in a new cycle. An
// acknowledged incident is triggered again: jumping means someone must respond.
func (inc *Incident) JumpTo(position int, who Actor, now time.Time) error {
	e := inc.Escalation
	if e == nil {
		return fault.New(fault.Conflict, "incident %s has no escalation policy", inc.ID)
	}
	if !inc.State.Open() {
		return fault.New(fault.Conflict, "incident %s is %s", inc.ID, inc.State)
	}
	if inc.State != Triggered {
		if _, err := inc.Move(Triggered, who, fmt.Sprintf("escalated to position %d", position), now); err != nil {
			return err
		}
	}
	inc.Escalation = &Escalation{Policy: e.Policy, Cycle: e.Cycle + 1, Next: position, DueAt: now}
	inc.record(Event{At: now, Actor: who, Kind: EventEscalation, Text: fmt.Sprintf("Escalation moved to position %d of policy %s", position, e.Policy)})
	inc.touch(now)
	return nil
}

// Reassign hands the incident to one person: they are paged now and, unless they
// acknowledge, the policy carries on from where it was after delay.
func (inc *Incident) Reassign(person string, who Actor, delay time.Duration, now time.Time) (Page, error) {
	if !inc.State.Open() {
		return Page{}, fault.New(fault.Conflict, "incident %s is %s", inc.ID, inc.State)
	}
	if inc.State != Triggered {
		if _, err := inc.Move(Triggered, who, "reassigned to "+person, now); err != nil {
			return Page{}, err
		}
	}
	// The policy carries on from its next position after delay, in a new cycle;
	// without a policy (or with one exhausted) nothing further is scheduled.
	e := Escalation{Cycle: 1, Next: 1, Done: true}
	if inc.Escalation != nil {
		e = *inc.Escalation
		e.Cycle++
	}
	e.DueAt, e.Waiting = time.Time{}, ""
	if !e.Done {
		e.DueAt = now.Add(delay)
	}
	inc.Escalation = &e
	cycle := e.Cycle
	inc.Assignees = []string{person}
	p := Page{Cycle: cycle, Position: 0, Person: person, Via: "reassigned by " + string(who), At: now}
	inc.Pages = append(inc.Pages, p)
	inc.record(Event{At: now, Actor: who, Kind: EventResponder, Text: "Reassigned to " + person,
		Data: map[string]string{"person": person, "cycle": fmt.Sprint(cycle)}})
	inc.touch(now)
	return p, nil
}

// AddResponder pages one more person to help, without changing the escalation.
func (inc *Incident) AddResponder(person string, who Actor, now time.Time) (Page, bool) {
	if slices.Contains(inc.Responders, person) {
		return Page{}, false
	}
	inc.Responders = append(inc.Responders, person)
	cycle := 0
	if inc.Escalation != nil {
		cycle = inc.Escalation.Cycle
	}
	p := Page{Cycle: cycle, Position: -len(inc.Responders), Person: person, Via: "added by " + string(who), At: now}
	inc.Pages = append(inc.Pages, p)
	inc.record(Event{At: now, Actor: who, Kind: EventResponder, Text: "Responder added: " + person, Data: map[string]string{"person": person}})
	inc.touch(now)
	return p, true
}

// SetRole gives the incident lead or communications lead role to a person ("" clears it).
// It reports whether the role changed hands.
func (inc *Incident) SetRole(role, person string, who Actor, now time.Time) (bool, error) {
	var slot *string
	switch role {
	case "lead":
		slot = &inc.Roles.Lead
	case "comms":
		slot = &inc.Roles.Comms
	default:
		return false, fault.InvalidField("role", "%q is not a role (lead or comms)", role)
	}
	if *slot == person {
		return false, nil
	}
	*slot = person
	text := fmt.Sprintf("%s role given to %s", roleName(role), person)
	if person == "" {
		text = roleName(role) + " role cleared"
	}
	inc.record(Event{At: now, Actor: who, Kind: EventRole, Text: text, Data: map[string]string{"role": role, "person": person}})
	inc.touch(now)
	return true, nil
}

func roleName(r string) string {
	if r == "lead" {
		return "Incident lead"
	}
	return "Communications lead"
}

// ChangeSeverity sets the severity by hand; a reason is required. It reports
// whether the severity changed.
func (inc *Incident) ChangeSeverity(to Severity, who Actor, reason string, now time.Time) (bool, error) {
	if !to.Valid() {
		return false, fault.InvalidField("severity", "must be sev1, sev2, sev3 or sev4")
	}
	if reason == "" {
		return false, fault.InvalidField("reason", "is required: say why the severity changes")
	}
	if to == inc.Severity {
		return false, nil
	}
	inc.changeSeverity(to, who, reason, now)
	return true, nil
}

// Note adds a free-text note to the timeline.
func (inc *Incident) Note(text string, who Actor, now time.Time) {
	inc.record(Event{At: now, Actor: who, Kind: EventNote, Text: text})
	inc.touch(now)
}

func (inc *Incident) hasKey(key string) bool {
	return slices.ContainsFunc(inc.Timeline, func(e Event) bool { return e.Key == key })
}
