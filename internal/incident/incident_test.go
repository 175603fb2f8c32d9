package incident

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
)

var t0 = time.Date(2026, 11, 6, 10, 12, 44, 0, time.UTC)

func firing(id string) Alert {
	return Alert{Source: "azure-monitor", ID: id, DedupKey: "dk", Status: AlertFiring, SourceSeverity: "Sev1", Signal: Sev2, Summary: "dead letters present"}
}

func resolved(id string) Alert {
	a := firing(id)
	a.Status = AlertResolved
	return a
}

func open(t *testing.T) *Incident {
	t.Helper()
	inc, err := NewFromAlert("INC-1", firing("a1"), Triage{Severity: Sev2, Reasons: []string{"source severity Sev1 maps to sev2"}, AutoResolve: true}, "m1", t0)
	require.NoError(t, err)
	return inc
}

func kinds(inc *Incident) []string {
	var out []string
	for _, e := range inc.Timeline {
		out = append(out, e.Kind)
	}
	return out
}

func TestNewFromAlertRecordsWhy(t *testing.T) {
	inc := open(t)
	require.Equal(t, Triggered, inc.State)
	require.Equal(t, []string{EventOpened, EventSeverity}, kinds(inc))
	require.Contains(t, inc.Timeline[1].Text, "source severity Sev1 maps to sev2")
	require.Equal(t, 1, inc.AlertCount)

	_, err := NewFromAlert("INC-2", resolved("a1"), Triage{Severity: Sev2}, "m2", t0)
	require.True(t, fault.Is(err, fault.Conflict), "a resolved alert opens nothing: %v", err)
}

func TestApplyAlertIsIdempotent(t *testing.T) {
	inc := open(t)
	before := len(inc.Timeline)

	changed, err := inc.ApplyAlert(firing("a1"), Triage{Severity: Sev2}, "m1", "", t0.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, changed, "the message that opened the incident, redelivered")
	require.Len(t, inc.Timeline, before)

	changed, err = inc.ApplyAlert(firing("a1"), Triage{Severity: Sev2}, "m2", "", t0.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, changed)
	changed, err = inc.ApplyAlert(firing("a1"), Triage{Severity: Sev2}, "m2", "", t0.Add(2*time.Minute))
	require.NoError(t, err)
	require.False(t, changed, "same message twice: one timeline entry")
	require.Len(t, inc.Timeline, before+1)
	require.Equal(t, 2, inc.AlertCount)
}

func TestResolvedAlertResolvesOnlyWhenAllCleared(t *testing.T) {
	inc := open(t)
	_, err := inc.ApplyAlert(firing("a2"), Triage{Severity: Sev2}, "m2", "", t0.Add(time.Minute))
	require.NoError(t, err)

	_, err = inc.ApplyAlert(resolved("a1"), Triage{Severity: Sev2, AutoResolve: true}, "m3", "", t0.Add(2*time.Minute))
	require.NoError(t, err)
	require.Equal(t, Triggered, inc.State, "a2 still fires")

	_, err = inc.ApplyAlert(resolved("a2"), Triage{Severity: Sev2, AutoResolve: true}, "m4", "", t0.Add(3*time.Minute))
	require.NoError(t, err)
	require.Equal(t, Resolved, inc.State)
	require.Equal(t, t0.Add(3*time.Minute), inc.ResolvedAt)
}

func TestResolvedAlertWithoutAutoResolveLeavesIncidentOpen(t *testing.T) {
	inc := open(t)
	changed, err := inc.ApplyAlert(resolved("a1"), Triage{Severity: Sev2, AutoResolve: false}, "m2", "", t0.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, changed, "the alert's own status is recorded")
	require.Equal(t, Triggered, inc.State)
	require.Equal(t, AlertResolved, inc.Alerts[0].Status)
}

func TestFoldedAlertRaisesSeverityNeverLowers(t *testing.T) {
	inc := open(t)
	_, err := inc.ApplyAlert(firing("a2"), Triage{Severity: Sev3}, "m2", "", t0.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, Sev2, inc.Severity)
	_, err = inc.ApplyAlert(firing("a3"), Triage{Severity: Sev1, Reasons: []string{"component web-app is critical"}}, "m3", "", t0.Add(2*time.Minute))
	require.NoError(t, err)
	require.Equal(t, Sev1, inc.Severity)
	last := inc.Timeline[len(inc.Timeline)-1]
	require.Equal(t, EventSeverity, last.Kind)
	require.Equal(t, map[string]string{"from": "sev2", "to": "sev1"}, last.Data)
}

func TestAlertStormStaysBounded(t *testing.T) {
	inc := open(t)
	for i := range 5000 {
		_, err := inc.ApplyAlert(firing("a1"), Triage{Severity: Sev2}, fmt.Sprintf("m-%d", i), "", t0.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
	}
	require.Equal(t, 5001, inc.AlertCount)
	require.LessOrEqual(t, len(inc.Timeline), 2+maxRepeatEvents+1)
	require.LessOrEqual(t, len(inc.Applied), maxAppliedKeys)
	require.Len(t, inc.Alerts, 1)
	require.Equal(t, 5001, inc.Alerts[0].Count)
}

func TestLifecycleTransitions(t *testing.T) {
	tests := []struct {
		from, to State
		ok       bool
	}{
		{Triggered, Acknowledged, true},
		{Triggered, Resolved, true},
		{Acknowledged, Triggered, true},
		{Mitigated, Resolved, true},
		{Resolved, Reviewed, true},
		{Resolved, Triggered, true},
		{Triggered, Reviewed, false},
		{Acknowledged, Reviewed, false},
		{Reviewed, Triggered, false},
		{Reviewed, Resolved, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s→%s", tc.from, tc.to), func(t *testing.T) {
			inc := &Incident{ID: "INC-1", State: tc.from}
			_, err := inc.Move(tc.to, "user:ana", "", t0)
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, tc.to, inc.State)
				require.Equal(t, Actor("user:ana"), inc.Timeline[0].Actor)
				return
			}
			require.True(t, fault.Is(err, fault.Conflict), "got %v", err)
			require.Equal(t, tc.from, inc.State)
			require.Empty(t, inc.Timeline)
		})
	}
}

func TestSeverityParsing(t *testing.T) {
	for in, want := range map[string]Severity{"sev1": Sev1, "SEV2": Sev2, " Sev3 ": Sev3, "4": Sev4} {
		got, err := ParseSeverity(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "sev0", "sev5", "critical", "s1"} {
		_, err := ParseSeverity(bad)
		require.Error(t, err, bad)
	}
	require.True(t, Sev1.Worse(Sev2))
	require.False(t, Sev3.Worse(Sev3))
	require.Equal(t, Sev1, Sev2.Shift(-3))
	require.Equal(t, Sev4, Sev3.Shift(2))
}

func TestCaseCustomerViewHidesInternals(t *testing.T) {
	c := NewCase(CaseReport{CaseID: "CS-1", Tenant: "contoso", Title: "payslips empty", Description: "since the upgrade",
		Reporter: Contact{Name: "Ana", Email: "ana@contoso.example"}, ReceivedAt: t0}, Triage{Severity: Sev3, Reasons: []string{"blocked"}}, t0)
	c.Escalate("INC-7", System, "impact rules rate it sev2", t0.Add(time.Minute))
	v := c.ForCustomer()
	require.Equal(t, "being worked on", v.Status)
	require.Len(t, v.Updates, 2)
	for _, u := range v.Updates {
		require.NotContains(t, u.Text, "INC-7", "internal incident ids stay internal")
	}
}
