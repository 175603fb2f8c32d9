package oncall_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/catalog"
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
