package notify

import (
	"context"
	"fmt"
	"time"

	"vigil/internal/incident"
)

// Delivery is what sending a notification achieved, as far as its channel can
// tell at once.
type Delivery struct {
	// FollowUp, when not nil, names an operation the service accepted but has
	// not finished (ACS e-mail answers 202 and sends later, or fails): the
	// notification is not delivered yet. Check it with Follow, no sooner than
	// CheckAfter from now. Nil: the service took the message, and that is all
	// Vigil will ever learn of it (see docs/channels.md).
	FollowUp   *FollowUp
	CheckAfter time.Duration
}

// FollowUp names an operation to check later. It is plain data without
// secrets, meant to travel in a scheduled queue message.
type FollowUp struct {
	// Channel is the channel that accepted the operation (incident.ChannelEmail).
	Channel string `json:"channel"`
	// Operation is the service's id of it: for e-mail, the ACS operation id
	// (the UUID Vigil derives from the notification key).
	Operation string `json:"operation"`
}

// OutcomeState is where a followed operation stands.
type OutcomeState string

// Outcome states.
const (
	// Pending: the service is still working on it; check again later.
	Pending OutcomeState = "pending"
	// Delivered: the service finished it (ACS: Succeeded).
	Delivered OutcomeState = "delivered"
	// Failed: it ended without being delivered (ACS: Failed or Canceled, or
	// an operation the service no longer knows). Count it as a failed delivery.
	Failed OutcomeState = "failed"
)

// Outcome is what one check of a FollowUp found.
type Outcome struct {
	State OutcomeState
	// CheckAfter, when Pending, is when to check again: the service's
	// Retry-After, or DefaultCheckAfter.
	CheckAfter time.Duration
	// Err, when Failed, says why: a fault.Permanent error whose chain holds an
	// *OperationError with the service's status, code and message.
	Err error
}

// DefaultCheckAfter is how long to wait before checking an operation when
// the service suggests no time.
const DefaultCheckAfter = 15 * time.Second

// OperationError is a followed operation's end without delivery, as the
// service reported it.
type OperationError struct {
	Status  string // ACS: Failed, Canceled, or NotFound when the service no longer knows it
	Code    string // ACS: EmailDropped, ...
	Message string
}

func (e *OperationError) Error() string {
	s := "operation " + e.Status
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Follower is a channel whose accepted messages may still fail: Send reports
// the operation to follow, and Follow checks it once, without waiting.
type Follower interface {
	Send(ctx context.Context, n incident.Notification) (Delivery, error)
	Follow(ctx context.Context, n incident.Notification, f FollowUp) (Outcome, error)
}

var _ Follower = (*Email)(nil)

func (o Outcome) String() string {
	switch o.State {
	case Pending:
		return fmt.Sprintf("pending (check again in %s)", o.CheckAfter)
	case Failed:
		if o.Err != nil {
			return "failed: " + o.Err.Error()
		}
	}
	return string(o.State)
}
