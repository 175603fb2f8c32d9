package app

import (
	"context"
	"maps"
	"time"

	"vigil/internal/bus"
	"vigil/internal/fault"
	"vigil/internal/keys"
)

// Poison parks messages that can never succeed on the poison queue, with
// their reason, for an operator: a custom handler cannot dead-letter a
// message itself.
type Poison struct{ *core }

// Park puts a message of queue that failed for good on the poison queue. Its
// id derives from the source message's id and body, so a redelivery of the
// same message parks it once, while two different messages that claim the same
// id (a body field can overwrite the MessageId the host passes) both stay.
func (p *Poison) Park(ctx context.Context, queue, messageID string, body []byte, cause error, now time.Time) error {
	return p.park(ctx, queue, messageID, body, cause, nil, now)
}

// park is Park with more properties to record (Retries adds the attempts).
func (c *core) park(ctx context.Context, queue, messageID string, body []byte, cause error, more map[string]string, now time.Time) error {
	id := "poison:" + queue + ":" + keys.Hash(messageID, string(body))
	props := map[string]string{
		"sourceQueue":     queue,
		"sourceMessageId": truncate(messageID, bus.MaxIDLength),
		"reason":          fault.KindOf(cause).String(),
		"description":     truncate(cause.Error(), 1024),
		"parkedAt":        now.UTC().Format(time.RFC3339),
	}
	maps.Copy(props, more)
	err := c.send(ctx, QueuePoison, bus.Message{
		ID:          id,
		Body:        body,
		ContentType: "application/json",
		Subject:     queue,
		Properties:  props,
	})
	if err == nil {
		c.log.WarnContext(ctx, "poison message parked", "queue", queue, "messageId", messageID, "reason", cause.Error())
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
