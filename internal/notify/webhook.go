package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/signedlink"
)

// Webhook posts the notification as JSON to a receiver of the vendor's own (an
// automation, a chat bridge, another paging tool), signed so the receiver can tell
// it came from Vigil.
//
// The request, Vigil's own stable contract:
//
//	POST <webhook URL>
//	Content-Type: application/json
//	Idempotency-Key: <notification key>
//	X-Vigil-Timestamp: <unix seconds when sent>
//	X-Vigil-Signature: v1=<hex HMAC-SHA256(signing key, "<timestamp>.<body>")>
//
//	WebhookPayload as JSON
//
// A receiver recomputes the signature over the timestamp header, a ".", and the
// raw body bytes with the shared key (WebhookSignature does it), compares in
// constant time, rejects timestamps more than a few minutes old, and drops a second
// delivery of an Idempotency-Key it has seen: a message is retried until a 2xx
// answer. 408, 429 (with Retry-After) and 5xx are retried; other answers park it.
//
// n.Address is the name of the app setting holding the receiver's URL.
type Webhook struct {
	secrets Secrets
	key     []byte
	cfg     channelConfig
}

// Headers of a generic webhook request.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderTimestamp      = "X-Vigil-Timestamp"
	HeaderSignature      = "X-Vigil-Signature"
)

// WebhookPayload is the body of a generic webhook request. Fields are added over
// time but never renamed or removed; receivers must ignore fields they do not know.
type WebhookPayload struct {
	// Key identifies the notification; redeliveries repeat it (and Idempotency-Key).
	Key string `json:"key"`
	// Event is "incident-opened" or "case-received".
	Event      string `json:"event"`
	IncidentID string `json:"incidentId,omitempty"`
	CaseID     string `json:"caseId,omitempty"`
	// Severity is "sev1" (worst) to "sev4", or "unset".
	Severity string `json:"severity"`
	// Urgency is "high" or "low" when known.
	Urgency string `json:"urgency,omitempty"`
	// To is the display name of the person notified.
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	// Link opens the incident or case in Vigil.
	Link string `json:"link,omitempty"`
	// AckURL acknowledges the incident as To (pages only); it expires.
	AckURL string `json:"ackUrl,omitempty"`
	// CreatedAt is when Vigil created the notification (RFC 3339, UTC).
	CreatedAt time.Time `json:"createdAt"`
}

// NewWebhook returns the generic webhook channel, signing with key (at least
// signedlink.MinKeyBytes of secret randomness). Without a key it refuses: unsigned
// pages would let anyone who learns a receiver's URL forge them.
func NewWebhook(secrets Secrets, key []byte, opts ...ChannelOption) (*Webhook, error) {
	if secrets == nil {
		return nil, fmt.Errorf("webhook: no settings lookup for webhook URLs")
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("webhook: no signing key")
	}
	if len(key) < signedlink.MinKeyBytes {
		return nil, fmt.Errorf("webhook: signing key must be at least %d bytes", signedlink.MinKeyBytes)
	}
	return &Webhook{secrets: secrets, key: append([]byte(nil), key...), cfg: newChannelConfig(opts)}, nil
}

// WebhookSignature is the X-Vigil-Signature value of body sent at timestamp (the
// X-Vigil-Timestamp value): "v1=" and the hex HMAC-SHA256 of "<timestamp>.<body>".
func WebhookSignature(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

func webhookPayload(n incident.Notification) WebhookPayload {
	return WebhookPayload{
		Key: n.Key, Event: n.Event, IncidentID: n.IncidentID, CaseID: n.CaseID,
		Severity: n.Severity.String(), Urgency: string(n.Urgency), To: n.To,
		Subject: n.Subject, Text: n.Text, Link: n.Link, AckURL: n.AckURL,
		CreatedAt: n.CreatedAt.UTC(),
	}
}

// Deliver posts n, signed, to the receiver n.Address names.
func (w *Webhook) Deliver(ctx context.Context, n incident.Notification) error {
	target, hide, err := w.cfg.webhookURL(incident.ChannelWebhook, w.secrets, n.Address)
	if err != nil {
		return err
	}
	body, err := json.Marshal(webhookPayload(n))
	if err != nil {
		return fault.Wrap(fault.Internal, err, "webhook: encoding %s", noteRef(n.Key))
	}
	ts := strconv.FormatInt(w.cfg.now().Unix(), 10)
	h := http.Header{}
	h.Set(HeaderIdempotencyKey, n.Key)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, WebhookSignature(w.key, ts, body))
	rq := request{channel: incident.ChannelWebhook, url: target, body: body, header: h,
		secrets: append(hide, linkSecrets(n)...)}
	resp, err := w.cfg.send(ctx, rq)
	if err != nil {
		return err
	}
	return w.cfg.check(rq, resp)
}
