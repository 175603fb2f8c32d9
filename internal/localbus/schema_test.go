package localbus

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// oldSchema is the schema of the versions that had topics (user_version 1),
// as they created it: entities.topic, messages.origin and the messages_origin
// index that Cancel used to remove a topic's fan-out copies.
var oldSchema = []string{
	`CREATE TABLE entities (
		name TEXT PRIMARY KEY, topic TEXT NOT NULL DEFAULT '', lock_ns INTEGER NOT NULL,
		max_delivery INTEGER NOT NULL, dup_window_ns INTEGER NOT NULL) WITHOUT ROWID`,
	`CREATE TABLE messages (
		seq INTEGER PRIMARY KEY, entity TEXT NOT NULL, state INTEGER NOT NULL, visible_at INTEGER NOT NULL,
		origin INTEGER NOT NULL, msg_id TEXT NOT NULL, body BLOB, content_type TEXT NOT NULL DEFAULT '',
		subject TEXT NOT NULL DEFAULT '', props TEXT, enqueued_at INTEGER NOT NULL,
		delivery_count INTEGER NOT NULL DEFAULT 0, lock_token TEXT, dl_reason TEXT, dl_description TEXT, dl_at INTEGER)`,
	`CREATE INDEX messages_ready ON messages (entity, seq) WHERE state = 0`,
	`CREATE INDEX messages_timed ON messages (entity, visible_at) WHERE state IN (1, 2)`,
	`CREATE INDEX messages_origin ON messages (origin) WHERE state = 1`,
	`CREATE INDEX messages_dead ON messages (entity, dl_at, seq) WHERE state = 3`,
	`CREATE TABLE dedup_log (id INTEGER PRIMARY KEY, entity TEXT NOT NULL, msg_id TEXT NOT NULL,
		expires_at INTEGER NOT NULL, window_ns INTEGER NOT NULL, seq INTEGER NOT NULL)`,
	`CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`,
	`PRAGMA user_version = 1`,
}

// TestOpensFileFromTopicVersions: a developer's .vigil/queue.db written by a
// version that still had topics opens, keeps its messages, duplicate
// detection and sequence numbers, and takes new sends (its origin column is
// NOT NULL). Its old subscription is read as a queue of that name.
func TestOpensFileFromTopicVersions(t *testing.T) {
	clock := newFakeClock()
	now := clock.Now().UnixNano()
	hour, window := int64(time.Hour), int64(10*time.Minute)
	path := filepath.Join(t.TempDir(), FileName)
	d, err := dsn(path)
	require.NoError(t, err)
	db, err := sql.Open("sqlite", d)
	require.NoError(t, err)
	for _, stmt := range append(oldSchema,
		`INSERT INTO entities VALUES ('intake', '', 60000000000, 10, 600000000000),
			('events/subscriptions/a', 'events', 60000000000, 10, 600000000000)`,
	) {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	for _, row := range [][]any{
		{1, "intake", stateReady, now, 1, "m1", now},
		{2, "intake", stateScheduled, now + hour, 2, "esc", now},
		{3, "events/subscriptions/a", stateScheduled, now + hour, 3, "e1", now},
	} {
		_, err := db.Exec(`INSERT INTO messages (seq, entity, state, visible_at, origin, msg_id, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?)`, row...)
		require.NoError(t, err)
	}
	_, err = db.Exec(`INSERT INTO dedup_log VALUES (1, 'intake', 'm1', ?, ?, 1), (2, 'intake', 'esc', ?, ?, 2), (3, 'events', 'e1', ?, ?, 3)`,
		now+window, window, now+window, window, now+window, window)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO meta VALUES ('last_seq', 3)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	b, err := Open(path, Options{Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })

	var indexes int
	require.NoError(t, b.reads.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'messages_origin'`).Scan(&indexes))
	require.Zero(t, indexes, "the index only topics needed is dropped")

	require.NoError(t, b.Send(ctx, "intake", msg("m1")), "a duplicate of an old send")
	require.NoError(t, b.Send(ctx, "intake", msg("m2")))
	got := receiveNow(t, b, "intake", 10)
	require.Equal(t, []string{"m1", "m2"}, ids(got))
	require.Equal(t, int64(4), got[1].SequenceNumber, "sequence numbers go on from the old file's")
	for _, d := range got {
		require.NoError(t, b.Complete(ctx, d))
	}
	require.NoError(t, b.Cancel(ctx, "intake", 2), "a schedule from the old file cancels")

	ok, err := b.Exists("events/subscriptions/a")
	require.NoError(t, err)
	require.True(t, ok)
	clock.Advance(time.Hour)
	requireNothing(t, b, "intake")
	e1 := receiveNow(t, b, "events/subscriptions/a", 10)
	require.Equal(t, []string{"e1"}, ids(e1))
	require.NoError(t, b.Complete(ctx, e1[0]))
	require.NoError(t, b.Close())

	ro, err := OpenReadOnly(path)
	require.NoError(t, err)
	defer ro.Close()
	stats, err := ro.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, []EntityStats{{Name: "events/subscriptions/a"}, {Name: "intake"}}, stats)
}
