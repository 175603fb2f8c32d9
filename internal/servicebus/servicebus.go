// Package servicebus is the queue Vigil uses in Azure: Azure Service Bus through
// azservicebus, implementing the same sender contract as the embedded queue that
// `vigil local` runs (app.Sender).
//
// The app signs in with its managed identity (see FromSettings); the identity
// needs the "Azure Service Bus Data Sender" role on the namespace or the queues.
// There is no connection-string setting in Azure: NewFromConnectionString exists
// for the Service Bus emulator and live tests only.
//
// Every error a Client returns carries a vigil/internal/fault kind:
// invalid messages are fault.Invalid or fault.TooLarge, a missing queue is
// fault.NotFound, a missing role is fault.Permanent, and everything else —
// connection loss, timeouts, throttling, cancellation, the unknown — is
// fault.Transient, so the invocation fails and the message is retried.
package servicebus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"vigil/internal/bus"
	"vigil/internal/fault"
)

// App settings read by FromSettings, named the way the Functions host names an
// identity-based connection called "ServiceBusConnection" (the same connection
// the Service Bus triggers use).
const (
	// SettingNamespace holds the fully qualified namespace, <ns>.servicebus.windows.net.
	SettingNamespace = "ServiceBusConnection__fullyQualifiedNamespace"
	// SettingClientID picks a user-assigned managed identity by its client id.
	SettingClientID = "ServiceBusConnection__clientId"
)

// Client sends, schedules and cancels messages on Service Bus queues. It keeps
// one AMQP sender link per entity, opened on first use; it is safe for
// concurrent use. Close it when done.
type Client struct {
	sb   *azservicebus.Client // nil in unit tests
	open func(entity string) (entitySender, error)

	mu      sync.Mutex
	senders map[string]entitySender
	closed  bool
}

// New returns a Client for namespace (the fully qualified name,
// <ns>.servicebus.windows.net) signed in with cred.
func New(namespace string, cred azcore.TokenCredential) (*Client, error) {
	ns, err := normalizeNamespace(namespace)
	if err != nil {
		return nil, err
	}
	if cred == nil {
		return nil, fault.New(fault.Invalid, "servicebus: a credential is required")
	}
	sb, err := azservicebus.NewClient(ns, cred, clientOptions())
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "servicebus: client for %s", ns)
	}
	return fromSDK(sb), nil
}

// FromSettings returns a Client for the namespace the app settings name
// (SettingNamespace), signed in with the user-assigned managed identity whose
// client id is SettingClientID, or with DefaultAzureCredential when that is
// unset (a system-assigned identity in Azure, a developer's sign-in elsewhere).
// ok is false, with a nil Client and error, when SettingNamespace is unset.
// A nil getenv reads the process environment.
func FromSettings(getenv func(string) string) (_ *Client, ok bool, _ error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	namespace := strings.TrimSpace(getenv(SettingNamespace))
	if namespace == "" {
		return nil, false, nil
	}
	var cred azcore.TokenCredential
	var err error
	if id := strings.TrimSpace(getenv(SettingClientID)); id != "" {
		cred, err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(id)})
	} else {
		cred, err = azidentity.NewDefaultAzureCredential(nil)
	}
	if err != nil {
		return nil, true, fault.Wrap(fault.Permanent, err, "servicebus: credential")
	}
	c, err := New(namespace, cred)
	return c, true, err
}

// NewFromConnectionString returns a Client that signs in with a shared access
// key. It is for the Service Bus emulator
// ("Endpoint=sb://localhost;...;UseDevelopmentEmulator=true") and live tests
// only: in Azure the namespace has local (key) authentication disabled, and no
// app setting holds a key. Errors never repeat the connection string.
func NewFromConnectionString(cs string) (*Client, error) {
	if strings.TrimSpace(cs) == "" {
		return nil, fault.New(fault.Invalid, "servicebus: the connection string is empty")
	}
	sb, err := azservicebus.NewClientFromConnectionString(cs, clientOptions())
	if err != nil {
		// The SDK's parse errors name keys, never their values; still, say
		// nothing of the string itself.
		return nil, fault.New(fault.Invalid, "servicebus: the connection string is not valid (%s)", redact(err.Error(), cs))
	}
	return fromSDK(sb), nil
}

func clientOptions() *azservicebus.ClientOptions {
	return &azservicebus.ClientOptions{ApplicationID: "vigil"}
}

func fromSDK(sb *azservicebus.Client) *Client {
	return &Client{
		sb: sb,
		open: func(entity string) (entitySender, error) {
			s, err := sb.NewSender(entity, nil)
			if err != nil {
				return nil, err
			}
			return sdkSender{s}, nil
		},
	}
}

// normalizeNamespace accepts "<ns>.servicebus.windows.net", tolerating an
// "sb://" or "https://" prefix and a trailing slash, and refuses anything that
// looks like a connection string without repeating it.
func normalizeNamespace(namespace string) (string, error) {
	ns := strings.TrimSpace(namespace)
	for _, scheme := range []string{"sb://", "https://", "amqps://"} {
		if len(ns) > len(scheme) && strings.EqualFold(ns[:len(scheme)], scheme) {
			ns = ns[len(scheme):]
			break
		}
	}
	ns = strings.TrimSuffix(ns, "/")
	switch {
	case ns == "":
		return "", fault.InvalidField(SettingNamespace, "is required")
	case strings.ContainsAny(ns, ";="):
		return "", fault.InvalidField(SettingNamespace, "must be a host name like <ns>.servicebus.windows.net, not a connection string")
	case strings.ContainsAny(ns, "/ \t@?#"):
		return "", fault.InvalidField(SettingNamespace, "must be a host name like <ns>.servicebus.windows.net")
	}
	return ns, nil
}

// Send hands msgs to entity and returns once Service Bus has accepted all of
// them. Messages go in as few batches as fit; they are all checked and packed
// before the first batch is sent, so an invalid or oversized message sends
// nothing. Should a later batch fail, earlier ones are already on the queue;
// the caller retries the whole Send, and duplicate detection (MessageId is the
// key) drops the copies already accepted.
func (c *Client) Send(ctx context.Context, entity string, msgs ...bus.Message) error {
	if err := checkEntity(entity); err != nil {
		return err
	}
	out := make([]*azservicebus.Message, len(msgs))
	for i := range msgs {
		m, err := toSDK(&msgs[i], fmt.Sprintf("messages[%d]", i))
		if err != nil {
			return err
		}
		out[i] = m
	}
	if len(out) == 0 {
		return nil
	}
	s, err := c.sender(entity)
	if err != nil {
		return err
	}
	batches, err := pack(ctx, s, entity, out)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if err := s.SendBatch(ctx, b); err != nil {
			return classify(ctx, err, "send", entity)
		}
	}
	return nil
}

// pack puts msgs into batches, in order, starting a new batch whenever one is
// full. A message too large for an empty batch is fault.TooLarge.
func pack(ctx context.Context, s entitySender, entity string, msgs []*azservicebus.Message) ([]messageBatch, error) {
	var batches []messageBatch
	var cur messageBatch
	for i, m := range msgs {
		for {
			if cur == nil {
				b, err := s.NewBatch(ctx)
				if err != nil {
					return nil, classify(ctx, err, "send", entity)
				}
				cur = b
				batches = append(batches, cur)
			}
			err := cur.AddMessage(m, nil)
			if err == nil {
				break
			}
			if !errors.Is(err, azservicebus.ErrMessageTooLarge) {
				return nil, fault.Wrap(fault.Internal, err, "servicebus: encoding message %q for %q", *m.MessageID, entity)
			}
			if cur.NumMessages() == 0 {
				return nil, tooLarge(fmt.Sprintf("messages[%d]", i), *m.MessageID, entity)
			}
			cur = nil // full: start the next batch
		}
	}
	return batches, nil
}

func tooLarge(field, id, entity string) error {
	return &fault.Error{Kind: fault.TooLarge, Field: field,
		Message: fmt.Sprintf("message %q is too large for one Service Bus message on %q", id, entity)}
}

// Schedule hands msg to entity to become available at at (Service Bus enqueues
// it then, or shortly after), and returns its sequence number for Cancel.
//
// Unlike the embedded queue, Service Bus gives a repeated Schedule of the same
// MessageId a new sequence number, while duplicate detection keeps only the
// first copy: cancelling by the newer number leaves the first in place. A
// handler of a scheduled message must therefore check that its work is still
// due, rather than rely on Cancel alone.
func (c *Client) Schedule(ctx context.Context, entity string, at time.Time, msg bus.Message) (int64, error) {
	if err := checkEntity(entity); err != nil {
		return 0, err
	}
	if at.IsZero() {
		return 0, fault.InvalidField("at", "is required")
	}
	m, err := toSDK(&msg, "message")
	if err != nil {
		return 0, err
	}
	s, err := c.sender(entity)
	if err != nil {
		return 0, err
	}
	// Check the size against the link's limit first (this also opens the
	// link): the management operation would otherwise refuse an oversized
	// message with an error that reads as retryable.
	b, err := s.NewBatch(ctx)
	if err != nil {
		return 0, classify(ctx, err, "schedule", entity)
	}
	if err := b.AddMessage(m, nil); err != nil {
		if errors.Is(err, azservicebus.ErrMessageTooLarge) {
			return 0, tooLarge("message", msg.ID, entity)
		}
		return 0, fault.Wrap(fault.Internal, err, "servicebus: encoding message %q for %q", msg.ID, entity)
	}
	seqs, err := s.Schedule(ctx, []*azservicebus.Message{m}, at)
	if err != nil {
		return 0, classify(ctx, err, "schedule", entity)
	}
	if len(seqs) != 1 {
		return 0, fault.New(fault.Internal, "servicebus: scheduling %q on %q returned %d sequence numbers, not 1", msg.ID, entity, len(seqs))
	}
	return seqs[0], nil
}

// Cancel removes a scheduled message that has not been enqueued yet. It is
// idempotent, like the embedded queue's: when Service Bus answers that the
// sequence number is unknown — the message was already enqueued or delivered,
// was cancelled before, or never existed — or that it is already being
// cancelled, there is nothing left to cancel and Cancel returns nil. Cancel
// first makes sure the entity's link is open, so a missing queue is still
// reported (fault.NotFound) rather than taken for a missing message.
func (c *Client) Cancel(ctx context.Context, entity string, seq int64) error {
	if err := checkEntity(entity); err != nil {
		return err
	}
	if seq <= 0 {
		return fault.InvalidField("sequenceNumber", "must be positive")
	}
	s, err := c.sender(entity)
	if err != nil {
		return err
	}
	// Opens the link (and so checks the entity and the role), locally once open.
	if _, err := s.NewBatch(ctx); err != nil {
		return classify(ctx, err, "cancel", entity)
	}
	err = s.Cancel(ctx, []int64{seq})
	if err == nil || nothingToCancel(err) {
		return nil
	}
	return classify(ctx, err, "cancel", entity)
}

// Close closes every sender and then the connection. Calls after Close fail
// with fault.Transient (a message handler's invocation is then retried by
// another instance). Closing twice is a no-op.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	senders := c.senders
	c.senders = nil
	c.mu.Unlock()

	var errs []error
	for entity, s := range senders {
		if err := s.Close(ctx); err != nil {
			errs = append(errs, classify(ctx, err, "close sender", entity))
		}
	}
	if c.sb != nil {
		if err := c.sb.Close(ctx); err != nil {
			errs = append(errs, classify(ctx, err, "close", ""))
		}
	}
	return errors.Join(errs...)
}

// sender returns entity's sender, creating it on first use. Creating one does
// no I/O: the link opens on the first operation.
func (c *Client) sender(entity string) (entitySender, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fault.New(fault.Transient, "servicebus: the client is closed")
	}
	if s, ok := c.senders[entity]; ok {
		return s, nil
	}
	s, err := c.open(entity)
	if err != nil {
		return nil, classify(context.Background(), err, "open sender", entity)
	}
	if c.senders == nil {
		c.senders = map[string]entitySender{}
	}
	c.senders[entity] = s
	return s, nil
}

func checkEntity(entity string) error {
	if strings.TrimSpace(entity) == "" {
		return fault.InvalidField("entity", "is required")
	}
	return nil
}

// toSDK converts m, checking what Service Bus requires of it. field names m in
// errors ("messages[2]", "message").
func toSDK(m *bus.Message, field string) (*azservicebus.Message, error) {
	switch {
	case m.ID == "":
		return nil, fault.InvalidField(field+".id", "is required (it is the duplicate-detection key)")
	case len(m.ID) > bus.MaxIDLength:
		return nil, fault.InvalidField(field+".id", "is longer than %d characters", bus.MaxIDLength)
	}
	id := m.ID
	out := &azservicebus.Message{MessageID: &id, Body: m.Body}
	if m.ContentType != "" {
		ct := m.ContentType
		out.ContentType = &ct
	}
	if m.Subject != "" {
		subject := m.Subject
		out.Subject = &subject
	}
	if len(m.Properties) > 0 {
		out.ApplicationProperties = make(map[string]any, len(m.Properties))
		for k, v := range m.Properties {
			out.ApplicationProperties[k] = v
		}
	}
	return out, nil
}

// entitySender is the part of *azservicebus.Sender a Client uses; unit tests
// substitute a fake.
type entitySender interface {
	NewBatch(ctx context.Context) (messageBatch, error)
	SendBatch(ctx context.Context, b messageBatch) error
	Schedule(ctx context.Context, msgs []*azservicebus.Message, at time.Time) ([]int64, error)
	Cancel(ctx context.Context, seqs []int64) error
	Close(ctx context.Context) error
}

// messageBatch is the part of *azservicebus.MessageBatch a Client uses.
type messageBatch interface {
	AddMessage(m *azservicebus.Message, opts *azservicebus.AddMessageOptions) error
	NumMessages() int32
}

type sdkSender struct{ s *azservicebus.Sender }

func (w sdkSender) NewBatch(ctx context.Context) (messageBatch, error) {
	b, err := w.s.NewMessageBatch(ctx, nil)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (w sdkSender) SendBatch(ctx context.Context, b messageBatch) error {
	return w.s.SendMessageBatch(ctx, b.(*azservicebus.MessageBatch), nil)
}

func (w sdkSender) Schedule(ctx context.Context, msgs []*azservicebus.Message, at time.Time) ([]int64, error) {
	return w.s.ScheduleMessages(ctx, msgs, at, nil)
}

func (w sdkSender) Cancel(ctx context.Context, seqs []int64) error {
	return w.s.CancelScheduledMessages(ctx, seqs, nil)
}

func (w sdkSender) Close(ctx context.Context) error { return w.s.Close(ctx) }
