package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"vigil/internal/fault"
	"vigil/internal/groupcommit"
)

// Group commit (internal/groupcommit). Every write is one statement, and with
// synchronous=FULL each commit costs an fsync; one commit per write would cap
// the store at the disk's fsync rate. So one goroutine owns the write
// connection and runs every write waiting at that moment in one transaction.
// A write's caller hears back only after that commit is on disk.
//
// A statement that fails on a constraint is undone by SQLite alone (the
// statement journal): its caller gets the error and the rest of the batch goes
// on. Any other failure rolls the batch back and its writes run again one by
// one, so each caller gets its own verdict; a write that still fails is
// transient, to be retried by its caller.

const maxBatch = 256

// Prepared write statements, by index.
const (
	stmtInsertIncident = iota
	stmtUpdateIncident
	stmtInsertCase
	stmtUpdateCase
	stmtInsertOutbox
	stmtInsertOverride
	stmtUpdateOverride
	stmtClaimKey
	stmtPruneClaims
	stmtInsertBundle
	stmtUpdateBundle
	numStmts
)

var writeSQL = [numStmts]string{
	stmtInsertIncident: `INSERT INTO incidents (id, dedup_key, state, open, created_at, due_at, status_due_at, version, doc) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)`,
	stmtUpdateIncident: `UPDATE incidents SET dedup_key = ?, state = ?, open = ?, due_at = ?, status_due_at = ?, version = ?, doc = ? WHERE id = ? AND version = ?`,
	stmtInsertCase:     `INSERT INTO cases (id, tenant, state, assignee, created_at, version, doc) VALUES (?, ?, ?, ?, ?, 1, ?)`,
	stmtUpdateCase:     `UPDATE cases SET state = ?, assignee = ?, version = ?, doc = ? WHERE id = ? AND version = ?`,
	stmtInsertOutbox:   `INSERT INTO outbox (key, created_at, doc) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
	stmtInsertOverride: `INSERT INTO overrides (id, ends_at, doc) VALUES (?, ?, ?)`,
	stmtUpdateOverride: `UPDATE overrides SET ends_at = ?, doc = ? WHERE id = ?`,
	// A claim is taken unless one on the same id is still in force.
	stmtClaimKey: `INSERT INTO key_claims (id, fingerprint, value, expires_at) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (id) DO UPDATE SET fingerprint = ?2, value = ?3, expires_at = ?4 WHERE key_claims.expires_at <= ?5`,
	stmtPruneClaims:  `DELETE FROM key_claims WHERE id IN (SELECT id FROM key_claims WHERE expires_at <= ? LIMIT 16)`,
	stmtInsertBundle: `INSERT INTO bundles (key, version, doc) VALUES (?, 1, ?)`,
	stmtUpdateBundle: `UPDATE bundles SET version = ?, doc = ? WHERE key = ? AND version = ?`,
}

type writer struct {
	conn  *sql.Conn
	stmts [numStmts]*sql.Stmt
	gc    *groupcommit.Writer[*writer]
	once  sync.Once
}

var (
	_ groupcommit.Backend[*writer] = (*writer)(nil)

	errClosed = fault.New(fault.Transient, "store is closed")
)

func newWriter(db *sql.DB) (*writer, error) {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &writer{conn: conn}
	for i, q := range writeSQL {
		if w.stmts[i], err = conn.PrepareContext(ctx, q); err != nil {
			w.closeStmts()
			conn.Close()
			return nil, err
		}
	}
	w.gc = groupcommit.New[*writer](w, maxBatch, errClosed)
	return w, nil
}

// exec runs one write statement and returns the rows it changed, once its
// batch is committed.
func (w *writer) exec(ctx context.Context, stmt int, args ...any) (int64, error) {
	var rows int64
	var stmtErr error
	err := w.gc.Do(ctx, func(*writer) error {
		rows, stmtErr = 0, nil
		res, err := w.stmts[stmt].ExecContext(context.Background(), args...)
		if err != nil {
			if statementOnly(err) {
				stmtErr = err
				return nil
			}
			return err
		}
		rows, stmtErr = res.RowsAffected()
		return nil
	})
	switch {
	case err == nil:
		return rows, stmtErr
	case errors.Is(err, errClosed):
		return 0, err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 0, fault.Wrap(fault.Transient, err, "store write not started")
	}
	return 0, fault.Wrap(fault.Transient, err, "store write")
}

// Begin, Commit and Rollback run the writer's transactions (groupcommit.Backend).
func (w *writer) Begin() (*writer, error) {
	_, err := w.conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`)
	return w, err
}

func (w *writer) Commit(*writer) error {
	_, err := w.conn.ExecContext(context.Background(), `COMMIT`)
	return err
}

func (w *writer) Rollback(*writer) {
	_, _ = w.conn.ExecContext(context.Background(), `ROLLBACK`) // may already be gone after an I/O error
}

// statementOnly tells a failure SQLite undid by itself (a constraint) from one
// that may have ended the transaction.
func statementOnly(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// close lets the writes under way finish, then closes the connection.
func (w *writer) close() error {
	var err error
	w.once.Do(func() {
		w.gc.Close()
		w.closeStmts()
		err = w.conn.Close()
	})
	return err
}

func (w *writer) closeStmts() {
	for _, s := range w.stmts {
		if s != nil {
			s.Close()
		}
	}
}
