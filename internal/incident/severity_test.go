package incident

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSeverityOrderAndShift(t *testing.T) {
	require.False(t, Severity(0).Valid())
	require.False(t, Severity(5).Valid())
	require.True(t, Sev1.Valid() && Sev4.Valid())
	require.Equal(t, "unset", Severity(0).String())
	require.Equal(t, "unset", Severity(5).String())
	require.Equal(t, "sev4", Sev4.String())

	require.True(t, Sev3.Worse(Sev4))
	require.False(t, Sev4.Worse(Sev3))
	require.True(t, Sev4.Worse(Severity(0)), "any severity is worse than none")
	require.False(t, Severity(0).Worse(Sev4))
	require.False(t, Severity(0).Worse(Severity(0)))

	require.Equal(t, Sev2, Sev3.Shift(-1))
	require.Equal(t, Sev4, Sev3.Shift(1))
	require.Equal(t, Sev1, Sev1.Shift(-1), "clamped at sev1")
	require.Equal(t, Sev4, Sev4.Shift(1), "clamped at sev4")
	require.Equal(t, Sev3, Sev3.Shift(0))
}

func TestSeverityJSONAndText(t *testing.T) {
	b, err := json.Marshal(struct{ S Severity }{Sev2})
	require.NoError(t, err)
	require.JSONEq(t, `{"S":"sev2"}`, string(b))

	for in, want := range map[string]Severity{`"sev1"`: Sev1, `"SEV3"`: Sev3, `"4"`: Sev4, `""`: 0, `"unset"`: 0} {
		var s Severity = Sev2
		require.NoError(t, json.Unmarshal([]byte(in), &s), in)
		require.Equal(t, want, s, in)
	}
	for _, bad := range []string{`1`, `"sev9"`, `null"`} {
		s := Sev2
		require.Error(t, json.Unmarshal([]byte(bad), &s), bad)
		require.Equal(t, Sev2, s, "unchanged by %s", bad)
	}

	txt, err := Sev3.MarshalText()
	require.NoError(t, err)
	require.Equal(t, "sev3", string(txt))
	var s Severity
	require.NoError(t, s.UnmarshalText([]byte("Sev1")))
	require.Equal(t, Sev1, s)
	require.Error(t, s.UnmarshalText([]byte("high")))
	require.Equal(t, Sev1, s)
	m := map[Severity]int{}
	require.NoError(t, json.Unmarshal([]byte(`{"sev2": 1}`), &m))
	require.Equal(t, map[Severity]int{Sev2: 1}, m)
}

func TestHumanDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                     "0m",
		-time.Minute:                          "0m",
		time.Nanosecond:                       "0s",
		59*time.Second + 400*time.Millisecond: "59s",
		59*time.Second + 600*time.Millisecond: "1m",
		45 * time.Second:                      "45s",
		time.Minute:                           "1m",
		90 * time.Second:                      "2m",
		30 * time.Minute:                      "30m",
		time.Hour:                             "1h",
		75 * time.Minute:                      "1h15m",
		24 * time.Hour:                        "1d",
		49*time.Hour + time.Minute:            "2d1h1m",
		14 * 24 * time.Hour:                   "14d",
	} {
		require.Equal(t, want, Human(d), d.String())
	}
}

// The promises each severity makes, as the guidance gives them.
func TestDefaultExpectations(t *testing.T) {
	require.Equal(t, map[Severity]Expectations{
		Sev1: {AcknowledgeWithin: 5 * time.Minute, Urgency: UrgencyHigh, StatusPage: true, UpdateEvery: 30 * time.Minute, ResolveWithin: 4 * time.Hour, Review: true},
		Sev2: {AcknowledgeWithin: 15 * time.Minute, Urgency: UrgencyHigh, StatusPage: true, UpdateEvery: time.Hour, ResolveWithin: 8 * time.Hour, Review: true},
		Sev3: {AcknowledgeWithin: 4 * time.Hour, Urgency: UrgencyLow, ResolveWithin: 72 * time.Hour},
		Sev4: {AcknowledgeWithin: 24 * time.Hour, Urgency: UrgencyLow, ResolveWithin: 14 * 24 * time.Hour},
	}, DefaultExpectations())
	require.Equal(t, Severity(1), Sev1)
	require.Equal(t, []Severity{1, 2, 3, 4}, Severities)
}
