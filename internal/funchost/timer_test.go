package funchost

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestNCRONTABNextOccurrence(t *testing.T) {
	// 2026-11-06 is a Friday.
	tests := []struct{ expr, from, want string }{
		{"0 */5 * * * *", "2026-11-06T10:02:30Z", "2026-11-06T10:05:00Z"},
		{"0 */5 * * * *", "2026-11-06T10:05:00Z", "2026-11-06T10:10:00Z"}, // strictly after
		{"0 */5 * * * *", "2026-11-06T10:04:59.999Z", "2026-11-06T10:05:00Z"},
		{"0 */5 * * * *", "2026-11-06T23:59:00Z", "2026-11-07T00:00:00Z"},
		{"0 */5 * * * *", "2026-11-06T11:02:30+01:00", "2026-11-06T10:05:00Z"}, // evaluated in UTC
		{"*/15 * * * * *", "2026-11-06T10:00:07Z", "2026-11-06T10:00:15Z"},     // the seconds field
		{"30 0 * * * *", "2026-11-06T10:00:00Z", "2026-11-06T10:00:30Z"},
		{"0 0 9 * * 1-5", "2026-11-06T08:59:59Z", "2026-11-06T09:00:00Z"},
		{"0 0 9 * * 1-5", "2026-11-06T09:00:00Z", "2026-11-09T09:00:00Z"}, // Friday → Monday
		{"0 0 9 * * 1-5", "2026-11-07T12:00:00Z", "2026-11-09T09:00:00Z"}, // Saturday → Monday
		{"0 0 9 * * 1-5", "2026-11-09T09:00:00Z", "2026-11-10T09:00:00Z"},
		{"0 0 9 * * 1", "2026-11-06T10:00:00Z", "2026-11-09T09:00:00Z"},
		{"0 0 12 * * SAT,SUN", "2026-11-06T10:00:00Z", "2026-11-07T12:00:00Z"},
		{"0 0 0 * * 0", "2026-11-06T10:00:00Z", "2026-11-08T00:00:00Z"}, // 0 is Sunday
		{"0 30 9 1 * *", "2026-11-06T10:00:00Z", "2026-12-01T09:30:00Z"},
		{"0 0 0 1 1 *", "2026-11-06T10:00:00Z", "2027-01-01T00:00:00Z"},
		{"0 0 0 29 2 *", "2026-11-06T10:00:00Z", "2028-02-29T00:00:00Z"},
		// NCrontab's day rule: both day fields must match (Friday the 13th),
		// where cron would take either (every 13th and every Friday).
		{"0 0 9 13 * 5", "2026-11-06T10:00:00Z", "2026-11-13T09:00:00Z"},
		{"0 0 9 13 * 5", "2026-11-14T00:00:00Z", "2027-08-13T09:00:00Z"},
		{"0 0 0 29 2 1", "2026-11-06T10:00:00Z", "2044-02-29T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" after "+tt.from, func(t *testing.T) {
			s, err := parseSchedule(tt.expr)
			require.NoError(t, err)
			got := s.Next(utc(tt.from))
			require.Equal(t, utc(tt.want), got)
			require.Equal(t, time.UTC, got.Location())
		})
	}

	never, err := parseSchedule("0 0 0 30 2 *")
	require.NoError(t, err)
	require.True(t, never.Next(utc("2026-11-06T10:00:00Z")).IsZero(), "February 30th never comes")
}

func TestTimerStatusTransitions(t *testing.T) {
	s, err := parseSchedule("0 */5 * * * *")
	require.NoError(t, err)

	// At start: no stored status, as the host initialises it.
	st := initialStatus(s, utc("2026-11-06T10:04:59.5Z"))
	require.Equal(t, scheduleStatus{Next: utc("2026-11-06T10:05:00Z")}, st)
	wait, ok := timerWait(st.Next, utc("2026-11-06T10:04:59.5Z"))
	require.True(t, ok)
	require.Equal(t, 500*time.Millisecond, wait)

	// A scheduled invocation a little late: Last and LastUpdated are when it ran.
	st = statusAfter(s, st, utc("2026-11-06T10:05:00.0144213Z"))
	require.Equal(t, scheduleStatus{
		Last: utc("2026-11-06T10:05:00.0144213Z"), Next: utc("2026-11-06T10:10:00Z"), LastUpdated: utc("2026-11-06T10:05:00.0144213Z"),
	}, st)

	// Fired a little early (clock skew): counted as the occurrence, so it cannot fire twice.
	st = statusAfter(s, st, utc("2026-11-06T10:09:59.998Z"))
	require.Equal(t, scheduleStatus{
		Last: utc("2026-11-06T10:10:00Z"), Next: utc("2026-11-06T10:15:00Z"), LastUpdated: utc("2026-11-06T10:10:00Z"),
	}, st)

	// An invocation that outlasts the next occurrence: it fires at once, once.
	st = statusAfter(s, st, utc("2026-11-06T10:15:00Z"))
	wait, ok = timerWait(st.Next, utc("2026-11-06T10:27:30Z"))
	require.True(t, ok)
	require.Zero(t, wait)
	st = statusAfter(s, st, utc("2026-11-06T10:27:30Z"))
	require.Equal(t, utc("2026-11-06T10:30:00Z"), st.Next, "10:25 ran late; 10:30 is next")

	_, ok = timerWait(time.Time{}, utc("2026-11-06T10:00:00Z"))
	require.False(t, ok, "no next occurrence: never fires")
}

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// timerDriver stands in for the timers' real waits: each wait is reported
// to the test, which fires it.
type timerDriver struct{ waits chan timerWaitRequest }

type timerWaitRequest struct {
	function string
	d        time.Duration
	fire     chan time.Time
}

func newTimerDriver() *timerDriver { return &timerDriver{waits: make(chan timerWaitRequest, 64)} }

func (d *timerDriver) after(function string, wait time.Duration) (<-chan time.Time, func() bool) {
	r := timerWaitRequest{function: function, d: wait, fire: make(chan time.Time, 1)}
	d.waits <- r
	return r.fire, func() bool { return true }
}

// next returns function's next wait, dropping other timers' (they then wait
// until the host stops).
func (d *timerDriver) next(t testing.TB, function string) timerWaitRequest {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r := <-d.waits:
			if r.function == function {
				return r
			}
		case <-timeout:
			t.Fatalf("timer %s did not wait within 10s", function)
		}
	}
}

func startTimerApp(t *testing.T, clock *testClock, drv *timerDriver) *testApp {
	return startApp(t, appConfig{
		now:  clock.Now,
		tune: func(h *Host) { h.timerAfter = drv.after },
	})
}

func TestTimerSchedule(t *testing.T) {
	clock := &testClock{now: utc("2026-11-06T10:04:59.5Z")}
	drv := newTimerDriver()
	a := startTimerApp(t, clock, drv)
	proceed, done := make(chan struct{}, 1), make(chan struct{})
	t.Cleanup(func() { close(done) }) // before the app stops, should the test fail
	a.worker.handle("EscalationSweep", func(w http.ResponseWriter, inv invocation) {
		select {
		case <-proceed:
		case <-done:
		}
		answer(w, 200, obj{"Outputs": obj{}, "Logs": []string{}, "ReturnValue": nil})
	})
	type status struct{ Last, Next, LastUpdated string }
	type timerInfo struct {
		Schedule       map[string]any
		ScheduleStatus *status
		IsPastDue      bool
	}
	// fire lets the pending wait end at now and returns the invocation's TimerInfo.
	fire := func(w timerWaitRequest, now string) (timerInfo, invocation) {
		t.Helper()
		clock.Set(utc(now))
		w.fire <- clock.Now()
		inv := a.worker.next(t, "EscalationSweep")
		var ti timerInfo
		inv.data(t, "sweep", &ti)
		return ti, inv
	}

	w := drv.next(t, "EscalationSweep")
	require.Equal(t, 500*time.Millisecond, w.d, "waits for 10:05:00")

	// The first occurrence: the status the host starts with.
	ti, inv := fire(w, "2026-11-06T10:05:00.0144213Z")
	require.JSONEq(t, `{"Schedule":{"AdjustForDST":true},
		"ScheduleStatus":{"Last":"0001-01-01T00:00:00","Next":"2026-11-06T10:05:00+00:00","LastUpdated":"0001-01-01T00:00:00"},
		"IsPastDue":false}`, string(inv.Envelope.Data["sweep"]))
	require.Equal(t, []string{"sys"}, keys(inv.Envelope.Metadata))
	var sys struct{ MethodName, UtcNow string }
	inv.meta(t, "sys", &sys)
	require.Equal(t, "EscalationSweep", sys.MethodName)
	require.Equal(t, "2026-11-06T10:05:00.0144213Z", sys.UtcNow)
	golden(t, "timer_escalation_sweep", inv.Raw)
	proceed <- struct{}{}

	w = drv.next(t, "EscalationSweep")
	require.Equal(t, utc("2026-11-06T10:10:00Z").Sub(utc("2026-11-06T10:05:00.0144213Z")), w.d)
	ti, _ = fire(w, "2026-11-06T10:10:00.002Z")
	require.Equal(t, &status{Last: "2026-11-06T10:05:00.0144213+00:00", Next: "2026-11-06T10:10:00+00:00", LastUpdated: "2026-11-06T10:05:00.0144213+00:00"}, ti.ScheduleStatus)
	require.False(t, ti.IsPastDue)
	proceed <- struct{}{}

	// Fired 1 ms early: that was the 10:15 occurrence, and 10:20 is next.
	w = drv.next(t, "EscalationSweep")
	ti, _ = fire(w, "2026-11-06T10:14:59.999Z")
	require.Equal(t, "2026-11-06T10:15:00+00:00", ti.ScheduleStatus.Next)
	proceed <- struct{}{}
	w = drv.next(t, "EscalationSweep")
	require.Equal(t, 5*time.Minute+time.Millisecond, w.d)

	// An invocation that runs past 10:25: the 10:25 occurrence fires as soon
	// as it ends, once, and the schedule then goes on at 10:30.
	ti, _ = fire(w, "2026-11-06T10:20:00.001Z")
	require.Equal(t, &status{Last: "2026-11-06T10:15:00+00:00", Next: "2026-11-06T10:20:00+00:00", LastUpdated: "2026-11-06T10:15:00+00:00"}, ti.ScheduleStatus)
	clock.Set(utc("2026-11-06T10:27:30Z"))
	proceed <- struct{}{}
	w = drv.next(t, "EscalationSweep")
	require.Zero(t, w.d)
	outlasted := func() bool {
		return strings.Contains(a.logs.String(), "timer invocation outlasted the next occurrence")
	}
	require.Eventually(t, outlasted, 2*time.Second, 10*time.Millisecond)
	ti, _ = fire(w, "2026-11-06T10:27:30Z")
	require.Equal(t, &status{Last: "2026-11-06T10:20:00.001+00:00", Next: "2026-11-06T10:25:00+00:00", LastUpdated: "2026-11-06T10:20:00.001+00:00"}, ti.ScheduleStatus)
	require.False(t, ti.IsPastDue, "the host sets IsPastDue only for an occurrence missed while it was down")
	proceed <- struct{}{}
	w = drv.next(t, "EscalationSweep")
	require.Equal(t, 2*time.Minute+30*time.Second, w.d)

	require.Len(t, a.worker.callsOf("EscalationSweep"), 5)
}

func TestTimerFailureIsNotRetried(t *testing.T) {
	clock := &testClock{now: utc("2026-11-06T10:04:59.5Z")}
	drv := newTimerDriver()
	a := startTimerApp(t, clock, drv)
	a.worker.handle("EscalationSweep", failWith(500, obj{"error": "boom"}))

	w := drv.next(t, "EscalationSweep")
	clock.Set(utc("2026-11-06T10:05:00Z"))
	w.fire <- clock.Now()
	a.worker.next(t, "EscalationSweep")
	w = drv.next(t, "EscalationSweep")
	require.Equal(t, 5*time.Minute, w.d, "the next occurrence, not a retry")
	require.Len(t, a.worker.callsOf("EscalationSweep"), 1)
	require.Eventually(t, func() bool { return strings.Contains(a.logs.String(), `function=EscalationSweep trigger=timer`) },
		2*time.Second, 10*time.Millisecond)
	require.Contains(t, a.logs.String(), "worker answered 500")
}

func TestTimerScheduleErrorsNameTheFunction(t *testing.T) {
	hostJSON, err := os.ReadFile("testdata/app/host.json")
	require.NoError(t, err)
	tests := []struct{ schedule, want string }{
		{"0 */5 * * *", `schedule "0 */5 * * *" has 5 fields; vigil local takes 6-field NCRONTAB`},
		{"0 */5 * * * * *", `schedule "0 */5 * * * * *" has 7 fields`},
		{"0 61 * * * *", `schedule "0 61 * * * *": `},
		{"0 0 9 * * 8", `schedule "0 0 9 * * 8": `},
		{"@daily", `schedule "@daily" has 1 fields`},
	}
	for _, tt := range tests {
		t.Run(tt.schedule, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "host.json"), hostJSON, 0o644))
			fn := filepath.Join(dir, "functions", "NightlyDigest")
			require.NoError(t, os.MkdirAll(fn, 0o755))
			def, err := json.Marshal(obj{"bindings": []obj{{"type": "timerTrigger", "direction": "in", "name": "tick", "schedule": tt.schedule}}})
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(fn, "function.json"), def, 0o644))

			_, err = New(Options{AppDir: dir, WorkerURL: "http://127.0.0.1:1"})
			require.ErrorContains(t, err, `function "NightlyDigest": binding "tick" (type "timerTrigger", direction "in"): `+tt.want)
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
