package incident

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Severity is defined by customer impact: Sev1 is the worst. The zero value is "unset".
type Severity int

const (
	Sev1 Severity = 1 + iota
	Sev2
	Sev3
	Sev4
)

// Severities lists every valid severity, worst first.
var Severities = []Severity{Sev1, Sev2, Sev3, Sev4}

func (s Severity) Valid() bool { return s >= Sev1 && s <= Sev4 }

func (s Severity) String() string {
	if !s.Valid() {
		return "unset"
	}
	return fmt.Sprintf("sev%d", int(s))
}

// ParseSeverity accepts "sev1".."sev4" in any case, and "1".."4".
func ParseSeverity(v string) (Severity, error) {
	t := strings.ToLower(strings.TrimSpace(v))
	t = strings.TrimPrefix(t, "sev")
	if len(t) == 1 && t[0] >= '1' && t[0] <= '4' {
		return Severity(t[0] - '0'), nil
	}
	return 0, fmt.Errorf("unknown severity %q (want sev1, sev2, sev3 or sev4)", v)
}

// Worse reports whether s is more severe than o.
func (s Severity) Worse(o Severity) bool { return s.Valid() && (!o.Valid() || s < o) }

// Shift moves s by n levels (negative is more severe), clamped to Sev1..Sev4.
func (s Severity) Shift(n int) Severity {
	r := int(s) + n
	if r < int(Sev1) {
		r = int(Sev1)
	}
	if r > int(Sev4) {
		r = int(Sev4)
	}
	return Severity(r)
}

func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s *Severity) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v == "" || v == "unset" {
		*s = 0
		return nil
	}
	p, err := ParseSeverity(v)
	if err != nil {
		return err
	}
	*s = p
	return nil
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Severity) UnmarshalText(b []byte) error {
	p, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = p
	return nil
}

// Urgency says whether a page goes out now or waits for business hours.
type Urgency string

const (
	UrgencyHigh Urgency = "high"
	UrgencyLow  Urgency = "low"
)

// Expectations are what a severity promises: how fast a human acknowledges, whether
// customers are told, how often they hear from us, and whether the incident ends in a review.
type Expectations struct {
	AcknowledgeWithin time.Duration `json:"acknowledgeWithin"`
	Urgency           Urgency       `json:"urgency"`
	StatusPage        bool          `json:"statusPage"`
	// UpdateEvery is the public update cadence; zero means no cadence is enforced.
	UpdateEvery   time.Duration `json:"updateEvery"`
	ResolveWithin time.Duration `json:"resolveWithin"`
	Review        bool          `json:"review"`
}

// DefaultExpectations follow the guidance: the two customer-visible severities page now,
// publish status and end in a review; the lower two wait for business hours.
func DefaultExpectations() map[Severity]Expectations {
	return map[Severity]Expectations{
		Sev1: {AcknowledgeWithin: 5 * time.Minute, Urgency: UrgencyHigh, StatusPage: true, UpdateEvery: 30 * time.Minute, ResolveWithin: 4 * time.Hour, Review: true},
		Sev2: {AcknowledgeWithin: 15 * time.Minute, Urgency: UrgencyHigh, StatusPage: true, UpdateEvery: time.Hour, ResolveWithin: 8 * time.Hour, Review: true},
		Sev3: {AcknowledgeWithin: 4 * time.Hour, Urgency: UrgencyLow, ResolveWithin: 72 * time.Hour},
		Sev4: {AcknowledgeWithin: 24 * time.Hour, Urgency: UrgencyLow, ResolveWithin: 14 * 24 * time.Hour},
	}
}

// Human writes a duration as people read it: "5m", "1h30m", "45s", "2d".
func Human(d time.Duration) string {
	if d <= 0 {
		return "0m"
	}
	if s := d.Round(time.Second); s < time.Minute {
		return fmt.Sprintf("%ds", int(s/time.Second))
	}
	d = d.Round(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	var b strings.Builder
	for _, p := range []struct {
		n    int
		unit string
	}{{days, "d"}, {hours, "h"}, {mins, "m"}} {
		if p.n > 0 {
			fmt.Fprintf(&b, "%d%s", p.n, p.unit)
		}
	}
	return b.String()
}
