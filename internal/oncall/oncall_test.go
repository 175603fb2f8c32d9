package oncall_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/catalog"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/oncall"
)

const testCatalog = `
organisation: Test
triageTeam: ops
tenants: [{id: t1, name: T1}]
teams:
  - {id: ops, name: Ops, members: [ann, bob], escalationPolicy: main,
     businessHours: {timeZone: Europe/London, days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}}
  - {id: nobody, name: Nobody}
components:
  - {id: web, name: Web, owner: ops, criticality: critical, tenants: all}
people:
  - {id: ann, name: Ann, contacts: {email: ann@example.com}}
  - {id: bob, name: Bob, contacts: {email: bob@example.com, sms: "+447700900001"}}
  - {id: cat, name: Cat, contacts: {email: cat@example.com}}
  - {id: max, name: Max, contacts: {email: max@example.com}}
rotations:
  # Weekly, Sunday 09:00 London: 2026-10-25 is the Sunday British Summer Time ends.
  - {id: primary, name: Primary, participants: [ann, bob], shiftDays: 7, handoff: "09:00", timeZone: Europe/London, start: "2026-10-18"}
  - {id: secondary, name: Secondary, participants: [cat], shiftDays: 1, handoff: "09:00", timeZone: Europe/London, start: "2026-01-01"}
  # New York springs forward on 2027-03-14 at 02:00; hand-off at 08:00 local daily.
  - {id: ny, name: NY, participants: [ann, bob], shiftDays: 1, handoff: "08:00", timeZone: America/New_York, start: "2027-03-13"}
  - {id: later, name: Not started, participants: [max], shiftDays: 7, handoff: "09:00", timeZone: UTC, start: "2030-01-01"}
escalationPolicies:
  - id: main
    team: ops
    repeat: 1
    steps:
      - {targets: [rotation:primary], delay: 5m}
      - {targets: [rotation:later], delay: 5m}
      - {targets: [rotation:secondary], delay: 5m}
    final: {targets: [person:max], delay: 10m, reminder: Open a vendor support request}
  - id: empty
    steps:
      - {targets: [rotation:later, team:nobody], delay: 5m}
`

func load(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Parse("test.yaml", []byte(testCatalog))
	require.NoError(t, err)
	return cat
}

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return v
}

func TestRotationHandsOverAtLocalTimeAcrossDST(t *testing.T) {
	cat := load(t)
	s := oncall.NewSchedule(cat, nil)
	for _, c := range []struct {
		rotation, when, want string
	}{
		// Summer time (UTC+1): 09:00 London is 08:00 UTC.
		{"primary", "2026-10-18T07:59:00Z", ""}, // before the first shift
		{"primary", "2026-10-18T08:00:00Z", "ann"},
		{"primary", "2026-10-25T07:59:00Z", "ann"},
		// After the change (UTC+0): the hand-off is still at 09:00 local, now 09:00 UTC.
		{"primary", "2026-10-25T08:30:00Z", "ann"},
		{"primary", "2026-10-25T08:59:59Z", "ann"},
		{"primary", "2026-10-25T09:00:00Z", "bob"},
		{"primary", "2026-11-01T09:00:00Z", "ann"},
		// New York: 08:00 EST is 13:00 UTC; after 2027-03-14 08:00 EDT is 12:00 UTC.
		{"ny", "2027-03-14T11:59:00Z", "ann"},
		{"ny", "2027-03-14T12:00:00Z", "bob"},
		{"ny", "2027-03-15T11:59:00Z", "bob"},
		{"ny", "2027-03-15T12:00:00Z", "ann"},
	} {
		sh, ok := s.OnCall(c.rotation, at(t, c.when))
		if c.want == "" {
			assert.False(t, ok, "%s at %s", c.rotation, c.when)
			continue
		}
		if assert.True(t, ok, "%s at %s", c.rotation, c.when) {
			assert.Equal(t, c.want, sh.Person, "%s at %s", c.rotation, c.when)
		}
	}
	// The shift that spans the change lasts 169 hours: the clocks went back.
	sh, _ := s.OnCall("primary", at(t, "2026-10-20T12:00:00Z"))
	assert.Equal(t, 169*time.Hour, sh.Until.Sub(sh.From))
	assert.Equal(t, at(t, "2026-10-25T09:00:00Z"), sh.Until.UTC())
}

func TestOverrideTakesTheShiftLatestWins(t *testing.T) {
	cat := load(t)
	now := at(t, "2026-10-19T10:00:00Z")
	o1, err := oncall.NewOverride(cat, "o1", "primary", "cat", now.Add(-time.Hour), now.Add(time.Hour), "swap", "user:ann", now)
	require.NoError(t, err)
	o2, err := oncall.NewOverride(cat, "o2", "primary", "max", now, now.Add(30*time.Minute), "", "user:ann", now.Add(time.Second))
	require.NoError(t, err)
	s := oncall.NewSchedule(cat, []oncall.Override{o1, o2})

	sh, ok := s.OnCall("primary", now.Add(10*time.Minute))
	require.True(t, ok)
	assert.Equal(t, "max", sh.Person)
	require.NotNil(t, sh.Override)
	sh, _ = s.OnCall("primary", now.Add(40*time.Minute))
	assert.Equal(t, "cat", sh.Person)
	sh, _ = s.OnCall("primary", now.Add(2*time.Hour))
	assert.Equal(t, "ann", sh.Person)
	assert.Nil(t, sh.Override)
}

func TestOverrideValidation(t *testing.T) {
	cat := load(t)
	now := at(t, "2026-10-19T10:00:00Z")
	for _, c := range []struct {
		name, rotation, person string
		start, end             time.Time
		field                  string
	}{
		{"no person", "primary", "", now, now.Add(time.Hour), "person"},
		{"unknown person", "primary", "zed", now, now.Add(time.Hour), "person"},
		{"end before start", "primary", "ann", now, now.Add(-time.Minute), "end"},
		{"in the past", "primary", "ann", now.Add(-2 * time.Hour), now.Add(-time.Hour), "end"},
		{"too long", "primary", "ann", now, now.Add(91 * 24 * time.Hour), "end"},
		{"no start", "primary", "ann", time.Time{}, now.Add(time.Hour), "start"},
	} {
		_, err := oncall.NewOverride(cat, "o", c.rotation, c.person, c.start, c.end, "", "user:x", now)
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.field, c.name)
	}
	_, err := oncall.NewOverride(cat, "o", "nope", "ann", now, now.Add(time.Hour), "", "user:x", now)
	assert.ErrorContains(t, err, "rotation")
}

func TestFireSkipsEmptyStepsAndRepeats(t *testing.T) {
	cat := load(t)
	pol, _ := cat.Policy("main")
	s := oncall.NewSchedule(cat, nil)
	now := at(t, "2026-10-19T10:00:00Z")
	assert.Equal(t, 7, oncall.Positions(pol)) // 3 steps × 2 rounds + final

	f := s.Fire(pol, 1, 1, now)
	require.Len(t, f.Pages, 1)
	assert.Equal(t, "ann", f.Pages[0].Person)
	assert.Equal(t, "rotation:primary", f.Pages[0].Via)
	assert.Equal(t, 2, f.Next)
	assert.Equal(t, now.Add(5*time.Minute), f.DueAt)

	// Step 2's rotation has not started: skipped at once, step 3 paged now.
	f = s.Fire(pol, 1, 2, now)
	require.Len(t, f.Pages, 1)
	assert.Equal(t, "cat", f.Pages[0].Person)
	assert.Equal(t, 3, f.Pages[0].Step)
	assert.Len(t, f.Skipped, 1)
	assert.Contains(t, f.Skipped[0], "Step 2 (round 1) skipped")
	assert.Equal(t, 4, f.Next)

	// Round 2 starts over at step 1.
	f = s.Fire(pol, 1, 4, now)
	assert.Equal(t, 2, f.Pages[0].Round)
	assert.Equal(t, 1, f.Pages[0].Step)

	// The final step, with its reminder.
	f = s.Fire(pol, 1, 7, now)
	require.Len(t, f.Pages, 1)
	assert.True(t, f.Pages[0].Final)
	assert.Equal(t, "max", f.Pages[0].Person)
	assert.Equal(t, "Open a vendor support request", f.Reminder)
	assert.Equal(t, 8, f.Next)
	assert.False(t, f.Done)

	// After the final wait: spent.
	f = s.Fire(pol, 1, 8, now)
	assert.Empty(t, f.Pages)
	assert.True(t, f.Done)

	// A policy where nobody can be reached is spent at once, each step noted.
	empty, _ := cat.Policy("empty")
	f = s.Fire(empty, 1, 1, now)
	assert.True(t, f.Done)
	assert.Empty(t, f.Pages)
	assert.Len(t, f.Skipped, 1)
}

func TestTeamTargetPagesEveryMemberOnce(t *testing.T) {
	cat, err := catalog.Parse("t.yaml", []byte(testCatalog+`
  - id: team
    steps:
      - {targets: [team:ops, person:ann], delay: 1m}
`))
	require.NoError(t, err)
	pol, _ := cat.Policy("team")
	f := oncall.NewSchedule(cat, nil).Fire(pol, 1, 1, time.Now())
	var people []string
	for _, p := range f.Pages {
		people = append(people, p.Person)
	}
	assert.Equal(t, []string{"ann", "bob"}, people)
}

func TestBusinessHours(t *testing.T) {
	cat := load(t)
	team, _ := cat.Team("ops")
	bh := team.BusinessHours
	// Friday 2026-10-23 18:00 London (BST) → Monday 09:00 London (GMT by then).
	fri := at(t, "2026-10-23T17:00:00Z")
	assert.False(t, oncall.Open(bh, fri))
	assert.Equal(t, at(t, "2026-10-26T09:00:00Z"), oncall.NextOpen(bh, fri).UTC())
	// Tuesday 03:00 → Tuesday 09:00.
	tue := at(t, "2026-10-27T03:00:00Z")
	assert.Equal(t, at(t, "2026-10-27T09:00:00Z"), oncall.NextOpen(bh, tue).UTC())
	// Within hours: now.
	mid := at(t, "2026-10-27T12:00:00Z")
	assert.True(t, oncall.Open(bh, mid))
	assert.Equal(t, mid, oncall.NextOpen(bh, mid))
}

func TestPolicyForRoutesAndOwners(t *testing.T) {
	cat := load(t)
	pol, ok := cat.PolicyFor(1, []string{"web"})
	require.True(t, ok)
	assert.Equal(t, "main", pol.ID)
	pol, ok = cat.PolicyFor(3, nil)
	require.True(t, ok, "falls back to the triage team's policy")
	assert.Equal(t, "main", pol.ID)
}

// extra is testCatalog with policies and hours that reach the corners.
const extra = `
  - id: reminding
    steps:
      - {targets: [rotation:later], delay: 5m, reminder: Call the vendor}
      - {targets: [person:ann], delay: 5m}
    final: {targets: [rotation:ny], delay: 10m}
`

func TestOverrideLimits(t *testing.T) {
	cat := load(t)
	now := at(t, "2026-10-19T10:00:00Z")
	o, err := oncall.NewOverride(cat, "o", "primary", "cat", now, now.Add(90*24*time.Hour), "exactly ninety days", "user:ann", now)
	require.NoError(t, err)
	assert.Equal(t, oncall.Override{ID: "o", Rotation: "primary", Person: "cat", Start: now, End: now.Add(90 * 24 * time.Hour),
		Reason: "exactly ninety days", By: "user:ann", CreatedAt: now}, o)

	_, err = oncall.NewOverride(cat, "o", "primary", "cat", now, now.Add(90*24*time.Hour+time.Nanosecond), "", "user:ann", now)
	assert.Equal(t, "end", fault.FieldOf(err))
	assert.ErrorContains(t, err, "an override lasts at most 90 days")

	_, err = oncall.NewOverride(cat, "o", "primary", "cat", now, now.Add(time.Hour), strings.Repeat("x", 501), "user:ann", now)
	assert.Equal(t, "reason", fault.FieldOf(err))
	_, err = oncall.NewOverride(cat, "o", "primary", "cat", now, now.Add(time.Hour), strings.Repeat("x", 500), "user:ann", now)
	assert.NoError(t, err)

	_, err = oncall.NewOverride(cat, "o", "primary", "cat", now, now, "", "user:ann", now)
	assert.Equal(t, "end", fault.FieldOf(err), "an empty span")
	assert.ErrorContains(t, err, "must be after start")
	_, err = oncall.NewOverride(cat, "o", "primary", "cat", now.Add(-time.Hour), now, "", "user:ann", now)
	assert.ErrorContains(t, err, "is in the past", "ending now is over")
	_, err = oncall.NewOverride(cat, "o", "primary", "cat", now, time.Time{}, "", "user:ann", now)
	assert.Equal(t, "end", fault.FieldOf(err))
	assert.ErrorContains(t, err, "is required")

	local := time.FixedZone("CET", 3600)
	o, err = oncall.NewOverride(cat, "o", "primary", "cat", now.In(local), now.Add(time.Hour).In(local), "", "user:ann", now)
	require.NoError(t, err)
	assert.Equal(t, time.UTC, o.Start.Location(), "stored in UTC")
	assert.Equal(t, time.UTC, o.End.Location())
}

func TestEndingAnOverrideEarly(t *testing.T) {
	cat := load(t)
	now := at(t, "2026-10-19T10:00:00Z")
	o, err := oncall.NewOverride(cat, "o", "primary", "cat", now.Add(-time.Hour), now.Add(time.Hour), "", "user:ann", now.Add(-time.Hour))
	require.NoError(t, err)
	require.NoError(t, o.EndEarly("user:bob", now))
	assert.Equal(t, now, o.End)
	assert.Equal(t, incident.Actor("user:bob"), o.EndedBy)
	assert.Equal(t, now, o.EndedAt)
	sh, _ := oncall.NewSchedule(cat, []oncall.Override{o}).OnCall("primary", now)
	assert.Equal(t, "ann", sh.Person, "the rotation's own schedule applies again")
	assert.True(t, fault.Is(o.EndEarly("user:bob", now), fault.Conflict), "ended already")

	future, err := oncall.NewOverride(cat, "f", "primary", "cat", now.Add(time.Hour), now.Add(2*time.Hour), "", "user:ann", now)
	require.NoError(t, err)
	require.NoError(t, future.EndEarly("user:bob", now))
	assert.Equal(t, future.Start, future.End, "one not started never starts")
	sh, _ = oncall.NewSchedule(cat, []oncall.Override{future}).OnCall("primary", now.Add(time.Hour))
	assert.Nil(t, sh.Override)
}

func TestOverridesApplyOnlyToTheirRotationAndSpan(t *testing.T) {
	cat := load(t)
	now := at(t, "2026-10-19T10:00:00Z")
	o, err := oncall.NewOverride(cat, "o", "secondary", "max", now, now.Add(time.Hour), "", "user:ann", now)
	require.NoError(t, err)
	s := oncall.NewSchedule(cat, []oncall.Override{o})
	sh, _ := s.OnCall("primary", now)
	assert.Equal(t, "ann", sh.Person, "another rotation's override")
	sh, _ = s.OnCall("secondary", now)
	assert.Equal(t, "max", sh.Person, "from its start")
	assert.Equal(t, oncall.Shift{Rotation: "secondary", Person: "max", From: now, Until: now.Add(time.Hour), Override: &o}, sh)
	sh, _ = s.OnCall("secondary", now.Add(time.Hour))
	assert.Equal(t, "cat", sh.Person, "to its end, not including it")
	_, ok := s.OnCall("nope", now)
	assert.False(t, ok, "no such rotation")

	// Overlapping: the one created last wins, whatever the order given.
	o2, err := oncall.NewOverride(cat, "o2", "secondary", "ann", now, now.Add(time.Hour), "", "user:ann", now.Add(time.Minute))
	require.NoError(t, err)
	for _, ovs := range [][]oncall.Override{{o, o2}, {o2, o}} {
		sh, _ = oncall.NewSchedule(cat, ovs).OnCall("secondary", now.Add(time.Minute))
		assert.Equal(t, "ann", sh.Person)
	}
}

func TestShiftSpansAndOrder(t *testing.T) {
	cat := load(t)
	s := oncall.NewSchedule(cat, nil)
	sh, ok := s.OnCall("secondary", at(t, "2026-10-19T10:00:00Z"))
	require.True(t, ok)
	assert.Equal(t, oncall.Shift{Rotation: "secondary", Person: "cat", From: at(t, "2026-10-19T08:00:00Z"), Until: at(t, "2026-10-20T08:00:00Z")},
		oncall.Shift{Rotation: sh.Rotation, Person: sh.Person, From: sh.From.UTC(), Until: sh.Until.UTC()})
	sh, _ = s.OnCall("secondary", at(t, "2026-10-19T07:59:59Z"))
	assert.Equal(t, at(t, "2026-10-18T08:00:00Z"), sh.From.UTC(), "before the hand-off: yesterday's shift")

	// Week three of primary is ann's again, 09:00 London to 09:00 London.
	sh, _ = s.OnCall("primary", at(t, "2026-11-03T12:00:00Z"))
	assert.Equal(t, "ann", sh.Person)
	assert.Equal(t, at(t, "2026-11-01T09:00:00Z"), sh.From.UTC())
	assert.Equal(t, at(t, "2026-11-08T09:00:00Z"), sh.Until.UTC())
	sh, _ = s.OnCall("primary", at(t, "2026-11-10T12:00:00Z"))
	assert.Equal(t, "bob", sh.Person)

	_, ok = s.OnCall("later", at(t, "2029-12-31T23:59:59Z"))
	assert.False(t, ok)
	sh, ok = s.OnCall("later", at(t, "2030-01-01T09:00:00Z"))
	assert.True(t, ok)
	assert.Equal(t, "max", sh.Person)
}

func TestPositions(t *testing.T) {
	cat := load(t)
	pol, _ := cat.Policy("main")
	for _, c := range []struct {
		position, round, step int
		final, ok             bool
	}{
		{0, 0, 0, false, false},
		{1, 1, 1, false, true},
		{3, 1, 3, false, true},
		{4, 2, 1, false, true},
		{6, 2, 3, false, true},
		{7, 2, 4, true, true},
		{8, 0, 0, false, false},
	} {
		step, round, number, final, ok := oncall.At(pol, c.position)
		assert.Equal(t, c.ok, ok, "position %d", c.position)
		assert.Equal(t, []int{c.round, c.step}, []int{round, number}, "position %d", c.position)
		assert.Equal(t, c.final, final, "position %d", c.position)
		if c.ok {
			want := pol.Final
			if !c.final {
				want = &pol.Steps[c.step-1]
			}
			assert.Same(t, want, step, "position %d", c.position)
		}
	}
	for _, c := range []struct {
		round, step, want int
		ok                bool
	}{
		{1, 1, 1, true}, {1, 3, 3, true}, {2, 1, 4, true}, {2, 3, 6, true},
		{0, 1, 0, false}, {3, 1, 0, false}, {1, 0, 0, false}, {1, 4, 0, false},
	} {
		got, ok := oncall.PositionOf(pol, c.round, c.step)
		assert.Equal(t, c.ok, ok, "round %d step %d", c.round, c.step)
		assert.Equal(t, c.want, got, "round %d step %d", c.round, c.step)
	}
	empty, _ := cat.Policy("empty")
	assert.Equal(t, 1, oncall.Positions(empty), "one step, no repeat, no final")
}

func TestFireOnToTheFinalStepAndPastIt(t *testing.T) {
	cat, err := catalog.Parse("t.yaml", []byte(testCatalog+extra))
	require.NoError(t, err)
	pol, _ := cat.Policy("reminding")
	f := oncall.NewSchedule(cat, nil).Fire(pol, 2, 3, at(t, "2027-03-14T12:00:00Z"))
	require.Len(t, f.Pages, 1)
	assert.Equal(t, incident.Page{Cycle: 2, Position: 3, Round: 1, Step: 3, Final: true, Person: "bob", Via: "rotation:ny", At: at(t, "2027-03-14T12:00:00Z")}, f.Pages[0])
	assert.Empty(t, f.Reminder, "the final step has none")
	assert.Equal(t, 4, f.Next)
	assert.Equal(t, at(t, "2027-03-14T12:10:00Z"), f.DueAt)

	f = oncall.NewSchedule(cat, nil).Fire(pol, 2, 3, at(t, "2027-03-01T12:00:00Z"))
	assert.Equal(t, []string{"Final step skipped: nobody on call in rotation:ny"}, f.Skipped)
	assert.True(t, f.Done)
	assert.Equal(t, 4, f.Next)

	empty, _ := cat.Policy("empty")
	f = oncall.NewSchedule(cat, nil).Fire(empty, 1, 1, at(t, "2026-10-19T10:00:00Z"))
	assert.Equal(t, 2, f.Next, "spent: past the last position")
	assert.Equal(t, []string{"Step 1 (round 1) skipped: nobody on call in rotation:later, team:nobody"}, f.Skipped)
	assert.Empty(t, f.Reminder)
}

func TestFireSaysASkippedStepsReminderWithThePageThatFollows(t *testing.T) {
	cat, err := catalog.Parse("t.yaml", []byte(testCatalog+extra+`
  - id: both
    steps:
      - {reminder: Open a Severity A support request, delay: 1m}
      - {targets: [rotation:later], delay: 5m, reminder: Call the vendor}
      - {targets: [person:ann], delay: 5m, reminder: Check the status page}
      - {targets: [person:bob], delay: 5m, reminder: Call the vendor}
  - id: same
    steps:
      - {targets: [rotation:later], delay: 5m, reminder: "Call the vendor; then the manager"}
      - {targets: [person:ann], delay: 5m, reminder: "Call the vendor; then the manager"}
`))
	require.NoError(t, err)
	now := at(t, "2026-10-19T10:00:00Z")
	pol, _ := cat.Policy("reminding")
	f := oncall.NewSchedule(cat, nil).Fire(pol, 2, 1, now)
	require.Len(t, f.Pages, 1)
	assert.Equal(t, incident.Page{Cycle: 2, Position: 2, Round: 1, Step: 2, Person: "ann", Via: "person:ann", Reminder: "Call the vendor", At: now}, f.Pages[0],
		"nobody was on call to do it: the next person paged is asked")
	assert.Equal(t, "Call the vendor", f.Reminder, "and the timeline says it")
	assert.Equal(t, []string{"Step 1 (round 1) skipped: nobody on call in rotation:later"}, f.Skipped)

	both, _ := cat.Policy("both")
	f = oncall.NewSchedule(cat, nil).Fire(both, 1, 1, now)
	assert.Equal(t, "Open a Severity A support request; Call the vendor; Check the status page", f.Reminder)
	assert.Equal(t, f.Reminder, f.Pages[0].Reminder)
	assert.Equal(t, "(no targets)", strings.TrimPrefix(f.Skipped[0], "Step 1 (round 1) skipped: nobody on call in "), "a reminder-only step")
	f = oncall.NewSchedule(cat, nil).Fire(both, 1, 2, now)
	f = oncall.NewSchedule(cat, nil).Fire(both, 1, f.Next, now)
	assert.Equal(t, "Call the vendor", f.Pages[0].Reminder, "a later firing says only its own")

	same, _ := cat.Policy("same")
	f = oncall.NewSchedule(cat, nil).Fire(same, 1, 1, now)
	assert.Equal(t, "Call the vendor; then the manager", f.Reminder, "said once")
}

func TestFireSaysAnOverrideReachedThem(t *testing.T) {
	cat := load(t)
	pol, _ := cat.Policy("main")
	now := at(t, "2026-10-19T10:00:00Z")
	o, err := oncall.NewOverride(cat, "o", "primary", "bob", now, now.Add(time.Hour), "", "user:ann", now)
	require.NoError(t, err)
	f := oncall.NewSchedule(cat, []oncall.Override{o}).Fire(pol, 1, 1, now)
	assert.Equal(t, "bob", f.Pages[0].Person)
	assert.Equal(t, "rotation:primary (override)", f.Pages[0].Via)
}

func TestRotationsAPolicyPages(t *testing.T) {
	cat, err := catalog.Parse("t.yaml", []byte(testCatalog+extra))
	require.NoError(t, err)
	main, _ := cat.Policy("main")
	assert.Equal(t, []string{"primary", "later", "secondary"}, oncall.Rotations(main), "each once, the final step's person is none")
	rem, _ := cat.Policy("reminding")
	assert.Equal(t, []string{"later", "ny"}, oncall.Rotations(rem), "the final step's rotation too")
	assert.Len(t, rem.Steps, 2, "the policy itself is not changed")
}

func TestBusinessHoursEdges(t *testing.T) {
	cat := load(t)
	team, _ := cat.Team("ops")
	bh := team.BusinessHours
	// Tuesday 2026-10-27, London on GMT: local time is UTC.
	for when, open := range map[string]bool{
		"2026-10-27T08:59:59Z": false,
		"2026-10-27T09:00:00Z": true,
		"2026-10-27T09:30:00Z": true,
		"2026-10-27T16:59:59Z": true,
		"2026-10-27T17:00:00Z": false,
		"2026-10-31T12:00:00Z": false, // Saturday
	} {
		assert.Equal(t, open, oncall.Open(bh, at(t, when)), when)
	}
	assert.Equal(t, at(t, "2026-10-28T09:00:00Z"), oncall.NextOpen(bh, at(t, "2026-10-27T17:00:00Z")).UTC(), "closing time: tomorrow")
	assert.Equal(t, at(t, "2026-10-27T09:00:00Z"), oncall.NextOpen(bh, at(t, "2026-10-27T08:59:00Z")).UTC(), "just before opening: today")
}

func TestBusinessHoursOneDayAWeek(t *testing.T) {
	cat, err := catalog.Parse("t.yaml", []byte(strings.Replace(testCatalog, "days: [mon, tue, wed, thu, fri]", "days: [tue]", 1)))
	require.NoError(t, err)
	team, _ := cat.Team("ops")
	bh := team.BusinessHours
	assert.Equal(t, at(t, "2026-11-03T09:00:00Z"), oncall.NextOpen(bh, at(t, "2026-10-27T18:00:00Z")).UTC(), "after Tuesday's hours: next Tuesday")
	assert.Equal(t, at(t, "2026-10-27T09:00:00Z"), oncall.NextOpen(bh, at(t, "2026-10-26T10:00:00Z")).UTC(), "Monday: Tuesday")
}
