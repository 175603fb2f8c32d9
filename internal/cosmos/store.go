// Package cosmos is the store Vigil uses in Azure: Cosmos DB for NoSQL through
// azcosmos, with the same contract as the embedded SQLite store (optimistic
// concurrency, one open incident per dedup key). docs/cosmos.md explains the
// containers, partition keys and the request units each operation costs.
package cosmos

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"vigil/internal/app"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/keys"
	"vigil/internal/oncall"
)

// Container names. Terraform creates exactly these, with these partition keys.
const (
	ContainerIncidents = "incidents" // partition key /id
	ContainerCases     = "cases"     // partition key /tenant
	ContainerLookups   = "lookups"   // partition key /pk
)

// Partitions of the lookups container.
const (
	pkOpen = "open" // one entry per open incident, id derived from its dedup key
)

// listMonths is how far back ListIncidents looks for closed incidents.
const listMonths = 24

// lockGrace is how long a dedup lock whose incident does not exist yet is
// presumed to belong to a creation under way. After it, the creation is
// presumed dead and the lock may be taken over.
const lockGrace = time.Minute

// Store is the Cosmos DB implementation of app.Store.
type Store struct {
	incidents *azcosmos.ContainerClient
	cases     *azcosmos.ContainerClient
	lookups   *azcosmos.ContainerClient
	log       *slog.Logger
	now       func() time.Time

	mu      sync.Mutex
	charges Charges
}

var _ app.Store = (*Store)(nil)

// Charges counts the operations a Store made and the request units they cost.
type Charges struct {
	Operations int
	RU         float64
	ByOp       map[string]OpCharge
}

// OpCharge is one kind of operation's share of Charges.
type OpCharge struct {
	Count int
	RU    float64
}

// New returns a store on database db of client. Containers must exist (see
// EnsureContainers for test servers; Terraform creates them in Azure).
func New(client *azcosmos.Client, db string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: log, now: time.Now}
	var err error
	if s.incidents, err = client.NewContainer(db, ContainerIncidents); err != nil {
		return nil, err
	}
	if s.cases, err = client.NewContainer(db, ContainerCases); err != nil {
		return nil, err
	}
	if s.lookups, err = client.NewContainer(db, ContainerLookups); err != nil {
		return nil, err
	}
	return s, nil
}

// EnsureContainers creates the database and its containers if missing. In Azure
// Terraform owns them (the app's identity may not create them); tests use this.
func EnsureContainers(ctx context.Context, client *azcosmos.Client, db string) error {
	_, err := client.CreateDatabase(ctx, azcosmos.DatabaseProperties{ID: db}, nil)
	if err != nil && !isStatus(err, 409) {
		return classify(err, "creating database "+db)
	}
	d, err := client.NewDatabase(db)
	if err != nil {
		return err
	}
	for name, pk := range map[string]string{ContainerIncidents: "/id", ContainerCases: "/tenant", ContainerLookups: "/pk"} {
		_, err := d.CreateContainer(ctx, azcosmos.ContainerProperties{
			ID:                     name,
			PartitionKeyDefinition: azcosmos.PartitionKeyDefinition{Paths: []string{pk}},
		}, nil)
		if err != nil && !isStatus(err, 409) {
			return classify(err, "creating container "+name)
		}
	}
	return nil
}

// Charges returns what the store has spent so far.
func (s *Store) Charges() Charges {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.charges
	out.ByOp = maps.Clone(s.charges.ByOp)
	return out
}

// charge records one operation's request charge, in the counters and the log.
func (s *Store) charge(ctx context.Context, op string, ru float32) {
	s.mu.Lock()
	s.charges.Operations++
	s.charges.RU += float64(ru)
	if s.charges.ByOp == nil {
		s.charges.ByOp = map[string]OpCharge{}
	}
	c := s.charges.ByOp[op]
	c.Count++
	c.RU += float64(ru)
	s.charges.ByOp[op] = c
	s.mu.Unlock()
	s.log.DebugContext(ctx, "cosmos", "op", op, "ru", ru)
}

// The stored shapes. The domain document rides in doc; the fields beside it
// are what queries and conditions need.
type incidentItem struct {
	ID        string          `json:"id"`
	DedupKey  string          `json:"dedupKey"`
	State     string          `json:"state"`
	Open      bool            `json:"open"`
	CreatedAt int64           `json:"createdAt"` // Unix nanoseconds
	Version   int64           `json:"version"`
	Doc       json.RawMessage `json:"doc"`
}

type caseItem struct {
	ID        string          `json:"id"`
	Tenant    string          `json:"tenant"`
	State     string          `json:"state"`
	CreatedAt int64           `json:"createdAt"`
	Version   int64           `json:"version"`
	Doc       json.RawMessage `json:"doc"`
}

// lookupItem is an entry of the lookups container: an open incident's dedup
// lock (pk "open"), a closed incident's listing entry (pk "closed:YYYY-MM"),
// a case's tenant pointer (pk = the case id), or a case's listing entry
// (pk "cases:YYYY-MM").
type lookupItem struct {
	ID         string `json:"id"`
	PK         string `json:"pk"`
	IncidentID string `json:"incidentId,omitempty"`
	Tenant     string `json:"tenant,omitempty"`
	CreatedAt  int64  `json:"createdAt,omitempty"`
	// DedupKey, State and Assignee are what listings filter on.
	DedupKey string `json:"dedupKey,omitempty"`
	State    string `json:"state,omitempty"`
	Assignee string `json:"assignee,omitempty"`
	LockedAt int64  `json:"lockedAt,omitempty"` // when a dedup lock was taken, by the store's clock
	// DueAt (Unix nanoseconds) on an open incident's lock is when its next
	// escalation step is due, 0 when none: the sweep's index. It is written
	// before the incident, so it is never later than the incident's own due
	// time for long; the sweep re-reads the incident before acting.
	DueAt int64 `json:"dueAt,omitempty"`
	// StatusDueAt is, the same way, when the incident's customer
	// communication is next due: the reminder sweep's index.
	StatusDueAt int64 `json:"statusDueAt,omitempty"`
}

// overrideItem is an on-call override in the lookups container (pk "overrides").
// TTL (seconds) lets Cosmos DB delete it OverrideRetention after it ends; the
// container has TTL on with no default (Terraform: default_ttl = -1), so the
// other lookups never expire.
type overrideItem struct {
	ID    string          `json:"id"`
	PK    string          `json:"pk"`
	EndAt int64           `json:"endAt"`
	TTL   int64           `json:"ttl,omitempty"`
	Doc   json.RawMessage `json:"doc"`
}

const pkOverrides = "overrides"

// OverrideRetention is how long an ended override is kept (who covered which
// shift, for reviews and payroll questions) before it expires.
const OverrideRetention = 90 * 24 * time.Hour

// overrideTTL is the item's time to live: until the override ends, plus the
// retention; at least an hour.
func overrideTTL(end, now time.Time) int64 {
	ttl := int64((end.Sub(now) + OverrideRetention) / time.Second)
	return max(ttl, 3600)
}

// nanos is a due time as the lock carries it: 0 when nothing is due.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func closedPK(created time.Time) string { return "closed:" + created.UTC().Format("2006-01") }

// casesPK is the partition of the case listing entries of a month.
func casesPK(created time.Time) string { return "cases:" + created.UTC().Format("2006-01") }

// caseEntry is a case's listing entry, written before the case itself so
// that a listing finds every case (and re-reads it: the case is the truth).
func caseEntry(c *incident.Case) lookupItem {
	return lookupItem{ID: c.ID, PK: casesPK(c.CreatedAt), Tenant: c.Tenant, CreatedAt: c.CreatedAt.UnixNano(), State: string(c.State), Assignee: c.Assignee}
}

// --- incidents

func (s *Store) CreateIncident(ctx context.Context, inc *incident.Incident) error {
	item, err := newIncidentItem(inc, 1)
	if err != nil {
		return err
	}
	acquired, lock, err := s.lock(ctx, inc)
	if err != nil {
		return err
	}
	resp, err := s.incidents.CreateItem(ctx, azcosmos.NewPartitionKeyString(inc.ID), item, nil)
	s.charge(ctx, "incident.create", resp.RequestCharge)
	if err != nil {
		if acquired {
			s.unlock(ctx, lock, inc.ID)
		}
		return classify(err, "incident "+inc.ID)
	}
	inc.Version, inc.ETag = 1, string(resp.ETag)
	return nil
}

func (s *Store) GetIncident(ctx context.Context, id string) (*incident.Incident, error) {
	resp, err := s.incidents.ReadItem(ctx, azcosmos.NewPartitionKeyString(id), id, nil)
	s.charge(ctx, "incident.read", resp.RequestCharge)
	if err != nil {
		return nil, classify(err, "incident "+id)
	}
	return decodeIncident(resp.Value, resp.ETag)
}

func (s *Store) FindOpenIncident(ctx context.Context, dedupKey string) (*incident.Incident, error) {
	lock, _, err := s.readLookup(ctx, pkOpen, keys.DedupLock(dedupKey))
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, fault.New(fault.NotFound, "open incident for %s not found", dedupKey)
		}
		return nil, err
	}
	inc, err := s.GetIncident(ctx, lock.IncidentID)
	if fault.Is(err, fault.NotFound) || (err == nil && !holds(inc, dedupKey)) {
		// A lock left by a creation that died half-way, or not yet released.
		return nil, fault.New(fault.NotFound, "open incident for %s not found", dedupKey)
	}
	return inc, err
}

func (s *Store) UpdateIncident(ctx context.Context, inc *incident.Incident) error {
	next := inc.Version + 1
	item, err := newIncidentItem(inc, next)
	if err != nil {
		return err
	}
	var acquired bool
	var lock *lookupItem
	if inc.State.Open() {
		if acquired, lock, err = s.lock(ctx, inc); err != nil {
			return err
		}
	}
	etag := azcore.ETag(inc.ETag)
	resp, err := s.incidents.ReplaceItem(ctx, azcosmos.NewPartitionKeyString(inc.ID), inc.ID, item, &azcosmos.ItemOptions{IfMatchEtag: &etag})
	s.charge(ctx, "incident.replace", resp.RequestCharge)
	if err != nil {
		if acquired {
			s.unlock(ctx, lock, inc.ID)
		}
		if isStatus(err, 404) {
			return fault.New(fault.Stale, "incident %s does not exist", inc.ID)
		}
		return classify(err, "incident "+inc.ID)
	}
	inc.Version, inc.ETag = next, string(resp.ETag)
	if !inc.State.Open() {
		// The incident is the truth; the lock and the listing entry follow it.
		// Should this die here, the next creator for the key finds the lock
		// stale and takes it over, and listings read the incident itself.
		if lock, etag, err := s.readLookup(ctx, pkOpen, keys.DedupLock(inc.DedupKey)); err == nil && lock.IncidentID == inc.ID {
			s.deleteLookup(ctx, lock, etag)
		}
		entry := lookupItem{ID: inc.ID, PK: closedPK(inc.CreatedAt), IncidentID: inc.ID, CreatedAt: inc.CreatedAt.UnixNano(),
			DedupKey: inc.DedupKey, State: string(inc.State)}
		if err := s.upsertLookup(ctx, entry); err != nil {
			return err
		}
	}
	return nil
}

// lock makes sure inc holds the open-incident lock on its dedup key: it
// creates the lock, keeps it when inc already holds it, and takes it over when
// its holder is gone, closed, or moved to another key. It reports Conflict
// when another open incident holds the key.
func (s *Store) lock(ctx context.Context, inc *incident.Incident) (acquired bool, _ *lookupItem, _ error) {
	want := lookupItem{ID: keys.DedupLock(inc.DedupKey), PK: pkOpen, IncidentID: inc.ID, DedupKey: inc.DedupKey, CreatedAt: inc.CreatedAt.UnixNano(), LockedAt: s.now().UnixNano(), DueAt: nanos(inc.EscalationDue()), StatusDueAt: nanos(inc.CommsDue())}
	for range 3 {
		held, etag, err := s.readLookup(ctx, pkOpen, want.ID)
		if fault.Is(err, fault.NotFound) {
			err = s.createLookup(ctx, want)
			if err == nil {
				return true, &want, nil
			}
			if fault.Is(err, fault.Exists) {
				continue // taken meanwhile: look again
			}
		}
		if err != nil {
			return false, nil, err
		}
		if held.IncidentID == inc.ID {
			if held.CreatedAt != want.CreatedAt {
				// Same incident, re-created after a creation that died half-way.
				return false, held, s.replaceLookup(ctx, want, etag)
			}
			if held.DueAt != want.DueAt || held.StatusDueAt != want.StatusDueAt {
				// A timer moved: keep the sweeps' index in step.
				moved := *held
				moved.DueAt, moved.StatusDueAt = want.DueAt, want.StatusDueAt
				return false, held, s.replaceLookup(ctx, moved, etag)
			}
			return false, held, nil
		}
		holder, err := s.GetIncident(ctx, held.IncidentID)
		if err != nil && !fault.Is(err, fault.NotFound) {
			return false, nil, err
		}
		if err == nil && holds(holder, inc.DedupKey) {
			return false, nil, fault.New(fault.Conflict, "an open incident (%s) already holds dedup key %s", holder.ID, inc.DedupKey)
		}
		if err != nil && s.now().Sub(time.Unix(0, held.LockedAt)) < lockGrace {
			return false, nil, fault.New(fault.Conflict, "incident %s is being opened for dedup key %s", held.IncidentID, inc.DedupKey)
		}
		err = s.replaceLookup(ctx, want, etag)
		if fault.Is(err, fault.Stale) {
			continue // someone else moved first: look again
		}
		return err == nil, &want, err
	}
	return false, nil, fault.New(fault.Transient, "dedup key %s kept changing hands; will retry", inc.DedupKey)
}

// unlock releases a lock this call acquired, best effort: a lock left behind
// is taken over by the next creator.
func (s *Store) unlock(ctx context.Context, lock *lookupItem, incidentID string) {
	held, etag, err := s.readLookup(ctx, pkOpen, lock.ID)
	if err == nil && held.IncidentID == incidentID {
		s.deleteLookup(ctx, held, etag)
	}
}

func holds(inc *incident.Incident, dedupKey string) bool {
	return inc.State.Open() && inc.DedupKey == dedupKey
}

func (s *Store) ListIncidents(ctx context.Context, f app.IncidentFilter) ([]*incident.Incident, bool, error) {
	limit := f.MaxItems()
	wantOpen := len(f.States) == 0 || slices.ContainsFunc(f.States, incident.State.Open)
	wantClosed := len(f.States) == 0 || slices.ContainsFunc(f.States, func(st incident.State) bool { return !st.Open() })

	// Candidates newest first: the open incidents (one partition, bounded by
	// how many are open; one point read for a dedup key), then closed ones
	// month by month, each month one partition, from the cursor's month,
	// until older months cannot make the page.
	var cands []lookupItem
	if wantOpen {
		var err error
		if f.DedupKey != "" {
			lock, _, lerr := s.readLookup(ctx, pkOpen, keys.DedupLock(f.DedupKey))
			if lerr == nil {
				cands = append(cands, *lock)
			} else if !fault.Is(lerr, fault.NotFound) {
				return nil, false, lerr
			}
		} else if cands, err = s.queryPartition(ctx, pkOpen, lookupQuery{}, 0); err != nil {
			return nil, false, err
		}
		cands = slices.DeleteFunc(cands, func(c lookupItem) bool { return !f.After.Admits(c.CreatedAt, c.IncidentID) })
	}
	if wantClosed {
		var closedStates []string
		for _, st := range f.States {
			if !st.Open() {
				closedStates = append(closedStates, string(st))
			}
		}
		lq := lookupQuery{after: f.After, dedupKey: f.DedupKey, states: closedStates}
		if err := s.byMonth(ctx, closedPK, lq, limit, &cands); err != nil {
			return nil, false, err
		}
	}
	sortNewest(cands)

	out := make([]*incident.Incident, 0, min(limit+1, len(cands)))
	seen := make(map[string]bool, len(cands))
	for _, c := range cands {
		if len(out) > limit {
			break
		}
		if seen[c.IncidentID] {
			continue
		}
		seen[c.IncidentID] = true
		inc, err := s.GetIncident(ctx, c.IncidentID)
		if fault.Is(err, fault.NotFound) {
			continue // a lock whose creation died half-way
		}
		if err != nil {
			return nil, false, err
		}
		if len(f.States) > 0 && !slices.Contains(f.States, inc.State) || f.DedupKey != "" && inc.DedupKey != f.DedupKey {
			continue
		}
		out = append(out, inc)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// lookupQuery narrows a query of one lookups partition.
type lookupQuery struct {
	after    app.Cursor
	dedupKey string
	states   []string
	tenant   string
	assignee string
}

// byMonth adds to cands the entries of the month partitions (pkOf names one),
// newest month first from the cursor's month, until older months cannot make
// a page of limit (one more, to know whether more remain), at most
// listMonths months back.
func (s *Store) byMonth(ctx context.Context, pkOf func(time.Time) string, q lookupQuery, limit int, cands *[]lookupItem) error {
	from := s.now().UTC()
	if !q.after.IsZero() {
		from = time.Unix(0, q.after.CreatedAt).UTC()
	}
	month := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	for range listMonths {
		sortNewest(*cands)
		if len(*cands) > limit && (*cands)[limit].CreatedAt >= month.AddDate(0, 1, 0).UnixNano() {
			return nil
		}
		found, err := s.queryPartition(ctx, pkOf(month), q, limit+1)
		if err != nil {
			return err
		}
		*cands = append(*cands, found...)
		month = month.AddDate(0, -1, 0)
	}
	return nil
}

func sortNewest(items []lookupItem) {
	slices.SortStableFunc(items, func(a, b lookupItem) int {
		if c := cmp.Compare(b.CreatedAt, a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.itemID(), a.itemID())
	})
}

// itemID is the id of what an entry points at (an incident, or a case).
func (it lookupItem) itemID() string {
	if it.IncidentID != "" {
		return it.IncidentID
	}
	return it.ID
}

// queryPartition lists a lookups partition newest first, narrowed by q; top
// 0 means all of it. A page of top is completed with every entry tied with
// its oldest (a query orders by one property: Cosmos DB needs a composite
// index for more), so that a cursor never skips one.
func (s *Store) queryPartition(ctx context.Context, pk string, lq lookupQuery, top int) ([]lookupItem, error) {
	conds := []string{"c.pk = @pk"}
	params := []azcosmos.QueryParameter{{Name: "@pk", Value: pk}}
	add := func(cond, name string, v any) {
		conds = append(conds, cond)
		params = append(params, azcosmos.QueryParameter{Name: name, Value: v})
	}
	if !lq.after.IsZero() {
		add("c.createdAt <= @before", "@before", lq.after.CreatedAt)
	}
	if lq.dedupKey != "" {
		add("c.dedupKey = @dk", "@dk", lq.dedupKey)
	}
	if len(lq.states) > 0 {
		add("ARRAY_CONTAINS(@states, c.state)", "@states", lq.states)
	}
	if lq.tenant != "" {
		add("c.tenant = @tenant", "@tenant", lq.tenant)
	}
	if lq.assignee != "" {
		add("c.assignee = @assignee", "@assignee", lq.assignee)
	}
	run := func(conds []string, params []azcosmos.QueryParameter, top int) ([]lookupItem, error) {
		sel := "SELECT * FROM c"
		if top > 0 {
			sel = "SELECT TOP @top * FROM c"
			params = append(params, azcosmos.QueryParameter{Name: "@top", Value: top})
		}
		q := sel + " WHERE " + strings.Join(conds, " AND ") + " ORDER BY c.createdAt DESC"
		return query(ctx, s, s.lookups, pk, q, params, "lookups.query", "listing "+pk, decodeJSON[lookupItem])
	}
	items, err := run(conds, params, top)
	if err == nil && top > 0 && len(items) == top {
		oldest := items[len(items)-1].CreatedAt
		var ties []lookupItem
		if ties, err = run(append(slices.Clone(conds), "c.createdAt = @tie"),
			append(slices.Clone(params), azcosmos.QueryParameter{Name: "@tie", Value: oldest}), 0); err == nil {
			for _, t := range ties {
				if !slices.ContainsFunc(items, func(x lookupItem) bool { return x.ID == t.ID }) {
					items = append(items, t)
				}
			}
		}
	}
	return slices.DeleteFunc(items, func(it lookupItem) bool { return !lq.after.Admits(it.CreatedAt, it.itemID()) }), err
}

// ListDueEscalations queries the one "open" partition of lookups on its dueAt:
// a single-partition, index-served query however many incidents are open.
func (s *Store) ListDueEscalations(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return s.listDue(ctx, "dueAt", before, limit)
}

// ListDueStatus is ListDueEscalations on statusDueAt, for the reminder sweep.
func (s *Store) ListDueStatus(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return s.listDue(ctx, "statusDueAt", before, limit)
}

func (s *Store) listDue(ctx context.Context, field string, before time.Time, limit int) ([]string, error) {
	q := `SELECT TOP @top c.incidentId FROM c WHERE c.pk = @pk AND c.` + field + ` > 0 AND c.` + field + ` <= @before ORDER BY c.` + field
	params := []azcosmos.QueryParameter{{Name: "@pk", Value: pkOpen}, {Name: "@before", Value: before.UnixNano()}, {Name: "@top", Value: app.Bounded(limit)}}
	due, err := query(ctx, s, s.lookups, pkOpen, q, params, "lookups.query-"+field, "listing due incidents", decodeJSON[lookupItem])
	ids := make([]string, len(due))
	for i, it := range due {
		ids[i] = it.IncidentID
	}
	return ids, err
}

// --- overrides

func (s *Store) CreateOverride(ctx context.Context, o *oncall.Override) error {
	doc, err := json.Marshal(o)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encoding override")
	}
	b, _ := json.Marshal(overrideItem{ID: o.ID, PK: pkOverrides, EndAt: o.End.UnixNano(), TTL: overrideTTL(o.End, s.now()), Doc: doc})
	resp, err := s.lookups.CreateItem(ctx, azcosmos.NewPartitionKeyString(pkOverrides), b, nil)
	s.charge(ctx, "overrides.create", resp.RequestCharge)
	return classify(err, "override "+o.ID)
}

func (s *Store) GetOverride(ctx context.Context, id string) (*oncall.Override, error) {
	resp, err := s.lookups.ReadItem(ctx, azcosmos.NewPartitionKeyString(pkOverrides), id, nil)
	s.charge(ctx, "overrides.read", resp.RequestCharge)
	if err != nil {
		return nil, classify(err, "override "+id)
	}
	it, err := decodeJSON[overrideItem](resp.Value)
	var o oncall.Override
	if err == nil {
		err = json.Unmarshal(it.Doc, &o)
	}
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decoding override %s", id)
	}
	return &o, nil
}

func (s *Store) UpdateOverride(ctx context.Context, o *oncall.Override) error {
	doc, err := json.Marshal(o)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encoding override")
	}
	b, _ := json.Marshal(overrideItem{ID: o.ID, PK: pkOverrides, EndAt: o.End.UnixNano(), TTL: overrideTTL(o.End, s.now()), Doc: doc})
	resp, err := s.lookups.ReplaceItem(ctx, azcosmos.NewPartitionKeyString(pkOverrides), o.ID, b, nil)
	s.charge(ctx, "overrides.replace", resp.RequestCharge)
	return classify(err, "override "+o.ID)
}

func (s *Store) ListOverrides(ctx context.Context, endsAfter time.Time) ([]oncall.Override, error) {
	q := `SELECT TOP @top * FROM c WHERE c.pk = @pk AND c.endAt > @after ORDER BY c.endAt`
	params := []azcosmos.QueryParameter{{Name: "@pk", Value: pkOverrides}, {Name: "@after", Value: endsAfter.UnixNano()}, {Name: "@top", Value: app.MaxOverrides}}
	return query(ctx, s, s.lookups, pkOverrides, q, params, "overrides.query", "listing overrides", func(raw []byte) (oncall.Override, error) {
		var o oncall.Override
		it, err := decodeJSON[overrideItem](raw)
		if err == nil {
			err = json.Unmarshal(it.Doc, &o)
		}
		return o, err
	})
}

// --- bundles

// pkBundles is the lookups partition of contacts' bundles.
const pkBundles = "bundles"

type bundleItem struct {
	ID  string          `json:"id"`
	PK  string          `json:"pk"`
	Doc json.RawMessage `json:"doc"`
}

func bundleID(key string) string { return "b-" + keys.Hash("bundle", key) }

func (s *Store) GetBundle(ctx context.Context, key string) (*incident.Bundle, error) {
	resp, err := s.lookups.ReadItem(ctx, azcosmos.NewPartitionKeyString(pkBundles), bundleID(key), nil)
	s.charge(ctx, "bundles.read", resp.RequestCharge)
	if isStatus(err, 404) {
		return &incident.Bundle{Key: key}, nil
	}
	if err != nil {
		return nil, classify(err, "bundle "+key)
	}
	it, err := decodeJSON[bundleItem](resp.Value)
	b := new(incident.Bundle)
	if err == nil {
		err = json.Unmarshal(it.Doc, b)
	}
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decoding bundle %s", key)
	}
	b.ETag = string(resp.ETag)
	return b, nil
}

func (s *Store) SaveBundle(ctx context.Context, b *incident.Bundle) error {
	doc := *b
	doc.Version++
	raw, err := json.Marshal(&doc)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encoding bundle")
	}
	item, _ := json.Marshal(bundleItem{ID: bundleID(b.Key), PK: pkBundles, Doc: raw})
	pk := azcosmos.NewPartitionKeyString(pkBundles)
	var resp azcosmos.ItemResponse
	if b.Version == 0 {
		resp, err = s.lookups.CreateItem(ctx, pk, item, nil)
		s.charge(ctx, "bundles.create", resp.RequestCharge)
		if isStatus(err, 409) {
			return fault.New(fault.Stale, "bundle %s was created meanwhile", b.Key)
		}
	} else {
		etag := azcore.ETag(b.ETag)
		resp, err = s.lookups.ReplaceItem(ctx, pk, bundleID(b.Key), item, &azcosmos.ItemOptions{IfMatchEtag: &etag})
		s.charge(ctx, "bundles.replace", resp.RequestCharge)
		if isStatus(err, 404) {
			return fault.New(fault.Stale, "bundle %s was removed", b.Key)
		}
	}
	if err != nil {
		return classify(err, "bundle "+b.Key)
	}
	b.Version, b.ETag = doc.Version, string(resp.ETag)
	return nil
}

// --- idempotency keys

// pkKeys is the lookups partition of idempotency key claims.
const pkKeys = "keys"

type claimItem struct {
	ID          string `json:"id"`
	PK          string `json:"pk"`
	Fingerprint string `json:"fingerprint"`
	Value       string `json:"value"`
	Expires     int64  `json:"expires"`
	TTL         int64  `json:"ttl"`
}

// ClaimKey creates the claim; when one exists it is kept unless expired (Cosmos
// DB removes expired items lazily), then replaced conditionally on its ETag.
func (s *Store) ClaimKey(ctx context.Context, c app.KeyClaim, now time.Time) (app.KeyClaim, error) {
	item := claimItem{ID: c.ID, PK: pkKeys, Fingerprint: c.Fingerprint, Value: c.Value, Expires: c.Expires.UnixNano(),
		TTL: max(int64(c.Expires.Sub(now)/time.Second)+60, 60)}
	b, _ := json.Marshal(item)
	pk := azcosmos.NewPartitionKeyString(pkKeys)
	for range 3 {
		resp, err := s.lookups.CreateItem(ctx, pk, b, nil)
		s.charge(ctx, "keys.create", resp.RequestCharge)
		if err == nil {
			return c, nil
		}
		if !isStatus(err, 409) {
			return app.KeyClaim{}, classify(err, "key claim "+c.ID)
		}
		got, err := s.lookups.ReadItem(ctx, pk, c.ID, nil)
		s.charge(ctx, "keys.read", got.RequestCharge)
		if isStatus(err, 404) {
			continue // expired and removed meanwhile
		}
		if err != nil {
			return app.KeyClaim{}, classify(err, "key claim "+c.ID)
		}
		held, err := decodeJSON[claimItem](got.Value)
		if err != nil {
			return app.KeyClaim{}, fault.Wrap(fault.Internal, err, "decoding key claim %s", c.ID)
		}
		if time.Unix(0, held.Expires).After(now) {
			return app.KeyClaim{ID: held.ID, Fingerprint: held.Fingerprint, Value: held.Value, Expires: time.Unix(0, held.Expires).UTC()}, nil
		}
		etag := got.ETag
		rep, err := s.lookups.ReplaceItem(ctx, pk, c.ID, b, &azcosmos.ItemOptions{IfMatchEtag: &etag})
		s.charge(ctx, "keys.replace", rep.RequestCharge)
		if err == nil {
			return c, nil
		}
		if !isStatus(err, 412) && !isStatus(err, 404) {
			return app.KeyClaim{}, classify(err, "key claim "+c.ID)
		}
	}
	return app.KeyClaim{}, fault.New(fault.Transient, "key claim %s kept changing; try again", c.ID)
}

// --- cases

func (s *Store) CreateCase(ctx context.Context, c *incident.Case) error {
	item, err := newCaseItem(c, 1)
	if err != nil {
		return err
	}
	// The pointer first: a case that exists can always be found by its id.
	err = s.createLookup(ctx, lookupItem{ID: c.ID, PK: c.ID, Tenant: c.Tenant})
	if fault.Is(err, fault.Exists) {
		ptr, _, rerr := s.readLookup(ctx, c.ID, c.ID)
		if rerr != nil {
			return rerr
		}
		if ptr.Tenant != c.Tenant {
			return fault.New(fault.Exists, "case %s already exists", c.ID)
		}
	} else if err != nil {
		return err
	}
	if err := s.upsertLookup(ctx, caseEntry(c)); err != nil {
		return err
	}
	resp, err := s.cases.CreateItem(ctx, azcosmos.NewPartitionKeyString(c.Tenant), item, nil)
	s.charge(ctx, "case.create", resp.RequestCharge)
	if err != nil {
		return classify(err, "case "+c.ID)
	}
	c.Version, c.ETag = 1, string(resp.ETag)
	return nil
}

func (s *Store) GetCase(ctx context.Context, id string) (*incident.Case, error) {
	ptr, _, err := s.readLookup(ctx, id, id)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, fault.New(fault.NotFound, "case %s not found", id)
		}
		return nil, err
	}
	resp, err := s.cases.ReadItem(ctx, azcosmos.NewPartitionKeyString(ptr.Tenant), id, nil)
	s.charge(ctx, "case.read", resp.RequestCharge)
	if err != nil {
		return nil, classify(err, "case "+id)
	}
	return decodeCase(resp.Value, resp.ETag)
}

func (s *Store) UpdateCase(ctx context.Context, c *incident.Case) error {
	next := c.Version + 1
	item, err := newCaseItem(c, next)
	if err != nil {
		return err
	}
	if err := s.upsertLookup(ctx, caseEntry(c)); err != nil {
		return err
	}
	etag := azcore.ETag(c.ETag)
	resp, err := s.cases.ReplaceItem(ctx, azcosmos.NewPartitionKeyString(c.Tenant), c.ID, item, &azcosmos.ItemOptions{IfMatchEtag: &etag})
	s.charge(ctx, "case.replace", resp.RequestCharge)
	if err != nil {
		if isStatus(err, 404) {
			return fault.New(fault.Stale, "case %s does not exist", c.ID)
		}
		return classify(err, "case "+c.ID)
	}
	c.Version, c.ETag = next, string(resp.ETag)
	return nil
}

// ListCases reads the month partitions of the case listing entries newest
// first (no query crosses partitions), then each case by a point read, which
// is the truth a listing filters on.
func (s *Store) ListCases(ctx context.Context, f app.CaseFilter) ([]*incident.Case, bool, error) {
	limit := f.MaxItems()
	lq := lookupQuery{after: f.After, tenant: f.Tenant, assignee: f.Assignee}
	for _, st := range f.States {
		lq.states = append(lq.states, string(st))
	}
	var cands []lookupItem
	if err := s.byMonth(ctx, casesPK, lq, limit, &cands); err != nil {
		return nil, false, err
	}
	sortNewest(cands)
	var out []*incident.Case
	for _, e := range cands {
		if len(out) > limit {
			break
		}
		resp, err := s.cases.ReadItem(ctx, azcosmos.NewPartitionKeyString(e.Tenant), e.ID, nil)
		s.charge(ctx, "case.read", resp.RequestCharge)
		if isStatus(err, 404) {
			continue // an entry whose case creation died half-way
		}
		if err != nil {
			return nil, false, classify(err, "case "+e.ID)
		}
		c, err := decodeCase(resp.Value, resp.ETag)
		if err != nil {
			return nil, false, err
		}
		if len(f.States) > 0 && !slices.Contains(f.States, c.State) || f.Assignee != "" && c.Assignee != f.Assignee {
			continue
		}
		out = append(out, c)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// query runs a parameterised query in one partition of c, page by page,
// charging each page to op, and decodes every item.
func query[T any](ctx context.Context, s *Store, c *azcosmos.ContainerClient, pk, q string, params []azcosmos.QueryParameter,
	op, what string, decode func([]byte) (T, error)) ([]T, error) {
	pager := c.NewQueryItemsPager(q, azcosmos.NewPartitionKeyString(pk), &azcosmos.QueryOptions{QueryParameters: params})
	var out []T
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, classify(err, what)
		}
		s.charge(ctx, op, page.RequestCharge)
		for _, raw := range page.Items {
			v, err := decode(raw)
			if err != nil {
				return nil, fault.Wrap(fault.Internal, err, "%s: decoding an item", what)
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func decodeJSON[T any](raw []byte) (T, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

// --- lookups

func (s *Store) createLookup(ctx context.Context, it lookupItem) error {
	b, _ := json.Marshal(it)
	resp, err := s.lookups.CreateItem(ctx, azcosmos.NewPartitionKeyString(it.PK), b, nil)
	s.charge(ctx, "lookups.create", resp.RequestCharge)
	return classify(err, "writing "+it.PK+"/"+it.ID)
}

func (s *Store) upsertLookup(ctx context.Context, it lookupItem) error {
	b, _ := json.Marshal(it)
	resp, err := s.lookups.UpsertItem(ctx, azcosmos.NewPartitionKeyString(it.PK), b, nil)
	s.charge(ctx, "lookups.upsert", resp.RequestCharge)
	return classify(err, "writing "+it.PK+"/"+it.ID)
}

func (s *Store) replaceLookup(ctx context.Context, it lookupItem, etag azcore.ETag) error {
	b, _ := json.Marshal(it)
	resp, err := s.lookups.ReplaceItem(ctx, azcosmos.NewPartitionKeyString(it.PK), it.ID, b, &azcosmos.ItemOptions{IfMatchEtag: &etag})
	s.charge(ctx, "lookups.replace", resp.RequestCharge)
	if isStatus(err, 404) {
		return fault.New(fault.Stale, "%s/%s was removed", it.PK, it.ID)
	}
	return classify(err, "writing "+it.PK+"/"+it.ID)
}

func (s *Store) readLookup(ctx context.Context, pk, id string) (*lookupItem, azcore.ETag, error) {
	resp, err := s.lookups.ReadItem(ctx, azcosmos.NewPartitionKeyString(pk), id, nil)
	s.charge(ctx, "lookups.read", resp.RequestCharge)
	if err != nil {
		return nil, "", classify(err, pk+"/"+id)
	}
	var it lookupItem
	if err := json.Unmarshal(resp.Value, &it); err != nil {
		return nil, "", fault.Wrap(fault.Internal, err, "decoding %s/%s", pk, id)
	}
	return &it, resp.ETag, nil
}

// deleteLookup removes an entry if unchanged since read, best effort.
func (s *Store) deleteLookup(ctx context.Context, it *lookupItem, etag azcore.ETag) {
	resp, err := s.lookups.DeleteItem(ctx, azcosmos.NewPartitionKeyString(it.PK), it.ID, &azcosmos.ItemOptions{IfMatchEtag: &etag})
	s.charge(ctx, "lookups.delete", resp.RequestCharge)
	if err != nil && !isStatus(err, 404) && !isStatus(err, 412) {
		s.log.WarnContext(ctx, "cosmos: releasing a lookup entry failed; the next writer takes it over", "pk", it.PK, "id", it.ID, "err", err)
	}
}

// --- encoding

func newIncidentItem(inc *incident.Incident, version int64) ([]byte, error) {
	doc := *inc
	doc.Version = version
	d, err := json.Marshal(&doc)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encoding incident %s", inc.ID)
	}
	return json.Marshal(incidentItem{ID: inc.ID, DedupKey: inc.DedupKey, State: string(inc.State), Open: inc.State.Open(),
		CreatedAt: inc.CreatedAt.UnixNano(), Version: version, Doc: d})
}

func decodeIncident(raw []byte, etag azcore.ETag) (*incident.Incident, error) {
	var it incidentItem
	if err := json.Unmarshal(raw, &it); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decoding incident")
	}
	inc := new(incident.Incident)
	if err := json.Unmarshal(it.Doc, inc); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decoding incident %s", it.ID)
	}
	inc.Version, inc.ETag = it.Version, string(etag)
	return inc, nil
}

func newCaseItem(c *incident.Case, version int64) ([]byte, error) {
	doc := *c
	doc.Version = version
	d, err := json.Marshal(&doc)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encoding case %s", c.ID)
	}
	return json.Marshal(caseItem{ID: c.ID, Tenant: c.Tenant, State: string(c.State), CreatedAt: c.CreatedAt.UnixNano(), Version: version, Doc: d})
}

func decodeCase(raw []byte, etag azcore.ETag) (*incident.Case, error) {
	var it struct {
		caseItem
		ETag string `json:"_etag"`
	}
	if err := json.Unmarshal(raw, &it); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decoding case")
	}
	c := new(incident.Case)
	if err := json.Unmarshal(it.Doc, c); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decoding case %s", it.ID)
	}
	if etag == "" {
		etag = azcore.ETag(it.ETag)
	}
	c.Version, c.ETag = it.Version, string(etag)
	return c, nil
}

// --- errors

// classify maps an SDK error to the domain's kinds: 404 not found, 409
// exists, 412 stale, 408/429/5xx transient (the invocation fails and is
// retried), other statuses permanent; no answer at all is transient.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fault.Wrap(fault.Transient, err, "%s", what)
		}
		return fault.Wrap(fault.Transient, err, "%s: Cosmos DB did not answer", what)
	}
	switch code := re.StatusCode; {
	case code == 404:
		return fault.New(fault.NotFound, "%s not found", what)
	case code == 409:
		return fault.New(fault.Exists, "%s already exists", what)
	case code == 412:
		return fault.New(fault.Stale, "%s changed since it was read", what)
	case code == 408 || code == 429 || code >= 500:
		return fault.Wrap(fault.Transient, err, "%s: Cosmos DB answered %d", what, code)
	default:
		return fault.Wrap(fault.Permanent, err, "%s: Cosmos DB answered %d", what, code)
	}
}

func isStatus(err error, code int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == code
}
