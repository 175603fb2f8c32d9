package localbus

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"vigil/internal/bus"
)

// batch is one transaction of the writer. Its methods run on the writer
// goroutine, between BEGIN and COMMIT.
type batch struct {
	w   *writer
	now int64 // read once per batch: every op in it sees the same instant
	seq int64 // last sequence number assigned, committed to w.lastSeq on success

	dedupRowid  int64 // last dedup_log id assigned
	prunedBelow int64 // dedup_log ids below this are deleted

	wake map[*entity]struct{} // entities to signal after commit
	undo []func()             // reverts in-memory registry changes if the batch rolls back
}

func (t *batch) signal(e *entity) {
	if t.wake == nil {
		t.wake = map[*entity]struct{}{}
	}
	t.wake[e] = struct{}{}
}

func (t *batch) revert() {
	for _, f := range slices.Backward(t.undo) {
		f()
	}
}

// finish records the sequence counter and prunes the duplicate-detection log.
func (t *batch) finish() error {
	if t.seq != t.w.lastSeq {
		if _, err := t.w.st.saveSeq.Exec(t.seq); err != nil {
			return err
		}
	}
	return t.pruneLog()
}

// declare creates or updates a queue.
func (t *batch) declare(name string, o EntityOptions) error {
	reg := t.w.bus.reg
	if _, err := t.w.st.upsertEntity.Exec(name, int64(o.LockDuration), o.MaxDeliveryCount, int64(o.DuplicateWindow)); err != nil {
		return err
	}
	if e, ok := reg.entities[name]; ok {
		old := e.opts
		e.opts = o
		t.undo = append(t.undo, func() { e.opts = old })
		return nil
	}
	e := &entity{name: name, opts: o}
	reg.add(e)
	t.undo = append(t.undo, func() { reg.remove(e) })
	return nil
}

// enqueue stores m on queue name: available now when at is 0 or past,
// scheduled otherwise. It returns the message's sequence number, or for a
// duplicate the original's. The caller checked that the queue exists (queues
// are never removed).
func (t *batch) enqueue(name string, m *bus.Message, at int64) (int64, error) {
	st := &t.w.st
	e, ok := t.w.bus.reg.entities[name]
	if !ok {
		return 0, notDeclared(name)
	}
	k, firstSeq, dup := t.duplicate(name, m.ID)
	if dup {
		return firstSeq, nil
	}
	seq := t.seq + 1
	if err := t.remember(k, name, m.ID, int64(e.opts.DuplicateWindow), seq); err != nil {
		return 0, err
	}
	state, visible := stateReady, t.now
	if at > t.now {
		state, visible = stateScheduled, at
	}
	var props any // NULL when there are none
	if len(m.Properties) > 0 {
		p, err := json.Marshal(m.Properties)
		if err != nil {
			return 0, err
		}
		props = string(p)
	}
	if _, err := st.insertMsg.Exec(seq, name, state, visible, m.ID, m.Body, m.ContentType, m.Subject, props, visible); err != nil {
		return 0, err
	}
	t.seq = seq
	// A scheduled message wakes receivers too: they recompute how long to sleep.
	t.signal(e)
	return seq, nil
}

func (t *batch) cancel(name string, seq int64) error {
	_, err := t.w.st.cancel.Exec(seq, name, t.now)
	return err
}

// receive locks up to max ready messages of e, first moving due scheduled
// messages and expired locks to ready (or, at MaxDeliveryCount, to the
// dead-letter queue). When nothing is ready it returns when the next timed
// message is due (unix ns; 0 if none), for the caller to sleep until then.
func (t *batch) receive(e *entity, max int) ([]*Delivery, int64, error) {
	st := &t.w.st
	nextDue := func() (int64, error) {
		var due sql.NullInt64
		err := st.nextDue.QueryRow(e.name).Scan(&due)
		return due.Int64, err
	}
	due, err := nextDue()
	if err != nil {
		return nil, 0, err
	}
	if due != 0 && due <= t.now {
		if _, err := st.expireToDead.Exec(e.name, t.now, e.opts.MaxDeliveryCount); err != nil {
			return nil, 0, err
		}
		if _, err := st.promote.Exec(e.name, t.now); err != nil {
			return nil, 0, err
		}
		if due, err = nextDue(); err != nil {
			return nil, 0, err
		}
	}
	seqs, err := t.readySeqs(e.name, max)
	if err != nil || len(seqs) == 0 {
		return nil, due, err
	}
	lockedUntil := t.now + int64(e.opts.LockDuration)
	got := make([]*Delivery, 0, len(seqs))
	for _, seq := range seqs {
		d := &Delivery{Entity: e.name, SequenceNumber: seq, LockToken: newLockToken(), LockedUntil: time.Unix(0, lockedUntil).UTC()}
		var props sql.NullString
		var enqueued int64
		err := st.lock.QueryRow(lockedUntil, d.LockToken, seq).Scan(&d.ID, &d.Body, &d.ContentType, &d.Subject, &props, &enqueued, &d.DeliveryCount)
		if err != nil {
			return nil, 0, err
		}
		if d.Properties, err = decodeProps(props); err != nil {
			return nil, 0, fmt.Errorf("message %d: %w", seq, err)
		}
		d.EnqueuedAt = time.Unix(0, enqueued).UTC()
		got = append(got, d)
	}
	return got, 0, nil
}

func (t *batch) readySeqs(entity string, max int) ([]int64, error) {
	rows, err := t.w.st.ready.Query(entity, max)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var seqs []int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, err
		}
		seqs = append(seqs, seq)
	}
	return seqs, rows.Err()
}

// settleArgs are the arguments of the held condition for d, or ok=false when
// d names no known entity (and so holds nothing).
func (t *batch) settleArgs(d *Delivery) (e *entity, args []any, ok bool) {
	e, ok = t.w.bus.reg.entities[d.Entity]
	if !ok {
		return nil, nil, false
	}
	return e, []any{d.SequenceNumber, d.LockToken, t.now, e.opts.MaxDeliveryCount}, true
}

func changed(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (t *batch) complete(d *Delivery) (bool, error) {
	_, args, ok := t.settleArgs(d)
	if !ok {
		return false, nil
	}
	return changed(t.w.st.complete.Exec(args...))
}

func (t *batch) abandon(d *Delivery, reason string) (bool, error) {
	e, args, ok := t.settleArgs(d)
	if !ok {
		return false, nil
	}
	if d.DeliveryCount >= e.opts.MaxDeliveryCount {
		return changed(t.w.st.deadLetter.Exec(append(args, ReasonMaxDeliveryCountExceeded, reason)...))
	}
	ok, err := changed(t.w.st.abandon.Exec(args...))
	if ok {
		t.signal(e)
	}
	return ok, err
}

func (t *batch) deadLetter(d *Delivery, reason, description string) (bool, error) {
	_, args, ok := t.settleArgs(d)
	if !ok {
		return false, nil
	}
	return changed(t.w.st.deadLetter.Exec(append(args, reason, description)...))
}

func (t *batch) renew(d *Delivery) (time.Time, bool, error) {
	e, args, ok := t.settleArgs(d)
	if !ok {
		return time.Time{}, false, nil
	}
	until := t.now + int64(e.opts.LockDuration)
	ok, err := changed(t.w.st.renew.Exec(append(args, until)...))
	return time.Unix(0, until).UTC(), ok, err
}

func decodeProps(s sql.NullString) (map[string]string, error) {
	if !s.Valid {
		return nil, nil
	}
	var m map[string]string
	err := json.Unmarshal([]byte(s.String), &m)
	return m, err
}

// newLockToken is a random (version 4) UUID, as Service Bus lock tokens are.
func newLockToken() string { return uuid.NewString() }
