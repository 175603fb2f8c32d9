// Package app holds Vigil's use cases: it takes decoded requests and messages, applies
// the domain rules, and talks to the store and the queue through the small interfaces
// declared here. Handlers stay thin; adapters (SQLite, Cosmos DB, the embedded queue,
// Service Bus) implement these interfaces.
package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"log/slog"
	"strings"
	"time"

	"vigil/internal/bus"
	"vigil/internal/catalog"
	"vigil/internal/incident"
	"vigil/internal/oncall"
	"vigil/internal/signedlink"
)

// Queue names. Terraform creates exactly these (a test checks it).
const (
	QueueIntake      = "intake"
	QueueNotify      = "notify"
	QueueEscalations = "escalations"
	QueuePoison      = "poison"
	QueueStatus      = "status"
)

// Entity is a Service Bus queue the app uses, with the settings it depends on.
// `vigil local` declares these on the embedded queue and Terraform creates the
// same in Azure, so a message behaves alike in both.
type Entity struct {
	Name string
	// LockDuration bounds one invocation's hold on a message before another
	// instance may take it; the host renews it while the function runs.
	LockDuration time.Duration
	// MaxDeliveryCount is how many failed invocations a message survives
	// before Service Bus dead-letters it.
	MaxDeliveryCount int
	// DuplicateWindow is how long a MessageId is remembered: a resend inside
	// it (a client retry, a redelivered hand-off) is dropped.
	DuplicateWindow time.Duration
}

// Entities lists every queue the functions trigger on, send to, or park in.
var Entities = []Entity{
	// Intake hand-offs carry a MessageId derived from the request, so a client
	// retrying a POST within ten minutes does not raise a second incident.
	{Name: QueueIntake, LockDuration: time.Minute, MaxDeliveryCount: 10, DuplicateWindow: 10 * time.Minute},
	// Notifications are keyed per (incident, step, person, channel).
	{Name: QueueNotify, LockDuration: time.Minute, MaxDeliveryCount: 10, DuplicateWindow: 10 * time.Minute},
	// Escalation timers are scheduled messages keyed per (incident, cycle,
	// position); the handler re-checks the incident, so a redelivery is harmless.
	{Name: QueueEscalations, LockDuration: time.Minute, MaxDeliveryCount: 10, DuplicateWindow: 10 * time.Minute},
	// Status updates to publish (keyed per update) and linked cases to close
	// (keyed per resolution); the handler checks what is still owed.
	{Name: QueueStatus, LockDuration: time.Minute, MaxDeliveryCount: 10, DuplicateWindow: 10 * time.Minute},
	// Parked messages wait for an operator; nothing triggers on them.
	{Name: QueuePoison, LockDuration: time.Minute, MaxDeliveryCount: 10, DuplicateWindow: 10 * time.Minute},
}

// Store keeps incidents and cases. Every write is conditional on the version read
// (optimistic concurrency); a lost race is reported as fault.Stale.
type Store interface {
	// CreateIncident fails with fault.Exists when the id is taken, and with
	// fault.Conflict when another open incident already holds the dedup key.
	CreateIncident(ctx context.Context, inc *incident.Incident) error
	GetIncident(ctx context.Context, id string) (*incident.Incident, error)
	// FindOpenIncident returns the open incident holding dedupKey, or fault.NotFound.
	FindOpenIncident(ctx context.Context, dedupKey string) (*incident.Incident, error)
	// UpdateIncident writes inc if its Version is still the stored one, then bumps it.
	UpdateIncident(ctx context.Context, inc *incident.Incident) error
	ListIncidents(ctx context.Context, f IncidentFilter) ([]*incident.Incident, error)

	// ListDueEscalations returns the ids of triggered incidents whose next
	// escalation step was due at or before `before`, most overdue first. It reads
	// an index (never every incident): the sweep runs every minute.
	ListDueEscalations(ctx context.Context, before time.Time, limit int) ([]string, error)
	// ListDueStatus returns the ids of open incidents whose customer
	// communication is due (Comms.DueAt at or before before), earliest first.
	ListDueStatus(ctx context.Context, before time.Time, limit int) ([]string, error)

	// CreateOverride stores an on-call override; fault.Exists if the id is taken.
	CreateOverride(ctx context.Context, o *oncall.Override) error
	// ListOverrides returns the overrides ending after t (current and future),
	// soonest ending first, at most MaxOverrides.
	ListOverrides(ctx context.Context, endsAfter time.Time) ([]oncall.Override, error)

	CreateCase(ctx context.Context, c *incident.Case) error
	GetCase(ctx context.Context, id string) (*incident.Case, error)
	UpdateCase(ctx context.Context, c *incident.Case) error
	ListCases(ctx context.Context, f CaseFilter) ([]*incident.Case, error)
}

// IncidentFilter selects incidents, newest first. Limit is always bounded.
type IncidentFilter struct {
	States []incident.State
	Limit  int
}

// CaseFilter selects cases, newest first. Tenant is required: a listing stays in
// one tenant's partition, and no path lists every customer's cases at once.
type CaseFilter struct {
	Tenant string
	States []incident.CaseState
	Limit  int
}

// MaxListLimit bounds every list query.
const MaxListLimit = 200

// MaxOverrides bounds the overrides in force or planned at once.
const MaxOverrides = 500

// Bounded returns limit clamped to 1..MaxListLimit (MaxListLimit when unset).
func Bounded(limit int) int { return bounded(limit) }

func bounded(limit int) int {
	if limit <= 0 || limit > MaxListLimit {
		return MaxListLimit
	}
	return limit
}

// MaxItems is how many incidents a listing returns at most: Limit, or
// MaxListLimit when Limit is unset or above it.
func (f IncidentFilter) MaxItems() int { return bounded(f.Limit) }

// MaxItems is how many cases a listing returns at most: Limit, or
// MaxListLimit when Limit is unset or above it.
func (f CaseFilter) MaxItems() int { return bounded(f.Limit) }

// Sender hands messages to the queue: the embedded queue locally, Service Bus in Azure.
// Send returns only once the messages are durable.
type Sender interface {
	Send(ctx context.Context, entity string, msgs ...bus.Message) error
	Schedule(ctx context.Context, entity string, at time.Time, msg bus.Message) (int64, error)
	Cancel(ctx context.Context, entity string, seq int64) error
}

// Notifier delivers one notification on its channel. It must be idempotent by the
// notification's key: a redelivered message never reaches a person twice.
type Notifier interface {
	Deliver(ctx context.Context, n incident.Notification) error
}

// Throttle limits notifications per contact (key: channel:address).
type Throttle interface {
	Allow(key string, now time.Time) (ok bool, wait time.Duration)
}

// Service is Vigil's application layer.
type Service struct {
	Store Store
	Queue Sender
	// Notifier delivers pages and notifications; nil when no channel is configured.
	Notifier Notifier
	// Throttle, when set, limits how often one contact is notified.
	Throttle Throttle
	// RetryAfter, when set, reads the delay a channel asked for from its error.
	RetryAfter func(error) (time.Duration, bool)
	Catalog    *catalog.Catalog
	// Publishers put status updates on status pages, by catalog publisher id.
	Publishers map[string]StatusPublisher
	Links      *signedlink.Signer
	// PublicURL is the base URL customers and responders reach the app at.
	PublicURL string
	Log       *slog.Logger
}

// maxStaleRetries bounds the read-apply-write loop under contention.
const maxStaleRetries = 8

var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// derivedID makes a short id that is a pure function of key, so that redelivering the
// message that creates something creates the same thing.
func derivedID(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	return prefix + idEncoding.EncodeToString(sum[:])[:12]
}

func randomID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + idEncoding.EncodeToString(b[:])[:12]
}

func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return strings.ToLower(idEncoding.EncodeToString(h.Sum(nil)))[:32]
}
