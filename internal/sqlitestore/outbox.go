package sqlitestore

import (
	"context"
	"encoding/json"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

const outboxSchema = `
CREATE TABLE IF NOT EXISTS outbox (
	key        TEXT PRIMARY KEY,
	created_at INTEGER NOT NULL,
	doc        BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_created ON outbox(created_at DESC);
`

// Deliver records a notification in the local outbox: the channel `vigil local` uses
// until real ones are configured. A key already recorded is left as it is.
func (s *Store) Deliver(ctx context.Context, n incident.Notification) error {
	doc, err := json.Marshal(n)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encoding notification")
	}
	_, err = s.write.exec(ctx, stmtInsertOutbox,
		n.Key, n.CreatedAt.UnixNano(), doc)
	if err != nil {
		return fault.Wrap(fault.Transient, err, "recording notification %s", n.Key)
	}
	return nil
}

// Outbox lists recorded notifications, newest first.
func (s *Store) Outbox(ctx context.Context, limit int) ([]*incident.Notification, error) {
	return getMany[incident.Notification](ctx, s.read, `SELECT doc, 0 FROM outbox ORDER BY created_at DESC, key LIMIT ?`, limit)
}
