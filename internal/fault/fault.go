// Package fault is Vigil's one error type. Every error that crosses a package
// boundary and matters to a caller carries a Kind, so that handlers map it to an
// HTTP status and message handlers decide between retry and dead-letter in one
// place each.
package fault

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind says what a caller should do about an error.
type Kind int

const (
	// Internal is a bug or an unclassified failure: retried like Transient, logged loudly.
	Internal Kind = iota
	// Invalid input: the caller must change the request. HTTP 400.
	Invalid
	// Unauthorized: no acceptable identity was presented. HTTP 401.
	Unauthorized
	// Forbidden: the identity may not do this. HTTP 403.
	Forbidden
	// NotFound: the thing does not exist, or the caller may not know it does. HTTP 404.
	NotFound
	// Exists: a create found the item already there (often our own earlier attempt). HTTP 409.
	Exists
	// Conflict: the request contradicts current state (illegal transition, dedup key taken). HTTP 409.
	Conflict
	// Stale: an optimistic-concurrency precondition failed; re-read and re-apply. HTTP 412 internally, 409 outside.
	Stale
	// TooLarge: the payload is over a limit. HTTP 413.
	TooLarge
	// Unsupported media type. HTTP 415.
	Unsupported
	// Transient: a dependency is throttled or briefly unavailable; retry later. HTTP 503.
	Transient
	// Permanent: retrying can never succeed (poison message). Dead-letter it.
	Permanent
)

var kindNames = map[Kind]string{
	Internal: "internal", Invalid: "invalid", Unauthorized: "unauthorized", Forbidden: "forbidden",
	NotFound: "not_found", Exists: "exists", Conflict: "conflict", Stale: "stale", TooLarge: "too_large",
	Unsupported: "unsupported_media_type", Transient: "transient", Permanent: "permanent",
}

func (k Kind) String() string { return kindNames[k] }

// ParseKind returns the kind String names name, for errors read back off the wire.
func ParseKind(name string) (Kind, bool) {
	for k, n := range kindNames {
		if n == name {
			return k, true
		}
	}
	return 0, false
}

var kindStatus = map[Kind]int{
	Invalid:      http.StatusBadRequest,
	Unauthorized: http.StatusUnauthorized,
	Forbidden:    http.StatusForbidden,
	NotFound:     http.StatusNotFound,
	Exists:       http.StatusConflict,
	Conflict:     http.StatusConflict,
	Stale:        http.StatusConflict,
	TooLarge:     http.StatusRequestEntityTooLarge,
	Unsupported:  http.StatusUnsupportedMediaType,
	Transient:    http.StatusServiceUnavailable,
	Permanent:    http.StatusInternalServerError,
	Internal:     http.StatusInternalServerError,
}

// HTTPStatus is the status an HTTP answer carries for an error of kind k: the
// one table every HTTP front of Vigil answers by.
func (k Kind) HTTPStatus() int {
	if s, ok := kindStatus[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is a classified error. Field names the offending input field, when there is one,
// as a JSON path a client can act on ("reporter.email", "data.essentials.severity").
type Error struct {
	Kind    Kind
	Field   string
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		if msg == "" {
			return e.Err.Error()
		}
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k.
func New(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap classifies err as kind k with a message for context.
func Wrap(k Kind, err error, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...), Err: err}
}

// InvalidField reports that one input field is wrong, and how.
func InvalidField(field, format string, args ...any) error {
	return &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first classified error in err's chain, Internal when none is.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err is classified as kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// FieldOf returns the field named by the first classified error in err's chain.
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// Retryable reports whether a message handler should fail the invocation so the
// message is redelivered, rather than dead-letter it.
func Retryable(err error) bool {
	switch KindOf(err) {
	case Transient, Stale, Internal:
		return true
	}
	return false
}
