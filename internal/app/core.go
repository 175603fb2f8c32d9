package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"time"

	"vigil/internal/bus"
	"vigil/internal/catalog"
	"vigil/internal/fault"
	"vigil/internal/incident"
)

// core is what every use case shares: the store, the queue, the catalog, the
// links, and the one path every change to an incident takes (commit, open).
type core struct {
	store      Store
	queue      Sender
	cat        *catalog.Catalog
	links      Links
	log        *slog.Logger
	publishers map[string]StatusPublisher
}

// Optimistic-concurrency retries: a writer that lost a race re-reads and
// re-applies its change, after a jittered, growing pause so that writers
// contending for one document take turns instead of colliding again.
const (
	maxAttempts  = 16
	firstBackoff = time.Millisecond
	maxBackoff   = 250 * time.Millisecond
)

// retry runs attempt until it does not fail with fault.Stale, at most
// maxAttempts times within ctx. An attempt reads, changes and writes; it is
// re-run whole, so a change is always applied to what is stored.
func retry(ctx context.Context, what string, attempt func() error) error {
	pause := firstBackoff
	for i := 1; ; i++ {
		err := attempt()
		if !fault.Is(err, fault.Stale) {
			return err
		}
		if i == maxAttempts {
			return fault.Wrap(fault.Stale, err, "%s kept changing (%d attempts); try again", what, i)
		}
		t := time.NewTimer(pause/2 + rand.N(pause))
		select {
		case <-ctx.Done():
			t.Stop()
			return fault.Wrap(fault.Transient, ctx.Err(), "%s kept changing", what)
		case <-t.C:
		}
		pause = min(2*pause, maxBackoff)
	}
}

// delta is what a change to an incident did: whether it changed anything
// (only then is the incident written), and who it asks to page once it is
// stored (pages of an unchanged incident are a resend: keyed, they go out once).
type delta struct {
	changed bool
	pages   []incident.Page
}

// changed is the delta of a change that did something, paging pages.
func changed(pages ...incident.Page) delta { return delta{changed: true, pages: pages} }

// commit reads an incident, applies ch, brings what derives from the change in
// line (a new severity re-plans paging; the communication plan; the escalation
// timer) and writes it, re-reading and re-applying on a lost race; then it runs
// the side effects the stored incident owes (settle). Every change to an
// incident's state goes through here, whoever makes it.
func (c *core) commit(ctx context.Context, id string, now time.Time, ch func(*incident.Incident) (delta, error)) (*incident.Incident, error) {
	return c.commitRead(ctx, id, nil, now, ch)
}

// commitRead is commit starting from read, the incident just read by the
// caller (the sweep has it), which saves the first read.
func (c *core) commitRead(ctx context.Context, id string, read *incident.Incident, now time.Time, ch func(*incident.Incident) (delta, error)) (*incident.Incident, error) {
	var inc *incident.Incident
	var d delta
	var before snapshot
	err := retry(ctx, "incident "+id, func() error {
		cur, err := read, error(nil)
		if read = nil; cur == nil {
			cur, err = c.store.GetIncident(ctx, id)
		}
		if err != nil {
			return err
		}
		before = snap(cur)
		if d, err = ch(cur); err != nil || !d.changed {
			inc = cur
			return err
		}
		more, err := c.reconcile(ctx, cur, before, now)
		if err != nil {
			return err
		}
		d.pages = append(d.pages, more...)
		if err := c.store.UpdateIncident(ctx, cur); err != nil {
			return err
		}
		inc = cur
		return nil
	})
	if err != nil || (!d.changed && len(d.pages) == 0) {
		return inc, err
	}
	eff := effects{pages: d.pages}
	if d.changed {
		eff.timerBefore = before.timer
	}
	return inc, c.settle(ctx, inc, eff, now)
}

// snapshot is what commit compares before and after a change.
type snapshot struct {
	severity incident.Severity
	timer    *incident.Timer
}

func snap(inc *incident.Incident) snapshot {
	s := snapshot{severity: inc.Severity}
	if e := inc.Escalation; e != nil && e.Timer != nil {
		t := *e.Timer
		s.timer = &t
	}
	return s
}

// reconcile brings what derives from an incident's state in line after a
// change, in memory before it is written: paging re-planned for a new severity,
// the communication plan (visibility, cadence, reminders), and the timer of
// the next escalation step armed. It returns the pages a re-plan asks for.
func (c *core) reconcile(ctx context.Context, inc *incident.Incident, before snapshot, now time.Time) ([]incident.Page, error) {
	var pages []incident.Page
	if inc.Severity != before.severity && before.severity.Valid() {
		var err error
		if pages, err = c.replan(ctx, inc, before.severity, now); err != nil {
			return nil, err
		}
	}
	inc.PlanComms(c.cat.Expectations(inc.Severity), now)
	return pages, c.armTimer(ctx, inc, now)
}

// updateQuietly is commit for bookkeeping (publishing leases and records): it
// writes the change when change says it changed something, and pages nobody,
// schedules nothing.
func (c *core) updateQuietly(ctx context.Context, id string, change func(*incident.Incident) bool) error {
	return retry(ctx, "incident "+id, func() error {
		inc, err := c.store.GetIncident(ctx, id)
		if err != nil || !change(inc) {
			return err
		}
		return c.store.UpdateIncident(ctx, inc)
	})
}

// updateCase reads a case, applies change and writes it when change says it
// changed something, re-reading and re-applying on a lost race.
func (c *core) updateCase(ctx context.Context, id string, change func(*incident.Case) (bool, error)) (*incident.Case, error) {
	var out *incident.Case
	err := retry(ctx, "case "+id, func() error {
		cur, err := c.store.GetCase(ctx, id)
		if err != nil {
			return err
		}
		out = cur
		ok, err := change(cur)
		if err != nil || !ok {
			return err
		}
		return c.store.UpdateCase(ctx, cur)
	})
	return out, err
}

// message builds a queue message carrying v as JSON.
func message(id, subject string, v any) (bus.Message, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return bus.Message{}, fault.Wrap(fault.Internal, err, "encoding %s message %s", subject, id)
	}
	return bus.Message{ID: id, Body: body, ContentType: "application/json", Subject: subject}, nil
}

// send queues messages, durable when it returns.
func (c *core) send(ctx context.Context, queue string, msgs ...bus.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := c.queue.Send(ctx, queue, msgs...); err != nil {
		return fault.Wrap(fault.Transient, err, "queueing on %s", queue)
	}
	return nil
}

// schedule queues v for delivery at `at`, returning its sequence number.
func (c *core) schedule(ctx context.Context, queue string, at time.Time, id, subject string, v any) (int64, error) {
	m, err := message(id, subject, v)
	if err != nil {
		return 0, err
	}
	seq, err := c.queue.Schedule(ctx, queue, at, m)
	if err != nil {
		return 0, fault.Wrap(fault.Transient, err, "scheduling %s on %s", id, queue)
	}
	return seq, nil
}

// decode reads a queue message's JSON body into v; a body that is not JSON can
// never succeed and is parked.
func decode(body []byte, what string, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fault.Wrap(fault.Permanent, err, "%s message is not valid JSON", what)
	}
	return nil
}
