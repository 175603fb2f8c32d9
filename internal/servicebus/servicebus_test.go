package servicebus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/bus"
	"vigil/internal/fault"
)

// fakeSender stands in for *azservicebus.Sender: batches hold at most max
// bytes of (id + body), counted the way a test can predict.
type fakeSender struct {
	max int

	newBatchErr, sendErr, scheduleErr, cancelErr error

	mu        sync.Mutex
	sent      [][]*azservicebus.Message // one entry per batch sent
	scheduled []*azservicebus.Message
	at        time.Time
	cancelled []int64
	closed    bool
}

type fakeBatch struct {
	max, size int
	msgs      []*azservicebus.Message
}

func (b *fakeBatch) AddMessage(m *azservicebus.Message, _ *azservicebus.AddMessageOptions) error {
	n := len(*m.MessageID) + len(m.Body)
	if b.size+n > b.max {
		return azservicebus.ErrMessageTooLarge
	}
	b.size += n
	b.msgs = append(b.msgs, m)
	return nil
}

func (b *fakeBatch) NumMessages() int32 { return int32(len(b.msgs)) }

func (f *fakeSender) NewBatch(context.Context) (messageBatch, error) {
	if f.newBatchErr != nil {
		return nil, f.newBatchErr
	}
	return &fakeBatch{max: f.max}, nil
}

func (f *fakeSender) SendBatch(_ context.Context, b messageBatch) error {
	if f.sendErr != nil {
		return f.sendErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, b.(*fakeBatch).msgs)
	return nil
}

func (f *fakeSender) Schedule(_ context.Context, msgs []*azservicebus.Message, at time.Time) ([]int64, error) {
	if f.scheduleErr != nil {
		return nil, f.scheduleErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scheduled = append(f.scheduled, msgs...)
	f.at = at
	seqs := make([]int64, len(msgs))
	for i := range msgs {
		seqs[i] = int64(100 + len(f.scheduled) - len(msgs) + i)
	}
	return seqs, nil
}

func (f *fakeSender) Cancel(_ context.Context, seqs []int64) error {
	if f.cancelErr != nil {
		return f.cancelErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancelled = append(f.cancelled, seqs...)
	return nil
}

func (f *fakeSender) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeSender) sentIDs() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]string
	for _, b := range f.sent {
		var ids []string
		for _, m := range b {
			ids = append(ids, *m.MessageID)
		}
		out = append(out, ids)
	}
	return out
}

// testClient returns a Client whose senders are fakes made by mk, and counts
// how many senders it opened per entity.
func testClient(mk func(entity string) *fakeSender) (*Client, map[string]*fakeSender, func(string) int) {
	var mu sync.Mutex
	opened := map[string]int{}
	fakes := map[string]*fakeSender{}
	c := &Client{open: func(entity string) (entitySender, error) {
		mu.Lock()
		defer mu.Unlock()
		opened[entity]++
		f := mk(entity)
		fakes[entity] = f
		return f, nil
	}}
	count := func(entity string) int {
		mu.Lock()
		defer mu.Unlock()
		return opened[entity]
	}
	return c, fakes, count
}

func oneFake(f *fakeSender) *Client {
	c, _, _ := testClient(func(string) *fakeSender { return f })
	return c
}

func TestToSDKConvertsEveryField(t *testing.T) {
	in := bus.Message{
		ID: "intake-abc", Body: []byte(`{"a":1}`), ContentType: "application/json", Subject: "alert",
		Properties: map[string]string{"tenant": "acme", "kind": "alert"},
	}
	out, err := toSDK(&in, "message")
	require.NoError(t, err)
	require.NotNil(t, out.MessageID)
	assert.Equal(t, "intake-abc", *out.MessageID)
	assert.Equal(t, []byte(`{"a":1}`), out.Body)
	require.NotNil(t, out.ContentType)
	assert.Equal(t, "application/json", *out.ContentType)
	require.NotNil(t, out.Subject)
	assert.Equal(t, "alert", *out.Subject)
	assert.Equal(t, map[string]any{"tenant": "acme", "kind": "alert"}, out.ApplicationProperties)

	// The properties are a copy: changing the input later changes nothing.
	in.Properties["tenant"] = "other"
	assert.Equal(t, "acme", out.ApplicationProperties["tenant"])

	// Nothing else is set: no session, no TTL, no schedule by annotation.
	assert.Nil(t, out.SessionID)
	assert.Nil(t, out.TimeToLive)
	assert.Nil(t, out.ScheduledEnqueueTime)
	assert.Nil(t, out.CorrelationID)
}

func TestToSDKLeavesEmptyOptionalFieldsUnset(t *testing.T) {
	out, err := toSDK(&bus.Message{ID: "x"}, "message")
	require.NoError(t, err)
	assert.Nil(t, out.ContentType)
	assert.Nil(t, out.Subject)
	assert.Nil(t, out.ApplicationProperties)
	assert.Empty(t, out.Body)
}

func TestToSDKValidatesID(t *testing.T) {
	_, err := toSDK(&bus.Message{Body: []byte("x")}, "messages[3]")
	require.Error(t, err)
	assert.True(t, fault.Is(err, fault.Invalid))
	assert.Equal(t, "messages[3].id", fault.FieldOf(err))

	_, err = toSDK(&bus.Message{ID: strings.Repeat("a", bus.MaxIDLength+1)}, "message")
	require.Error(t, err)
	assert.True(t, fault.Is(err, fault.Invalid))
	assert.Equal(t, "message.id", fault.FieldOf(err))
	assert.Contains(t, err.Error(), "128")

	_, err = toSDK(&bus.Message{ID: strings.Repeat("a", bus.MaxIDLength)}, "message")
	assert.NoError(t, err, "exactly MaxIDLength is allowed")
}

func TestSendChecksEverythingBeforeSendingAnything(t *testing.T) {
	f := &fakeSender{max: 1000}
	c := oneFake(f)
	err := c.Send(t.Context(), "intake", bus.Message{ID: "ok"}, bus.Message{Body: []byte("no id")})
	require.Error(t, err)
	assert.True(t, fault.Is(err, fault.Invalid))
	assert.Equal(t, "messages[1].id", fault.FieldOf(err))
	assert.Empty(t, f.sentIDs())
}

func TestSendRequiresAnEntity(t *testing.T) {
	c := oneFake(&fakeSender{max: 1000})
	err := c.Send(t.Context(), " ", bus.Message{ID: "a"})
	assert.True(t, fault.Is(err, fault.Invalid))
	assert.Equal(t, "entity", fault.FieldOf(err))
}

func TestSendNothingOpensNoSender(t *testing.T) {
	c, _, opened := testClient(func(string) *fakeSender { return &fakeSender{max: 1000} })
	require.NoError(t, c.Send(t.Context(), "intake"))
	assert.Zero(t, opened("intake"))
}

func TestSendSplitsIntoBatchesInOrder(t *testing.T) {
	f := &fakeSender{max: 100}
	c := oneFake(f)
	var msgs []bus.Message
	for i := range 5 {
		msgs = append(msgs, bus.Message{ID: fmt.Sprintf("m%d", i), Body: make([]byte, 40)}) // 42 bytes each
	}
	require.NoError(t, c.Send(t.Context(), "intake", msgs...))
	assert.Equal(t, [][]string{{"m0", "m1"}, {"m2", "m3"}, {"m4"}}, f.sentIDs())
}

func TestSendOneBatchWhenAllFit(t *testing.T) {
	f := &fakeSender{max: 1 << 20}
	c := oneFake(f)
	require.NoError(t, c.Send(t.Context(), "notify", bus.Message{ID: "a"}, bus.Message{ID: "b"}, bus.Message{ID: "c"}))
	assert.Equal(t, [][]string{{"a", "b", "c"}}, f.sentIDs())
}

func TestSendRefusesAMessageTooLargeForAnEmptyBatch(t *testing.T) {
	f := &fakeSender{max: 100}
	c := oneFake(f)
	err := c.Send(t.Context(), "intake",
		bus.Message{ID: "small", Body: []byte("x")},
		bus.Message{ID: "huge-one", Body: make([]byte, 200)},
		bus.Message{ID: "after", Body: []byte("x")})
	require.Error(t, err)
	assert.True(t, fault.Is(err, fault.TooLarge), "kind %v", fault.KindOf(err))
	assert.False(t, fault.Retryable(err), "retrying cannot make it fit")
	assert.Equal(t, "messages[1]", fault.FieldOf(err))
	assert.Contains(t, err.Error(), `"huge-one"`)
	assert.Empty(t, f.sentIDs(), "nothing is sent when one message cannot be")
}

func TestSendClassifiesSDKErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *fakeSender
		want fault.Kind
	}{
		{"connection lost on send", &fakeSender{max: 1000, sendErr: &azservicebus.Error{Code: azservicebus.CodeConnectionLost}}, fault.Transient},
		{"entity missing when the link opens", &fakeSender{max: 1000, newBatchErr: &azservicebus.Error{Code: azservicebus.CodeNotFound}}, fault.NotFound},
		{"role missing when the link opens", &fakeSender{max: 1000, newBatchErr: &azservicebus.Error{Code: azservicebus.CodeUnauthorizedAccess}}, fault.Permanent},
		{"unknown", &fakeSender{max: 1000, sendErr: errors.New("something odd")}, fault.Transient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := oneFake(tc.f).Send(t.Context(), "intake", bus.Message{ID: "a"})
			require.Error(t, err)
			assert.Equal(t, tc.want, fault.KindOf(err), "%v", err)
			assert.Contains(t, err.Error(), `"intake"`)
		})
	}
}

func TestScheduleReturnsTheSequenceNumber(t *testing.T) {
	f := &fakeSender{max: 1000}
	c := oneFake(f)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	seq, err := c.Schedule(t.Context(), "notify", at, bus.Message{ID: "later", Body: []byte("b"), Subject: "s"})
	require.NoError(t, err)
	assert.Equal(t, int64(100), seq)
	require.Len(t, f.scheduled, 1)
	assert.Equal(t, "later", *f.scheduled[0].MessageID)
	assert.Equal(t, "s", *f.scheduled[0].Subject)
	assert.True(t, f.at.Equal(at))
}

func TestScheduleValidates(t *testing.T) {
	c := oneFake(&fakeSender{max: 100})
	_, err := c.Schedule(t.Context(), "notify", time.Time{}, bus.Message{ID: "a"})
	assert.True(t, fault.Is(err, fault.Invalid))
	assert.Equal(t, "at", fault.FieldOf(err))

	_, err = c.Schedule(t.Context(), "notify", time.Now(), bus.Message{})
	assert.True(t, fault.Is(err, fault.Invalid))
	assert.Equal(t, "message.id", fault.FieldOf(err))

	_, err = c.Schedule(t.Context(), "notify", time.Now(), bus.Message{ID: "big", Body: make([]byte, 500)})
	assert.True(t, fault.Is(err, fault.TooLarge))
	assert.Equal(t, "message", fault.FieldOf(err))
	assert.Contains(t, err.Error(), `"big"`)
}

func TestScheduleClassifiesErrors(t *testing.T) {
	f := &fakeSender{max: 1000, scheduleErr: &azservicebus.Error{Code: azservicebus.CodeTimeout}}
	_, err := oneFake(f).Schedule(t.Context(), "notify", time.Now(), bus.Message{ID: "a"})
	assert.True(t, fault.Is(err, fault.Transient))
}

func TestCancel(t *testing.T) {
	f := &fakeSender{max: 1000}
	c := oneFake(f)
	require.NoError(t, c.Cancel(t.Context(), "notify", 42))
	assert.Equal(t, []int64{42}, f.cancelled)

	err := c.Cancel(t.Context(), "notify", 0)
	assert.True(t, fault.Is(err, fault.Invalid))
	assert.Equal(t, "sequenceNumber", fault.FieldOf(err))
}

func TestCancelOfNothingLeftIsNotAnError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"not found (already enqueued, cancelled or unknown)", &azservicebus.Error{Code: azservicebus.CodeNotFound}},
		{"404 as the RPC link words it", errors.New("rpc: failed, status code 404 and description: Messages not found. Missing sequence numbers: 42")},
		{"already being cancelled", fmt.Errorf("(connlost): %w", errors.New("rpc: failed, status code 400 and description: The scheduled message with SequenceNumber = 42 is already being cancelled."))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := oneFake(&fakeSender{max: 1000, cancelErr: tc.err})
			assert.NoError(t, c.Cancel(t.Context(), "notify", 42))
		})
	}
}

func TestCancelStillReportsRealFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *fakeSender
		want fault.Kind
	}{
		{"entity missing", &fakeSender{max: 1000, newBatchErr: &azservicebus.Error{Code: azservicebus.CodeNotFound}}, fault.NotFound},
		{"role missing", &fakeSender{max: 1000, cancelErr: &azservicebus.Error{Code: azservicebus.CodeUnauthorizedAccess}}, fault.Permanent},
		{"connection lost", &fakeSender{max: 1000, cancelErr: &azservicebus.Error{Code: azservicebus.CodeConnectionLost}}, fault.Transient},
		{"server error saying already", &fakeSender{max: 1000, cancelErr: errors.New("rpc: failed, status code 500 and description: already busy")}, fault.Transient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := oneFake(tc.f).Cancel(t.Context(), "notify", 42)
			require.Error(t, err)
			assert.Equal(t, tc.want, fault.KindOf(err), "%v", err)
		})
	}
}

func TestOneSenderPerEntityUnderConcurrency(t *testing.T) {
	c, _, opened := testClient(func(string) *fakeSender { return &fakeSender{max: 1 << 20} })
	var wg sync.WaitGroup
	for i := range 32 {
		entity := []string{"intake", "notify"}[i%2]
		wg.Go(func() {
			assert.NoError(t, c.Send(t.Context(), entity, bus.Message{ID: fmt.Sprintf("m%d", i)}))
		})
	}
	wg.Wait()
	assert.Equal(t, 1, opened("intake"))
	assert.Equal(t, 1, opened("notify"))
}

func TestCloseClosesSendersAndRefusesLaterCalls(t *testing.T) {
	c, fakes, _ := testClient(func(string) *fakeSender { return &fakeSender{max: 1000} })
	require.NoError(t, c.Send(t.Context(), "intake", bus.Message{ID: "a"}))
	require.NoError(t, c.Send(t.Context(), "notify", bus.Message{ID: "b"}))
	require.NoError(t, c.Close(t.Context()))
	for name, f := range fakes {
		assert.True(t, f.closed, name)
	}
	err := c.Send(t.Context(), "intake", bus.Message{ID: "c"})
	assert.True(t, fault.Is(err, fault.Transient), "%v", err)
	assert.NoError(t, c.Close(t.Context()), "closing twice")
}
