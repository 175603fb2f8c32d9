package localbus

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
)

// schemaVersion is stored in PRAGMA user_version; Open refuses a newer file.
//
// Topics were removed without a new schema version: their columns
// (entities.topic, messages.origin) stay, unread, so that files created before
// open here and files created here still open in older binaries. New rows get
// an empty topic (its default) and origin = seq, what older binaries write for a
// queue. A subscription's row in an old file loads as a queue named by its
// entity path, its messages intact.
const schemaVersion = 1

// Message states. A message's state decides which partial index holds it, so
// each hot query walks only the rows it can use:
//   - ready: available now; messages_ready orders them by sequence number (FIFO).
//   - scheduled, locked: waiting for visible_at (due time or lock expiry);
//     messages_timed finds the next one due and the ones now due.
//   - deadLettered: messages_dead lists them newest first.
//
// A due scheduled message or an expired lock is moved to ready (or, for a lock
// at MaxDeliveryCount, to deadLettered) by the next Receive on its entity.
// Readers that cannot write (Stats, PeekDeadLetters) classify such rows by time,
// so they report the same as if that Receive had already run.
const (
	stateReady        = 0
	stateScheduled    = 1
	stateLocked       = 2
	stateDeadLettered = 3
)

// Times are unix nanoseconds (INTEGER): exact, compact, and ordered.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS entities (
		name          TEXT PRIMARY KEY,
		topic         TEXT NOT NULL DEFAULT '', -- unused; '' (see schemaVersion)
		lock_ns       INTEGER NOT NULL,
		max_delivery  INTEGER NOT NULL,
		dup_window_ns INTEGER NOT NULL
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS messages (
		seq            INTEGER PRIMARY KEY, -- sequence number, assigned by the writer, never reused
		entity         TEXT NOT NULL,       -- queue name
		state          INTEGER NOT NULL,
		visible_at     INTEGER NOT NULL,    -- scheduled: due time; locked: lock expiry
		origin         INTEGER NOT NULL,    -- unused; = seq (see schemaVersion)
		msg_id         TEXT NOT NULL,
		body           BLOB,
		content_type   TEXT NOT NULL DEFAULT '',
		subject        TEXT NOT NULL DEFAULT '',
		props          TEXT,                -- JSON object, NULL when none
		enqueued_at    INTEGER NOT NULL,
		delivery_count INTEGER NOT NULL DEFAULT 0,
		lock_token     TEXT,
		dl_reason      TEXT,
		dl_description TEXT,
		dl_at          INTEGER
	)`,
	`CREATE INDEX IF NOT EXISTS messages_ready ON messages (entity, seq) WHERE state = 0`,
	`CREATE INDEX IF NOT EXISTS messages_timed ON messages (entity, visible_at) WHERE state IN (1, 2)`,
	// Once Cancel's index for a topic's copies; Cancel now finds a message by
	// seq. Dropped so that no write maintains it (an older binary recreates it).
	`DROP INDEX IF EXISTS messages_origin`,
	`CREATE INDEX IF NOT EXISTS messages_dead ON messages (entity, dl_at, seq) WHERE state = 3`,
	// Duplicate detection's log: one row per (queue, message id) sent,
	// appended in id order and deleted from the front once out of its window.
	// The index over it lives in memory (see dedup.go).
	`CREATE TABLE IF NOT EXISTS dedup_log (
		id         INTEGER PRIMARY KEY,
		entity     TEXT NOT NULL,
		msg_id     TEXT NOT NULL,
		expires_at INTEGER NOT NULL,
		window_ns  INTEGER NOT NULL,
		seq        INTEGER NOT NULL -- lets a duplicate Schedule return the original's number
	)`,
	// last_seq survives the deletion of the newest message, so that sequence
	// numbers are never reused (a stale Cancel must not hit a newer message).
	`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`,
}

func migrate(db *sql.DB) error {
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	if version > schemaVersion {
		return fmt.Errorf("localbus: queue database has schema version %d, newer than this binary's %d", version, schemaVersion)
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range schema {
		if _, err := tx.Exec(stmt); err != nil {
			return fmt.Errorf("localbus: create schema: %w", err)
		}
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// dsn builds an SQLite URI for path. modernc passes a "file:" DSN to SQLite
// whole, which percent-decodes the path and ignores the driver's own
// parameters (_pragma, ...).
func dsn(path string, params ...string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("localbus: %w", err)
	}
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	return "file:" + escaped + "?" + strings.Join(params, "&"), nil
}

// openReadPool opens read-only connections. In WAL mode they read the last
// committed state without ever waiting for the writer.
func openReadPool(path string) (*sql.DB, error) {
	d, err := dsn(path, "mode=ro", "_pragma=busy_timeout(5000)", "_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", d)
	if err != nil {
		return nil, fmt.Errorf("localbus: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("localbus: open %s read-only: %w", path, err)
	}
	return db, nil
}
