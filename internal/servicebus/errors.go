package servicebus

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"

	"vigil/internal/fault"
)

// SenderRole is the Azure role the app's identity needs to send, schedule and
// cancel on a queue.
const SenderRole = "Azure Service Bus Data Sender"

// classify maps an error from azservicebus to a fault kind. op is what was
// being done ("send", "schedule", "cancel"), entity the queue.
//
//   - *azservicebus.Error with CodeNotFound, or an AMQP amqp:not-found: the
//     entity does not exist: fault.NotFound naming it.
//   - CodeUnauthorizedAccess (or amqp:unauthorized-access): the identity lacks
//     SenderRole: fault.Permanent saying so.
//   - azservicebus.ErrMessageTooLarge, amqp:link:message-size-exceeded: fault.TooLarge.
//   - CodeConnectionLost, CodeTimeout, CodeLockLost, CodeClosed, a cancelled
//     or expired context, a token that could not be had, a disabled or full
//     entity, and anything not recognised: fault.Transient, so a send that
//     might succeed on retry is retried.
//
// Errors already classified pass through unchanged.
func classify(ctx context.Context, err error, op, entity string) error {
	if err == nil {
		return nil
	}
	var fe *fault.Error
	if errors.As(err, &fe) {
		return err
	}
	what := "servicebus: " + op
	if entity != "" {
		what += " " + quote(entity)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fault.Wrap(fault.Transient, err, "%s: interrupted", what)
	}
	if errors.Is(err, azservicebus.ErrMessageTooLarge) {
		return fault.Wrap(fault.TooLarge, err, "%s: a message is too large", what)
	}

	var sbErr *azservicebus.Error
	if errors.As(err, &sbErr) {
		switch sbErr.Code {
		case azservicebus.CodeNotFound:
			return notFound(err, what, entity)
		case azservicebus.CodeUnauthorizedAccess:
			return unauthorized(err, what)
		case azservicebus.CodeConnectionLost:
			return fault.Wrap(fault.Transient, err, "%s: connection lost", what)
		case azservicebus.CodeTimeout:
			return fault.Wrap(fault.Transient, err, "%s: timed out", what)
		case azservicebus.CodeClosed:
			return fault.Wrap(fault.Transient, err, "%s: the link or connection was closed", what)
		case azservicebus.CodeLockLost:
			return fault.Wrap(fault.Transient, err, "%s: lock lost", what)
		}
		return fault.Wrap(fault.Transient, err, "%s", what)
	}

	// Fatal AMQP conditions the SDK hands back without wrapping them.
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) {
		switch amqpErr.Condition {
		case amqp.ErrCondNotFound:
			return notFound(err, what, entity)
		case amqp.ErrCondUnauthorizedAccess:
			return unauthorized(err, what)
		case amqp.ErrCondMessageSizeExceeded:
			return fault.Wrap(fault.TooLarge, err, "%s: a message is too large", what)
		case amqp.ErrCondResourceLimitExceeded:
			return fault.Wrap(fault.Transient, err, "%s: the entity is full (quota exceeded)", what)
		case amqp.ErrCond("com.microsoft:entity-disabled"):
			return fault.Wrap(fault.Transient, err, "%s: the entity is disabled", what)
		case amqp.ErrCond("com.microsoft:server-busy"):
			return fault.Wrap(fault.Transient, err, "%s: Service Bus is busy", what)
		}
	}

	var authErr *azidentity.AuthenticationFailedError
	if errors.As(err, &authErr) {
		return fault.Wrap(fault.Transient, err, "%s: could not get a token for the app's identity", what)
	}
	if ctx != nil && ctx.Err() != nil {
		// go-amqp sometimes reports cancellation as plain text.
		return fault.Wrap(fault.Transient, err, "%s: interrupted", what)
	}
	return fault.Wrap(fault.Transient, err, "%s: Service Bus did not accept it", what)
}

func notFound(err error, what, entity string) error {
	if entity == "" {
		return fault.Wrap(fault.NotFound, err, "%s: not found", what)
	}
	return fault.Wrap(fault.NotFound, err, "%s: entity %s does not exist in the namespace", what, quote(entity))
}

func unauthorized(err error, what string) error {
	return fault.Wrap(fault.Permanent, err,
		"%s: not authorized: the app's identity needs the %q role on the namespace or the queue", what, SenderRole)
}

func quote(s string) string { return `"` + s + `"` }

// serviceRefusal matches how azservicebus words a 4xx answer of a management
// operation: "rpc: failed, status code 404 and description: ..." (RPCError)
// or "server says (404) ..." (ErrAMQP).
var serviceRefusal = regexp.MustCompile(`(?i)(status code|server says \()\s*4\d\d\b`)

// nothingToCancel reports whether a CancelScheduledMessages error means the
// sequence number has nothing left to cancel: Service Bus answers 404
// (MessageNotFound: already enqueued, already cancelled, or unknown), which
// the SDK reports as CodeNotFound; or a 4xx saying the message is "already"
// being cancelled or was "not found", which the SDK reports under other codes
// (a 400 even reads as CodeConnectionLost) with the service's description as
// the only distinguishing text. Call it only once the entity's link is known
// to be open, since CodeNotFound also means a missing entity.
func nothingToCancel(err error) bool {
	var sbErr *azservicebus.Error
	if errors.As(err, &sbErr) && sbErr.Code == azservicebus.CodeNotFound {
		return true
	}
	text := strings.ToLower(err.Error())
	if !serviceRefusal.MatchString(text) {
		return false
	}
	return strings.Contains(text, "already") || strings.Contains(text, "not found") || strings.Contains(text, "notfound")
}

// sharedKey matches a shared access key (or signature) in a connection string.
var sharedKey = regexp.MustCompile(`(?i)(SharedAccess(Key|Signature)\s*=)[^;]*`)

// redact removes a connection string, and any shared access key or signature,
// from text.
func redact(text, cs string) string {
	if cs != "" {
		text = strings.ReplaceAll(text, cs, "<connection string>")
	}
	return sharedKey.ReplaceAllString(text, "${1}<redacted>")
}
