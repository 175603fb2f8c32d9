package localbus

import (
	"slices"
	"strings"
	"sync"

	"vigil/internal/fault"
)

// entity is a queue or a topic subscription.
type entity struct {
	name  string
	topic string // the topic, for a subscription; "" for a queue
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

// registry is the set of known entities. The writer goroutine is its only
// mutator and reads it without locking; every other goroutine takes mu.
type registry struct {
	mu       sync.RWMutex
	entities map[string]*entity
	// subscriptions by topic, in name order. A name is a topic iff it has any.
	topics map[string][]*entity
}

func newRegistry() *registry {
	return &registry{entities: map[string]*entity{}, topics: map[string][]*entity{}}
}

// add publishes a new entity (writer goroutine only).
func (r *registry) add(e *entity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entities[e.name] = e
	if e.topic != "" {
		subs := append(r.topics[e.topic], e)
		// Keep fan-out order stable across restarts (Open loads by name).
		for i := len(subs) - 1; i > 0 && subs[i].name < subs[i-1].name; i-- {
			subs[i], subs[i-1] = subs[i-1], subs[i]
		}
		r.topics[e.topic] = subs
	}
}

// remove undoes add (writer goroutine only), when the batch that added e rolls back.
func (r *registry) remove(e *entity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.entities, e.name)
	if e.topic != "" {
		subs := slices.DeleteFunc(r.topics[e.topic], func(s *entity) bool { return s == e })
		if len(subs) == 0 {
			delete(r.topics, e.topic)
		} else {
			r.topics[e.topic] = subs
		}
	}
}

// receivable finds the queue or subscription a Receive names.
func (r *registry) receivable(name string) (*entity, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if e, ok := r.entities[name]; ok {
		return e, nil
	}
	if _, ok := r.topics[name]; ok {
		return nil, fault.InvalidField("entity", "%q is a topic: receive from one of its subscriptions", name)
	}
	if strings.Contains(name, subscriptionsSegment) {
		return nil, fault.New(fault.NotFound, "localbus: entity %q does not exist: no such subscription was declared", name)
	}
	return nil, notDeclared(name)
}

// sendable checks that name is a queue or a topic (one with subscriptions).
// Entities are never removed once declared, so a check outside the writer
// stays true.
func (r *registry) sendable(name string) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.entities[name]; ok {
		return nil
	}
	if _, ok := r.topics[name]; ok {
		return nil
	}
	return notDeclared(name)
}

// notDeclared is Service Bus's "entity not found", here for a queue that
// nobody declared: a send to a misspelt name fails on a laptop as it would in
// Azure, instead of creating a queue that nothing reads.
func notDeclared(name string) error {
	return fault.New(fault.NotFound, "localbus: entity %q does not exist: no such queue was declared (vigil local declares the app's queues)", name)
}
