package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// Webhook posts the notification as JSON to a receiver of the vendor's own (an
// automation, a chat bridge, another paging tool), signed as Standard Webhooks
// asks (webhooksign.go) so that the receiver can tell it came from Vigil and
// verify it with any of that spec's libraries:
//
//	POST <webhook URL>
//	Content-Type: application/json
//	webhook-id: <notification key: the same on every retry>
//	webhook-timestamp: <unix seconds of this attempt>
//	webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")> [v1,<...>]
//
//	WebhookPayload as JSON
//
// n.Address is the name of the app setting holding the receiver's URL; the
// setting of the same name with "_SIGNING_KEY" after it holds its signing key
// (two during a change of key). A receiver checks the signature and the
// timestamp (a few minutes' tolerance) and drops a webhook-id it has seen: a
// delivery is retried until a 2xx answer. 410 Gone stops it; any other
// failure is retried with back-off (5 s, 30 s, 2 min, 5 min, ... 8 h, or the
// receiver's Retry-After) for a day after the notification was created.
type Webhook struct {
	secrets Secrets
	cfg     channelConfig
}

// WebhookPayload is the body of a generic webhook request. Fields are added over
// time but never renamed or removed; receivers must ignore fields they do not know.
type WebhookPayload struct {
	// Key identifies the notification; redeliveries repeat it (and webhook-id).
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

// NewWebhook returns the generic webhook channel; secrets resolves the
// setting names notifications carry to receivers' URLs and signing keys.
// Without a receiver's key it refuses to send: unsigned pages would let anyone
// who learns a receiver's URL forge them.
func NewWebhook(secrets Secrets, opts ...ChannelOption) (*Webhook, error) {
	if secrets == nil {
		return nil, fmt.Errorf("webhook: no settings lookup for webhook URLs")
	}
	return &Webhook{secrets: secrets, cfg: newChannelConfig(opts)}, nil
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
	keys, err := webhookKeys(incident.ChannelWebhook, w.secrets, n.Address)
	if err != nil {
		return err
	}
	body, err := json.Marshal(webhookPayload(n))
	if err != nil {
		return fault.Wrap(fault.Internal, err, "webhook: encoding %s", noteRef(n.Key))
	}
	now := w.cfg.now()
	rq := request{channel: incident.ChannelWebhook, url: target, body: body,
		header:  keys.signedHeaders(webhookID(n.Key), now, body),
		secrets: append(append(hide, linkSecrets(n)...), keys.secrets()...)}
	resp, err := w.cfg.send(ctx, rq)
	if err == nil {
		if success(resp.status) {
			return nil
		}
		err = w.cfg.failure(rq, resp, webhookKind(resp.status))
	}
	if !fault.Is(err, fault.Transient) {
		return err
	}
	if !n.CreatedAt.IsZero() && now.Sub(n.CreatedAt) > webhookRetryBudget {
		return fault.Wrap(fault.Permanent, err, "webhook: gave up on %s, %s after it was created", noteRef(n.Key), webhookRetryBudget)
	}
	if _, asked := RetryAfter(err); !asked {
		err = &retryAfterError{err: err, wait: backoffAfter(n.Deferrals)}
	}
	return err
}
