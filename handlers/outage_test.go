package handlers

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/localbus"
	"vigil/internal/oncall"
	"vigil/internal/sqlitestore"
)

// outage is the real embedded store (and its outbox, the local notifier) with
// an off switch: while down, every call fails as a store out of reach does,
// with a transient error. It counts what the outbox was handed, by key.
type outage struct {
	s    *sqlitestore.Store
	down atomic.Bool

	mu        sync.Mutex
	delivered map[string]int
}

var (
	_ app.Store    = (*outage)(nil)
	_ app.Notifier = (*outage)(nil)
)

func newOutage(s *sqlitestore.Store) *outage { return &outage{s: s, delivered: map[string]int{}} }

func (o *outage) fail() error {
	if o.down.Load() {
		return fault.New(fault.Transient, "the store cannot be reached (test outage)")
	}
	return nil
}

func (o *outage) Deliver(ctx context.Context, n incident.Notification) error {
	if err := o.fail(); err != nil {
		return err
	}
	if err := o.s.Deliver(ctx, n); err != nil {
		return err
	}
	o.mu.Lock()
	o.delivered[n.Key]++
	o.mu.Unlock()
	return nil
}

func (o *outage) CreateIncident(ctx context.Context, inc *incident.Incident) error {
	return o.do(func() error { return o.s.CreateIncident(ctx, inc) })
}
func (o *outage) GetIncident(ctx context.Context, id string) (*incident.Incident, error) {
	return get(o, func() (*incident.Incident, error) { return o.s.GetIncident(ctx, id) })
}
func (o *outage) FindOpenIncident(ctx context.Context, dedupKey string) (*incident.Incident, error) {
	return get(o, func() (*incident.Incident, error) { return o.s.FindOpenIncident(ctx, dedupKey) })
}
func (o *outage) UpdateIncident(ctx context.Context, inc *incident.Incident) error {
	return o.do(func() error { return o.s.UpdateIncident(ctx, inc) })
}
func (o *outage) ListIncidents(ctx context.Context, f app.IncidentFilter) ([]*incident.Incident, bool, error) {
	if err := o.fail(); err != nil {
		return nil, false, err
	}
	return o.s.ListIncidents(ctx, f)
}
func (o *outage) ListDueEscalations(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return get(o, func() ([]string, error) { return o.s.ListDueEscalations(ctx, before, limit) })
}
func (o *outage) ListDueStatus(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return get(o, func() ([]string, error) { return o.s.ListDueStatus(ctx, before, limit) })
}
func (o *outage) CreateOverride(ctx context.Context, ov *oncall.Override) error {
	return o.do(func() error { return o.s.CreateOverride(ctx, ov) })
}
func (o *outage) ListOverrides(ctx context.Context, endsAfter time.Time) ([]oncall.Override, error) {
	return get(o, func() ([]oncall.Override, error) { return o.s.ListOverrides(ctx, endsAfter) })
}
func (o *outage) GetOverride(ctx context.Context, id string) (*oncall.Override, error) {
	return get(o, func() (*oncall.Override, error) { return o.s.GetOverride(ctx, id) })
}
func (o *outage) UpdateOverride(ctx context.Context, ov *oncall.Override) error {
	return o.do(func() error { return o.s.UpdateOverride(ctx, ov) })
}
func (o *outage) ClaimKey(ctx context.Context, c app.KeyClaim, now time.Time) (app.KeyClaim, error) {
	return get(o, func() (app.KeyClaim, error) { return o.s.ClaimKey(ctx, c, now) })
}
func (o *outage) GetBundle(ctx context.Context, key string) (*incident.Bundle, error) {
	return get(o, func() (*incident.Bundle, error) { return o.s.GetBundle(ctx, key) })
}
func (o *outage) SaveBundle(ctx context.Context, b *incident.Bundle) error {
	return o.do(func() error { return o.s.SaveBundle(ctx, b) })
}
func (o *outage) CreateCase(ctx context.Context, c *incident.Case) error {
	return o.do(func() error { return o.s.CreateCase(ctx, c) })
}
func (o *outage) GetCase(ctx context.Context, id string) (*incident.Case, error) {
	return get(o, func() (*incident.Case, error) { return o.s.GetCase(ctx, id) })
}
func (o *outage) UpdateCase(ctx context.Context, c *incident.Case) error {
	return o.do(func() error { return o.s.UpdateCase(ctx, c) })
}
func (o *outage) ListCases(ctx context.Context, f app.CaseFilter) ([]*incident.Case, bool, error) {
	if err := o.fail(); err != nil {
		return nil, false, err
	}
	return o.s.ListCases(ctx, f)
}

func (o *outage) do(f func() error) error {
	if err := o.fail(); err != nil {
		return err
	}
	return f()
}

func get[T any](o *outage, f func() (T, error)) (T, error) {
	if err := o.fail(); err != nil {
		var zero T
		return zero, err
	}
	return f()
}

// testClock is the one clock of a harness built on it: the queue's scheduled
// messages and the handler's now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newOutageHarness is a harness on clk whose store (and outbox) is wrapped in
// an outage switch.
func newOutageHarness(t *testing.T, clk *testClock) (*harness, *outage) {
	t.Helper()
	h := newHarnessWith(t, localbus.Options{Now: clk.Now}, clk.Now)
	o := newOutage(h.store)
	h.configure(func(c *app.Config) { c.Store, c.Notifier = o, o })
	return h, o
}

// hostEnvelope is the serviceBusTrigger invocation the host makes for d, as
// docs/host-contract.md describes it: the body encoded twice, the broker's
// properties (id, delivery count, content type, subject and label, the
// application properties), then the body's top-level fields copied over any
// key of the same name, compared case-insensitively.
func hostEnvelope(t *testing.T, d *localbus.Delivery) []byte {
	t.Helper()
	body, _ := json.Marshal(string(d.Body))
	props := d.Properties
	if props == nil {
		props = map[string]string{}
	}
	md := map[string]any{}
	set := func(k string, v any) {
		for old := range md {
			if strings.EqualFold(old, k) {
				delete(md, old)
			}
		}
		md[k] = v
	}
	twice := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	set("DeliveryCount", strconv.Itoa(d.DeliveryCount))
	set("MessageId", twice(d.ID))
	set("SequenceNumber", strconv.FormatInt(d.SequenceNumber, 10))
	set("EnqueuedTimeUtc", d.EnqueuedAt.UTC().Format("2006-01-02T15:04:05"))
	if d.ContentType != "" {
		set("ContentType", twice(d.ContentType))
	}
	if d.Subject != "" {
		set("Subject", twice(d.Subject))
		set("Label", twice(d.Subject))
	}
	set("ApplicationProperties", props)
	set("UserProperties", props)
	var fields map[string]json.RawMessage
	if json.Unmarshal(d.Body, &fields) == nil {
		for k, v := range fields {
			switch v[0] {
			case '{':
				set(k, v)
			case '[', 'n':
			case '"':
				var s string
				require.NoError(t, json.Unmarshal(v, &s))
				set(k, twice(s))
			default:
				set(k, twice(string(v)))
			}
		}
	}
	out, err := json.Marshal(map[string]any{"Data": map[string]any{"msg": string(body)}, "Metadata": md})
	require.NoError(t, err)
	return out
}
