package localbus

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"vigil/internal/bus"
	"vigil/internal/fault"
)

// Exists reports whether queue entity was declared. A writable Bus answers
// from memory; a read-only one reads the database.
func (b *Bus) Exists(entity string) (bool, error) {
	if !b.readOnly {
		b.reg.mu.RLock()
		_, ok := b.reg.entities[entity]
		b.reg.mu.RUnlock()
		return ok, nil
	}
	var one int
	err := b.reads.QueryRowContext(context.Background(), `SELECT 1 FROM entities WHERE name = ?1`, entity).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("localbus: exists: %w", err)
	}
	return true, nil
}

// Stats counts each queue's messages by state, in name
// order. It reads from its own connection and never waits for the writer.
// Due scheduled messages and expired locks are classified by time, as Service
// Bus would show them, even if no Receive has moved them yet.
func (b *Bus) Stats(ctx context.Context) ([]EntityStats, error) {
	now := b.now().UnixNano()
	// One pass over messages (no index covers all states); entities with no
	// messages still get a row from the LEFT JOIN's left side.
	rows, err := b.reads.QueryContext(ctx, `
		WITH counts AS (
			SELECT m.entity,
				sum(m.state = 0 OR (m.state IN (1, 2) AND m.visible_at <= ?1
					AND NOT (m.state = 2 AND m.delivery_count >= e.max_delivery))) AS active,
				sum(m.state = 1 AND m.visible_at > ?1) AS scheduled,
				sum(m.state = 2 AND m.visible_at > ?1) AS locked,
				sum(m.state = 3 OR (m.state = 2 AND m.visible_at <= ?1 AND m.delivery_count >= e.max_delivery)) AS dead
			FROM messages m JOIN entities e ON e.name = m.entity
			GROUP BY m.entity)
		SELECT e.name, coalesce(c.active, 0), coalesce(c.scheduled, 0), coalesce(c.locked, 0), coalesce(c.dead, 0)
		FROM entities e LEFT JOIN counts c ON c.entity = e.name
		ORDER BY e.name`, now)
	if err != nil {
		return nil, fmt.Errorf("localbus: stats: %w", err)
	}
	defer rows.Close()
	var stats []EntityStats
	for rows.Next() {
		var s EntityStats
		if err := rows.Scan(&s.Name, &s.Active, &s.Scheduled, &s.Locked, &s.DeadLettered); err != nil {
			return nil, fmt.Errorf("localbus: stats: %w", err)
		}
		stats = append(stats, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localbus: stats: %w", err)
	}
	return stats, nil
}

// PeekDeadLetters returns up to max messages of entity's dead-letter queue,
// newest first, without changing them. A message whose last lock expired at
// MaxDeliveryCount is included (dead-lettered at its lock's expiry) even if no
// Receive has moved it yet.
func (b *Bus) PeekDeadLetters(ctx context.Context, entity string, max int) ([]DeadLetter, error) {
	if max < 1 {
		return nil, fault.InvalidField("max", "must be at least 1")
	}
	now := b.now().UnixNano()
	rows, err := b.reads.QueryContext(ctx, `
		SELECT seq, msg_id, body, content_type, subject, props, enqueued_at, delivery_count, reason, description, dl_at FROM (
			SELECT seq, msg_id, body, content_type, subject, props, enqueued_at, delivery_count,
				dl_reason AS reason, dl_description AS description, dl_at
			FROM messages WHERE entity = ?1 AND state = 3
			UNION ALL
			SELECT m.seq, m.msg_id, m.body, m.content_type, m.subject, m.props, m.enqueued_at, m.delivery_count,
				'`+ReasonMaxDeliveryCountExceeded+`', printf('Message could not be consumed after %d delivery attempts.', m.delivery_count), m.visible_at
			FROM messages m JOIN entities e ON e.name = m.entity
			WHERE m.entity = ?1 AND m.state IN (1, 2) AND m.visible_at <= ?2 AND m.state = 2 AND m.delivery_count >= e.max_delivery)
		ORDER BY dl_at DESC, seq DESC
		LIMIT ?3`, entity, now, max)
	if err != nil {
		return nil, fmt.Errorf("localbus: peek dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		d := DeadLetter{Entity: entity}
		var props sql.NullString
		var enqueued, at int64
		var reason, description sql.NullString
		if err := rows.Scan(&d.SequenceNumber, &d.ID, &d.Body, &d.ContentType, &d.Subject, &props, &enqueued,
			&d.DeliveryCount, &reason, &description, &at); err != nil {
			return nil, fmt.Errorf("localbus: peek dead letters: %w", err)
		}
		if d.Properties, err = decodeProps(props); err != nil {
			return nil, fmt.Errorf("localbus: peek dead letters: message %d: %w", d.SequenceNumber, err)
		}
		d.Reason, d.Description = reason.String, description.String
		d.EnqueuedAt, d.DeadLetteredAt = time.Unix(0, enqueued).UTC(), time.Unix(0, at).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localbus: peek dead letters: %w", err)
	}
	return out, nil
}

// Peeked is a message waiting on an entity (available, scheduled or locked),
// seen without locking it.
type Peeked struct {
	bus.Message
	Entity         string
	SequenceNumber int64
	DeliveryCount  int
	EnqueuedAt     time.Time
}

// PeekMessages returns up to max of the messages waiting on entity, newest
// first, without changing them: what an operator reads on a queue nothing
// receives from, such as the app's poison queue. A message whose last lock
// expired at MaxDeliveryCount is a dead letter (PeekDeadLetters), not here.
func (b *Bus) PeekMessages(ctx context.Context, entity string, max int) ([]Peeked, error) {
	if max < 1 {
		return nil, fault.InvalidField("max", "must be at least 1")
	}
	rows, err := b.reads.QueryContext(ctx, `
		SELECT m.seq, m.msg_id, m.body, m.content_type, m.subject, m.props, m.enqueued_at, m.delivery_count
		FROM messages m JOIN entities e ON e.name = m.entity
		WHERE m.entity = ?1 AND m.state IN (0, 1, 2)
			AND NOT (m.state = 2 AND m.visible_at <= ?2 AND m.delivery_count >= e.max_delivery)
		ORDER BY m.seq DESC
		LIMIT ?3`, entity, b.now().UnixNano(), max)
	if err != nil {
		return nil, fmt.Errorf("localbus: peek: %w", err)
	}
	defer rows.Close()
	var out []Peeked
	for rows.Next() {
		p := Peeked{Entity: entity}
		var props sql.NullString
		var enqueued int64
		if err := rows.Scan(&p.SequenceNumber, &p.ID, &p.Body, &p.ContentType, &p.Subject, &props, &enqueued, &p.DeliveryCount); err != nil {
			return nil, fmt.Errorf("localbus: peek: %w", err)
		}
		if p.Properties, err = decodeProps(props); err != nil {
			return nil, fmt.Errorf("localbus: peek: message %d: %w", p.SequenceNumber, err)
		}
		p.EnqueuedAt = time.Unix(0, enqueued).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localbus: peek: %w", err)
	}
	return out, nil
}
