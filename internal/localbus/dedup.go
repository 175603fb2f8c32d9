package localbus

import (
	"context"
	"database/sql"
	"hash/maphash"
)

// Duplicate detection keeps its index in memory and only an append-only log
// on disk (table dedup_log). A unique index on disk would put each message id
// at a random place in a B-tree: one more dirty page, written to the WAL, per
// message in every commit, which halved Send throughput when measured. The log
// is appended at its end and deleted from its start, so a batch of sends dirties
// one or two of its pages; Open rebuilds the index from the rows still inside
// their window.
//
// The index is keyed by two 64-bit hashes of (entity, id), seeded at random per
// process: 16 bytes per entry instead of the strings, and a false "duplicate"
// (which would drop a message) needs a 128-bit collision, with keys an outsider
// cannot predict.
type dedupIndex struct {
	seedA, seedB maphash.Seed
	entries      map[dedupKey]dedupEntry
	// fifos holds the entries of each window length in insertion order, which
	// for a fixed window is also expiry order, so expired ones are popped from
	// the front.
	fifos map[int64]*dedupFIFO
	// lastRowid is the last dedup_log id committed; prunedBelow is the first id
	// that may still be in the log.
	lastRowid, prunedBelow int64
}

type dedupKey struct{ a, b uint64 }

type dedupEntry struct {
	expires int64 // unix ns
	seq     int64 // sequence number the sender got, returned for a duplicate Schedule
	rowid   int64 // its dedup_log row
}

type dedupItem struct {
	key            dedupKey
	expires, rowid int64
}

type dedupFIFO struct {
	items []dedupItem
	head  int
}

func newDedupIndex() *dedupIndex {
	return &dedupIndex{
		seedA: maphash.MakeSeed(), seedB: maphash.MakeSeed(),
		entries: map[dedupKey]dedupEntry{}, fifos: map[int64]*dedupFIFO{},
	}
}

func (x *dedupIndex) key(entity, id string) dedupKey {
	var h maphash.Hash
	h.SetSeed(x.seedA)
	h.WriteString(entity)
	h.WriteByte(0)
	h.WriteString(id)
	a := h.Sum64()
	h.SetSeed(x.seedB) // SetSeed also resets
	h.WriteString(entity)
	h.WriteByte(0)
	h.WriteString(id)
	return dedupKey{a, h.Sum64()}
}

// load rebuilds the index from the log rows still inside their window.
func (x *dedupIndex) load(ctx context.Context, conn *sql.Conn, now int64) error {
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(id), 0), coalesce(min(id), 1) FROM dedup_log`).Scan(&x.lastRowid, &x.prunedBelow); err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, `SELECT id, entity, msg_id, expires_at, window_ns, seq FROM dedup_log WHERE expires_at > ? ORDER BY id`, now)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var entity, id string
		var e dedupEntry
		var window int64
		if err := rows.Scan(&e.rowid, &entity, &id, &e.expires, &window, &e.seq); err != nil {
			return err
		}
		k := x.key(entity, id)
		x.entries[k] = e
		x.fifo(window).push(dedupItem{key: k, expires: e.expires, rowid: e.rowid})
	}
	return rows.Err()
}

func (x *dedupIndex) fifo(window int64) *dedupFIFO {
	f, ok := x.fifos[window]
	if !ok {
		f = &dedupFIFO{}
		x.fifos[window] = f
	}
	return f
}

// expire forgets entries whose window has passed. It runs before a batch
// starts, outside any transaction: forgetting an expired entry changes no
// answer, so it never needs undoing.
func (x *dedupIndex) expire(now int64) {
	for window, f := range x.fifos {
		for f.head < len(f.items) && f.items[f.head].expires <= now {
			it := f.items[f.head]
			// The key may since have been sent again, with a newer row.
			if e, ok := x.entries[it.key]; ok && e.rowid == it.rowid {
				delete(x.entries, it.key)
			}
			f.items[f.head] = dedupItem{}
			f.head++
		}
		switch {
		case f.head == len(f.items):
			delete(x.fifos, window)
		case f.head > len(f.items)/2 && f.head > 1024:
			f.items = f.items[:copy(f.items, f.items[f.head:])]
			f.head = 0
		}
	}
}

// oldestLive is the smallest log id still needed; every row below it may go.
func (x *dedupIndex) oldestLive(next int64) int64 {
	oldest := next
	for _, f := range x.fifos {
		if f.head < len(f.items) {
			oldest = min(oldest, f.items[f.head].rowid)
		}
	}
	return oldest
}

func (f *dedupFIFO) push(it dedupItem) { f.items = append(f.items, it) }

// popBack undoes the last push.
func (f *dedupFIFO) popBack() { f.items = f.items[:len(f.items)-1] }

// dedupLogPruneChunk bounds the log rows one batch deletes, so that catching
// up after a long run never stalls a commit.
const dedupLogPruneChunk = 4096

// duplicate reports whether id was sent to entity within its window, and the
// original's sequence number.
func (t *batch) duplicate(entity, id string) (dedupKey, int64, bool) {
	x := t.w.dedup
	k := x.key(entity, id)
	if e, ok := x.entries[k]; ok && e.expires > t.now {
		return k, e.seq, true
	}
	return k, 0, false
}

// remember logs id as sent to entity, for window.
func (t *batch) remember(k dedupKey, entity, id string, window, seq int64) error {
	t.dedupRowid++
	e := dedupEntry{expires: t.now + window, seq: seq, rowid: t.dedupRowid}
	if _, err := t.w.st.logDedup.Exec(e.rowid, entity, id, e.expires, window, seq); err != nil {
		return err
	}
	x := t.w.dedup
	old, had := x.entries[k]
	x.entries[k] = e
	f := x.fifo(window)
	f.push(dedupItem{key: k, expires: e.expires, rowid: e.rowid})
	t.undo = append(t.undo, func() {
		f.popBack()
		if len(f.items) == f.head {
			delete(x.fifos, window)
		}
		if had {
			x.entries[k] = old
		} else {
			delete(x.entries, k)
		}
	})
	return nil
}

// pruneLog deletes log rows that no entry needs any more, from the start.
func (t *batch) pruneLog() error {
	x := t.w.dedup
	upTo := min(x.oldestLive(t.dedupRowid+1), x.prunedBelow+dedupLogPruneChunk)
	if upTo <= x.prunedBelow {
		return nil
	}
	if _, err := t.w.st.pruneDedup.Exec(upTo); err != nil {
		return err
	}
	t.prunedBelow = upTo
	return nil
}
