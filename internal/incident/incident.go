// Package incident holds Vigil's domain: incidents, cases, severities and their rules.
// It does no I/O and never reads the clock: callers pass `now`.
package incident

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"vigil/internal/fault"
)

// State is where an incident is in its lifecycle.
type State string

const (
	Triggered    State = "triggered"
	Acknowledged State = "acknowledged"
	Mitigated    State = "mitigated"
	Resolved     State = "resolved"
	Reviewed     State = "reviewed"
)

// States lists every state in lifecycle order.
var States = []State{Triggered, Acknowledged, Mitigated, Resolved, Reviewed}

// Open reports whether the incident still needs people: alerts fold into it.
func (s State) Open() bool { return s == Triggered || s == Acknowledged || s == Mitigated }

func (s State) Valid() bool { return slices.Contains(States, s) }

// transitions are the legal moves. Un-acknowledging goes back to triggered; a
// mitigated incident that regresses is triggered again; a resolved one may be
// reopened (triggered) or reviewed.
var transitions = map[State][]State{
	Triggered:    {Acknowledged, Mitigated, Resolved},
	Acknowledged: {Triggered, Mitigated, Resolved},
	Mitigated:    {Triggered, Acknowledged, Resolved},
	Resolved:     {Triggered, Reviewed},
	Reviewed:     nil,
}

// CanMove reports whether from → to is a legal transition.
func CanMove(from, to State) bool { return slices.Contains(transitions[from], to) }

// Actor names who did something: "system", a monitor ("azure-monitor"), a customer
// ("customer:<tenant>") or a responder ("user:<principal name>").
type Actor string

const System Actor = "system"

// Event is one line of a timeline. Key, when set, makes the event idempotent: an
// event with the same key is never recorded twice.
type Event struct {
	At    time.Time         `json:"at"`
	Actor Actor             `json:"actor"`
	Kind  string            `json:"kind"`
	Text  string            `json:"text"`
	Key   string            `json:"key,omitempty"`
	Data  map[string]string `json:"data,omitempty"`
}

// Timeline event kinds.
const (
	EventOpened         = "opened"
	EventAlert          = "alert"
	EventAlertResolved  = "alert-resolved"
	EventSeverity       = "severity"
	EventState          = "state"
	EventCaseLinked     = "case-linked"
	EventNote           = "note"
	EventVendorRef      = "vendor-ref"
	EventRepeatsElided  = "repeats-elided"
	EventUnmappedTarget = "unmapped-target"
	// EventTriage says what triage took from an alert and what it set aside.
	EventTriage = "triage"
)

// AlertRef is what an incident remembers of each alert folded into it.
type AlertRef struct {
	Source     string      `json:"source"`
	ID         string      `json:"id"`
	Status     AlertStatus `json:"status"`
	FiredAt    time.Time   `json:"firedAt,omitzero"`
	ResolvedAt time.Time   `json:"resolvedAt,omitzero"`
	Count      int         `json:"count"`
	// Last identifies what the latest delivery applied from this alert said: a
	// delivery saying it again is a sender's retry.
	Last string `json:"last,omitempty"`
}

// Roles are the people holding incident roles, by principal name.
type Roles struct {
	Lead  string `json:"lead,omitempty"`
	Comms string `json:"comms,omitempty"`
}

// Limits keep one incident document bounded however noisy its sources are
// (a Cosmos DB item is at most 2 MB).
const (
	maxAlertRefs      = 100
	maxRepeatEvents   = 50
	maxAppliedKeys    = 256
	maxTimelineEvents = 2000
)

// Incident is something wrong that people are working on.
type Incident struct {
	ID              string   `json:"id"`
	Title           string   `json:"title"`
	Description     string   `json:"description,omitempty"`
	State           State    `json:"state"`
	Severity        Severity `json:"severity"`
	SeverityReasons []string `json:"severityReasons,omitempty"`
	DedupKey        string   `json:"dedupKey"`
	Source          string   `json:"source"`
	Components      []string `json:"components,omitempty"`
	Tenants         []string `json:"tenants,omitempty"`
	// Reported are the tenants that alerts named and the catalog knows: a subset
	// of Tenants, which also holds the tenants the affected components serve.
	Reported []string `json:"reported,omitempty"`
	Roles    Roles    `json:"roles"`
	// Comms is what customers are told: visibility, status updates, cadence.
	Comms Comms `json:"comms"`
	// Escalation is where the incident is in its escalation policy; nil when no
	// policy serves it.
	Escalation *Escalation `json:"escalation,omitempty"`
	// Pages lists who was paged, most recent last (bounded).
	Pages []Page `json:"pages,omitempty"`
	// Assignees are the people paged to respond; Responders were added by hand.
	Assignees      []string          `json:"assignees,omitempty"`
	Responders     []string          `json:"responders,omitempty"`
	Alerts         []AlertRef        `json:"alerts,omitempty"`
	AlertCount     int               `json:"alertCount"`
	Cases          []string          `json:"cases,omitempty"`
	VendorRefs     []VendorRef       `json:"vendorRefs,omitempty"`
	Links          []Link            `json:"links,omitempty"`
	Facts          map[string]string `json:"facts,omitempty"`
	CreatedAt      time.Time         `json:"createdAt"`
	UpdatedAt      time.Time         `json:"updatedAt"`
	AcknowledgedAt time.Time         `json:"acknowledgedAt,omitzero"`
	MitigatedAt    time.Time         `json:"mitigatedAt,omitzero"`
	ResolvedAt     time.Time         `json:"resolvedAt,omitzero"`
	Timeline       []Event           `json:"timeline"`
	// Applied remembers the most recent intake message ids folded in, so that a
	// redelivered message changes nothing.
	Applied []string `json:"applied,omitempty"`
	// Version counts stored changes; the store checks it for optimistic concurrency.
	Version int64 `json:"version"`
	// ETag is the store's own concurrency token (Cosmos DB _etag); opaque to the domain.
	ETag string `json:"-"`
}

// Triage is the outcome of the impact rules for one signal.
type Triage struct {
	Severity   Severity
	Reasons    []string
	Components []string
	Tenants    []string
	// Unmapped are alert targets that match no catalog component.
	Unmapped []string
	// Reported are the tenants the sender named that the catalog knows.
	Reported []string
	// Notes say what was derived from the signal, used and ignored, for the timeline.
	Notes []string
	// AutoResolve says whether a resolved alert from this source may resolve the incident.
	AutoResolve bool
}

// NewFromAlert opens an incident for a firing alert.
func NewFromAlert(id string, a Alert, t Triage, key string, now time.Time) (*Incident, error) {
	if a.Status != AlertFiring {
		return nil, fault.New(fault.Conflict, "a %s alert cannot open an incident", a.Status)
	}
	inc := &Incident{
		ID:              id,
		Title:           a.Summary,
		Description:     a.Details,
		State:           Triggered,
		Severity:        t.Severity,
		SeverityReasons: t.Reasons,
		DedupKey:        a.DedupKey,
		Source:          a.Source,
		Components:      t.Components,
		Tenants:         t.Tenants,
		Reported:        t.Reported,
		Links:           a.Links,
		Facts:           a.Facts,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	inc.foldAlertRef(a)
	inc.record(Event{At: now, Actor: Actor(a.Source), Kind: EventOpened, Key: key,
		Text: fmt.Sprintf("Opened by %s alert %q (%s)", a.Source, a.Summary, orDash(a.SourceSeverity))})
	inc.record(Event{At: now, Actor: System, Kind: EventSeverity,
		Text: fmt.Sprintf("Severity %s: %s", t.Severity, joinReasons(t.Reasons))})
	inc.recordTriage(t, key, now)
	for _, u := range t.Unmapped {
		inc.record(Event{At: now, Actor: System, Kind: EventUnmappedTarget,
			Text: "Alert target is not in the catalog: " + u})
	}
	for _, r := range a.VendorRefs {
		inc.addVendorRef(r, Actor(a.Source), now)
	}
	inc.remember(key)
	return inc, nil
}

// NewFromCase opens an incident straight from a customer case whose impact is severe
// enough (the severity rules decide), linking the two.
// by is who opened it: the customer's report itself (severe enough), or the
// responder who escalated the case, with their note.
func NewFromCase(id string, c *Case, t Triage, by Actor, note string, now time.Time) *Incident {
	inc := &Incident{
		ID:              id,
		Title:           c.Title,
		Description:     c.Description,
		State:           Triggered,
		Severity:        t.Severity,
		SeverityReasons: t.Reasons,
		DedupKey:        "case:" + c.ID,
		Source:          "case",
		Components:      t.Components,
		Tenants:         []string{c.Tenant},
		Cases:           []string{c.ID},
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	text := fmt.Sprintf("Opened from case %s reported by %s (%d users affected, blocked: %t)",
		c.ID, c.Tenant, c.Impact.UsersAffected, c.Impact.Blocked)
	if by != Actor("customer:"+c.Tenant) {
		text = fmt.Sprintf("Opened by escalating case %s (reported by %s: %d users affected, blocked: %t)",
			c.ID, c.Tenant, c.Impact.UsersAffected, c.Impact.Blocked)
	}
	inc.record(Event{At: now, Actor: by, Kind: EventOpened, Key: "case:" + c.ID, Text: text})
	inc.record(Event{At: now, Actor: System, Kind: EventSeverity,
		Text: fmt.Sprintf("Severity %s: %s", t.Severity, joinReasons(t.Reasons))})
	if note != "" {
		inc.record(Event{At: now, Actor: by, Kind: EventNote, Text: "Escalation note: " + note})
	}
	return inc
}

// ApplyAlert folds an alert into this incident. key identifies the intake
// message and content what the alert says: applying the same message twice, or
// an alert repeating what the incident last heard from it (a sender's retry),
// changes nothing and returns false. Firing again after it resolved is news.
func (inc *Incident) ApplyAlert(a Alert, t Triage, key, content string, now time.Time) (changed bool, err error) {
	if inc.seen(key) || (content != "" && inc.lastHeard(a) == content) {
		return false, nil
	}
	if a.DedupKey != inc.DedupKey {
		return false, fault.New(fault.Conflict, "alert dedup key %q does not belong to incident %s", a.DedupKey, inc.ID)
	}
	inc.remember(key)
	defer inc.Heard(a, content)
	inc.touch(now)
	switch a.Status {
	case AlertFiring:
		inc.foldAlertRef(a)
		if repeats := inc.AlertCount - 1; repeats <= maxRepeatEvents {
			inc.record(Event{At: now, Actor: Actor(a.Source), Kind: EventAlert, Key: key,
				Text: fmt.Sprintf("Alert fired again: %q (%s)", a.Summary, orDash(a.SourceSeverity))})
			inc.recordTriage(t, key, now)
		} else if repeats == maxRepeatEvents+1 {
			inc.record(Event{At: now, Actor: System, Kind: EventRepeatsElided,
				Text: fmt.Sprintf("More than %d repeats: further repeats are counted in alertCount, not listed", maxRepeatEvents)})
		}
		inc.unionComponents(t.Components)
		inc.unionTenants(t.Tenants)
		inc.unionReported(t.Reported)
		if t.Severity.Worse(inc.Severity) {
			inc.changeSeverity(t.Severity, Actor(a.Source), "a folded alert is more severe: "+joinReasons(t.Reasons), now)
		}
		for _, r := range a.VendorRefs {
			inc.addVendorRef(r, Actor(a.Source), now)
		}
	case AlertResolved:
		inc.resolveAlertRef(a, now)
		inc.record(Event{At: now, Actor: Actor(a.Source), Kind: EventAlertResolved, Key: key,
			Text: fmt.Sprintf("Alert resolved at the source: %q", a.Summary)})
		if t.AutoResolve && inc.State.Open() && !inc.anyAlertFiring() {
			if _, err := inc.Move(Resolved, Actor(a.Source), "every alert in this incident resolved at its source", now); err != nil {
				return false, err
			}
		}
	default:
		return false, fault.InvalidField("status", "unknown alert status %q", a.Status)
	}
	return true, nil
}

// Move changes state if the transition is legal, stamping the lifecycle times.
// It reports whether the state changed (moving to the current state does not).
func (inc *Incident) Move(to State, who Actor, why string, now time.Time) (bool, error) {
	if inc.State == to {
		return false, nil
	}
	if !CanMove(inc.State, to) {
		return false, fault.New(fault.Conflict, "incident %s cannot go from %s to %s", inc.ID, inc.State, to)
	}
	from := inc.State
	inc.State = to
	switch to {
	case Acknowledged:
		inc.AcknowledgedAt = now
	case Mitigated:
		inc.MitigatedAt = now
	case Resolved:
		inc.ResolvedAt = now
	case Triggered:
		inc.AcknowledgedAt, inc.MitigatedAt, inc.ResolvedAt = time.Time{}, time.Time{}, time.Time{}
	}
	text := fmt.Sprintf("%s → %s", from, to)
	if why != "" {
		text += ": " + why
	}
	inc.touch(now)
	inc.record(Event{At: now, Actor: who, Kind: EventState, Text: text, Data: map[string]string{"from": string(from), "to": string(to)}})
	return true, nil
}

// LinkCase links a customer case to this incident (idempotent).
func (inc *Incident) LinkCase(caseID string, who Actor, now time.Time) bool {
	if slices.Contains(inc.Cases, caseID) {
		return false
	}
	inc.Cases = append(inc.Cases, caseID)
	inc.touch(now)
	inc.record(Event{At: now, Actor: who, Kind: EventCaseLinked, Text: "Case " + caseID + " linked"})
	return true
}

// changeSeverity sets the severity for a reason, which replaces the reasons
// given for the old one.
func (inc *Incident) changeSeverity(to Severity, who Actor, why string, now time.Time) {
	from := inc.Severity
	inc.Severity = to
	inc.SeverityReasons = []string{why}
	inc.touch(now)
	inc.record(Event{At: now, Actor: who, Kind: EventSeverity, Text: fmt.Sprintf("Severity %s → %s: %s", from, to, why),
		Data: map[string]string{"from": from.String(), "to": to.String()}})
}

func (inc *Incident) addVendorRef(r VendorRef, who Actor, now time.Time) {
	for _, have := range inc.VendorRefs {
		if have.System == r.System && have.ID == r.ID {
			return
		}
	}
	inc.VendorRefs = append(inc.VendorRefs, r)
	inc.record(Event{At: now, Actor: who, Kind: EventVendorRef, Text: fmt.Sprintf("Vendor reference %s %s", r.System, r.ID)})
}

// lastHeard is what the latest delivery applied from alert a said.
func (inc *Incident) lastHeard(a Alert) string {
	for _, r := range inc.Alerts {
		if r.Source == a.Source && r.ID == a.ID {
			return r.Last
		}
	}
	return ""
}

// Heard records content as what alert a said last: the incident opened by it
// says so, so that the sender's retry of the opening alert changes nothing.
func (inc *Incident) Heard(a Alert, content string) {
	for i := range inc.Alerts {
		if inc.Alerts[i].Source == a.Source && inc.Alerts[i].ID == a.ID {
			inc.Alerts[i].Last = content
		}
	}
}

func (inc *Incident) foldAlertRef(a Alert) {
	inc.AlertCount++
	for i := range inc.Alerts {
		if inc.Alerts[i].Source == a.Source && inc.Alerts[i].ID == a.ID {
			inc.Alerts[i].Count++
			inc.Alerts[i].Status = AlertFiring
			inc.Alerts[i].ResolvedAt = time.Time{}
			return
		}
	}
	if len(inc.Alerts) < maxAlertRefs {
		inc.Alerts = append(inc.Alerts, AlertRef{Source: a.Source, ID: a.ID, Status: AlertFiring, FiredAt: a.FiredAt, Count: 1})
	}
}

func (inc *Incident) resolveAlertRef(a Alert, now time.Time) {
	at := a.ResolvedAt
	if at.IsZero() {
		at = now
	}
	for i := range inc.Alerts {
		if inc.Alerts[i].Source == a.Source && (inc.Alerts[i].ID == a.ID || a.ID == "") {
			inc.Alerts[i].Status = AlertResolved
			inc.Alerts[i].ResolvedAt = at
		}
	}
}

func (inc *Incident) anyAlertFiring() bool {
	for _, r := range inc.Alerts {
		if r.Status == AlertFiring {
			return true
		}
	}
	return false
}

// recordTriage puts what triage used and ignored on the timeline: once per alert,
// and not again when a repeat says exactly what the last one said.
func (inc *Incident) recordTriage(t Triage, key string, now time.Time) {
	if len(t.Notes) == 0 {
		return
	}
	text := "Triage: " + joinReasons(t.Notes)
	for i := len(inc.Timeline) - 1; i >= 0; i-- {
		if inc.Timeline[i].Kind == EventTriage {
			if inc.Timeline[i].Text == text {
				return
			}
			break
		}
	}
	e := Event{At: now, Actor: System, Kind: EventTriage, Key: key, Text: text}
	if len(t.Reported) > 0 {
		e.Data = map[string]string{"reported": strings.Join(t.Reported, ",")}
	}
	inc.record(e)
}

func (inc *Incident) unionComponents(cs []string) {
	for _, c := range cs {
		if !slices.Contains(inc.Components, c) {
			inc.Components = append(inc.Components, c)
		}
	}
}

func (inc *Incident) unionReported(ts []string) {
	for _, t := range ts {
		if !slices.Contains(inc.Reported, t) {
			inc.Reported = append(inc.Reported, t)
		}
	}
}

func (inc *Incident) unionTenants(ts []string) {
	for _, t := range ts {
		if !slices.Contains(inc.Tenants, t) {
			inc.Tenants = append(inc.Tenants, t)
		}
	}
}

// record appends an event unless one with the same key is already there. The
// timeline is bounded: past the limit the oldest alert repeats give way first.
func (inc *Incident) record(e Event) {
	if e.Key != "" {
		for _, have := range inc.Timeline {
			if have.Key == e.Key && have.Kind == e.Kind {
				return
			}
		}
	}
	if len(inc.Timeline) >= maxTimelineEvents {
		if i := slices.IndexFunc(inc.Timeline, func(x Event) bool { return x.Kind == EventAlert }); i >= 0 {
			inc.Timeline = slices.Delete(inc.Timeline, i, i+1)
		}
	}
	inc.Timeline = append(inc.Timeline, e)
}

func (inc *Incident) seen(key string) bool { return key != "" && slices.Contains(inc.Applied, key) }

func (inc *Incident) remember(key string) {
	if key == "" {
		return
	}
	inc.Applied = append(inc.Applied, key)
	if len(inc.Applied) > maxAppliedKeys {
		inc.Applied = slices.Delete(inc.Applied, 0, len(inc.Applied)-maxAppliedKeys)
	}
}

func (inc *Incident) touch(now time.Time) {
	if now.After(inc.UpdatedAt) {
		inc.UpdatedAt = now
	}
}

func joinReasons(rs []string) string {
	if len(rs) == 0 {
		return "no rule applied"
	}
	out := rs[0]
	for _, r := range rs[1:] {
		out += "; " + r
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
