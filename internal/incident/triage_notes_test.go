package incident

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func eventsOf(inc *Incident, kind string) []Event {
	var out []Event
	for _, e := range inc.Timeline {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func TestTriageNotesAreOnTheTimeline(t *testing.T) {
	tr := Triage{
		Severity: Sev2, Reasons: []string{"source severity Sev1 maps to sev2"},
		Tenants:  []string{"contoso", "northwind", "tailspin", "woodgrove"},
		Reported: []string{"contoso", "northwind"},
		Notes:    []string{"reported by the alert: contoso, northwind", "not in the catalog, ignored: fabrikam"},
	}
	inc, err := NewFromAlert("INC-1", firing("a1"), tr, "m1", t0)
	require.NoError(t, err)
	require.Equal(t, []string{EventOpened, EventSeverity, EventTriage}, kinds(inc))
	notes := eventsOf(inc, EventTriage)[0]
	require.Equal(t, "Triage: reported by the alert: contoso, northwind; not in the catalog, ignored: fabrikam", notes.Text)
	require.Equal(t, map[string]string{"reported": "contoso,northwind"}, notes.Data)
	require.Equal(t, "m1", notes.Key, "keyed by the intake message, so a redelivery records nothing twice")
	require.Equal(t, []string{"contoso", "northwind"}, inc.Reported)
	require.Equal(t, tr.Tenants, inc.Tenants, "the affected tenants stay as triage found them")

	// A later alert reporting another tenant: its notes are recorded, and the
	// reported tenants grow without repeats.
	later := tr
	later.Reported = []string{"northwind", "tailspin"}
	later.Notes = []string{"reported by the alert: northwind, tailspin"}
	changed, err := inc.ApplyAlert(firing("a2"), later, "m2", "", t0.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, []string{"contoso", "northwind", "tailspin"}, inc.Reported)
	require.Len(t, eventsOf(inc, EventTriage), 2)
	require.Equal(t, "Triage: reported by the alert: northwind, tailspin", eventsOf(inc, EventTriage)[1].Text)

	// The same alert again, saying the same: no new triage event.
	_, err = inc.ApplyAlert(firing("a2"), later, "m3", "", t0.Add(2*time.Minute))
	require.NoError(t, err)
	require.Len(t, eventsOf(inc, EventTriage), 2, "a repeat that says what the last said adds nothing")

	// A redelivery of m2 changes nothing at all.
	before := len(inc.Timeline)
	changed, err = inc.ApplyAlert(firing("a2"), later, "m2", "", t0.Add(3*time.Minute))
	require.NoError(t, err)
	require.False(t, changed)
	require.Len(t, inc.Timeline, before)
}

func TestNoTriageNotesNoEvent(t *testing.T) {
	inc := open(t)
	require.Empty(t, eventsOf(inc, EventTriage))
	_, err := inc.ApplyAlert(firing("a2"), Triage{Severity: Sev2}, "m2", "", t0.Add(time.Minute))
	require.NoError(t, err)
	require.Empty(t, eventsOf(inc, EventTriage))
	require.Empty(t, inc.Reported)
}

func TestResolvedAlertRecordsNoTriageNotes(t *testing.T) {
	inc := open(t)
	_, err := inc.ApplyAlert(resolved("a1"), Triage{Severity: Sev2, AutoResolve: true, Notes: []string{"x"}, Reported: []string{"contoso"}}, "m2", "", t0.Add(time.Minute))
	require.NoError(t, err)
	require.Empty(t, eventsOf(inc, EventTriage), "a resolution reports nobody affected")
	require.Empty(t, inc.Reported)
}

func TestTriageNotesFollowTheRepeatBound(t *testing.T) {
	inc := open(t)
	for i := range maxRepeatEvents + 5 {
		tr := Triage{Severity: Sev2, Notes: []string{"note " + string(rune('a'+i%26)) + string(rune('a'+i/26))}}
		_, err := inc.ApplyAlert(firing("a1"), tr, "r"+string(rune('a'+i%26))+string(rune('a'+i/26)), "", t0.Add(time.Duration(i+1)*time.Second))
		require.NoError(t, err)
	}
	require.Len(t, eventsOf(inc, EventTriage), maxRepeatEvents, "noisy repeats are counted, not listed, notes included")
}
