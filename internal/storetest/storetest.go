// Package storetest is the contract every app.Store implementation passes: the
// embedded SQLite store and the Cosmos DB store run the same tests.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/oncall"
)

// Run runs the whole contract against stores made by open; each call to open must
// return an empty store.
func Run(t *testing.T, open func(t *testing.T) app.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, app.Store)
	}{
		{"IncidentCreateGet", testIncidentCreateGet},
		{"IncidentCreateExisting", testIncidentCreateExisting},
		{"OneOpenIncidentPerDedupKey", testOneOpenPerDedupKey},
		{"IncidentOptimisticConcurrency", testIncidentStale},
		{"ListIncidents", testListIncidents},
		{"Paging", testPaging},
		{"CaseLifecycle", testCaseLifecycle},
		{"CasesStayInTheirTenant", testCasesByTenant},
		{"ConcurrentWritersLoseNothing", testConcurrentWriters},
		{"ConcurrentCreatesRaceOnDedupKeys", testConcurrentCreates},
		{"DueEscalationsFollowTheIncident", testDueEscalations},
		{"DueStatusFollowsTheIncident", testDueStatus},
		{"Overrides", testOverrides},
		{"KeyClaims", testKeyClaims},
		{"Bundles", testBundles},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var t0 = time.Date(2026, 11, 6, 10, 12, 44, 0, time.UTC)

func newIncident(id, dedup string, at time.Time) *incident.Incident {
	a := incident.Alert{Source: "generic:test", ID: id, DedupKey: dedup, Status: incident.AlertFiring, Signal: incident.Sev2, Summary: "disk full on " + id}
	inc, err := incident.NewFromAlert(id, a, incident.Triage{Severity: incident.Sev2, Reasons: []string{"test"}}, "key-"+id, at)
	if err != nil {
		panic(err)
	}
	return inc
}

func newCase(id, tenant string, at time.Time) *incident.Case {
	return incident.NewCase(incident.CaseReport{CaseID: id, Tenant: tenant, Title: "cannot sign in", Description: "since 10:00",
		Reporter: incident.Contact{Name: "Ana", Email: "ana@contoso.example"}, ReceivedAt: at}, incident.Triage{Severity: incident.Sev3}, at)
}

func testIncidentCreateGet(t *testing.T, s app.Store) {
	ctx := context.Background()
	_, err := s.GetIncident(ctx, "INC-MISSING")
	require.True(t, fault.Is(err, fault.NotFound), "got %v", err)

	inc := newIncident("INC-1", "dk-1", t0)
	require.NoError(t, s.CreateIncident(ctx, inc))
	require.Equal(t, int64(1), inc.Version)

	got, err := s.GetIncident(ctx, "INC-1")
	require.NoError(t, err)
	require.Equal(t, inc.Title, got.Title)
	require.Equal(t, incident.Triggered, got.State)
	require.Equal(t, incident.Sev2, got.Severity)
	require.Equal(t, int64(1), got.Version)
	require.Len(t, got.Timeline, len(inc.Timeline))
	require.True(t, got.CreatedAt.Equal(t0), "created %v", got.CreatedAt)

	open, err := s.FindOpenIncident(ctx, "dk-1")
	require.NoError(t, err)
	require.Equal(t, "INC-1", open.ID)
}

func testIncidentCreateExisting(t *testing.T, s app.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateIncident(ctx, newIncident("INC-1", "dk-1", t0)))
	err := s.CreateIncident(ctx, newIncident("INC-1", "dk-other", t0))
	require.True(t, fault.Is(err, fault.Exists), "got %v", err)
	// A redelivered creation: same id, same dedup key. Exists, not Conflict, so
	// the caller knows it is its own incident.
	err = s.CreateIncident(ctx, newIncident("INC-1", "dk-1", t0))
	require.True(t, fault.Is(err, fault.Exists), "got %v", err)
}

func testOneOpenPerDedupKey(t *testing.T, s app.Store) {
	ctx := context.Background()
	first := newIncident("INC-1", "dk-1", t0)
	require.NoError(t, s.CreateIncident(ctx, first))

	err := s.CreateIncident(ctx, newIncident("INC-2", "dk-1", t0.Add(time.Minute)))
	require.True(t, fault.Is(err, fault.Conflict), "a second open incident for one dedup key: got %v", err)

	noError(t)(first.Move(incident.Resolved, "user:ana", "fixed", t0.Add(2*time.Minute)))
	require.NoError(t, s.UpdateIncident(ctx, first))
	_, err = s.FindOpenIncident(ctx, "dk-1")
	require.True(t, fault.Is(err, fault.NotFound), "resolved incidents hold no dedup key: got %v", err)

	require.NoError(t, s.CreateIncident(ctx, newIncident("INC-3", "dk-1", t0.Add(3*time.Minute))), "the key is free again once resolved")
	open, err := s.FindOpenIncident(ctx, "dk-1")
	require.NoError(t, err)
	require.Equal(t, "INC-3", open.ID)
}

func testIncidentStale(t *testing.T, s app.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateIncident(ctx, newIncident("INC-1", "dk-1", t0)))
	a, err := s.GetIncident(ctx, "INC-1")
	require.NoError(t, err)
	b, err := s.GetIncident(ctx, "INC-1")
	require.NoError(t, err)

	noError(t)(a.Move(incident.Acknowledged, "user:ana", "", t0.Add(time.Minute)))
	require.NoError(t, s.UpdateIncident(ctx, a))
	require.Equal(t, int64(2), a.Version)

	noError(t)(b.Move(incident.Resolved, "user:bo", "", t0.Add(time.Minute)))
	err = s.UpdateIncident(ctx, b)
	require.True(t, fault.Is(err, fault.Stale), "a write based on an old read: got %v", err)

	got, err := s.GetIncident(ctx, "INC-1")
	require.NoError(t, err)
	require.Equal(t, incident.Acknowledged, got.State, "the stale write changed nothing")
	require.Equal(t, int64(2), got.Version)

	err = s.UpdateIncident(ctx, newIncident("INC-NOPE", "dk-x", t0))
	require.Error(t, err, "updating an incident that was never created")
}

func testListIncidents(t *testing.T, s app.Store) {
	ctx := context.Background()
	for i := range 5 {
		inc := newIncident(fmt.Sprintf("INC-%d", i), fmt.Sprintf("dk-%d", i), t0.Add(time.Duration(i)*time.Minute))
		if i%2 == 1 {
			noError(t)(inc.Move(incident.Acknowledged, "user:ana", "", inc.CreatedAt))
		}
		require.NoError(t, s.CreateIncident(ctx, inc))
	}
	all, _, err := s.ListIncidents(ctx, app.IncidentFilter{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"INC-4", "INC-3", "INC-2", "INC-1", "INC-0"}, ids(all), "newest first")

	acked, _, err := s.ListIncidents(ctx, app.IncidentFilter{States: []incident.State{incident.Acknowledged}, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"INC-3", "INC-1"}, ids(acked))

	two, _, err := s.ListIncidents(ctx, app.IncidentFilter{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"INC-4", "INC-3"}, ids(two))

	// Closed incidents keep their place among open ones.
	inc2, err := s.GetIncident(ctx, "INC-2")
	require.NoError(t, err)
	noError(t)(inc2.Move(incident.Resolved, "user:ana", "fixed", t0.Add(time.Hour)))
	require.NoError(t, s.UpdateIncident(ctx, inc2))
	all, _, err = s.ListIncidents(ctx, app.IncidentFilter{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"INC-4", "INC-3", "INC-2", "INC-1", "INC-0"}, ids(all), "newest first, open or not")
	resolved, _, err := s.ListIncidents(ctx, app.IncidentFilter{States: []incident.State{incident.Resolved}, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"INC-2"}, ids(resolved))
	open, _, err := s.ListIncidents(ctx, app.IncidentFilter{States: []incident.State{incident.Triggered, incident.Acknowledged}, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"INC-4", "INC-3", "INC-1", "INC-0"}, ids(open))
}

func testCaseLifecycle(t *testing.T, s app.Store) {
	ctx := context.Background()
	_, err := s.GetCase(ctx, "CS-MISSING")
	require.True(t, fault.Is(err, fault.NotFound), "got %v", err)

	c := newCase("CS-1", "contoso", t0)
	require.NoError(t, s.CreateCase(ctx, c))
	require.True(t, fault.Is(s.CreateCase(ctx, newCase("CS-1", "contoso", t0)), fault.Exists))

	stale, err := s.GetCase(ctx, "CS-1")
	require.NoError(t, err)
	require.True(t, c.Escalate("INC-9", incident.System, "", t0.Add(time.Minute)))
	require.NoError(t, s.UpdateCase(ctx, c))
	require.Equal(t, int64(2), c.Version)

	stale.Escalate("INC-8", incident.System, "", t0.Add(time.Minute))
	require.True(t, fault.Is(s.UpdateCase(ctx, stale), fault.Stale))

	got, err := s.GetCase(ctx, "CS-1")
	require.NoError(t, err)
	require.Equal(t, incident.CaseEscalated, got.State)
	require.Equal(t, "INC-9", got.IncidentID)
	require.Equal(t, "contoso", got.Tenant)
}

func testCasesByTenant(t *testing.T, s app.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateCase(ctx, newCase("CS-1", "contoso", t0)))
	require.NoError(t, s.CreateCase(ctx, newCase("CS-2", "northwind", t0.Add(time.Minute))))
	require.NoError(t, s.CreateCase(ctx, newCase("CS-3", "contoso", t0.Add(2*time.Minute))))

	contoso, _, err := s.ListCases(ctx, app.CaseFilter{Tenant: "contoso", Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"CS-3", "CS-1"}, caseIDs(contoso), "only the tenant's own cases, newest first")

	northwind, _, err := s.ListCases(ctx, app.CaseFilter{Tenant: "northwind", Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"CS-2"}, caseIDs(northwind))

	// First-line support's queue: every tenant's, by state and assignee.
	all, _, err := s.ListCases(ctx, app.CaseFilter{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"CS-3", "CS-2", "CS-1"}, caseIDs(all))
	c, err := s.GetCase(ctx, "CS-2")
	require.NoError(t, err)
	c.Assign("ann", "user:max", t0.Add(time.Hour))
	require.NoError(t, s.UpdateCase(ctx, c))
	c, err = s.GetCase(ctx, "CS-3")
	require.NoError(t, err)
	c.Escalate("INC-1", incident.System, "", t0.Add(time.Hour))
	require.NoError(t, s.UpdateCase(ctx, c))
	mine, _, err := s.ListCases(ctx, app.CaseFilter{Assignee: "ann", Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"CS-2"}, caseIDs(mine))
	fresh, _, err := s.ListCases(ctx, app.CaseFilter{States: []incident.CaseState{incident.CaseNew}, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"CS-2", "CS-1"}, caseIDs(fresh), "the escalated case left the new ones")
	escalated, _, err := s.ListCases(ctx, app.CaseFilter{Tenant: "contoso", States: []incident.CaseState{incident.CaseEscalated}, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"CS-3"}, caseIDs(escalated))
}

// testPaging: a listing continues from its cursor, page after page, to the
// end, missing and repeating nothing, also across months and for items
// created at the same instant.
func testPaging(t *testing.T, s app.Store) {
	ctx := context.Background()
	var want, wantCases []string
	for i := range 12 {
		// Three months, two items at each instant.
		at := t0.AddDate(0, -(i / 4), 0).Add(-time.Duration(i/2) * time.Hour)
		inc := newIncident(fmt.Sprintf("INC-%02d", i), fmt.Sprintf("dk-%d", i), at)
		if i%3 == 0 {
			noError(t)(inc.Move(incident.Resolved, "user:ana", "", at))
		}
		require.NoError(t, s.CreateIncident(ctx, inc))
		if !inc.State.Open() {
			// A closed incident is listed from its closing write.
			got, err := s.GetIncident(ctx, inc.ID)
			require.NoError(t, err)
			got.Note("closed", "user:ana", at)
			require.NoError(t, s.UpdateIncident(ctx, got))
		}
		require.NoError(t, s.CreateCase(ctx, newCase(fmt.Sprintf("CS-%02d", i), []string{"contoso", "northwind"}[i%2], at)))
	}
	for i := range 12 {
		want = append(want, fmt.Sprintf("INC-%02d", i))
		wantCases = append(wantCases, fmt.Sprintf("CS-%02d", i))
	}
	sortNewestFirst := func(ids []string, created func(string) time.Time) {
		slices.SortStableFunc(ids, func(a, b string) int {
			if c := created(b).Compare(created(a)); c != 0 {
				return c
			}
			return strings.Compare(b, a)
		})
	}
	createdOf := func(id string) time.Time {
		var i int
		fmt.Sscanf(id[len(id)-2:], "%d", &i)
		return t0.AddDate(0, -(i / 4), 0).Add(-time.Duration(i/2) * time.Hour)
	}
	sortNewestFirst(want, createdOf)
	sortNewestFirst(wantCases, createdOf)

	var got []string
	f := app.IncidentFilter{Limit: 5}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5, "the listing ends")
		incs, more, err := s.ListIncidents(ctx, f)
		require.NoError(t, err)
		require.LessOrEqual(t, len(incs), 5)
		got = append(got, ids(incs)...)
		if !more {
			break
		}
		last := incs[len(incs)-1]
		f.After = app.CursorAt(last.CreatedAt, last.ID)
	}
	require.Equal(t, want, got, "every incident once, newest first")

	got = nil
	cf := app.CaseFilter{Limit: 4}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5, "the listing ends")
		cs, more, err := s.ListCases(ctx, cf)
		require.NoError(t, err)
		got = append(got, caseIDs(cs)...)
		if !more {
			break
		}
		last := cs[len(cs)-1]
		cf.After = app.CursorAt(last.CreatedAt, last.ID)
	}
	require.Equal(t, wantCases, got, "every case once, newest first")

	byKey, _, err := s.ListIncidents(ctx, app.IncidentFilter{DedupKey: "dk-3"})
	require.NoError(t, err)
	require.Equal(t, []string{"INC-03"}, ids(byKey), "found by dedup key, closed")
	byKey, _, err = s.ListIncidents(ctx, app.IncidentFilter{DedupKey: "dk-4"})
	require.NoError(t, err)
	require.Equal(t, []string{"INC-04"}, ids(byKey), "found by dedup key, open")
}

// testConcurrentWriters: two writers each record 100 notes on one incident through
// the read-apply-write loop; none is lost and the version counts every write.
func testConcurrentWriters(t *testing.T, s app.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateIncident(ctx, newIncident("INC-1", "dk-1", t0)))
	const perWriter = 100
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if err := addNote(ctx, s, "INC-1", fmt.Sprintf("writer %d note %d", w, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := s.GetIncident(ctx, "INC-1")
	require.NoError(t, err)
	require.Equal(t, int64(1+2*perWriter), got.Version)
	notes := map[string]bool{}
	for _, e := range got.Timeline {
		if e.Kind == incident.EventNote {
			require.False(t, notes[e.Text], "note recorded twice: %s", e.Text)
			notes[e.Text] = true
		}
	}
	require.Len(t, notes, 2*perWriter)
}

// testConcurrentCreates races 64 creators, two per dedup key: one of each pair
// wins, the other is told Conflict, and a loser never takes a winner down
// with it (a store that groups writes must keep their outcomes apart).
func testConcurrentCreates(t *testing.T, s app.Store) {
	ctx := context.Background()
	const keys = 32
	var wg sync.WaitGroup
	outcomes := make([]error, 2*keys)
	for i := range 2 * keys {
		wg.Go(func() {
			inc := newIncident(fmt.Sprintf("INC-%03d", i), fmt.Sprintf("dk-%02d", i%keys), t0.Add(time.Duration(i)*time.Second))
			outcomes[i] = s.CreateIncident(ctx, inc)
		})
	}
	wg.Wait()
	for k := range keys {
		a, b := outcomes[k], outcomes[k+keys]
		require.True(t, (a == nil) != (b == nil), "dk-%02d: exactly one creator wins, got %v and %v", k, a, b)
		loser := a
		if loser == nil {
			loser = b
		}
		require.True(t, fault.Is(loser, fault.Conflict), "dk-%02d: the loser is told Conflict, got %v", k, loser)
		open, err := s.FindOpenIncident(ctx, fmt.Sprintf("dk-%02d", k))
		require.NoError(t, err)
		winner := fmt.Sprintf("INC-%03d", k)
		if a != nil {
			winner = fmt.Sprintf("INC-%03d", k+keys)
		}
		require.Equal(t, winner, open.ID)
	}
}

func addNote(ctx context.Context, s app.Store, id, text string) error {
	for {
		inc, err := s.GetIncident(ctx, id)
		if err != nil {
			return err
		}
		inc.Timeline = append(inc.Timeline, incident.Event{At: t0, Actor: "user:test", Kind: incident.EventNote, Text: text})
		err = s.UpdateIncident(ctx, inc)
		if !fault.Is(err, fault.Stale) {
			return err
		}
	}
}

func ids(incs []*incident.Incident) []string {
	out := make([]string, len(incs))
	for i, inc := range incs {
		out[i] = inc.ID
	}
	return out
}

func caseIDs(cs []*incident.Case) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func testDueEscalations(t *testing.T, s app.Store) {
	ctx := context.Background()
	due := func(id string, at time.Time) *incident.Incident {
		inc := newIncident(id, "dk-"+id, t0)
		inc.StartEscalation("p", at, "", t0)
		require.NoError(t, s.CreateIncident(ctx, inc))
		return inc
	}
	a := due("INC-A", t0.Add(time.Minute))
	b := due("INC-B", t0.Add(3*time.Minute))
	c := due("INC-C", t0.Add(2*time.Minute))
	none := newIncident("INC-N", "dk-n", t0) // no escalation policy
	require.NoError(t, s.CreateIncident(ctx, none))

	list := func(before time.Time) []string {
		got, err := s.ListDueEscalations(ctx, before, 100)
		require.NoError(t, err)
		return got
	}
	require.Empty(t, list(t0))
	require.Equal(t, []string{"INC-A", "INC-C"}, list(t0.Add(2*time.Minute)), "most overdue first, inclusive")
	require.Equal(t, []string{"INC-A", "INC-C", "INC-B"}, list(t0.Add(time.Hour)))
	got, err := s.ListDueEscalations(ctx, t0.Add(time.Hour), 1)
	require.NoError(t, err)
	require.Equal(t, []string{"INC-A"}, got, "limit")

	// Acknowledging takes A off the list; moving B's timer later moves it.
	noError(t)(a.Acknowledge("user:ann", "", "", t0.Add(30*time.Second)))
	require.NoError(t, s.UpdateIncident(ctx, a))
	b.Escalation.DueAt = t0.Add(10 * time.Minute)
	require.NoError(t, s.UpdateIncident(ctx, b))
	require.Equal(t, []string{"INC-C"}, list(t0.Add(5*time.Minute)))

	// Resolving takes C off; un-acknowledging A puts it back (due now).
	noError(t)(c.Move(incident.Resolved, "user:ann", "fixed", t0.Add(time.Minute)))
	require.NoError(t, s.UpdateIncident(ctx, c))
	require.NoError(t, a.Unacknowledge("user:ann", "handing back", t0.Add(4*time.Minute)))
	require.NoError(t, s.UpdateIncident(ctx, a))
	require.Equal(t, []string{"INC-A"}, list(t0.Add(5*time.Minute)))
}

func testDueStatus(t *testing.T, s app.Store) {
	ctx := context.Background()
	sev1 := incident.Expectations{StatusPage: true, UpdateEvery: 30 * time.Minute}
	visible := func(id string, from time.Time) *incident.Incident {
		inc := newIncident(id, "dk-"+id, t0)
		inc.PlanComms(sev1, from)
		require.NoError(t, s.CreateIncident(ctx, inc))
		return inc
	}
	a := visible("INC-SA", t0)                     // due at +30m
	b := visible("INC-SB", t0.Add(10*time.Minute)) // due at +40m
	internal := newIncident("INC-SN", "dk-sn", t0)
	internal.PlanComms(incident.Expectations{}, t0) // not customer-visible
	require.NoError(t, s.CreateIncident(ctx, internal))

	list := func(before time.Time) []string {
		got, err := s.ListDueStatus(ctx, before, 100)
		require.NoError(t, err)
		return got
	}
	require.Empty(t, list(t0.Add(29*time.Minute)))
	require.Equal(t, []string{"INC-SA"}, list(t0.Add(30*time.Minute)), "inclusive")
	require.Equal(t, []string{"INC-SA", "INC-SB"}, list(t0.Add(time.Hour)), "most overdue first")
	got, err := s.ListDueStatus(ctx, t0.Add(time.Hour), 1)
	require.NoError(t, err)
	require.Equal(t, []string{"INC-SA"}, got, "limit")

	// Reminding A moves it to its escalation time; resolving B takes it off.
	require.True(t, a.RecordLateness(incident.RemindComms, []string{"Ann"}, 30*time.Minute, t0.Add(31*time.Minute)))
	a.PlanComms(sev1, t0.Add(31*time.Minute))
	require.NoError(t, s.UpdateIncident(ctx, a))
	require.Equal(t, []string{"INC-SB"}, list(t0.Add(44*time.Minute)))
	require.Equal(t, []string{"INC-SB", "INC-SA"}, list(t0.Add(45*time.Minute)))
	noError(t)(b.Move(incident.Resolved, "user:ann", "fixed", t0.Add(time.Minute)))
	b.PlanComms(sev1, t0.Add(time.Minute))
	require.NoError(t, s.UpdateIncident(ctx, b))
	require.Equal(t, []string{"INC-SA"}, list(t0.Add(2*time.Hour)))
}

func testOverrides(t *testing.T, s app.Store) {
	ctx := context.Background()
	mk := func(id string, start, end time.Time) *oncall.Override {
		return &oncall.Override{ID: id, Rotation: "primary", Person: "ann", Start: start, End: end, By: "user:bob", Reason: "swap", CreatedAt: t0}
	}
	require.NoError(t, s.CreateOverride(ctx, mk("OV-1", t0, t0.Add(2*time.Hour))))
	require.NoError(t, s.CreateOverride(ctx, mk("OV-2", t0.Add(time.Hour), t0.Add(3*time.Hour))))
	require.NoError(t, s.CreateOverride(ctx, mk("OV-OLD", t0.Add(-3*time.Hour), t0.Add(-time.Hour))))
	err := s.CreateOverride(ctx, mk("OV-1", t0, t0.Add(time.Hour)))
	require.True(t, fault.Is(err, fault.Exists), "got %v", err)

	got, err := s.ListOverrides(ctx, t0)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "OV-1", got[0].ID, "soonest ending first")
	require.Equal(t, "OV-2", got[1].ID)
	require.True(t, got[1].Start.Equal(t0.Add(time.Hour)))
	require.Equal(t, "ann", got[0].Person)
	require.Equal(t, incident.Actor("user:bob"), got[0].By)

	// Ending one early: read, change, replace.
	o, err := s.GetOverride(ctx, "OV-2")
	require.NoError(t, err)
	require.Equal(t, "primary", o.Rotation)
	require.NoError(t, o.EndEarly("user:ann", t0.Add(30*time.Minute)))
	require.NoError(t, s.UpdateOverride(ctx, o))
	got, err = s.ListOverrides(ctx, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, []string{"OV-1"}, []string{got[0].ID}, "the ended one is no longer in force or planned")
	require.Len(t, got, 1)
	again, err := s.GetOverride(ctx, "OV-2")
	require.NoError(t, err)
	require.Equal(t, incident.Actor("user:ann"), again.EndedBy)

	_, err = s.GetOverride(ctx, "OV-NONE")
	require.True(t, fault.Is(err, fault.NotFound), "got %v", err)
	require.True(t, fault.Is(s.UpdateOverride(ctx, mk("OV-NONE", t0, t0.Add(time.Hour))), fault.NotFound))
}

// noError checks the error of a domain change that also says whether it changed anything.
func noError(t *testing.T) func(bool, error) {
	return func(_ bool, err error) {
		t.Helper()
		require.NoError(t, err)
	}
}

// testKeyClaims: the first claim of an idempotency key holds until it
// expires; a second claim meanwhile gets the first back; after, it wins.
func testKeyClaims(t *testing.T, s app.Store) {
	ctx := context.Background()
	first := app.KeyClaim{ID: "idem-1", Fingerprint: "fp-a", Value: "CS-A", Expires: t0.Add(24 * time.Hour)}
	got, err := s.ClaimKey(ctx, first, t0)
	require.NoError(t, err)
	require.Equal(t, "CS-A", got.Value)

	other := app.KeyClaim{ID: "idem-1", Fingerprint: "fp-b", Value: "CS-B", Expires: t0.Add(25 * time.Hour)}
	got, err = s.ClaimKey(ctx, other, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, "fp-a", got.Fingerprint, "the claim in force")
	require.Equal(t, "CS-A", got.Value)
	require.True(t, got.Expires.Equal(first.Expires))

	later := app.KeyClaim{ID: "idem-1", Fingerprint: "fp-c", Value: "CS-C", Expires: t0.Add(48 * time.Hour)}
	got, err = s.ClaimKey(ctx, later, t0.Add(24*time.Hour+time.Second))
	require.NoError(t, err)
	require.Equal(t, "CS-C", got.Value, "an expired claim gives way")

	got, err = s.ClaimKey(ctx, app.KeyClaim{ID: "idem-2", Fingerprint: "fp-a", Value: "CS-D", Expires: t0.Add(24 * time.Hour)}, t0)
	require.NoError(t, err)
	require.Equal(t, "CS-D", got.Value, "keys are independent")
}

// testBundles: a contact's bundle is read, changed and written under
// optimistic concurrency, created on its first write.
func testBundles(t *testing.T, s app.Store) {
	ctx := context.Background()
	b, err := s.GetBundle(ctx, "sms:+15550001")
	require.NoError(t, err)
	require.True(t, b.Empty())
	require.Zero(t, b.Version)
	rival := *b
	require.True(t, b.Add(incident.Notification{Key: "ntf:1", Subject: "one"}))
	require.NoError(t, s.SaveBundle(ctx, b))
	rival.Add(incident.Notification{Key: "ntf:2"})
	require.True(t, fault.Is(s.SaveBundle(ctx, &rival), fault.Stale), "created meanwhile")

	got, err := s.GetBundle(ctx, "sms:+15550001")
	require.NoError(t, err)
	require.Len(t, got.Items, 1)
	require.Equal(t, "one", got.Items[0].Subject)
	stale := *got
	require.True(t, got.Sent(0, 1, 0))
	require.NoError(t, s.SaveBundle(ctx, got))
	stale.Add(incident.Notification{Key: "ntf:3"})
	require.True(t, fault.Is(s.SaveBundle(ctx, &stale), fault.Stale))
	again, err := s.GetBundle(ctx, "sms:+15550001")
	require.NoError(t, err)
	require.True(t, again.Empty())
	require.Equal(t, 1, again.Gen)

	other, err := s.GetBundle(ctx, "email:a@example.com")
	require.NoError(t, err)
	require.True(t, other.Empty(), "bundles are per contact")
}
