// Package localbus is the embedded queue that stands in for Azure Service Bus
// under `vigil local`. It keeps the Service Bus semantics Vigil relies on —
// peek-lock with DeliveryCount, dead-lettering after MaxDeliveryCount, scheduled
// messages with cancellation, duplicate detection by message id, FIFO by
// sequence number — for queues, the only entities Vigil uses, in one SQLite
// file, durably: a Send that returned nil survives SIGKILL of the process. Like
// a namespace, it has exactly the queues declared on it: anything else is
// "entity not found".
//
// All writes go through one goroutine that commits everything queued while its
// previous commit ran in a single transaction (group commit), so concurrent
// senders share one fsync. See writer.go.
package localbus

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"vigil/internal/bus"
	"vigil/internal/fault"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the queue's database file inside the data directory.
const FileName = "queue.db"

// MaxMessageSize is Service Bus Standard's limit. It is enforced here too so that
// a message too large for Azure fails on a laptop first.
const MaxMessageSize = 256 << 10

// MaxEntityNameLength is Service Bus's limit on an entity path.
const MaxEntityNameLength = 260

// Reasons written on dead-lettered messages, as Service Bus writes them.
const (
	ReasonMaxDeliveryCountExceeded = "MaxDeliveryCountExceeded"
)

var (
	// ErrLockLost: the delivery's lock expired and the message was locked by
	// another receiver, settled, or dead-lettered since. Classified as a conflict.
	ErrLockLost = &fault.Error{Kind: fault.Conflict, Message: "localbus: message lock lost"}
	// ErrClosed: the Bus was closed.
	ErrClosed = &fault.Error{Kind: fault.Transient, Message: "localbus: bus closed"}
	// ErrReadOnly: a write on a Bus opened with OpenReadOnly.
	ErrReadOnly = &fault.Error{Kind: fault.Forbidden, Message: "localbus: bus opened read-only"}
)

// EntityOptions are the per-queue settings Service Bus fixes at creation.
// Zero fields take the Bus's defaults.
type EntityOptions struct {
	LockDuration     time.Duration // default 1m (Service Bus default)
	MaxDeliveryCount int           // default 10
	DuplicateWindow  time.Duration // default 10m; duplicate detection by Message.ID
}

// Options configure a Bus.
type Options struct {
	// Defaults fill the options a queue is declared without.
	Defaults EntityOptions
	// Now is the clock; default time.Now. Tests inject a clock.
	Now func() time.Time
	// Jumped, with a clock that can jump forward (a test clock), returns a
	// channel closed at its next jump, so that waits for timed messages
	// compute again at once.
	Jumped func() <-chan struct{}
}

// serviceBusDefaults are Service Bus's own defaults.
var serviceBusDefaults = EntityOptions{
	LockDuration:     time.Minute,
	MaxDeliveryCount: 10,
	DuplicateWindow:  10 * time.Minute,
}

func (o EntityOptions) withDefaults(d EntityOptions) EntityOptions {
	if o.LockDuration == 0 {
		o.LockDuration = d.LockDuration
	}
	if o.MaxDeliveryCount == 0 {
		o.MaxDeliveryCount = d.MaxDeliveryCount
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = d.DuplicateWindow
	}
	return o
}

func (o EntityOptions) validate() error {
	switch {
	case o.LockDuration < 0:
		return fault.InvalidField("lockDuration", "must not be negative")
	case o.MaxDeliveryCount < 0:
		return fault.InvalidField("maxDeliveryCount", "must not be negative")
	case o.DuplicateWindow < 0:
		return fault.InvalidField("duplicateWindow", "must not be negative")
	}
	return nil
}

// Delivery is a message locked for one receiver (peek-lock).
type Delivery struct {
	bus.Message
	Entity         string
	SequenceNumber int64
	LockToken      string
	DeliveryCount  int
	EnqueuedAt     time.Time
	LockedUntil    time.Time
}

// EntityStats counts one queue's messages by state.
type EntityStats struct {
	Name         string
	Active       int // available to receivers now
	Scheduled    int // waiting for their scheduled time
	Locked       int // delivered and not yet settled, lock unexpired
	DeadLettered int
}

// DeadLetter is a message in a queue's dead-letter queue.
type DeadLetter struct {
	bus.Message
	Entity         string
	SequenceNumber int64
	Reason         string
	Description    string
	DeliveryCount  int
	EnqueuedAt     time.Time
	DeadLetteredAt time.Time
}

// Bus is an embedded Service Bus namespace backed by one SQLite file.
type Bus struct {
	now      func() time.Time
	jumped   func() <-chan struct{}
	defaults EntityOptions
	readOnly bool

	// reads serves Stats and PeekDeadLetters from its own connections, so that
	// they never wait for the writer (WAL readers see the last commit).
	reads *sql.DB
	w     *writer
	lock  *fileLock
	reg   *registry

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// Open opens (creating if needed) the queue database at path, usually
// filepath.Join(dataDir, FileName). Only one process may have it open for
// writing; others may use OpenReadOnly. Messages a previous process held
// locked are available again at once (see releaseLocks).
func Open(path string, opts Options) (*Bus, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := opts.Defaults.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("localbus: create data directory: %w", err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	b := &Bus{

		now:      opts.Now,
		jumped:   opts.Jumped,
		defaults: opts.Defaults.withDefaults(serviceBusDefaults),
		lock:     lock,
		reg:      newRegistry(),
		closed:   make(chan struct{}),
	}
	b.w, err = openWriter(b, path)
	if err != nil {
		lock.release()
		return nil, err
	}
	b.reads, err = openReadPool(path)
	if err != nil {
		b.w.closeConn()
		lock.release()
		return nil, err
	}
	b.w.start()
	return b, nil
}

// OpenReadOnly opens the queue database of a running (or stopped) `vigil local`
// for Stats and PeekDeadLetters only; every other method returns ErrReadOnly.
func OpenReadOnly(path string) (*Bus, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fault.Wrap(fault.NotFound, err, "localbus: no queue database")
		}
		return nil, fmt.Errorf("localbus: %w", err)
	}
	reads, err := openReadPool(path)
	if err != nil {
		return nil, err
	}
	b := &Bus{now: time.Now, readOnly: true, reads: reads, reg: newRegistry(), closed: make(chan struct{})}
	return b, nil
}

// Close stops the writer after it has finished every operation already
// submitted, then closes the database. Blocked Receives return ErrClosed.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		close(b.closed)
		var errs []error
		if b.w != nil {
			errs = append(errs, b.w.stop())
		}
		errs = append(errs, b.reads.Close())
		if b.lock != nil {
			b.lock.release()
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// DeclareQueue makes a queue known, or updates its options.
func (b *Bus) DeclareQueue(name string, o EntityOptions) error {
	if b.readOnly {
		return ErrReadOnly
	}
	if err := checkEntityName(name); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	o = o.withDefaults(b.defaults)
	return b.w.do(context.Background(), func(t *batch) error { return t.declare(name, o) })
}

// Send enqueues msgs on a queue in one transaction; it returns once they are
// durable. A message whose ID was already sent to the same queue within its
// duplicate window is dropped without error, as Service Bus does. A queue
// nobody declared is fault.NotFound, as Service Bus answers for an entity the
// namespace does not have.
func (b *Bus) Send(ctx context.Context, entity string, msgs ...bus.Message) error {
	if b.readOnly {
		return ErrReadOnly
	}
	if err := b.checkSendTarget(entity); err != nil {
		return err
	}
	for i := range msgs {
		if err := checkMessage(&msgs[i], i); err != nil {
			return err
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return b.w.do(ctx, func(t *batch) error {
		for i := range msgs {
			if _, err := t.enqueue(entity, &msgs[i], 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// Schedule enqueues msg to become available at at, and returns its sequence
// number for Cancel. A duplicate (same ID within the window) is dropped and the
// original's sequence number returned, so a retried Schedule cancels correctly.
func (b *Bus) Schedule(ctx context.Context, entity string, at time.Time, msg bus.Message) (int64, error) {
	if b.readOnly {
		return 0, ErrReadOnly
	}
	if err := b.checkSendTarget(entity); err != nil {
		return 0, err
	}
	if at.IsZero() {
		return 0, fault.InvalidField("at", "is required")
	}
	if err := checkMessage(&msg, -1); err != nil {
		return 0, err
	}
	var seq int64
	err := b.w.do(ctx, func(t *batch) error {
		var err error
		seq, err = t.enqueue(entity, &msg, at.UnixNano())
		return err
	})
	return seq, err
}

// Cancel removes a message that is still waiting for its scheduled time. It is
// idempotent: a message already gone, or already due, is left alone and Cancel
// returns nil, as there is nothing left to cancel.
func (b *Bus) Cancel(ctx context.Context, entity string, seq int64) error {
	if b.readOnly {
		return ErrReadOnly
	}
	if err := b.checkSendTarget(entity); err != nil {
		return err
	}
	if seq <= 0 {
		return fault.InvalidField("sequenceNumber", "must be positive")
	}
	return b.w.do(ctx, func(t *batch) error { return t.cancel(entity, seq) })
}

// Receive locks up to max available messages of a queue, FIFO
// by sequence number, in one transaction, incrementing each DeliveryCount. It
// blocks until at least one message is available or ctx ends. Messages locked
// just as ctx ended are still returned, never silently left locked.
func (b *Bus) Receive(ctx context.Context, entity string, max int) ([]*Delivery, error) {
	if b.readOnly {
		return nil, ErrReadOnly
	}
	if max < 1 {
		return nil, fault.InvalidField("max", "must be at least 1")
	}
	e, err := b.reg.lookup(entity)
	if err != nil {
		return nil, err
	}
	for {
		// Take the wake channel before looking, so that a Send committed after
		// the look but before the wait still wakes us.
		wake := e.waitChan()
		var got []*Delivery
		var nextDue int64
		err := b.w.do(ctx, func(t *batch) error {
			var err error
			got, nextDue, err = t.receive(e, max)
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(got) > 0 {
			return got, nil
		}
		if err := b.wait(ctx, wake, nextDue); err != nil {
			return nil, err
		}
	}
}

// maxSleep bounds one wait for a timed message, so that a wall-clock jump (the
// due times are wall-clock) delays a scheduled message by at most this much.
const maxSleep = 5 * time.Second

// wait sleeps until wake is signalled, the next timed message (a scheduled
// message or an expiring lock, at nextDue in unix ns, 0 for none) is due, ctx
// ends, or the Bus closes.
func (b *Bus) wait(ctx context.Context, wake <-chan struct{}, nextDue int64) error {
	var timeout <-chan time.Time
	var jumped <-chan struct{}
	if b.jumped != nil {
		jumped = b.jumped()
	}
	if nextDue != 0 {
		d := min(time.Duration(nextDue-b.now().UnixNano()), maxSleep)
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-wake:
		return nil
	case <-timeout:
		return nil
	case <-jumped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.closed:
		return ErrClosed
	}
}

// Complete deletes a delivered message. It returns ErrLockLost if the lock
// expired and the message was since locked again, settled or dead-lettered; a
// lock that expired with nobody else taking the message still completes.
func (b *Bus) Complete(ctx context.Context, d *Delivery) error {
	return b.settle(ctx, d, func(t *batch) (bool, error) { return t.complete(d) })
}

// Abandon releases a delivered message's lock so it is available again now;
// a message at its entity's MaxDeliveryCount is dead-lettered instead, with
// reason MaxDeliveryCountExceeded and reason as the description.
func (b *Bus) Abandon(ctx context.Context, d *Delivery, reason string) error {
	return b.settle(ctx, d, func(t *batch) (bool, error) { return t.abandon(d, reason) })
}

// DeadLetter moves a delivered message to its entity's dead-letter queue.
func (b *Bus) DeadLetter(ctx context.Context, d *Delivery, reason, description string) error {
	return b.settle(ctx, d, func(t *batch) (bool, error) { return t.deadLetter(d, reason, description) })
}

// RenewLock extends a delivery's lock by its entity's LockDuration from now,
// and updates d.LockedUntil.
func (b *Bus) RenewLock(ctx context.Context, d *Delivery) error {
	var until time.Time
	err := b.settle(ctx, d, func(t *batch) (bool, error) {
		var ok bool
		var err error
		until, ok, err = t.renew(d)
		return ok, err
	})
	if err == nil {
		d.LockedUntil = until
	}
	return err
}

func (b *Bus) settle(ctx context.Context, d *Delivery, apply func(*batch) (bool, error)) error {
	if b.readOnly {
		return ErrReadOnly
	}
	if d == nil || d.LockToken == "" || d.SequenceNumber <= 0 {
		return fault.InvalidField("delivery", "is not a delivery from Receive")
	}
	held := false
	err := b.w.do(ctx, func(t *batch) error {
		var err error
		held, err = apply(t)
		return err
	})
	if err != nil {
		return err
	}
	if !held {
		return fmt.Errorf("%s seq %d: %w", d.Entity, d.SequenceNumber, ErrLockLost)
	}
	return nil
}

func checkEntityName(name string) error {
	if name == "" || len(name) > MaxEntityNameLength || strings.TrimSpace(name) != name {
		return fault.InvalidField("entity", "must be 1 to %d characters without surrounding spaces", MaxEntityNameLength)
	}
	return nil
}

// checkSendTarget rejects names that cannot be sent to: a malformed name, or
// a queue the namespace does not have.
func (b *Bus) checkSendTarget(entity string) error {
	if err := checkEntityName(entity); err != nil {
		return err
	}
	_, err := b.reg.lookup(entity)
	return err
}

// checkMessage applies Service Bus's limits. An empty ID is refused rather
// than replaced by a random one: duplicate detection is what makes Vigil's
// retries safe, and a message without a stable ID would silently lose it.
// index is the message's place in a Send, or -1 for Schedule's one message;
// the field name is only built for an error, off the send path.
func checkMessage(m *bus.Message, index int) error {
	field := func() string {
		if index < 0 {
			return "message"
		}
		return fmt.Sprintf("messages[%d]", index)
	}
	switch {
	case m.ID == "":
		return fault.InvalidField(field()+".id", "is required (it is the duplicate-detection key)")
	case len(m.ID) > bus.MaxIDLength:
		return fault.InvalidField(field()+".id", "is longer than %d characters", bus.MaxIDLength)
	}
	size := len(m.Body) + len(m.ContentType) + len(m.Subject)
	for k, v := range m.Properties {
		size += len(k) + len(v)
	}
	if size > MaxMessageSize {
		return &fault.Error{Kind: fault.TooLarge, Field: field(), Message: fmt.Sprintf("is %d bytes, over the %d-byte limit", size, MaxMessageSize)}
	}
	return nil
}
