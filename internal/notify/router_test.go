package notify

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// recorder is a Channel and an Outbox that remembers what it got.
type recorder struct {
	mu   sync.Mutex
	got  []incident.Notification
	fail error
}

func (r *recorder) Deliver(_ context.Context, n incident.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, n)
	return nil
}

func (r *recorder) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.got {
		out = append(out, n.Channel+"/"+n.Key)
	}
	return out
}

func note(channel, key string) incident.Notification {
	return incident.Notification{Key: key, Channel: channel, Address: "x"}
}

func TestRouterDispatchesOnTheChannel(t *testing.T) {
	sms, slack := &recorder{}, &recorder{}
	r := NewRouter(WithChannel(incident.ChannelSMS, sms), WithChannel(incident.ChannelSlack, slack))
	ctx := context.Background()
	require.NoError(t, r.Deliver(ctx, note(incident.ChannelSMS, "k1")))
	require.NoError(t, r.Deliver(ctx, note(incident.ChannelSlack, "k2")))
	require.NoError(t, r.Deliver(ctx, note(incident.ChannelSMS, "k3")))
	assert.Equal(t, []string{"sms/k1", "sms/k3"}, sms.keys())
	assert.Equal(t, []string{"slack/k2"}, slack.keys())
	assert.Equal(t, []string{incident.ChannelSlack, incident.ChannelSMS}, r.Configured(), "in incident.Channels order")
}

func TestRouterUnconfiguredChannelIsPermanent(t *testing.T) {
	r := NewRouter(WithChannel(incident.ChannelSMS, &recorder{}))
	err := r.Deliver(context.Background(), note(incident.ChannelTeams, "k"))
	require.Error(t, err)
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
	assert.Contains(t, err.Error(), `"teams"`)
	assert.Contains(t, err.Error(), "not configured")

	err = r.Deliver(context.Background(), note("", "k"))
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)

	err = NewRouter().Deliver(context.Background(), note("pager", "k"))
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
	assert.Contains(t, err.Error(), `"pager"`)
}

func TestRouterPassesChannelErrorsThrough(t *testing.T) {
	boom := fault.New(fault.Transient, "slack: delivery failed, will retry")
	r := NewRouter(WithChannel(incident.ChannelSlack, &recorder{fail: boom}))
	assert.Same(t, boom, r.Deliver(context.Background(), note(incident.ChannelSlack, "k")))
}

func TestRouterOutboxOnly(t *testing.T) {
	outbox, sms := &recorder{}, &recorder{}
	r := NewRouter(WithChannel(incident.ChannelSMS, sms), OutboxOnly(outbox))
	require.NoError(t, r.Deliver(context.Background(), note(incident.ChannelSMS, "k1")))
	require.NoError(t, r.Deliver(context.Background(), note(incident.ChannelTeams, "k2")))
	assert.Equal(t, []string{"sms/k1", "teams/k2"}, outbox.keys())
	assert.Empty(t, sms.keys(), "nothing is sent")
}

func TestRouterOutboxCopy(t *testing.T) {
	outbox, sms := &recorder{}, &recorder{}
	r := NewRouter(WithChannel(incident.ChannelSMS, sms), OutboxCopy(outbox))
	require.NoError(t, r.Deliver(context.Background(), note(incident.ChannelSMS, "k1")))
	require.NoError(t, r.Deliver(context.Background(), note(incident.ChannelTeams, "k2")),
		"the outbox stands in for a channel that is not configured")
	assert.Equal(t, []string{"sms/k1", "teams/k2"}, outbox.keys())
	assert.Equal(t, []string{"sms/k1"}, sms.keys())
}

func TestRouterOutboxFailureStopsTheSend(t *testing.T) {
	broken := fault.New(fault.Transient, "recording notification k")
	sms := &recorder{}
	r := NewRouter(WithChannel(incident.ChannelSMS, sms), OutboxCopy(&recorder{fail: broken}))
	assert.Same(t, broken, r.Deliver(context.Background(), note(incident.ChannelSMS, "k")))
	assert.Empty(t, sms.keys())
}

func TestWithChannelNilUnsets(t *testing.T) {
	r := NewRouter(WithChannel(incident.ChannelSMS, &recorder{}), WithChannel(incident.ChannelSMS, nil))
	assert.Empty(t, r.Configured())
}
