package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/robfig/cron/v3"
)

// scheduleStatus is the timer's monitor record, as the host keeps it in
// storage between runs (locally, in memory for the life of the host).
type scheduleStatus struct {
	Last, Next, LastUpdated time.Time
}

// ncrontab is a 6-field NCRONTAB schedule (second minute hour day month
// day-of-week), evaluated in UTC like the host on Azure. It parses with
// robfig/cron but keeps NCrontab's day rule: a day must match both the
// day-of-month and the day-of-week field. (robfig/cron, like Vixie cron, takes
// a day matching either one when both are restricted, so "0 0 9 13 * 5" would
// fire on every 13th and every Friday rather than on Fridays the 13th.)
type ncrontab struct {
	days *cron.SpecSchedule // the schedule with every day of the week allowed
	dow  uint64             // the day-of-week field: bit 1<<time.Weekday
}

// parseSchedule reads a 6-field NCRONTAB expression.
func parseSchedule(expr string) (*ncrontab, error) {
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, err
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, errors.New("not a cron expression")
	}
	days := *spec
	// Every weekday bit, and robfig's "*" bit: days then match on the day of
	// the month alone, and Next filters on the day of the week.
	days.Dow = ^uint64(0)
	days.Location = time.UTC
	return &ncrontab{days: &days, dow: spec.Dow}, nil
}

// Next returns the first occurrence strictly after t, in UTC, or the zero
// time if there is none ("0 0 0 30 2 *"), as cron.Schedule does.
func (s *ncrontab) Next(t time.Time) time.Time {
	t = t.UTC()
	limit := t.AddDate(400, 0, 0) // the Gregorian calendar repeats every 400 years
	for {
		t = s.days.Next(t)
		if t.IsZero() || t.After(limit) {
			return time.Time{}
		}
		if s.dow&(1<<uint(t.Weekday())) != 0 {
			return t
		}
		// The day of the month fits but not the day of the week: try the next day.
		t = time.Date(t.Year(), t.Month(), t.Day(), 23, 59, 59, 0, time.UTC)
	}
}

// The scheduling decisions, as pure functions of time; runTimer only waits.
// They follow the host's TimerListener (azure-webjobs-sdk-extensions).

// initialStatus is a timer's status when the host starts. The host, finding
// no stored status (locally none ever is), sets Last and LastUpdated to .NET's
// default DateTime and Next to the first occurrence after now.
func initialStatus(s cron.Schedule, now time.Time) scheduleStatus {
	return scheduleStatus{Next: s.Next(now.UTC())}
}

// statusAfter is the status after a scheduled invocation that began at
// invoked, as the host records it: Last and LastUpdated are the invocation
// time — moved forward to the occurrence when the invocation fired a little
// before it, so that one occurrence cannot fire twice — and Next is the first
// occurrence after that.
func statusAfter(s cron.Schedule, prev scheduleStatus, invoked time.Time) scheduleStatus {
	at := invoked.UTC()
	if prev.Next.After(at) {
		at = prev.Next
	}
	return scheduleStatus{Last: at, Next: s.Next(at), LastUpdated: at}
}

// timerWait is how long to wait at now for next: zero, firing at once, when
// next has passed — how the host catches up on an occurrence that a long
// invocation overran (once, however many it overran). ok is false when there
// is no next occurrence.
func timerWait(next, now time.Time) (wait time.Duration, ok bool) {
	if next.IsZero() {
		return 0, false
	}
	return max(next.Sub(now), 0), true
}

// realTimerAfter is Host.timerAfter outside tests.
func realTimerAfter(_ string, d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// runTimer fires fn on its schedule (UTC) until ctx ends. Invocations of one
// timer never overlap — the host holds a singleton lock per timer — and an
// occurrence that falls due while the previous invocation still runs fires
// as soon as it ends. Failed timer invocations are not retried.
func (h *Host) runTimer(ctx context.Context, fn *function) {
	status := initialStatus(fn.schedule, h.now())
	for {
		wait, ok := timerWait(status.Next, h.now())
		if !ok {
			h.log.Warn("timer schedule has no next occurrence; the function will not run", "function", fn.name, "schedule", fn.scheduleExpr)
			return
		}
		fire, stop := h.timerAfter(fn.name, wait)
		select {
		case <-fire:
		case <-ctx.Done():
			stop()
			return
		}
		invoked := h.now()
		if !h.fireTimer(ctx, fn, status) {
			return
		}
		status = statusAfter(fn.schedule, status, invoked)
		if !status.Next.IsZero() && !h.now().Before(status.Next) {
			h.log.Warn("timer invocation outlasted the next occurrence; running it now, as the host does",
				"function", fn.name, "occurrence", status.Next.Format(time.RFC3339))
		}
	}
}

// fireTimer runs one invocation with the status as it stood before it (so
// ScheduleStatus.Next is the occurrence firing now) and waits for it. It
// returns false when ctx ends first; the invocation then finishes or fails
// under shutdown's drain.
func (h *Host) fireTimer(ctx context.Context, fn *function, status scheduleStatus) bool {
	done := make(chan struct{})
	h.inflight.Add(1)
	go func() {
		defer h.inflight.Done()
		defer close(done)
		h.invokeTimer(fn, status)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

func (h *Host) invokeTimer(fn *function, status scheduleStatus) {
	start := time.Now()
	id := newUUID()
	ctx, cancel := h.invocationContext(h.workCtx)
	defer cancel()
	_, err := h.invokeBytes(ctx, fn, id, h.timerEnvelope(fn, status, h.now()))
	h.invocationLog(ctx, fn, "timer", id, start, "ok", err)
}

// timerInfo is a timerTrigger's value, the host's TimerInfo (with the
// monitor's ScheduleStatus: useMonitor is always on here).
type timerInfo struct {
	Schedule struct {
		AdjustForDST bool
	}
	ScheduleStatus struct {
		Last, Next, LastUpdated string
	}
	IsPastDue bool
}

// timerEnvelope builds the invocation request for a timerTrigger.
func (h *Host) timerEnvelope(fn *function, status scheduleStatus, now time.Time) []byte {
	var ti timerInfo
	ti.Schedule.AdjustForDST = true
	ti.ScheduleStatus.Last = scheduleTime(status.Last)
	ti.ScheduleStatus.Next = scheduleTime(status.Next)
	ti.ScheduleStatus.LastUpdated = scheduleTime(status.LastUpdated)
	return marshal(envelope{Data: map[string]json.RawMessage{fn.inputName: marshal(ti)}, Metadata: metadata{"sys": sys(fn.name, now)}})
}
