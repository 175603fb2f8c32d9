// Package oncall answers who is on call and what an escalation policy does next.
// It does no I/O and never reads the clock: callers pass the overrides they loaded
// and `now`.
package oncall

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"vigil/internal/catalog"
	"vigil/internal/fault"
	"vigil/internal/incident"
)

// Override puts Person on call for Rotation from Start to End, whatever the
// rotation's schedule says (someone takes a shift). The latest override wins where
// two overlap.
type Override struct {
	ID        string         `json:"id"`
	Rotation  string         `json:"rotation"`
	Person    string         `json:"person"`
	Start     time.Time      `json:"start"`
	End       time.Time      `json:"end"`
	Reason    string         `json:"reason,omitempty"`
	By        incident.Actor `json:"by"`
	CreatedAt time.Time      `json:"createdAt"`
	// EndedBy ended it before its planned end, at EndedAt.
	EndedBy incident.Actor `json:"endedBy,omitempty"`
	EndedAt time.Time      `json:"endedAt,omitzero"`
}

// EndEarly ends an override now (one not started yet never starts): the
// rotation's own schedule applies again.
func (o *Override) EndEarly(who incident.Actor, now time.Time) error {
	if !o.End.After(now) {
		return fault.New(fault.Conflict, "override %s already ended at %s", o.ID, o.End.UTC().Format(time.RFC3339))
	}
	o.End = now.UTC()
	if o.Start.After(o.End) {
		o.End = o.Start
	}
	o.EndedBy, o.EndedAt = who, now
	return nil
}

// MaxOverride bounds one override's length.
const MaxOverride = 90 * 24 * time.Hour

// NewOverride validates an override against the catalog.
func NewOverride(cat *catalog.Catalog, id, rotation, person string, start, end time.Time, reason string, by incident.Actor, now time.Time) (Override, error) {
	if _, ok := cat.Rotation(rotation); !ok {
		return Override{}, fault.New(fault.NotFound, "rotation %q is not in the catalog", rotation)
	}
	switch {
	case person == "":
		return Override{}, fault.InvalidField("person", "is required: the id of the person taking the shift")
	case start.IsZero():
		return Override{}, fault.InvalidField("start", "is required (RFC 3339 time)")
	case end.IsZero():
		return Override{}, fault.InvalidField("end", "is required (RFC 3339 time)")
	case !end.After(start):
		return Override{}, fault.InvalidField("end", "must be after start")
	case !end.After(now):
		return Override{}, fault.InvalidField("end", "is in the past")
	case end.Sub(start) > MaxOverride:
		return Override{}, fault.InvalidField("end", "an override lasts at most %d days", int(MaxOverride.Hours()/24))
	case len(reason) > 500:
		return Override{}, fault.InvalidField("reason", "is longer than 500 characters")
	}
	if _, ok := cat.Person(person); !ok {
		return Override{}, fault.InvalidField("person", "person %q is not in the catalog", person)
	}
	return Override{ID: id, Rotation: rotation, Person: person, Start: start.UTC(), End: end.UTC(), Reason: reason, By: by, CreatedAt: now}, nil
}

// Schedule answers who is on call, from the catalog's rotations and the overrides.
type Schedule struct {
	cat       *catalog.Catalog
	overrides []Override
}

// NewSchedule returns the schedule of cat with these overrides in force.
func NewSchedule(cat *catalog.Catalog, overrides []Override) Schedule {
	return Schedule{cat: cat, overrides: overrides}
}

// Shift is one person's turn on a rotation.
type Shift struct {
	Rotation string    `json:"rotation"`
	Person   string    `json:"person"`
	From     time.Time `json:"from"`
	Until    time.Time `json:"until"`
	// Override is set when someone took this shift over.
	Override *Override `json:"override,omitempty"`
}

// OnCall returns who is on call for a rotation at t; ok is false when nobody is
// (the rotation has not started yet).
func (s Schedule) OnCall(rotation string, t time.Time) (Shift, bool) {
	var best *Override
	for i := range s.overrides {
		o := &s.overrides[i]
		if o.Rotation == rotation && !t.Before(o.Start) && t.Before(o.End) && (best == nil || o.CreatedAt.After(best.CreatedAt)) {
			best = o
		}
	}
	if best != nil {
		return Shift{Rotation: rotation, Person: best.Person, From: best.Start, Until: best.End, Override: best}, true
	}
	r, ok := s.cat.Rotation(rotation)
	if !ok {
		return Shift{}, false
	}
	person, from, until, ok := shiftAt(r, t)
	if !ok {
		return Shift{}, false
	}
	return Shift{Rotation: rotation, Person: person, From: from, Until: until}, true
}

// Positions is how many positions a policy has: its steps once per round, then
// its final step.
func Positions(p *catalog.EscalationPolicy) int {
	n := len(p.Steps) * (p.Repeat + 1)
	if p.Final != nil {
		n++
	}
	return n
}

// At returns the step at a position, with its round and step number.
func At(p *catalog.EscalationPolicy, position int) (step *catalog.EscalationStep, round, number int, final bool, ok bool) {
	if position < 1 || position > Positions(p) {
		return nil, 0, 0, false, false
	}
	if i := position - 1; i < len(p.Steps)*(p.Repeat+1) {
		return &p.Steps[i%len(p.Steps)], i/len(p.Steps) + 1, i%len(p.Steps) + 1, false, true
	}
	return p.Final, p.Repeat + 1, len(p.Steps) + 1, true, true
}

// PositionOf returns the position of a step (1-based) in a round (1-based).
func PositionOf(p *catalog.EscalationPolicy, round, step int) (int, bool) {
	if step < 1 || step > len(p.Steps) || round < 1 || round > p.Repeat+1 {
		return 0, false
	}
	return (round-1)*len(p.Steps) + step, true
}

// Fired is what firing a position does.
type Fired struct {
	Pages    []incident.Page
	Skipped  []string
	Reminder string
	// Next and DueAt schedule what comes after; Done when the policy is spent.
	Next  int
	DueAt time.Time
	Done  bool
	// said are the reminders in Reminder, each once.
	said []string
}

// Fire pages the first position from `from` that has somebody to page, skipping
// steps with nobody on call instead of waiting them out.
func (s Schedule) Fire(p *catalog.EscalationPolicy, cycle, from int, now time.Time) Fired {
	var f Fired
	for n := from; n <= Positions(p); n++ {
		step, round, number, final, _ := At(p, n)
		people, via := s.targets(step, now)
		if len(people) == 0 {
			where := fmt.Sprintf("Step %d (round %d)", number, round)
			if final {
				where = "Final step"
			}
			f.Skipped = append(f.Skipped, fmt.Sprintf("%s skipped: nobody on call in %s", where, joinTargets(step.Targets)))
			f.remind(step.Reminder)
			continue
		}
		// What a step skipped on the way asked for (a reminder-only step:
		// "open a support request") is said with the page that follows.
		f.remind(step.Reminder)
		for i, person := range people {
			f.Pages = append(f.Pages, incident.Page{Cycle: cycle, Position: n, Round: round, Step: number, Final: final,
				Person: person, Via: via[i], Reminder: f.Reminder, At: now})
		}
		f.Next, f.DueAt = n+1, now.Add(step.Delay)
		return f
	}
	f.Next, f.Done = Positions(p)+1, true
	return f
}

// remind adds a step's reminder to what firing says, once.
func (f *Fired) remind(r string) {
	if r == "" || slices.Contains(f.said, r) {
		return
	}
	f.said = append(f.said, r)
	f.Reminder = strings.Join(f.said, "; ")
}

// targets resolves a step's targets to distinct people at t, with how each was reached.
func (s Schedule) targets(step *catalog.EscalationStep, t time.Time) (people, via []string) {
	add := func(person, how string) {
		if !slices.Contains(people, person) {
			people, via = append(people, person), append(via, how)
		}
	}
	for _, tg := range step.Targets {
		switch tg.Kind {
		case catalog.TargetPerson:
			add(tg.ID, tg.String())
		case catalog.TargetRotation:
			if sh, ok := s.OnCall(tg.ID, t); ok {
				how := tg.String()
				if sh.Override != nil {
					how += " (override)"
				}
				add(sh.Person, how)
			}
		case catalog.TargetTeam:
			if team, ok := s.cat.Team(tg.ID); ok {
				for _, m := range team.Members {
					add(m, tg.String())
				}
			}
		}
	}
	return people, via
}

func joinTargets(ts []catalog.Target) string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.String()
	}
	if len(out) == 0 {
		return "(no targets)"
	}
	return strings.Join(out, ", ")
}

// Rotations lists the rotations a policy pages, so callers load only the
// overrides that matter.
func Rotations(p *catalog.EscalationPolicy) []string {
	var out []string
	steps := p.Steps
	if p.Final != nil {
		steps = append(slices.Clone(steps), *p.Final)
	}
	for _, st := range steps {
		for _, t := range st.Targets {
			if t.Kind == catalog.TargetRotation && !slices.Contains(out, t.ID) {
				out = append(out, t.ID)
			}
		}
	}
	return out
}

// shiftAt returns who a rotation's schedule puts on call at t (overrides
// aside), and when that shift started and ends; ok is false before the
// rotation's first shift. Hand-offs happen at the hand-off time in the
// rotation's own time zone, so they stay at 09:00 local across DST changes.
func shiftAt(r *catalog.Rotation, t time.Time) (person string, from, until time.Time, ok bool) {
	loc, start := r.Location(), r.FirstDay()
	hh, mm := r.HandoffClock()
	handoff := func(d time.Time) time.Time { return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, loc) }
	if first := handoff(start); t.Before(first) {
		return "", time.Time{}, first, false
	}
	local := t.In(loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
	if t.Before(handoff(local)) {
		day = day.AddDate(0, 0, -1)
	}
	days := int(day.Sub(start).Hours() / 24)
	shift := floorDiv(days, r.ShiftDays)
	n := len(r.Participants)
	person = r.Participants[((shift%n)+n)%n]
	first := start.AddDate(0, 0, shift*r.ShiftDays)
	return person, handoff(first), handoff(first.AddDate(0, 0, r.ShiftDays)), true
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

// Open reports whether t falls within business hours.
func Open(b *catalog.BusinessHours, t time.Time) bool {
	local := t.In(b.Location())
	m := local.Hour()*60 + local.Minute()
	start, end := b.Span()
	return b.OpenOn(local.Weekday()) && m >= start && m < end
}

// NextOpen returns t when within business hours, else when they next begin.
func NextOpen(b *catalog.BusinessHours, t time.Time) time.Time {
	if Open(b, t) {
		return t
	}
	start, _ := b.Span()
	local := t.In(b.Location())
	for i := 0; i <= 7; i++ {
		d := local.AddDate(0, 0, i)
		begin := time.Date(d.Year(), d.Month(), d.Day(), start/60, start%60, 0, 0, b.Location())
		if b.OpenOn(begin.Weekday()) && begin.After(t) {
			return begin
		}
	}
	return t // no day configured: validation prevents this
}
