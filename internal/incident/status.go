package incident

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"vigil/internal/fault"
)

// Phase is where a customer-facing status update says the incident is.
type Phase string

const (
	PhaseInvestigating Phase = "investigating"
	PhaseIdentified    Phase = "identified"
	PhaseMonitoring    Phase = "monitoring"
	PhaseResolved      Phase = "resolved"
)

// Phases lists the phases in order.
var Phases = []Phase{PhaseInvestigating, PhaseIdentified, PhaseMonitoring, PhaseResolved}

// ComponentStatuses are the statuses a status update may give a component
// (Atlassian Statuspage's, which other status pages also use).
var ComponentStatuses = []string{"operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"}

// ETA kinds: an update promises either a resolution time or the next update.
const (
	ETAResolution = "resolution"
	ETANextUpdate = "next-update"
)

// Event kinds of customer communication.
const (
	EventStatusUpdate   = "status-update"
	EventVisibility     = "visibility"
	EventStatusReminder = "status-reminder"
	EventPublished      = "published"
)

// Limits of a status update.
const (
	MaxStatusMessage = 5000
	maxETAAhead      = 7 * 24 * time.Hour
	maxStatusUpdates = 200
	// republishAfter is how long an update may stay unpublished before the
	// reminder sweep sends it to the publishers again.
	republishAfter = 2 * time.Minute
	republishEvery = 5 * time.Minute
)

// RepublishFor is how long an update that has not reached every page is
// retried; after that it is given up, with a timeline entry.
const RepublishFor = 24 * time.Hour

// StatusUpdate is one customer-facing update, written by a person: Vigil
// never writes the message itself.
type StatusUpdate struct {
	ID         string            `json:"id"`
	At         time.Time         `json:"at"`
	By         Actor             `json:"by"`
	Phase      Phase             `json:"phase"`
	Message    string            `json:"message"`
	Components map[string]string `json:"components,omitempty"`
	ETA        time.Time         `json:"eta,omitzero"`
	ETAKind    string            `json:"etaKind,omitempty"`
	// ETAIn is the estimate as the author gave it, relative ("30m"), if so.
	ETAIn string `json:"etaIn,omitempty"`
	// Done: every publisher and every linked case has it (or refused it for good).
	Done bool `json:"done,omitempty"`
	// RetryAt is when the reminder sweep next sends it again while not done.
	RetryAt time.Time `json:"retryAt,omitzero"`
}

// Publication is one publisher's record for an incident: the provider's own
// incident id, the updates it has, and those that may have gone out without
// being recorded (checked with the provider before sending again).
type Publication struct {
	RemoteID string   `json:"remoteId,omitempty"`
	Sent     []string `json:"sent,omitempty"`
	Pending  []string `json:"pending,omitempty"`
}

// Has reports whether update id was published (or refused for good).
func (p *Publication) Has(id string) bool { return p != nil && slices.Contains(p.Sent, id) }

// MayHave reports whether an attempt to publish update id began and was
// never recorded: the provider may have it.
func (p *Publication) MayHave(id string) bool { return p != nil && slices.Contains(p.Pending, id) }

// Record notes that update id is published (or refused for good).
func (p *Publication) Record(id, remoteID string) {
	if remoteID != "" {
		p.RemoteID = remoteID
	}
	if !p.Has(id) {
		p.Sent = append(p.Sent, id)
	}
	p.Pending = slices.DeleteFunc(p.Pending, func(x string) bool { return x == id })
}

// Lease is who is publishing an incident's updates, until when: one attempt
// at a time, so that two deliveries never both send an update.
type Lease struct {
	Holder string    `json:"holder,omitempty"`
	Until  time.Time `json:"until,omitzero"`
}

// Comms is an incident's customer communication: whether customers see it,
// the updates published, and the update cadence's clock.
type Comms struct {
	Visible bool `json:"visible"`
	// Title is the incident's public name, given with the first update.
	Title string `json:"title,omitempty"`
	// VisibilitySet: a person chose; severity changes no longer decide.
	VisibilitySet bool           `json:"visibilitySet,omitempty"`
	Updates       []StatusUpdate `json:"updates,omitempty"`
	// ClockFrom is when the cadence last restarted: the incident became
	// customer-visible, or an update was published.
	ClockFrom time.Time `json:"clockFrom,omitzero"`
	// Reminded and Escalated say what was done about the current lateness;
	// Chased counts the reminders of the leads after the escalation, one a
	// cadence until someone posts.
	Reminded  bool `json:"reminded,omitempty"`
	Escalated bool `json:"escalated,omitempty"`
	Chased    int  `json:"chased,omitempty"`
	// DueAt is when the reminder sweep must next look at the incident; zero
	// when nothing is due. Kept current by PlanComms; the stores index it.
	DueAt     time.Time               `json:"dueAt,omitzero"`
	Published map[string]*Publication `json:"published,omitempty"`
	// CasesClosed: the linked cases were resolved after the incident was.
	CasesClosed bool `json:"casesClosed,omitempty"`
	// Lease serialises publishing.
	Lease Lease `json:"lease,omitzero"`
}

// Owed returns, in order, the updates up to and including id that publisher
// p does not have yet.
func (c *Comms) Owed(p *Publication, id string) []StatusUpdate {
	var out []StatusUpdate
	for _, u := range c.Updates {
		if !p.Has(u.ID) {
			out = append(out, u)
		}
		if u.ID == id {
			break
		}
	}
	return out
}

// Latest returns the most recent update, if any.
func (c *Comms) Latest() (StatusUpdate, bool) {
	if len(c.Updates) == 0 {
		return StatusUpdate{}, false
	}
	return c.Updates[len(c.Updates)-1], true
}

// Update returns the update with id.
func (c *Comms) Update(id string) (*StatusUpdate, bool) {
	for i := range c.Updates {
		if c.Updates[i].ID == id {
			return &c.Updates[i], true
		}
	}
	return nil, false
}

// Publication returns (creating) the record of publisher.
func (c *Comms) Publication(publisher string) *Publication {
	if c.Published == nil {
		c.Published = map[string]*Publication{}
	}
	p := c.Published[publisher]
	if p == nil {
		p = &Publication{}
		c.Published[publisher] = p
	}
	return p
}

// StatusLateness is what the update cadence asks for.
type StatusLateness int

const (
	OnTime StatusLateness = iota
	// RemindComms: the cadence has passed with no update.
	RemindComms
	// EscalateToLead: half a cadence more has passed.
	EscalateToLead
)

// escalateAfter is how late an update may be before the incident lead hears
// of it: half a cadence after the reminder (+45 min for a 30-minute cadence).
func escalateAfter(cadence time.Duration) time.Duration { return cadence + cadence/2 }

// nextEscalation is how long after the clock started the leads next hear of a
// late update: the escalation, then once a cadence until someone posts.
func (c *Comms) nextEscalation(cadence time.Duration) time.Duration {
	if !c.Escalated {
		return escalateAfter(cadence)
	}
	return escalateAfter(cadence) + time.Duration(c.Chased+1)*cadence
}

// PlanComms brings the communication state in line with the incident and its
// severity's expectations: visibility (unless a person chose it), the cadence
// clock, and when the reminder sweep must next look. Call it after every change.
func (inc *Incident) PlanComms(exp Expectations, now time.Time) {
	c := &inc.Comms
	if !c.VisibilitySet && c.Visible != exp.StatusPage {
		c.Visible = exp.StatusPage
		if c.Visible {
			c.restartClock(now)
		}
		if len(inc.Timeline) > 0 { // not at opening: the severity changed
			text := "Customer-visible: " + inc.Severity.String() + " publishes status"
			if !c.Visible {
				text = "No longer customer-visible: " + inc.Severity.String() + " does not publish status"
			}
			inc.record(Event{At: now, Actor: System, Kind: EventVisibility, Text: text})
		}
	}
	if c.Visible && c.ClockFrom.IsZero() {
		c.restartClock(now)
	}
	if inc.State.Open() {
		c.CasesClosed = false // reopened: cases linked from now on close with it again
	}
	c.DueAt = time.Time{}
	if inc.State.Open() && c.Visible && exp.UpdateEvery > 0 {
		switch {
		case !c.Reminded:
			c.DueAt = c.ClockFrom.Add(exp.UpdateEvery)
		default:
			c.DueAt = c.ClockFrom.Add(c.nextEscalation(exp.UpdateEvery))
		}
	}
	// An update not yet everywhere is sent again after a while (for a day).
	for _, u := range c.Updates {
		if !u.Done && now.Sub(u.At) < RepublishFor {
			if at := u.retryAt(); c.DueAt.IsZero() || at.Before(c.DueAt) {
				c.DueAt = at
			}
		}
	}
}

// CommsDue is when the reminder sweep must next look at the incident's
// customer communication: zero when nothing is due, or it is closed. The
// stores index it.
func (inc *Incident) CommsDue() time.Time {
	if inc.State.Open() {
		return inc.Comms.DueAt
	}
	return time.Time{}
}

func (u *StatusUpdate) retryAt() time.Time {
	if !u.RetryAt.IsZero() {
		return u.RetryAt
	}
	return u.At.Add(republishAfter)
}

// RetryUnpublished notes that the unfinished updates due by now are being
// sent again, and moves their next retry republishEvery later: a page that
// keeps failing neither floods the queue nor stays first in the sweep's list
// ahead of incidents whose updates are late. It reports whether any was due.
func (inc *Incident) RetryUnpublished(now time.Time) bool {
	due := false
	for i := range inc.Comms.Updates {
		u := &inc.Comms.Updates[i]
		if !u.Done && now.Sub(u.At) < RepublishFor && !u.retryAt().After(now) {
			u.RetryAt = now.Add(republishEvery)
			due = true
		}
	}
	if due {
		inc.touch(now)
	}
	return due
}

func (c *Comms) restartClock(now time.Time) {
	c.ClockFrom, c.Reminded, c.Escalated, c.Chased = now, false, false, 0
}

// Lateness says what the cadence asks for at now, given what was done already.
func (inc *Incident) Lateness(cadence time.Duration, now time.Time) StatusLateness {
	c := &inc.Comms
	if !inc.State.Open() || !c.Visible || cadence <= 0 {
		return OnTime
	}
	late := now.Sub(c.ClockFrom)
	switch {
	case late >= c.nextEscalation(cadence):
		return EscalateToLead
	case late >= cadence && !c.Reminded:
		return RemindComms
	}
	return OnTime
}

// RecordLateness notes that the people to are told of a late update (once per
// lateness: the flags and the timeline event's key make a repeat a no-op).
// Escalating also counts as reminding.
func (inc *Incident) RecordLateness(l StatusLateness, to []string, cadence time.Duration, now time.Time) bool {
	c := &inc.Comms
	var text string
	switch l {
	case RemindComms:
		if c.Reminded {
			return false
		}
		c.Reminded = true
		text = fmt.Sprintf("No status update for %s (the cadence is %s): reminded %s", Human(now.Sub(c.ClockFrom)), Human(cadence), orNobody(to))
	case EscalateToLead:
		if now.Sub(c.ClockFrom) < c.nextEscalation(cadence) {
			return false
		}
		what := "escalated to"
		if c.Escalated {
			c.Chased++
			what = "reminded the leads again:"
		}
		c.Reminded, c.Escalated = true, true
		text = fmt.Sprintf("No status update for %s (the cadence is %s): %s %s", Human(now.Sub(c.ClockFrom)), Human(cadence), what, orNobody(to))
	default:
		return false
	}
	key := fmt.Sprintf("late:%d:%d:%d", c.ClockFrom.UnixNano(), l, c.Chased)
	inc.record(Event{At: now, Actor: System, Kind: EventStatusReminder, Text: text, Key: key})
	inc.touch(now)
	return true
}

func orNobody(xs []string) string {
	if len(xs) == 0 {
		return "nobody (no communications lead, incident lead or assignee)"
	}
	return strings.Join(xs, ", ")
}

// SetVisibility makes the incident customer-visible or not, for a reason that
// goes on the timeline; from then on severity changes no longer decide it.
// It reports whether anything changed.
func (inc *Incident) SetVisibility(visible bool, reason string, who Actor, now time.Time) (bool, error) {
	if strings.TrimSpace(reason) == "" {
		return false, fault.InvalidField("reason", "is required: say why customers should (or should not) see this incident")
	}
	c := &inc.Comms
	if c.VisibilitySet && c.Visible == visible {
		return false, nil
	}
	was := c.Visible
	c.Visible, c.VisibilitySet = visible, true
	if visible && !was {
		c.restartClock(now)
	}
	text := "Made customer-visible: " + reason
	if !visible {
		text = "Made internal (not customer-visible): " + reason
	}
	inc.record(Event{At: now, Actor: who, Kind: EventVisibility, Text: text})
	inc.touch(now)
	return true, nil
}

// StatusDraft is what a person writes to publish an update.
type StatusDraft struct {
	Phase      Phase
	Message    string
	Components map[string]string
	ETA        time.Time
	ETAKind    string
	// ETAIn is the relative estimate the author gave ("30m"); ETA holds it
	// resolved against the time of posting.
	ETAIn string
}

// CheckDraft validates a draft, naming the field at fault. knownComponent
// says whether a component id is in the catalog.
func CheckDraft(d StatusDraft, knownComponent func(string) bool, now time.Time) error {
	if !slices.Contains(Phases, d.Phase) {
		return fault.InvalidField("phase", "%q is not a phase (investigating, identified, monitoring or resolved)", d.Phase)
	}
	msg := strings.TrimSpace(d.Message)
	switch {
	case msg == "":
		return fault.InvalidField("message", "is required: what customers should know, in your words")
	case len(d.Message) > MaxStatusMessage:
		return fault.InvalidField("message", "is longer than %d characters", MaxStatusMessage)
	}
	for id, st := range d.Components {
		if !knownComponent(id) {
			return fault.InvalidField("components."+id, "component %q is not in vigil.yaml", id)
		}
		if !slices.Contains(ComponentStatuses, st) {
			return fault.InvalidField("components."+id, "%q is not a component status (%s)", st, strings.Join(ComponentStatuses, ", "))
		}
	}
	if d.Phase == PhaseResolved {
		if !d.ETA.IsZero() {
			return fault.InvalidField("eta", "a resolved update gives no estimate")
		}
		return nil
	}
	switch {
	case d.ETA.IsZero():
		return fault.InvalidField("eta", "is required: when customers can expect resolution, or the next update (etaKind)")
	case !d.ETA.After(now):
		return fault.InvalidField("eta", "is in the past")
	case d.ETA.Sub(now) > maxETAAhead:
		return fault.InvalidField("eta", "is more than 7 days ahead")
	}
	if d.ETAKind != ETAResolution && d.ETAKind != ETANextUpdate {
		return fault.InvalidField("etaKind", "must be %s or %s", ETAResolution, ETANextUpdate)
	}
	return nil
}

// sameDraft reports whether u is d published again (a retried request). A
// relative estimate is compared as written: a retry a minute later resolves
// it to another time.
func sameDraft(u StatusUpdate, d StatusDraft, who Actor) bool {
	sameETA := u.ETA.Equal(d.ETA)
	if d.ETAIn != "" || u.ETAIn != "" {
		sameETA = u.ETAIn == d.ETAIn
	}
	return u.By == who && u.Phase == d.Phase && u.Message == d.Message && sameETA && u.ETAKind == d.ETAKind && equalMaps(u.Components, d.Components)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// PublishStatus records a status update written by who and restarts the
// cadence clock. The same draft sent again by the same person within ten
// minutes (a retried request) returns the update already recorded. The
// draft must have passed CheckDraft. It reports whether the update is new.
func (inc *Incident) PublishStatus(d StatusDraft, who Actor, now time.Time) (StatusUpdate, bool, error) {
	c := &inc.Comms
	if !c.Visible {
		return StatusUpdate{}, false, fault.New(fault.Conflict, "incident %s is not customer-visible: make it visible (with a reason) before publishing", inc.ID)
	}
	if last, ok := c.Latest(); ok && sameDraft(last, d, who) && now.Sub(last.At) < 10*time.Minute {
		return last, false, nil
	}
	if len(c.Updates) >= maxStatusUpdates {
		return StatusUpdate{}, false, fault.New(fault.Conflict, "incident %s has %d status updates, the most it may have", inc.ID, maxStatusUpdates)
	}
	etaKind := d.ETAKind
	if d.Phase == PhaseResolved && d.ETA.IsZero() {
		etaKind = ""
	}
	u := StatusUpdate{
		ID: fmt.Sprintf("%s-u%d", inc.ID, len(c.Updates)+1), At: now, By: who,
		Phase: d.Phase, Message: d.Message, Components: d.Components, ETA: d.ETA, ETAKind: etaKind, ETAIn: d.ETAIn,
	}
	c.Updates = append(c.Updates, u)
	c.restartClock(now)
	text := fmt.Sprintf("Status update (%s): %s", u.Phase, u.Message)
	if !u.ETA.IsZero() {
		text += fmt.Sprintf(" [%s by %s]", strings.ReplaceAll(u.ETAKind, "-", " "), u.ETA.UTC().Format(time.RFC3339))
	}
	inc.record(Event{At: now, Actor: who, Kind: EventStatusUpdate, Text: text, Data: map[string]string{"update": u.ID}})
	inc.touch(now)
	return u, true, nil
}

// RecordPublished notes on the timeline what a publisher did with an update
// (once per publisher and update).
func (inc *Incident) RecordPublished(publisher, updateID, what string, now time.Time) {
	inc.record(Event{At: now, Actor: System, Kind: EventPublished, Text: publisher + ": " + what,
		Key: "pub:" + publisher + ":" + updateID, Data: map[string]string{"publisher": publisher, "update": updateID}})
	inc.touch(now)
}

// Touch marks the incident changed at now, so that it is written (and the
// stores' indexes refreshed from it) even when nothing else moved.
func (inc *Incident) Touch(now time.Time) {
	if !now.After(inc.UpdatedAt) {
		now = inc.UpdatedAt.Add(time.Nanosecond)
	}
	inc.UpdatedAt = now
}

// MarkDone notes that an update reached every publisher and linked case.
func (inc *Incident) MarkDone(updateID string, now time.Time) bool {
	u, ok := inc.Comms.Update(updateID)
	if !ok || u.Done {
		return false
	}
	u.Done = true
	inc.touch(now)
	return true
}

// StatusWriters are who may publish: the communications lead and the
// incident lead (person ids).
func (inc *Incident) StatusWriters() []string {
	var out []string
	for _, p := range []string{inc.Roles.Comms, inc.Roles.Lead} {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
