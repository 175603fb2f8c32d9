package incident

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
)

func TestNewFromAlertKeepsWhatTheAlertSaid(t *testing.T) {
	a := firing("a1")
	a.Details = "3 messages dead-lettered"
	a.Links = []Link{{Title: "runbook", URL: "https://runbooks.example/dlq"}}
	a.Facts = map[string]string{"metric": "DeadletteredMessages"}
	a.VendorRefs = []VendorRef{{System: "azure-support", ID: "2411060010001"}, {System: "azure-support", ID: "2411060010001"}}
	a.FiredAt = t0.Add(-time.Minute)
	tr := Triage{Severity: Sev2, Components: []string{"messaging"}, Tenants: []string{"contoso"}, Reported: []string{"contoso"},
		Unmapped: []string{"/subscriptions/x/resourceGroups/y"}}
	inc, err := NewFromAlert("INC-1", a, tr, "m1", t0)
	require.NoError(t, err)
	require.Equal(t, "dead letters present", inc.Title)
	require.Equal(t, "3 messages dead-lettered", inc.Description)
	require.Equal(t, "dk", inc.DedupKey)
	require.Equal(t, "azure-monitor", inc.Source)
	require.Equal(t, []string{"messaging"}, inc.Components)
	require.Equal(t, a.Links, inc.Links)
	require.Equal(t, a.Facts, inc.Facts)
	require.Equal(t, t0, inc.CreatedAt)
	require.Equal(t, []AlertRef{{Source: "azure-monitor", ID: "a1", Status: AlertFiring, FiredAt: a.FiredAt, Count: 1}}, inc.Alerts)
	require.Equal(t, []string{"m1"}, inc.Applied)
	require.Equal(t, []VendorRef{{System: "azure-support", ID: "2411060010001"}}, inc.VendorRefs, "once each")
	require.Equal(t, []string{EventOpened, EventSeverity, EventUnmappedTarget, EventVendorRef}, kinds(inc))
	require.Equal(t, `Opened by azure-monitor alert "dead letters present" (Sev1)`, inc.Timeline[0].Text)
	require.Equal(t, Actor("azure-monitor"), inc.Timeline[0].Actor)
	require.Equal(t, "Severity sev2: no rule applied", inc.Timeline[1].Text)
	require.Equal(t, "Alert target is not in the catalog: /subscriptions/x/resourceGroups/y", inc.Timeline[2].Text)
	require.Equal(t, "Vendor reference azure-support 2411060010001", inc.Timeline[3].Text)

	a.SourceSeverity = ""
	inc, err = NewFromAlert("INC-2", a, Triage{Severity: Sev3, Reasons: []string{"r1", "r2"}}, "m2", t0)
	require.NoError(t, err)
	require.Equal(t, `Opened by azure-monitor alert "dead letters present" (-)`, inc.Timeline[0].Text)
	require.Equal(t, "Severity sev3: r1; r2", inc.Timeline[1].Text)
}

func TestNewFromCaseSaysWhoOpenedIt(t *testing.T) {
	c := newCase()
	tr := Triage{Severity: Sev2, Reasons: []string{"blocked, 120 users"}, Components: []string{"payroll"}}
	inc := NewFromCase("INC-7", c, tr, "customer:contoso", "", t0)
	require.Equal(t, "case:CS-1", inc.DedupKey)
	require.Equal(t, "case", inc.Source)
	require.Equal(t, []string{"CS-1"}, inc.Cases)
	require.Equal(t, []string{"contoso"}, inc.Tenants)
	require.Equal(t, []string{"payroll"}, inc.Components)
	require.Equal(t, Triggered, inc.State)
	require.Equal(t, Event{At: t0, Actor: "customer:contoso", Kind: EventOpened, Key: "case:CS-1",
		Text: "Opened from case CS-1 reported by contoso (7 users affected, blocked: true)"}, inc.Timeline[0])
	require.Equal(t, []string{EventOpened, EventSeverity}, kinds(inc))

	by := NewFromCase("INC-8", c, tr, "user:bo", "they cannot pay anyone", t0)
	require.Equal(t, "Opened by escalating case CS-1 (reported by contoso: 7 users affected, blocked: true)", by.Timeline[0].Text)
	require.Equal(t, Actor("user:bo"), by.Timeline[0].Actor)
	require.Equal(t, Event{At: t0, Actor: "user:bo", Kind: EventNote, Text: "Escalation note: they cannot pay anyone"}, by.Timeline[2])
}

func TestMoveStampsTheLifecycle(t *testing.T) {
	inc := open(t)
	changed, err := inc.Move(Triggered, "user:ana", "", t0)
	require.NoError(t, err)
	require.False(t, changed, "already there")
	require.Len(t, inc.Timeline, 2)

	steps := []struct {
		to    State
		stamp func() time.Time
	}{
		{Acknowledged, func() time.Time { return inc.AcknowledgedAt }},
		{Mitigated, func() time.Time { return inc.MitigatedAt }},
		{Resolved, func() time.Time { return inc.ResolvedAt }},
	}
	for i, s := range steps {
		at := t0.Add(time.Duration(i+1) * time.Minute)
		changed, err := inc.Move(s.to, "user:ana", "", at)
		require.NoError(t, err)
		require.True(t, changed)
		require.Equal(t, at, s.stamp(), s.to)
		require.Equal(t, at, inc.UpdatedAt)
	}
	last := inc.Timeline[len(inc.Timeline)-1]
	require.Equal(t, Event{At: t0.Add(3 * time.Minute), Actor: "user:ana", Kind: EventState, Text: "mitigated → resolved",
		Data: map[string]string{"from": "mitigated", "to": "resolved"}}, last)

	_, err = inc.Move(Triggered, "user:bo", "it is back", t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, "resolved → triggered: it is back", inc.Timeline[len(inc.Timeline)-1].Text)
	require.True(t, inc.AcknowledgedAt.IsZero() && inc.MitigatedAt.IsZero() && inc.ResolvedAt.IsZero(), "reopened: the stamps start over")
	require.True(t, Triggered.Open() && Acknowledged.Open() && Mitigated.Open())
	require.False(t, Resolved.Open() || Reviewed.Open())
	require.True(t, Reviewed.Valid())
	require.False(t, State("closed").Valid())
}

func TestLinkCaseOnce(t *testing.T) {
	inc := open(t)
	require.True(t, inc.LinkCase("CS-1", "user:bo", t0.Add(time.Minute)))
	require.False(t, inc.LinkCase("CS-1", "user:bo", t0.Add(2*time.Minute)))
	require.Equal(t, []string{"CS-1"}, inc.Cases)
	require.Equal(t, t0.Add(time.Minute), inc.UpdatedAt)
	require.Equal(t, Event{At: t0.Add(time.Minute), Actor: "user:bo", Kind: EventCaseLinked, Text: "Case CS-1 linked"}, inc.Timeline[len(inc.Timeline)-1])
}

func TestApplyAlertRefusesWhatIsNotItsOwn(t *testing.T) {
	inc := open(t)
	other := firing("a2")
	other.DedupKey = "another"
	changed, err := inc.ApplyAlert(other, Triage{Severity: Sev1}, "m2", "", t0)
	require.False(t, changed)
	require.True(t, fault.Is(err, fault.Conflict), "%v", err)
	require.Equal(t, Sev2, inc.Severity)
	require.Equal(t, []string{"m1"}, inc.Applied, "not remembered: the message may fold elsewhere")

	odd := firing("a1")
	odd.Status = "flapping"
	_, err = inc.ApplyAlert(odd, Triage{Severity: Sev2}, "m3", "", t0)
	require.Equal(t, "status", fault.FieldOf(err))
}

func TestApplyAlertFoldsWhatItAdds(t *testing.T) {
	inc := open(t)
	a := firing("a2")
	a.VendorRefs = []VendorRef{{System: "service-health", ID: "TRK-1"}}
	at := t0.Add(time.Minute)
	changed, err := inc.ApplyAlert(a, Triage{Severity: Sev2, Components: []string{"web-app", "web-app"}, Tenants: []string{"contoso", "contoso"}, Reported: []string{"contoso"}}, "m2", "c2", at)
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, at, inc.UpdatedAt)
	require.Equal(t, []string{"web-app"}, inc.Components)
	require.Equal(t, []string{"contoso"}, inc.Tenants)
	require.Equal(t, "c2", inc.Alerts[1].Last, "what it said, for spotting a sender's retry")
	require.Equal(t, Event{At: at, Actor: "azure-monitor", Kind: EventAlert, Key: "m2", Text: `Alert fired again: "dead letters present" (Sev1)`}, eventsOf(inc, EventAlert)[0])
	require.Len(t, inc.VendorRefs, 1)

	// The same content under another message: a sender's retry.
	changed, err = inc.ApplyAlert(a, Triage{Severity: Sev1}, "m3", "c2", at.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, changed)
	require.Equal(t, Sev2, inc.Severity)
	// Without content, only the message key counts.
	changed, err = inc.ApplyAlert(a, Triage{Severity: Sev2}, "m4", "", at.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, changed)
}

func TestAResolvedAlertWithoutIDClearsTheSourcesAlerts(t *testing.T) {
	inc := open(t)
	_, err := inc.ApplyAlert(firing("a2"), Triage{Severity: Sev2}, "m2", "", t0)
	require.NoError(t, err)
	other := firing("x1")
	other.Source = "generic:grafana"
	_, err = inc.ApplyAlert(other, Triage{Severity: Sev2}, "m3", "", t0)
	require.NoError(t, err)

	clear := resolved("")
	at := t0.Add(time.Minute)
	_, err = inc.ApplyAlert(clear, Triage{Severity: Sev2, AutoResolve: true}, "m4", "", at)
	require.NoError(t, err)
	require.Equal(t, AlertResolved, inc.Alerts[0].Status)
	require.Equal(t, AlertResolved, inc.Alerts[1].Status)
	require.Equal(t, at, inc.Alerts[0].ResolvedAt, "no resolved time given: when it was heard")
	require.Equal(t, AlertFiring, inc.Alerts[2].Status, "another source's alert still fires")
	require.Equal(t, Triggered, inc.State)

	done := resolved("x1")
	done.Source = "generic:grafana"
	done.ResolvedAt = t0.Add(30 * time.Second)
	_, err = inc.ApplyAlert(done, Triage{Severity: Sev2, AutoResolve: true}, "m5", "", at)
	require.NoError(t, err)
	require.Equal(t, t0.Add(30*time.Second), inc.Alerts[2].ResolvedAt)
	require.Equal(t, Resolved, inc.State)
	require.Equal(t, Actor("generic:grafana"), inc.Timeline[len(inc.Timeline)-1].Actor)

	// Firing again after it resolved is news, on the same alert.
	again := firing("a1")
	_, err = inc.ApplyAlert(again, Triage{Severity: Sev2}, "m6", "", at)
	require.NoError(t, err)
	require.Equal(t, AlertFiring, inc.Alerts[0].Status)
	require.True(t, inc.Alerts[0].ResolvedAt.IsZero())
	require.Equal(t, 2, inc.Alerts[0].Count)
}

func TestAResolvedIncidentStaysResolvedWhenItsAlertsClearAgain(t *testing.T) {
	inc := open(t)
	_, err := inc.Move(Resolved, "user:ana", "", t0)
	require.NoError(t, err)
	_, err = inc.ApplyAlert(resolved("a1"), Triage{Severity: Sev2, AutoResolve: true}, "m2", "", t0.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, Resolved, inc.State)
	require.Len(t, eventsOf(inc, EventState), 1)
}

func TestAlertRefsAreBounded(t *testing.T) {
	inc := open(t)
	for i := range maxAlertRefs + 10 {
		_, err := inc.ApplyAlert(firing(fmt.Sprint("b", i)), Triage{Severity: Sev2}, fmt.Sprint("m-", i), "", t0)
		require.NoError(t, err)
	}
	require.Len(t, inc.Alerts, maxAlertRefs)
	require.Equal(t, maxAlertRefs+11, inc.AlertCount, "counted all the same")
}

func TestTimelineIsBoundedDroppingAlertRepeatsFirst(t *testing.T) {
	inc := open(t)
	_, err := inc.ApplyAlert(firing("a1"), Triage{Severity: Sev2}, "m2", "", t0)
	require.NoError(t, err)
	for i := len(inc.Timeline); i < maxTimelineEvents; i++ {
		inc.Note(fmt.Sprint("note ", i), "user:ana", t0)
	}
	require.Len(t, inc.Timeline, maxTimelineEvents)
	inc.Note("one more", "user:ana", t0)
	require.Len(t, inc.Timeline, maxTimelineEvents)
	require.Empty(t, eventsOf(inc, EventAlert), "the repeat went first")
	require.Equal(t, EventOpened, inc.Timeline[0].Kind, "the opening stays")

	inc.Note("and another", "user:ana", t0)
	require.Len(t, inc.Timeline, maxTimelineEvents+1, "nothing left to drop: people's notes are kept")
}

func TestEventKeysAreOncePerKind(t *testing.T) {
	inc := &Incident{}
	inc.record(Event{Kind: EventNote, Key: "k", Text: "1"})
	inc.record(Event{Kind: EventNote, Key: "k", Text: "2"})
	inc.record(Event{Kind: EventAlert, Key: "k", Text: "3"})
	inc.record(Event{Kind: EventNote, Text: "4"})
	inc.record(Event{Kind: EventNote, Text: "4"})
	require.Len(t, inc.Timeline, 4)
	require.Equal(t, "3", inc.Timeline[1].Text)
}

func TestAppliedKeysAreBounded(t *testing.T) {
	inc := &Incident{}
	inc.remember("")
	require.Empty(t, inc.Applied)
	require.False(t, inc.seen(""))
	for i := range maxAppliedKeys + 1 {
		inc.remember(fmt.Sprint("k", i))
	}
	require.Len(t, inc.Applied, maxAppliedKeys)
	require.False(t, inc.seen("k0"), "the oldest is forgotten")
	require.True(t, inc.seen("k1"))
	require.True(t, inc.seen(fmt.Sprint("k", maxAppliedKeys)))
}

func TestRepeatsPastTheBoundAreCountedOnceElided(t *testing.T) {
	inc := open(t)
	for i := range maxRepeatEvents + 5 {
		_, err := inc.ApplyAlert(firing("a1"), Triage{Severity: Sev2}, fmt.Sprint("m-", i), "", t0)
		require.NoError(t, err)
	}
	require.Len(t, eventsOf(inc, EventAlert), maxRepeatEvents, "the first 50 repeats listed")
	elided := eventsOf(inc, EventRepeatsElided)
	require.Len(t, elided, 1)
	require.Equal(t, "More than 50 repeats: further repeats are counted in alertCount, not listed", elided[0].Text)
	require.Equal(t, EventRepeatsElided, inc.Timeline[len(inc.Timeline)-1].Kind, "said once, at the 51st; later repeats add nothing")
	require.Len(t, inc.Timeline, 2+maxRepeatEvents+1)
}

func TestTriageNotesWithoutReportedTenantsCarryNoData(t *testing.T) {
	inc, err := NewFromAlert("INC-1", firing("a1"), Triage{Severity: Sev2, Notes: []string{"component web-app named by the alert: used"}}, "m1", t0)
	require.NoError(t, err)
	notes := eventsOf(inc, EventTriage)
	require.Len(t, notes, 1)
	require.Nil(t, notes[0].Data)
}

func TestTheCustomerSeesAnIncidentUpdateWhereverItIs(t *testing.T) {
	c := &Case{ID: "CS-1", State: CaseEscalated, Public: []PublicNote{{Kind: NoteIncident, Text: "only", Ref: "u1"}}}
	require.Equal(t, &PublicNote{Kind: NoteIncident, Text: "only", Ref: "u1"}, c.ForCustomer().Incident)
}
