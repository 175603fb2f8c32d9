package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/signedlink"
)

const statusHookChannel = "status-webhook"

// StatusHook publishes to any other status page through a webhook signed as
// Standard Webhooks asks, like the paging webhook (webhooksign.go):
//
//	POST <URL>
//	Content-Type: application/json
//	webhook-id: <update id: the same on every retry>
//	webhook-timestamp: <unix seconds of this attempt>
//	webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")> [v1,<...>]
//
//	{"incidentId", "updateId", "title", "phase", "message", "components", "eta",
//	 "etaKind", "impact", "at"}
//
// components maps catalog component ids to statuses; eta and etaKind are left out
// once the incident is resolved, and impact when the author set none. The message
// is the author's own: the receiver shows the ETA as it sees fit. An update is
// sent until a 2xx answer, so the receiver drops a webhook-id it has seen. 410
// Gone refuses it for good; any other failure is transient (the caller retries
// with back-off, for a day).
type StatusHook struct {
	url  string
	hide []string
	keys WebhookKeys
	cfg  channelConfig
}

// statusHookPayload is the body of a status webhook request. Fields are added
// over time but never renamed or removed.
type statusHookPayload struct {
	IncidentID string            `json:"incidentId"`
	UpdateID   string            `json:"updateId"`
	Title      string            `json:"title"`
	Phase      string            `json:"phase"`
	Message    string            `json:"message"`
	Components map[string]string `json:"components"`
	ETA        time.Time         `json:"eta,omitzero"`
	ETAKind    string            `json:"etaKind,omitempty"`
	Impact     string            `json:"impact,omitempty"`
	At         time.Time         `json:"at"`
}

// NewStatusHook returns the publisher posting to url (https, unless
// WithInsecureHTTP), signing with keys (the receiver's own: ParseWebhookKeys).
// The URL is a secret: no error quotes it.
func NewStatusHook(url string, keys WebhookKeys, opts ...ChannelOption) (*StatusHook, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no signing key", statusHookChannel)
	}
	for _, k := range keys {
		if len(k) < signedlink.MinKeyBytes {
			return nil, fmt.Errorf("%s: signing key must be at least %d bytes", statusHookChannel, signedlink.MinKeyBytes)
		}
	}
	cfg := newChannelConfig(opts)
	if !cfg.checkURL(url) {
		scheme := "an https"
		if cfg.insecureHTTP {
			scheme = "an http(s)"
		}
		return nil, fmt.Errorf("%s: the URL is not %s URL", statusHookChannel, scheme)
	}
	// The keys never go on the wire; hiding them too costs nothing.
	hide := append(urlSecrets(url), keys.secrets()...)
	return &StatusHook{url: url, hide: hide, keys: slices.Clone(keys), cfg: cfg}, nil
}

// urlSecrets are the forms of a webhook URL an answer might quote: the whole of
// it, and its path and query when long enough to be secret.
func urlSecrets(raw string) []string {
	hide := []string{raw}
	if u, err := url.Parse(raw); err == nil {
		for _, p := range []string{u.RequestURI(), u.EscapedPath(), u.RawQuery} {
			if len(p) >= minSecretPath {
				hide = append(hide, p)
			}
		}
	}
	return hide
}

// Publish posts u, signed.
func (h *StatusHook) Publish(ctx context.Context, u StatusUpdate) error {
	if err := u.validate(); err != nil {
		return err
	}
	p := statusHookPayload{
		IncidentID: u.IncidentID, UpdateID: u.UpdateID, Title: u.Title, Phase: u.Phase, Message: u.Message,
		Components: u.Components, ETAKind: u.ETAKind, Impact: u.Impact, At: u.At.UTC(),
	}
	if p.Components == nil {
		p.Components = map[string]string{}
	}
	if u.Phase != string(incident.PhaseResolved) {
		p.ETA = u.ETA.UTC()
	} else {
		p.ETAKind = ""
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "%s: encoding update %s", statusHookChannel, u.UpdateID)
	}
	rq := request{channel: statusHookChannel, url: h.url, body: body,
		header: h.keys.signedHeaders(webhookID(u.UpdateID), h.cfg.now(), body), secrets: h.hide}
	resp, err := h.cfg.send(ctx, rq)
	if err != nil || success(resp.status) {
		return err
	}
	return h.cfg.failure(rq, resp, webhookKind(resp.status))
}
