// Package groupcommit runs the writes of many goroutines in shared
// transactions on one goroutine (group commit), as the embedded store and the
// embedded queue both need: SQLite admits one writer at a time, every write
// must be durable before its caller hears back (synchronous=FULL, one fsync
// per commit), and one commit per write would cap throughput at the disk's
// fsync rate. So whatever was submitted while the previous commit ran goes
// into the next transaction: under load a batch holds as many writes as there
// are callers; when idle a lone write commits at once, trading no latency.
//
// Each caller gets its own verdict. nil means committed (durable); an error
// means not committed. An op whose batch fails is run again alone, so one bad
// write never fails the writes that shared its transaction.
package groupcommit

import (
	"context"
	"sync"
	"sync/atomic"

	"vigil/internal/fault"
)

// Backend runs the transactions of a Writer, on the writer's goroutine only.
// T is one transaction's state, handed to each op in it.
type Backend[T any] interface {
	// Begin starts a transaction.
	Begin() (T, error)
	// Commit makes it durable; an error means nothing of it was.
	Commit(tx T) error
	// Rollback undoes a begun transaction whose op or Commit failed, in the
	// database and in whatever memory the ops changed.
	Rollback(tx T)
}

// Op is one caller's write. It returns an error only for a failure that
// aborts the transaction; outcomes its caller must see (a conflict, a lost
// lock) it records in the caller's own variables, assigning them afresh on
// every run, since a batch that failed runs its ops again one by one.
type Op[T any] func(tx T) error

// Writer owns the write side of one database. Make it with New.
type Writer[T any] struct {
	backend  Backend[T]
	maxBatch int
	closed   error

	ops chan *op[T]
	// submitMu lets Close close ops without racing a submitter: submitters
	// hold it shared while they hand an op over.
	submitMu sync.RWMutex
	stopped  bool
	exited   chan struct{}
	once     sync.Once
}

const (
	opPending int32 = iota
	opRunning
	opCancelled
)

type op[T any] struct {
	ctx   context.Context
	state atomic.Int32
	apply Op[T]
	done  chan struct{}
	err   error
}

// New starts a Writer. maxBatch bounds one transaction, so that a flood of
// writes cannot hold its first callers hostage for long; closed is what Do
// returns once Close has begun.
func New[T any](backend Backend[T], maxBatch int, closed error) *Writer[T] {
	w := &Writer[T]{backend: backend, maxBatch: maxBatch, closed: closed,
		ops: make(chan *op[T], 2*maxBatch), exited: make(chan struct{})}
	go w.run()
	return w
}

// Do runs apply in the next transaction and waits for its commit. If ctx ends
// before the writer starts on it, Do returns ctx.Err() and apply never runs;
// once started, Do waits for the outcome even if ctx ends, so that an error
// always means "not committed" and nil always means "durable".
func (w *Writer[T]) Do(ctx context.Context, apply Op[T]) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op[T]{ctx: ctx, apply: apply, done: make(chan struct{})}
	w.submitMu.RLock()
	if w.stopped {
		w.submitMu.RUnlock()
		return w.closed
	}
	select {
	case w.ops <- o:
	case <-ctx.Done():
		w.submitMu.RUnlock()
		return ctx.Err()
	}
	w.submitMu.RUnlock()
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opPending, opCancelled) {
			return ctx.Err()
		}
		<-o.done
		return o.err
	}
}

// Close lets every op already submitted finish, then stops the writer; later
// calls to Do return the closed error. It is safe to call more than once.
func (w *Writer[T]) Close() {
	w.once.Do(func() {
		w.submitMu.Lock()
		w.stopped = true
		close(w.ops)
		w.submitMu.Unlock()
	})
	<-w.exited
}

func (w *Writer[T]) run() {
	defer close(w.exited)
	batch := make([]*op[T], 0, w.maxBatch)
	for first := range w.ops {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < w.maxBatch {
			select {
			case o, ok := <-w.ops:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		w.execute(batch)
		clear(batch) // drop references for the GC
	}
}

func (w *Writer[T]) execute(ops []*op[T]) {
	live := make([]*op[T], 0, len(ops))
	for _, o := range ops {
		if !o.state.CompareAndSwap(opPending, opRunning) {
			continue // its caller gave up and has returned
		}
		if err := o.ctx.Err(); err != nil {
			o.err = err
			close(o.done)
			continue
		}
		live = append(live, o)
	}
	if len(live) == 0 {
		return
	}
	if err := w.commit(live); err != nil {
		if len(live) == 1 {
			live[0].err = err
		} else {
			// Isolate: one op's failure must not fail the others.
			for _, o := range live {
				o.err = w.commit([]*op[T]{o})
			}
		}
	}
	for _, o := range live {
		close(o.done)
	}
}

// commit runs ops in one transaction.
func (w *Writer[T]) commit(ops []*op[T]) (err error) {
	tx, err := w.backend.Begin()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.backend.Rollback(tx)
		}
	}()
	// A bug in one op must fail its batch, not kill the writer and hang every
	// caller after it. Runs before the rollback above (LIFO).
	defer func() {
		if r := recover(); r != nil {
			err = fault.New(fault.Internal, "panic in a write: %v", r)
		}
	}()
	for _, o := range ops {
		if err := o.apply(tx); err != nil {
			return err
		}
	}
	return w.backend.Commit(tx)
}
