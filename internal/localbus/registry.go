package localbus

import (
	"sync"

	"vigil/internal/fault"
)

// entity is a declared queue.
type entity struct {
	name string
	// opts is read and written by the writer goroutine only.
	opts EntityOptions

	mu   sync.Mutex
	wake chan struct{} // closed to wake every waiting Receive; nil when nobody waits
}

// waitChan returns a channel closed at the next signal.
func (e *entity) waitChan() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.wake == nil {
		e.wake = make(chan struct{})
	}
	return e.wake
}

// signal wakes every Receive waiting on e: something became available, or the
// next due time moved earlier.
func (e *entity) signal() {
	e.mu.Lock()
	if e.wake != nil {
		close(e.wake)
		e.wake = nil
	}
	e.mu.Unlock()
}

// registry is the set of declared queues. The writer goroutine is its only
// mutator and reads it without locking; every other goroutine takes mu.
type registry struct {
	mu       sync.RWMutex
	entities map[string]*entity
}

func newRegistry() *registry {
	return &registry{entities: map[string]*entity{}}
}

// add publishes a new entity (writer goroutine only).
func (r *registry) add(e *entity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entities[e.name] = e
}

// remove undoes add (writer goroutine only), when the batch that added e rolls back.
func (r *registry) remove(e *entity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.entities, e.name)
}

// lookup finds a declared queue. Entities are never removed once declared,
// so an answer found outside the writer stays true.
func (r *registry) lookup(name string) (*entity, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if e, ok := r.entities[name]; ok {
		return e, nil
	}
	return nil, notDeclared(name)
}

// notDeclared is Service Bus's "entity not found", here for a queue that
// nobody declared: a send to a misspelt name fails on a laptop as it would in
// Azure, instead of creating a queue that nothing reads.
func notDeclared(name string) error {
	return fault.New(fault.NotFound, "localbus: entity %q does not exist: no such queue was declared (vigil local declares the app's queues)", name)
}
