package localbus

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"vigil/internal/groupcommit"
)

// The writer owns the database's only write connection. Every state change
// here (send, lock, settle) must be durable before it is reported, so all of
// them run on one goroutine in shared transactions (group commit, see
// internal/groupcommit): one fsync for whatever was submitted while the
// previous commit was in flight.
//
// Receive's lock-and-fetch runs in these batches too, rather than on a read
// connection: taking a lock is a write that must be durable (DeliveryCount has
// to survive a crash, or a message that kills its handler would never reach
// the dead-letter queue), and a second write connection would only contend for
// SQLite's write lock with busy-wait retries. In a batch, concurrent receivers
// and senders share one commit instead.
type writer struct {
	bus  *Bus
	db   *sql.DB
	conn *sql.Conn
	gc   *groupcommit.Writer[*batch]

	// Owned by the writer goroutine.
	lastSeq int64 // last sequence number committed
	dedup   *dedupIndex

	st statements
}

var _ groupcommit.Backend[*batch] = (*writer)(nil)

// maxBatchOps bounds one transaction so that a flood of operations cannot
// hold its first callers hostage for long.
const maxBatchOps = 512

type statements struct {
	begin, commit, rollback                  *sql.Stmt
	insertMsg, logDedup, pruneDedup, saveSeq *sql.Stmt
	upsertEntity, cancel                     *sql.Stmt
	nextDue, expireToDead, promote, ready    *sql.Stmt
	lock                                     *sql.Stmt
	complete, abandon, deadLetter, renew     *sql.Stmt
}

// held is the condition for a settlement to apply: the caller's lock token is
// still the message's, and its lock has not expired into the dead-letter queue
// (?3 = now, ?4 = the entity's MaxDeliveryCount). A lock that expired without
// anyone else taking the message is still honoured.
const held = `seq = ?1 AND lock_token = ?2 AND (state = 0 OR (state = 2 AND (visible_at > ?3 OR delivery_count < ?4)))`

func openWriter(b *Bus, path string) (*writer, error) {
	d, err := dsn(path, "_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", d)
	if err != nil {
		return nil, fmt.Errorf("localbus: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	w := &writer{bus: b, db: db, dedup: newDedupIndex()}
	if err := w.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("localbus: open %s: %w", path, err)
	}
	return w, nil
}

func (w *writer) init() error {
	for _, p := range []string{
		`PRAGMA journal_mode = WAL`,
		// FULL: in WAL mode, every commit fsyncs the log. NORMAL would not, and
		// a power cut could then lose a Send that returned.
		`PRAGMA synchronous = FULL`,
		`PRAGMA cache_size = -16384`, // 16 MiB: the hot indexes stay in memory
		`PRAGMA temp_store = MEMORY`,
	} {
		if _, err := w.db.Exec(p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := migrate(w.db); err != nil {
		return err
	}
	if err := releaseLocks(w.db, w.bus.now().UnixNano()); err != nil {
		return err
	}
	var err error
	if w.conn, err = w.db.Conn(context.Background()); err != nil {
		return err
	}
	if err := w.load(); err != nil {
		return err
	}
	return w.prepare()
}

// releaseLocks frees, at Open, every lock a previous process held. The file
// lock says that process is gone (see lock_unix.go), and its locks with it:
// waiting out their LockDuration would only hide accepted work for a minute
// after a crash. Each message keeps its DeliveryCount, the dead process's
// delivery counted as Service Bus counts one whose lock expired; one at its
// entity's MaxDeliveryCount is dead-lettered, as an expired lock would be.
func releaseLocks(db *sql.DB, now int64) error {
	tx, err := db.Begin()
	if err != nil {
		return fmt.Errorf("release locks: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE messages SET state = 3, lock_token = NULL, dl_reason = '`+ReasonMaxDeliveryCountExceeded+`',
		dl_description = printf('Message could not be consumed after %d delivery attempts.', delivery_count), dl_at = ?1
		WHERE state IN (1, 2) AND state = 2 AND delivery_count >= (SELECT max_delivery FROM entities e WHERE e.name = messages.entity)`, now); err != nil {
		return fmt.Errorf("release locks: %w", err)
	}
	if _, err := tx.Exec(`UPDATE messages SET state = 0, lock_token = NULL, visible_at = ?1 WHERE state IN (1, 2) AND state = 2`, now); err != nil {
		return fmt.Errorf("release locks: %w", err)
	}
	return tx.Commit()
}

// load reads the entities and the last sequence number.
func (w *writer) load() error {
	ctx := context.Background()
	rows, err := w.conn.QueryContext(ctx, `SELECT name, lock_ns, max_delivery, dup_window_ns FROM entities ORDER BY name`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		e := &entity{}
		var lockNS, dupNS int64
		if err := rows.Scan(&e.name, &lockNS, &e.opts.MaxDeliveryCount, &dupNS); err != nil {
			return err
		}
		e.opts.LockDuration, e.opts.DuplicateWindow = time.Duration(lockNS), time.Duration(dupNS)
		w.bus.reg.add(e)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := w.conn.QueryRowContext(ctx, `SELECT max(
		coalesce((SELECT value FROM meta WHERE key = 'last_seq'), 0),
		coalesce((SELECT max(seq) FROM messages), 0))`).Scan(&w.lastSeq); err != nil {
		return err
	}
	return w.dedup.load(ctx, w.conn, w.bus.now().UnixNano())
}

func (w *writer) prepare() error {
	ctx := context.Background()
	var err error
	p := func(query string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = w.conn.PrepareContext(ctx, query)
		if err != nil {
			err = fmt.Errorf("prepare %q: %w", query, err)
		}
		return s
	}
	w.st = statements{
		// IMMEDIATE takes the write lock at once, so a batch never fails half-way
		// on a lock upgrade.
		begin:    p(`BEGIN IMMEDIATE`),
		commit:   p(`COMMIT`),
		rollback: p(`ROLLBACK`),
		// origin is written only for files shared with older versions (see schema.go).
		insertMsg: p(`INSERT INTO messages (seq, entity, state, visible_at, origin, msg_id, body, content_type, subject, props, enqueued_at)
			VALUES (?1, ?2, ?3, ?4, ?1, ?5, ?6, ?7, ?8, ?9, ?10)`),
		logDedup:   p(`INSERT INTO dedup_log (id, entity, msg_id, expires_at, window_ns, seq) VALUES (?, ?, ?, ?, ?, ?)`),
		pruneDedup: p(`DELETE FROM dedup_log WHERE id < ?`),
		saveSeq:    p(`INSERT INTO meta (key, value) VALUES ('last_seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
		upsertEntity: p(`INSERT INTO entities (name, lock_ns, max_delivery, dup_window_ns) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET lock_ns = excluded.lock_ns, max_delivery = excluded.max_delivery, dup_window_ns = excluded.dup_window_ns`),
		cancel:  p(`DELETE FROM messages WHERE seq = ?1 AND entity = ?2 AND state = 1 AND visible_at > ?3`),
		nextDue: p(`SELECT min(visible_at) FROM messages WHERE entity = ? AND state IN (1, 2)`),
		expireToDead: p(`UPDATE messages SET state = 3, lock_token = NULL, dl_reason = '` + ReasonMaxDeliveryCountExceeded + `',
			dl_description = printf('Message could not be consumed after %d delivery attempts.', delivery_count), dl_at = visible_at
			WHERE entity = ?1 AND state IN (1, 2) AND visible_at <= ?2 AND state = 2 AND delivery_count >= ?3`),
		promote: p(`UPDATE messages SET state = 0 WHERE entity = ?1 AND state IN (1, 2) AND visible_at <= ?2`),
		ready:   p(`SELECT seq FROM messages WHERE entity = ? AND state = 0 ORDER BY seq LIMIT ?`),
		lock: p(`UPDATE messages SET state = 2, visible_at = ?, lock_token = ?, delivery_count = delivery_count + 1 WHERE seq = ?
			RETURNING msg_id, body, content_type, subject, props, enqueued_at, delivery_count`),
		complete:   p(`DELETE FROM messages WHERE ` + held),
		abandon:    p(`UPDATE messages SET state = 0, lock_token = NULL WHERE ` + held),
		deadLetter: p(`UPDATE messages SET state = 3, lock_token = NULL, dl_reason = ?5, dl_description = ?6, dl_at = ?3 WHERE ` + held),
		renew:      p(`UPDATE messages SET state = 2, visible_at = ?5 WHERE ` + held),
	}
	return err
}

// start starts the writer goroutine.
func (w *writer) start() { w.gc = groupcommit.New[*batch](w, maxBatchOps, ErrClosed) }

// do runs apply in the next batch and waits for its commit: an error means
// not committed, nil means durable (see groupcommit.Writer.Do). apply returns
// an error only for a database failure, which aborts its batch; outcomes the
// caller must see (lock lost, conflict) it records in the caller's variables.
func (w *writer) do(ctx context.Context, apply func(*batch) error) error {
	return w.gc.Do(ctx, func(t *batch) error {
		if err := apply(t); err != nil {
			return fmt.Errorf("localbus: %w", err)
		}
		return nil
	})
}

// Begin starts a batch (groupcommit.Backend, on the writer goroutine).
func (w *writer) Begin() (*batch, error) {
	t := &batch{w: w, now: w.bus.now().UnixNano(), seq: w.lastSeq, dedupRowid: w.dedup.lastRowid, prunedBelow: w.dedup.prunedBelow}
	w.dedup.expire(t.now)
	if _, err := w.st.begin.Exec(); err != nil {
		return nil, fmt.Errorf("localbus: begin: %w", err)
	}
	return t, nil
}

// Commit records the sequence counter, prunes the duplicate log and commits;
// only then does the in-memory state move on and receivers wake.
func (w *writer) Commit(t *batch) error {
	if err := t.finish(); err != nil {
		return fmt.Errorf("localbus: %w", err)
	}
	if _, err := w.st.commit.Exec(); err != nil {
		return fmt.Errorf("localbus: commit: %w", err)
	}
	w.lastSeq = t.seq
	w.dedup.lastRowid, w.dedup.prunedBelow = t.dedupRowid, t.prunedBelow
	for e := range t.wake {
		e.signal()
	}
	return nil
}

// Rollback undoes a failed batch, on disk and in the registry and dedup index.
func (w *writer) Rollback(t *batch) {
	_, rbErr := w.st.rollback.Exec()
	_ = rbErr // the transaction may already be gone (SQLite rolls back on some I/O errors)
	t.revert()
}

// stop lets every submitted op finish, then closes the database.
func (w *writer) stop() error {
	w.gc.Close()
	// Fold the log into the database so that readers, and the next Open, start
	// from a small WAL. Best effort: a reader in another process may hold it.
	_, _ = w.conn.ExecContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`)
	return w.closeConn()
}

func (w *writer) closeConn() error {
	var errs []error
	if w.conn != nil {
		errs = append(errs, w.conn.Close())
	}
	errs = append(errs, w.db.Close())
	return errors.Join(errs...)
}
