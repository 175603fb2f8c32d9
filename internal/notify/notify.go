// Package notify delivers Vigil's notifications to people: one small channel type
// per medium (Microsoft Teams through a Workflows webhook, Slack through an incoming
// webhook, a Standard Webhooks signed webhook, e-mail and SMS through Azure Communication
// Services), a Router that hands each notification to the channel it names, and a
// per-contact Throttle the application consults before it sends.
//
// Every channel classifies its failures with package fault, the same way:
//
//   - network errors, timeouts, HTTP 408, 429 and 5xx are fault.Transient: the
//     message is retried, and RetryAfter reports the delay the service asked for;
//   - any other refusal (other 4xx, a redirect, a missing or malformed setting, an
//     address the medium cannot take) is fault.Permanent: the message is parked,
//     because sending it again can never succeed;
//
// except where a provider documents otherwise: Statuspage's rate limit also
// answers 420 (transient), and Vigil's own webhooks follow Standard Webhooks
// (only 410 is permanent; every other failure is transient, with a back-off
// RetryAfter reports, for a day).
//
// Accepted is not always delivered: ACS e-mail answers 202 and may still fail.
// Router.Send reports such an operation and Router.Follow checks it; what each
// channel's success means, and what Vigil cannot see, is in docs/channels.md.
//
// Webhook URLs and webhook signing keys are secrets: a notification's Address
// names the app setting that holds one (a Key Vault reference in Azure), and the
// channel reads it through Secrets at send time. No error this package returns
// carries a webhook URL, an access token or a key; a refusal carries the HTTP
// status and at most 300 bytes of the response body, with any such secret
// removed. The package does not log.
package notify

import (
	"context"
	"slices"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// Channel delivers a notification on one medium. Deliver returns nil once the
// service has accepted the message, and otherwise an error classified with
// package fault (Transient or Permanent). A channel whose service can still
// fail an accepted message is also a Follower.
type Channel interface {
	Deliver(ctx context.Context, n incident.Notification) error
}

// Outbox records notifications instead of sending them: the local channel of
// `vigil local` (sqlitestore.Store is one). Recording a key twice must keep the
// first record.
type Outbox interface {
	Deliver(ctx context.Context, n incident.Notification) error
}

// Secrets looks up the app setting a webhook notification's Address names, and
// reports whether it is set. Its values are secrets: channels never put them in an
// error.
type Secrets func(name string) (string, bool)

// Router delivers each notification on the channel it names. It implements
// app.Notifier (Deliver); Send and Follow also follow what a service accepted
// but has yet to deliver.
type Router struct {
	channels map[string]Channel
	outbox   Outbox
	only     bool
}

// Option configures a Router (NewRouter, FromSettings).
type Option func(*routerConfig)

type routerConfig struct {
	channels map[string]Channel
	outbox   Outbox
	only     bool
	chanOpts []ChannelOption
}

// WithChannel sends notifications for the channel named name (one of the
// incident.Channel constants) through ch. A nil ch leaves the channel unconfigured.
func WithChannel(name string, ch Channel) Option {
	return func(c *routerConfig) {
		if ch == nil {
			delete(c.channels, name)
			return
		}
		c.channels[name] = ch
	}
}

// OutboxOnly records every notification in o and sends nothing: the router of a
// local run that must not reach real people.
func OutboxOnly(o Outbox) Option {
	return func(c *routerConfig) { c.outbox, c.only = o, true }
}

// OutboxCopy records every notification in o before sending it on its channel, and
// lets the record stand in for a channel that is not configured (no error): the
// router of a local run that tries a real channel or two. The record is written
// first, so a failed send is still visible in the outbox; a failed record fails the
// delivery (it is retried) before anything is sent.
func OutboxCopy(o Outbox) Option {
	return func(c *routerConfig) { c.outbox, c.only = o, false }
}

// WithChannelOptions applies opts to every channel FromSettings builds.
func WithChannelOptions(opts ...ChannelOption) Option {
	return func(c *routerConfig) { c.chanOpts = append(c.chanOpts, opts...) }
}

func newRouterConfig(opts []Option) *routerConfig {
	c := &routerConfig{channels: map[string]Channel{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// NewRouter returns a router with the channels and outbox opts configure.
func NewRouter(opts ...Option) *Router {
	return newRouterConfig(opts).router()
}

func (c *routerConfig) router() *Router {
	return &Router{channels: c.channels, outbox: c.outbox, only: c.only}
}

// Deliver sends n on the channel n.Channel names: Send, for callers that do
// not follow operations. A channel that is not configured is a
// fault.Permanent error naming it, unless an outbox stands in for it.
func (r *Router) Deliver(ctx context.Context, n incident.Notification) error {
	_, err := r.Send(ctx, n)
	return err
}

// Send sends n on the channel n.Channel names, and reports what the send
// achieved: for a channel whose service accepts and delivers later (e-mail),
// the operation to Follow. A channel that is not configured is a
// fault.Permanent error naming it, unless an outbox stands in for it; what
// only the outbox recorded has nothing to follow.
func (r *Router) Send(ctx context.Context, n incident.Notification) (Delivery, error) {
	if n.Channel == "" {
		return Delivery{}, fault.New(fault.Permanent, "notification %s names no channel", n.Key)
	}
	if r.outbox != nil {
		if err := r.outbox.Deliver(ctx, n); err != nil {
			return Delivery{}, err
		}
		if r.only {
			return Delivery{}, nil
		}
	}
	ch, ok := r.channels[n.Channel]
	if !ok {
		if r.outbox != nil {
			return Delivery{}, nil // recorded: the outbox is this channel's stand-in
		}
		return Delivery{}, fault.New(fault.Permanent, "notification channel %q is not configured", n.Channel)
	}
	if f, ok := ch.(Follower); ok {
		return f.Send(ctx, n)
	}
	return Delivery{}, ch.Deliver(ctx, n)
}

// Follow checks once, without waiting, the operation Send reported for n.
// The error is about the check, not the operation: a fault.Transient one
// (the service did not answer, or asked to retry: RetryAfter) means check
// again later; a fault.Permanent one means it can never be checked (f is not
// n's, or its channel is not configured to follow). What the operation came
// to is in the Outcome.
func (r *Router) Follow(ctx context.Context, n incident.Notification, f FollowUp) (Outcome, error) {
	if f.Channel != n.Channel || f.Operation == "" {
		return Outcome{}, fault.New(fault.Permanent, "%s: follow-up %s/%q is not of its channel %q", noteRef(n.Key), f.Channel, f.Operation, n.Channel)
	}
	if r.only {
		return Outcome{}, fault.New(fault.Permanent, "%s: only the outbox records notifications, so there is nothing to follow", noteRef(n.Key))
	}
	ch, ok := r.channels[n.Channel]
	if !ok {
		return Outcome{}, fault.New(fault.Permanent, "notification channel %q is not configured", n.Channel)
	}
	fl, ok := ch.(Follower)
	if !ok {
		return Outcome{}, fault.New(fault.Permanent, "notification channel %q has no operations to follow", n.Channel)
	}
	return fl.Follow(ctx, n, f)
}

// Configured lists the channels the router sends on, in incident.Channels order
// (then any others, sorted). With OutboxOnly it still lists them, though nothing is sent.
func (r *Router) Configured() []string {
	var out []string
	for _, name := range incident.Channels {
		if _, ok := r.channels[name]; ok {
			out = append(out, name)
		}
	}
	var extra []string
	for name := range r.channels {
		if !slices.Contains(incident.Channels, name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}
