// Package app holds Vigil's use cases: it takes decoded requests and messages, applies
// the domain rules, and talks to the store and the queue through the small interfaces
// declared here. Handlers stay thin; adapters (SQLite, Cosmos DB, the embedded queue,
// Service Bus) implement these interfaces.
//
// The use cases are grouped by concern, one type each, all sharing one core (the
// store, the queue, the catalog, the links, and the one path every incident change
// takes): Intake, Escalation, Delivery, Comms, Responders, Cases, Poison and
// Retries.
package app

import (
	"context"
	"log/slog"
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
	// Intake hand-offs: one message per accepted request. A sender's retry is
	// recognised when it is processed (it repeats what the incident last heard).
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
	// ListIncidents returns, newest first, at most f.MaxItems() incidents
	// after f.After, and whether more remain.
	ListIncidents(ctx context.Context, f IncidentFilter) ([]*incident.Incident, bool, error)

	// ListDueEscalations returns the ids of incidents whose next escalation
	// step (incident.EscalationDue) was due at or before `before`, most overdue
	// first. It reads an index (never every incident): the sweep runs every minute.
	ListDueEscalations(ctx context.Context, before time.Time, limit int) ([]string, error)
	// ListDueStatus returns the ids of incidents whose customer communication
	// (incident.CommsDue) is due at or before before, earliest first.
	ListDueStatus(ctx context.Context, before time.Time, limit int) ([]string, error)

	// CreateOverride stores an on-call override; fault.Exists if the id is taken.
	CreateOverride(ctx context.Context, o *oncall.Override) error
	// ListOverrides returns the overrides ending after t (current and future),
	// soonest ending first, at most MaxOverrides.
	ListOverrides(ctx context.Context, endsAfter time.Time) ([]oncall.Override, error)
	GetOverride(ctx context.Context, id string) (*oncall.Override, error)
	// UpdateOverride replaces a stored override (fault.NotFound if there is none).
	UpdateOverride(ctx context.Context, o *oncall.Override) error

	// ClaimKey records an idempotency key's claim unless a claim on the same
	// ID is in force (not expired at now); it returns the claim in force
	// after the call: c itself, or the one already there.
	ClaimKey(ctx context.Context, c KeyClaim, now time.Time) (KeyClaim, error)

	// GetBundle returns a contact's bundle (empty, Version 0, when none).
	GetBundle(ctx context.Context, key string) (*incident.Bundle, error)
	// SaveBundle writes b if its Version is still the stored one (0: none
	// stored yet), then bumps it; fault.Stale otherwise.
	SaveBundle(ctx context.Context, b *incident.Bundle) error

	CreateCase(ctx context.Context, c *incident.Case) error
	GetCase(ctx context.Context, id string) (*incident.Case, error)
	UpdateCase(ctx context.Context, c *incident.Case) error
	// ListCases returns, newest first, at most f.MaxItems() cases after
	// f.After, and whether more remain. No listing reads every tenant's
	// partition: the Cosmos DB store keeps an index of cases by month.
	ListCases(ctx context.Context, f CaseFilter) ([]*incident.Case, bool, error)
}

// KeyClaim is what an idempotency key was first used for: the request's
// fingerprint and what it made (a case id), until Expires.
type KeyClaim struct {
	ID          string    `json:"id"`
	Fingerprint string    `json:"fingerprint"`
	Value       string    `json:"value"`
	Expires     time.Time `json:"expires"`
}

// IncidentFilter selects incidents, newest first. Limit is always bounded.
type IncidentFilter struct {
	States []incident.State
	// DedupKey, when set, selects the incidents opened for that key (the
	// one open, and those closed before).
	DedupKey string
	Limit    int
	After    Cursor
}

// CaseFilter selects cases, newest first. Limit is always bounded.
type CaseFilter struct {
	Tenant   string
	States   []incident.CaseState
	Assignee string
	Limit    int
	After    Cursor
}

// MaxListLimit bounds every list query.
const MaxListLimit = 200

// MaxOverrides bounds the overrides in force or planned at once.
const MaxOverrides = 500

// Bounded returns limit clamped to 1..MaxListLimit (MaxListLimit when unset).
func Bounded(limit int) int {
	if limit <= 0 || limit > MaxListLimit {
		return MaxListLimit
	}
	return limit
}

// MaxItems is how many incidents a listing returns at most: Limit, or
// MaxListLimit when Limit is unset or above it.
func (f IncidentFilter) MaxItems() int { return Bounded(f.Limit) }

// MaxItems is how many cases a listing returns at most: Limit, or
// MaxListLimit when Limit is unset or above it.
func (f CaseFilter) MaxItems() int { return Bounded(f.Limit) }

// Sender hands messages to the queue: the embedded queue locally, Service Bus in Azure.
// Send returns only once the messages are durable.
type Sender interface {
	Send(ctx context.Context, entity string, msgs ...bus.Message) error
	// Schedule returns the message's sequence number, which Cancel takes.
	Schedule(ctx context.Context, entity string, at time.Time, msg bus.Message) (int64, error)
	Cancel(ctx context.Context, entity string, seq int64) error
}

// Notifier delivers one notification on its channel. It must be idempotent by the
// notification's key: a redelivered message never reaches a person twice.
type Notifier interface {
	Deliver(ctx context.Context, n incident.Notification) error
}

// Throttle limits notifications per contact (key: keys.Contact).
type Throttle interface {
	Allow(key string, now time.Time) (ok bool, wait time.Duration)
}

// StatusPublisher puts an incident's status update on one status page.
// remoteID is the page's own incident id recorded so far ("" before the first
// publication); resend says the update may already have gone out (an earlier
// attempt died before recording it), so the page must be checked before
// sending again. It returns the page's incident id, if it has one.
type StatusPublisher interface {
	PublishStatus(ctx context.Context, inc *incident.Incident, u incident.StatusUpdate, remoteID string, resend bool) (string, error)
}

// Config is what the application is built from.
type Config struct {
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
	Signer     *signedlink.Signer
	// PublicURL is the base URL customers and responders reach the app at.
	PublicURL string
	Log       *slog.Logger
}

// App is Vigil's application layer, one type per concern.
type App struct {
	Intake     *Intake
	Escalation *Escalation
	Delivery   *Delivery
	Comms      *Comms
	Responders *Responders
	Cases      *Cases
	Poison     *Poison
	Retries    *Retries
	// Links makes the URLs people are sent.
	Links   Links
	catalog *catalog.Catalog
}

// New builds the application.
func New(cfg Config) *App {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &core{
		store: cfg.Store, queue: cfg.Queue, cat: cfg.Catalog, log: log,
		links:      Links{Base: cfg.PublicURL, Signer: cfg.Signer},
		publishers: cfg.Publishers,
	}
	return &App{
		Intake:     &Intake{c},
		Escalation: &Escalation{c},
		Delivery:   &Delivery{core: c, notifier: cfg.Notifier, throttle: cfg.Throttle, retryAfter: cfg.RetryAfter},
		Comms:      &Comms{core: c, retryAfter: cfg.RetryAfter},
		Responders: &Responders{c},
		Cases:      &Cases{c},
		Poison:     &Poison{c},
		Retries:    &Retries{c},
		Links:      c.links,
		catalog:    cfg.Catalog,
	}
}
