// Package refusals is what every provider's test server shares: a record of
// the requests it refused as the provider would, which fails the test on a
// refusal the test did not ask for, so a server that refuses never passes
// silently.
package refusals

import (
	"slices"
	"sync"
	"testing"
)

// Log records one test server's refusals.
type Log struct {
	t        testing.TB
	name     string
	mu       sync.Mutex
	list     []string
	expected bool
}

// New returns the log of the server called name in test t.
func New(t testing.TB, name string) *Log { return &Log{t: t, name: name} }

// Expect lets the test provoke refusals without failing.
func (l *Log) Expect() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expected = true
}

// List returns the refusals so far, as Add was given them.
func (l *Log) List() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

// Add records a refusal and, unless the test expects refusals, fails it.
func (l *Log) Add(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, what)
	if !l.expected {
		l.t.Errorf("%s refused: %s", l.name, what)
	}
}
