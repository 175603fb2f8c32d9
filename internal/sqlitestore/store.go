// Package sqlitestore is the embedded store `vigil local` uses: one SQLite file,
// pure Go, with the same contract as the Cosmos DB store (optimistic concurrency on
// a version, one open incident per dedup key).
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"vigil/internal/app"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/oncall"
)

// Store is the SQLite implementation of app.Store.
type Store struct {
	db    *sql.DB // one connection, owned by the writer: SQLite has one writer
	write *writer
	read  *sql.DB
}

var (
	_ app.Store    = (*Store)(nil)
	_ app.Notifier = (*Store)(nil)
)

const schema = `
CREATE TABLE IF NOT EXISTS incidents (
	id         TEXT PRIMARY KEY,
	dedup_key  TEXT NOT NULL,
	state      TEXT NOT NULL,
	open       INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	version    INTEGER NOT NULL,
	doc        BLOB NOT NULL
) WITHOUT ROWID;
-- At most one open incident per dedup key: the database enforces the fold rule.
CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_dedup ON incidents(dedup_key) WHERE open = 1;
CREATE INDEX IF NOT EXISTS incidents_state_created ON incidents(state, created_at DESC);
CREATE INDEX IF NOT EXISTS incidents_created ON incidents(created_at DESC);
CREATE TABLE IF NOT EXISTS overrides (
	id      TEXT PRIMARY KEY,
	ends_at INTEGER NOT NULL,
	doc     BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS overrides_ends ON overrides(ends_at);
CREATE TABLE IF NOT EXISTS cases (
	id         TEXT PRIMARY KEY,
	tenant     TEXT NOT NULL,
	state      TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	version    INTEGER NOT NULL,
	doc        BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cases_tenant_created ON cases(tenant, created_at DESC);
CREATE INDEX IF NOT EXISTS cases_created ON cases(created_at DESC);
CREATE TABLE IF NOT EXISTS key_claims (
	id          TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL,
	value       TEXT NOT NULL,
	expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS key_claims_expires ON key_claims(expires_at);
CREATE TABLE IF NOT EXISTS bundles (
	key     TEXT PRIMARY KEY,
	version INTEGER NOT NULL,
	doc     BLOB NOT NULL
) WITHOUT ROWID;
`

// Open opens (creating if needed) the store at path. Commits are fsynced
// (synchronous=FULL): a message is completed only after its effect is on disk.
func Open(path string) (*Store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_txlock=immediate"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	// The schema and its upgrades in one transaction: one fsync, not one per
	// statement (start-up of a new store), and never half an upgrade.
	tx, err := w.Begin()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	if _, err := tx.Exec(schema + outboxSchema); err != nil {
		_ = tx.Rollback()
		w.Close()
		return nil, fmt.Errorf("creating store schema in %s: %w", path, err)
	}
	if err := migrate(tx); err != nil {
		_ = tx.Rollback()
		w.Close()
		return nil, fmt.Errorf("upgrading store schema in %s: %w", path, err)
	}
	if err := tx.Commit(); err != nil {
		w.Close()
		return nil, fmt.Errorf("creating store schema in %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&mode=ro")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening store %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	wr, err := newWriter(w)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("preparing store writes in %s: %w", path, err)
	}
	return &Store{db: w, write: wr, read: r}, nil
}

// Close waits for writes under way, then closes the database.
func (s *Store) Close() error {
	return errors.Join(s.write.close(), s.read.Close(), s.db.Close())
}

func (s *Store) CreateIncident(ctx context.Context, inc *incident.Incident) error {
	doc, err := encodeIncident(inc, 1)
	if err != nil {
		return err
	}
	_, err = s.write.exec(ctx, stmtInsertIncident,
		inc.ID, inc.DedupKey, string(inc.State), inc.State.Open(), inc.CreatedAt.UnixNano(), dueAt(inc), statusDueAt(inc), doc)
	if err != nil {
		err = classifyInsert(err, "incident "+inc.ID, "an open incident already holds dedup key "+inc.DedupKey)
		if fault.Is(err, fault.Conflict) {
			// SQLite may report the dedup index before the primary key: a
			// re-creation of the same incident is "exists", as the contract says.
			if _, gerr := s.GetIncident(ctx, inc.ID); gerr == nil {
				return fault.New(fault.Exists, "incident %s already exists", inc.ID)
			}
		}
		return err
	}
	inc.Version = 1
	return nil
}

func (s *Store) GetIncident(ctx context.Context, id string) (*incident.Incident, error) {
	return getOne[incident.Incident](ctx, s.read, `SELECT doc, version FROM incidents WHERE id = ?`, "incident "+id, id)
}

func (s *Store) FindOpenIncident(ctx context.Context, dedupKey string) (*incident.Incident, error) {
	return getOne[incident.Incident](ctx, s.read, `SELECT doc, version FROM incidents WHERE dedup_key = ? AND open = 1`, "open incident for "+dedupKey, dedupKey)
}

func (s *Store) UpdateIncident(ctx context.Context, inc *incident.Incident) error {
	next := inc.Version + 1
	doc, err := encodeIncident(inc, next)
	if err != nil {
		return err
	}
	n, err := s.write.exec(ctx, stmtUpdateIncident,
		inc.DedupKey, string(inc.State), inc.State.Open(), dueAt(inc), statusDueAt(inc), next, doc, inc.ID, inc.Version)
	if err != nil {
		return classifyInsert(err, "incident "+inc.ID, "an open incident already holds dedup key "+inc.DedupKey)
	}
	if err := oneRow(n, "incident "+inc.ID); err != nil {
		return err
	}
	inc.Version = next
	return nil
}

func (s *Store) ListIncidents(ctx context.Context, f app.IncidentFilter) ([]*incident.Incident, bool, error) {
	var w where
	if len(f.States) > 0 {
		w.in("state", stringsOf(f.States))
	}
	if f.DedupKey != "" {
		w.add(`dedup_key = ?`, f.DedupKey)
	}
	return page[incident.Incident](ctx, s.read, "incidents", w, f.After, f.MaxItems())
}

// where gathers a query's conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) in(column string, values []string) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	w.add(column+` IN (`+placeholders(len(values))+`)`, args...)
}

func stringsOf[S ~string](xs []S) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// page lists table's rows newest first (ties by id) after the cursor, at most
// limit, and reports whether more remain.
func page[T any](ctx context.Context, db *sql.DB, table string, w where, after app.Cursor, limit int) ([]*T, bool, error) {
	if !after.IsZero() {
		w.add(`(created_at < ? OR (created_at = ? AND id < ?))`, after.CreatedAt, after.CreatedAt, after.ID)
	}
	q := `SELECT doc, version FROM ` + table
	if len(w.conds) > 0 {
		q += ` WHERE ` + strings.Join(w.conds, ` AND `)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	items, err := getMany[T](ctx, db, q, append(w.args, limit+1)...)
	if err != nil || len(items) <= limit {
		return items, false, err
	}
	return items[:limit], true, nil
}

// dueAt is the indexed escalation due time (the sweep's index): NULL when
// nothing is due.
func dueAt(inc *incident.Incident) any { return nanosOrNull(inc.EscalationDue()) }

// statusDueAt is the indexed time the incident's customer communication is
// next due (the reminder sweep's index): NULL when nothing is.
func statusDueAt(inc *incident.Incident) any { return nanosOrNull(inc.CommsDue()) }

func nanosOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// migrate brings a store made by an earlier version up to this one's schema.
func migrate(db *sql.Tx) error {
	for _, c := range []struct{ table, column, kind string }{
		{"incidents", "due_at", "INTEGER"}, {"incidents", "status_due_at", "INTEGER"}, {"cases", "assignee", "TEXT NOT NULL DEFAULT ''"},
	} {
		var has int
		if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.column).Scan(&has); err != nil {
			return err
		}
		if has == 0 {
			if _, err := db.Exec(`ALTER TABLE ` + c.table + ` ADD COLUMN ` + c.column + ` ` + c.kind); err != nil {
				return err
			}
		}
	}
	_, err := db.Exec(`CREATE INDEX IF NOT EXISTS incidents_due ON incidents(due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_status_due ON incidents(status_due_at) WHERE status_due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_dedup_created ON incidents(dedup_key, created_at DESC);
CREATE INDEX IF NOT EXISTS cases_state_created ON cases(state, created_at DESC);
CREATE INDEX IF NOT EXISTS cases_assignee_created ON cases(assignee, created_at DESC)`)
	return err
}

func (s *Store) ListDueEscalations(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return s.listDue(ctx, "due_at", before, limit)
}

func (s *Store) ListDueStatus(ctx context.Context, before time.Time, limit int) ([]string, error) {
	return s.listDue(ctx, "status_due_at", before, limit)
}

// listDue returns the ids whose column (a due time) is at or before before, earliest first.
func (s *Store) listDue(ctx context.Context, column string, before time.Time, limit int) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id FROM incidents WHERE `+column+` IS NOT NULL AND `+column+` <= ? ORDER BY `+column+` LIMIT ?`,
		before.UnixNano(), app.Bounded(limit))
	if err != nil {
		return nil, fault.Wrap(fault.Transient, err, "listing due incidents")
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fault.Wrap(fault.Transient, err, "listing due incidents")
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (s *Store) CreateOverride(ctx context.Context, o *oncall.Override) error {
	doc, err := json.Marshal(o)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encoding override")
	}
	if _, err := s.write.exec(ctx, stmtInsertOverride, o.ID, o.End.UnixNano(), doc); err != nil {
		return classifyInsert(err, "override "+o.ID, "")
	}
	return nil
}

func (s *Store) GetOverride(ctx context.Context, id string) (*oncall.Override, error) {
	return getOne[oncall.Override](ctx, s.read, `SELECT doc, 0 FROM overrides WHERE id = ?`, "override "+id, id)
}

func (s *Store) UpdateOverride(ctx context.Context, o *oncall.Override) error {
	doc, err := json.Marshal(o)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encoding override")
	}
	n, err := s.write.exec(ctx, stmtUpdateOverride, o.End.UnixNano(), doc, o.ID)
	if err != nil {
		return classifyInsert(err, "override "+o.ID, "")
	}
	if n == 0 {
		return fault.New(fault.NotFound, "override %s not found", o.ID)
	}
	return nil
}

func (s *Store) ListOverrides(ctx context.Context, endsAfter time.Time) ([]oncall.Override, error) {
	items, err := getMany[oncall.Override](ctx, s.read, `SELECT doc, 0 FROM overrides WHERE ends_at > ? ORDER BY ends_at LIMIT ?`,
		endsAfter.UnixNano(), app.MaxOverrides)
	if err != nil {
		return nil, err
	}
	out := make([]oncall.Override, len(items))
	for i, o := range items {
		out[i] = *o
	}
	return out, nil
}

func (s *Store) ClaimKey(ctx context.Context, c app.KeyClaim, now time.Time) (app.KeyClaim, error) {
	if _, err := s.write.exec(ctx, stmtClaimKey, c.ID, c.Fingerprint, c.Value, c.Expires.UnixNano(), now.UnixNano()); err != nil {
		return app.KeyClaim{}, classifyInsert(err, "key claim "+c.ID, "")
	}
	// Claims long expired go, a few at a time.
	if _, err := s.write.exec(ctx, stmtPruneClaims, now.UnixNano()); err != nil {
		return app.KeyClaim{}, classifyInsert(err, "key claims", "")
	}
	var got app.KeyClaim
	var exp int64
	err := s.read.QueryRowContext(ctx, `SELECT id, fingerprint, value, expires_at FROM key_claims WHERE id = ?`, c.ID).Scan(&got.ID, &got.Fingerprint, &got.Value, &exp)
	if err != nil {
		return app.KeyClaim{}, fault.Wrap(fault.Transient, err, "reading key claim %s", c.ID)
	}
	got.Expires = time.Unix(0, exp).UTC()
	return got, nil
}

func (s *Store) GetBundle(ctx context.Context, key string) (*incident.Bundle, error) {
	b, err := getOne[incident.Bundle](ctx, s.read, `SELECT doc, version FROM bundles WHERE key = ?`, "bundle "+key, key)
	if fault.Is(err, fault.NotFound) {
		return &incident.Bundle{Key: key}, nil
	}
	return b, err
}

func (s *Store) SaveBundle(ctx context.Context, b *incident.Bundle) error {
	next := b.Version + 1
	doc := *b
	doc.Version = next
	raw, err := json.Marshal(&doc)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encoding bundle")
	}
	stmt, args := stmtUpdateBundle, []any{next, raw, b.Key, b.Version}
	if b.Version == 0 {
		stmt, args = stmtInsertBundle, []any{b.Key, raw}
	}
	n, err := s.write.exec(ctx, stmt, args...)
	if err != nil {
		if err = classifyInsert(err, "bundle "+b.Key, ""); fault.Is(err, fault.Exists) {
			return fault.New(fault.Stale, "bundle %s was created meanwhile", b.Key)
		}
		return err
	}
	if err := oneRow(n, "bundle "+b.Key); err != nil {
		return err
	}
	b.Version = next
	return nil
}

func (s *Store) CreateCase(ctx context.Context, c *incident.Case) error {
	doc, err := encodeCase(c, 1)
	if err != nil {
		return err
	}
	_, err = s.write.exec(ctx, stmtInsertCase,
		c.ID, c.Tenant, string(c.State), c.Assignee, c.CreatedAt.UnixNano(), doc)
	if err != nil {
		return classifyInsert(err, "case "+c.ID, "")
	}
	c.Version = 1
	return nil
}

func (s *Store) GetCase(ctx context.Context, id string) (*incident.Case, error) {
	return getOne[incident.Case](ctx, s.read, `SELECT doc, version FROM cases WHERE id = ?`, "case "+id, id)
}

func (s *Store) UpdateCase(ctx context.Context, c *incident.Case) error {
	next := c.Version + 1
	doc, err := encodeCase(c, next)
	if err != nil {
		return err
	}
	n, err := s.write.exec(ctx, stmtUpdateCase,
		string(c.State), c.Assignee, next, doc, c.ID, c.Version)
	if err != nil {
		return classifyInsert(err, "case "+c.ID, "")
	}
	if err := oneRow(n, "case "+c.ID); err != nil {
		return err
	}
	c.Version = next
	return nil
}

func (s *Store) ListCases(ctx context.Context, f app.CaseFilter) ([]*incident.Case, bool, error) {
	var w where
	if f.Tenant != "" {
		w.add(`tenant = ?`, f.Tenant)
	}
	if len(f.States) > 0 {
		w.in("state", stringsOf(f.States))
	}
	if f.Assignee != "" {
		w.add(`assignee = ?`, f.Assignee)
	}
	return page[incident.Case](ctx, s.read, "cases", w, f.After, f.MaxItems())
}

// The stored document carries the version it is written at.
func encodeIncident(inc *incident.Incident, version int64) ([]byte, error) {
	doc := *inc
	doc.Version = version
	return json.Marshal(&doc)
}

func encodeCase(c *incident.Case, version int64) ([]byte, error) {
	doc := *c
	doc.Version = version
	return json.Marshal(&doc)
}

func getOne[T any](ctx context.Context, db *sql.DB, q, what string, args ...any) (*T, error) {
	var doc []byte
	var version int64
	err := db.QueryRowContext(ctx, q, args...).Scan(&doc, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.New(fault.NotFound, "%s not found", what)
	}
	if err != nil {
		return nil, fault.Wrap(fault.Transient, err, "reading %s", what)
	}
	out := new(T)
	if err := json.Unmarshal(doc, out); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "decoding %s", what)
	}
	setVersion(out, version)
	return out, nil
}

func getMany[T any](ctx context.Context, db *sql.DB, q string, args ...any) ([]*T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fault.Wrap(fault.Transient, err, "querying")
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		var doc []byte
		var version int64
		if err := rows.Scan(&doc, &version); err != nil {
			return nil, fault.Wrap(fault.Transient, err, "reading row")
		}
		item := new(T)
		if err := json.Unmarshal(doc, item); err != nil {
			return nil, fault.Wrap(fault.Internal, err, "decoding row")
		}
		setVersion(item, version)
		out = append(out, item)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Wrap(fault.Transient, err, "querying")
	}
	return out, nil
}

// setVersion makes the row's version column authoritative over the document's copy.
func setVersion(item any, v int64) {
	switch d := item.(type) {
	case *incident.Incident:
		d.Version, d.ETag = v, fmt.Sprint(v)
	case *incident.Case:
		d.Version, d.ETag = v, fmt.Sprint(v)
	case *incident.Bundle:
		d.Version = v
	}
}

func oneRow(n int64, what string) error {
	if n == 0 {
		return fault.New(fault.Stale, "%s changed since it was read (or does not exist)", what)
	}
	return nil
}

// classifyInsert tells "this id exists" from "the dedup key is held by another open
// incident" by SQLite's extended constraint codes.
func classifyInsert(err error, what, uniqueMsg string) error {
	if fault.KindOf(err) == fault.Transient {
		return err // the writer already judged it: the batch failed
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fault.New(fault.Exists, "%s already exists", what)
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fault.New(fault.Conflict, "%s", uniqueMsg)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fault.Wrap(fault.Transient, err, "writing %s", what)
		}
	}
	return fault.Wrap(fault.Transient, err, "writing %s", what)
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }
