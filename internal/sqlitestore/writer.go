package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"vigil/internal/fault"
)

// Group commit. Every write is one statement, and with synchronous=FULL each
// commit costs an fsync; one commit per write would cap the store at the
// disk's fsync rate. So one goroutine owns the write connection, takes every
// write waiting at that moment, runs them in one transaction and commits once.
// A write's caller hears back only after that commit is on disk.
//
// A statement that fails on a constraint is undone by SQLite alone (the
// statement journal) and the rest of the batch goes on; any other failure
// rolls the whole batch back and every write in it fails as transient, to be
// retried by its caller.

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

type writeOp struct {
	ctx  context.Context
	stmt int
	args []any
	done chan writeResult // buffered: the writer never blocks on a caller
}

type writeResult struct {
	rows int64
	err  error
}

type writer struct {
	conn  *sql.Conn
	stmts [numStmts]*sql.Stmt
	ops   chan *writeOp
	quit  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	mu     sync.RWMutex // held shared while handing a write over, exclusively to close
	closed bool
}

func newWriter(db *sql.DB) (*writer, error) {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &writer{conn: conn, ops: make(chan *writeOp, maxBatch), quit: make(chan struct{})}
	for i, q := range writeSQL {
		if w.stmts[i], err = conn.PrepareContext(ctx, q); err != nil {
			w.closeStmts()
			conn.Close()
			return nil, err
		}
	}
	w.wg.Add(1)
	go w.run()
	return w, nil
}

// exec runs one write statement and returns the rows it changed, once its
// batch is committed.
func (w *writer) exec(ctx context.Context, stmt int, args ...any) (int64, error) {
	op := &writeOp{ctx: ctx, stmt: stmt, args: args, done: make(chan writeResult, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return 0, fault.New(fault.Transient, "store is closed")
	}
	select {
	case w.ops <- op:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return 0, fault.Wrap(fault.Transient, ctx.Err(), "store write not started")
	}
	// Once handed over, the write may commit: wait for the verdict rather than
	// return early and leave the caller unsure.
	r := <-op.done
	return r.rows, r.err
}

func (w *writer) run() {
	defer w.wg.Done()
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case op := <-w.ops:
			batch = append(batch[:0], op)
		case <-w.quit:
			w.drain()
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-w.ops:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		w.commit(batch)
		clear(batch)
	}
}

// drain fails writes still queued at close.
func (w *writer) drain() {
	for {
		select {
		case op := <-w.ops:
			op.done <- writeResult{err: fault.New(fault.Transient, "store is closed")}
		default:
			return
		}
	}
}

func (w *writer) commit(batch []*writeOp) {
	ctx := context.Background()
	results := make([]writeResult, len(batch))
	fail := func(err error) {
		for _, op := range batch {
			op.done <- writeResult{err: fault.Wrap(fault.Transient, err, "store write")}
		}
	}
	if _, err := w.conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		fail(err)
		return
	}
	for i, op := range batch {
		if err := op.ctx.Err(); err != nil {
			results[i].err = fault.Wrap(fault.Transient, err, "store write not started")
			continue
		}
		res, err := w.stmts[op.stmt].ExecContext(ctx, op.args...)
		if err != nil {
			if !statementOnly(err) {
				_, _ = w.conn.ExecContext(ctx, `ROLLBACK`)
				fail(err)
				return
			}
			results[i].err = err
			continue
		}
		results[i].rows, results[i].err = res.RowsAffected()
	}
	if _, err := w.conn.ExecContext(ctx, `COMMIT`); err != nil {
		_, _ = w.conn.ExecContext(ctx, `ROLLBACK`)
		fail(err)
		return
	}
	for i, op := range batch {
		op.done <- results[i]
	}
}

// statementOnly tells a failure SQLite undid by itself (a constraint) from one
// that may have ended the transaction.
func statementOnly(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

func (w *writer) close() error {
	var err error
	w.once.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.quit)
		w.wg.Wait()
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
