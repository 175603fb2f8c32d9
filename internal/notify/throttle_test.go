package notify

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/incident"
	idkeys "vigil/internal/keys"
)

func defaultThrottle(t *testing.T) *Throttle {
	t.Helper()
	th, err := NewThrottle(nil)
	require.NoError(t, err)
	return th
}

func TestThrottleSMSDefaults(t *testing.T) {
	th := defaultThrottle(t)
	ada := idkeys.Contact(incident.ChannelSMS, "+14255550123")
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	// A burst of three.
	for i := range 3 {
		ok, wait := th.Allow(ada, at(time.Duration(i)*time.Second))
		require.True(t, ok, "send %d", i)
		assert.Zero(t, wait)
	}
	// The fourth waits until the first leaves the 3-minute window.
	ok, wait := th.Allow(ada, at(10*time.Second))
	assert.False(t, ok)
	assert.Equal(t, 2*time.Minute+50*time.Second, wait)
	// A refused send is not counted: asking again just before is still refused...
	ok, wait = th.Allow(ada, at(3*time.Minute-time.Nanosecond))
	assert.False(t, ok)
	assert.Equal(t, time.Nanosecond, wait)
	// ...and at the moment it said, it is allowed.
	ok, _ = th.Allow(ada, at(3*time.Minute))
	assert.True(t, ok)
	ok, _ = th.Allow(ada, at(3*time.Minute+time.Second))
	assert.True(t, ok)
	// Five in 15 minutes: the sixth waits for the first send (at 0 s) to be 15 minutes old.
	ok, wait = th.Allow(ada, at(7*time.Minute))
	assert.False(t, ok)
	assert.Equal(t, 8*time.Minute, wait)
	ok, _ = th.Allow(ada, at(15*time.Minute))
	assert.True(t, ok)
}

func TestThrottleHourlyCap(t *testing.T) {
	th := defaultThrottle(t)
	key := idkeys.Contact(incident.ChannelSMS, "+14255550123")
	sent := 0
	for m := time.Duration(0); m < time.Hour; m += time.Minute { // one page a minute
		if ok, _ := th.Allow(key, t0.Add(m)); ok {
			sent++
		}
	}
	assert.Equal(t, 11, sent, "at most 11 SMS an hour")
	ok, wait := th.Allow(key, t0.Add(time.Hour))
	assert.True(t, ok, "the first send of the hour has left the window: %s", wait)
}

func TestThrottleKeysAreIndependent(t *testing.T) {
	th := defaultThrottle(t)
	a := idkeys.Contact(incident.ChannelSMS, "+14255550123")
	b := idkeys.Contact(incident.ChannelSMS, "+14255550124")
	mail := idkeys.Contact(incident.ChannelEmail, "+14255550123")
	for range 3 {
		ok, _ := th.Allow(a, t0)
		require.True(t, ok)
	}
	ok, _ := th.Allow(a, t0)
	assert.False(t, ok)
	ok, _ = th.Allow(b, t0)
	assert.True(t, ok, "another number")
	ok, _ = th.Allow(mail, t0)
	assert.True(t, ok, "another channel")
}

func TestThrottleChatAndEmailDefaults(t *testing.T) {
	th := defaultThrottle(t)
	count := func(key string) int {
		n := 0
		for i := range 100 {
			if ok, _ := th.Allow(key, t0.Add(time.Duration(i)*100*time.Millisecond)); ok {
				n++
			}
		}
		return n
	}
	assert.Equal(t, 5, count(idkeys.Contact(incident.ChannelEmail, "ada@example.com")))
	assert.Equal(t, 20, count(idkeys.Contact(incident.ChannelSlack, "SLACK_SRE_WEBHOOK")))
	assert.Equal(t, 20, count(idkeys.Contact(incident.ChannelTeams, "TEAMS_ONCALL_URL")))
	assert.Equal(t, 20, count(idkeys.Contact(incident.ChannelWebhook, "OPS_BRIDGE_URL")))
	assert.Equal(t, 100, count(idkeys.Contact("voice", "+14255550123")), "a channel without rules is not limited")
}

func TestThrottleCustomLimitsAndValidation(t *testing.T) {
	th, err := NewThrottle(map[string][]Rule{"sms": {{Count: 1, Per: 30 * time.Second}}})
	require.NoError(t, err)
	key := idkeys.Contact("sms", "+14255550123")
	ok, _ := th.Allow(key, t0)
	assert.True(t, ok)
	ok, wait := th.Allow(key, t0.Add(10*time.Second))
	assert.False(t, ok)
	assert.Equal(t, 20*time.Second, wait)
	ok, _ = th.Allow(idkeys.Contact("email", "a@b.example"), t0)
	assert.True(t, ok, "only the channels given are limited")

	for _, bad := range []map[string][]Rule{
		{"sms": {{Count: 0, Per: time.Minute}}},
		{"sms": {{Count: 1, Per: 0}}},
		{"s:ms": {{Count: 1, Per: time.Minute}}},
	} {
		_, err := NewThrottle(bad)
		assert.Error(t, err, "%v", bad)
	}
}

func TestThrottleClockSteppingBack(t *testing.T) {
	th, err := NewThrottle(map[string][]Rule{"sms": {{Count: 2, Per: time.Minute}}})
	require.NoError(t, err)
	key := idkeys.Contact("sms", "+1")
	ok, _ := th.Allow(key, t0.Add(10*time.Second))
	require.True(t, ok)
	ok, _ = th.Allow(key, t0) // an earlier time from another caller
	require.True(t, ok)
	ok, wait := th.Allow(key, t0.Add(20*time.Second))
	assert.False(t, ok)
	assert.Equal(t, 40*time.Second, wait, "waits for the earliest send (t0) to leave the window")
}

func TestThrottleConcurrentUse(t *testing.T) {
	th := defaultThrottle(t)
	key := idkeys.Contact(incident.ChannelEmail, "ada@example.com")
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := th.Allow(key, t0.Add(time.Duration(i)*time.Millisecond)); ok {
				allowed.Add(1)
			}
			th.Allow(idkeys.Contact(incident.ChannelSMS, "+1425555"+string(rune('0'+i%10))), t0)
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(5), allowed.Load(), "exactly the limit, however the calls interleave")
}

func TestThrottleForgetsIdleContacts(t *testing.T) {
	th := defaultThrottle(t)
	for i := range sweepEvery - 1 {
		th.Allow(idkeys.Contact(incident.ChannelSlack, string(rune('A'+i%26))+time.Duration(i).String()), t0)
	}
	th.mu.Lock()
	before := len(th.sent)
	th.mu.Unlock()
	require.Equal(t, sweepEvery-1, before)
	th.Allow(idkeys.Contact(incident.ChannelSlack, "late"), t0.Add(2*time.Minute)) // the sweep runs
	th.mu.Lock()
	defer th.mu.Unlock()
	assert.Len(t, th.sent, 1, "only the contact sent to within its longest window is kept")
}
