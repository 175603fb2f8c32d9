// Package clock is the one clock of a `vigil local` run: the local host's
// timers, the embedded queue's scheduled messages and locks, and the handler's
// "now" all read it.
//
// Outside tests it is the wall clock. End-to-end tests set VIGIL_TEST_CLOCK to
// a file holding an offset (a Go duration, e.g. "36m" or "-2h"), and move
// time forward by rewriting that file (Advance): every process of the run
// reads the same offset, so a ten-minute escalation runs in a second of real
// time, the way GoAlert's smoke harness fast-forwards its database clock. The
// offset only grows; time never runs backwards within a run.
package clock

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Setting names the offset file of a test clock. Only `vigil local` and the
// `vigil serve` it starts honour it.
const SettingPath = "VIGIL_TEST_CLOCK"

// poll is how often a test clock rereads its file.
const poll = 10 * time.Millisecond

// Clock is a wall clock shifted by an offset that only moves forward.
type Clock struct {
	path   string
	offset atomic.Int64 // ns

	mu     sync.Mutex
	jumped chan struct{} // closed, and replaced, when the offset grows
}

// Wall is the clock of every real run.
var Wall = &Clock{}

// FromFile starts a test clock reading its offset from path until ctx ends. A
// missing file is a zero offset.
func FromFile(ctx context.Context, path string) (*Clock, error) {
	c := &Clock{path: path, jumped: make(chan struct{})}
	if err := c.reload(); err != nil {
		return nil, err
	}
	go func() {
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = c.reload() // a file caught mid-rename is read on the next tick
			}
		}
	}()
	return c, nil
}

// FromEnv is the test clock VIGIL_TEST_CLOCK names, or Wall.
func FromEnv(ctx context.Context) (*Clock, error) {
	path := os.Getenv(SettingPath)
	if path == "" {
		return Wall, nil
	}
	c, err := FromFile(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SettingPath, err)
	}
	return c, nil
}

// Testing reports whether this is a test clock.
func (c *Clock) Testing() bool { return c.path != "" }

// Now is the wall clock plus the offset. A test clock rereads its file first:
// a process handed work by another that has seen a jump (a scheduled message
// the queue released) must not read the time from before it.
func (c *Clock) Now() time.Time {
	if c.path != "" {
		_ = c.reload()
	}
	return time.Now().Add(time.Duration(c.offset.Load()))
}

// Jumped returns a channel closed when the clock next jumps forward; nil (never
// ready) on the wall clock. Waits for a moment in this clock's time select on
// it and compute again.
func (c *Clock) Jumped() <-chan struct{} {
	if c.path == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jumped
}

// After waits until d has passed on this clock, as time.NewTimer does on the
// wall clock; stop abandons the wait.
func (c *Clock) After(d time.Duration) (<-chan time.Time, func() bool) {
	if c.path == "" {
		t := time.NewTimer(d)
		return t.C, t.Stop
	}
	due := c.Now().Add(d)
	fire := make(chan time.Time, 1)
	done := make(chan struct{})
	var once sync.Once
	stop := func() bool {
		stopped := false
		once.Do(func() { close(done); stopped = true })
		return stopped
	}
	go func() {
		for {
			left := due.Sub(c.Now())
			if left <= 0 {
				once.Do(func() { fire <- c.Now() })
				return
			}
			t := time.NewTimer(left)
			select {
			case <-t.C:
			case <-c.Jumped():
				t.Stop()
			case <-done:
				t.Stop()
				return
			}
		}
	}()
	return fire, stop
}

func (c *Clock) reload() error {
	d, err := Read(c.path)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if int64(d) <= c.offset.Load() {
		return nil
	}
	c.offset.Store(int64(d))
	close(c.jumped)
	c.jumped = make(chan struct{})
	return nil
}

// Set writes an offset to a test clock's file (before the run starts, or to
// jump); it is replaced whole, so a reader never sees half of it.
func Set(path string, offset time.Duration) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(offset.String()+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Read returns the offset in a test clock's file (zero when there is none).
func Read(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		return 0, fmt.Errorf("offset %q in %s: %w", text, path, err)
	}
	return d, nil
}

// Advance moves a test clock's file forward by d.
func Advance(path string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("clock: cannot move back (%s)", d)
	}
	cur, err := Read(path)
	if err != nil {
		return err
	}
	return Set(path, cur+d)
}
