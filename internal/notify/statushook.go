package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/signedlink"
)

// headerDelivery names a status update on the wire: redeliveries repeat it.
const headerDelivery = "X-Vigil-Delivery"

const statusHookChannel = "status-webhook"

// StatusHook publishes to any other status page through a signed generic webhook.
//
// The request, Vigil's own stable contract, signed like the paging webhook:
//
//	POST <URL>
//	Content-Type: application/json
//	X-Vigil-Delivery: <update id>
//	X-Vigil-Timestamp: <unix seconds when sent>
//	X-Vigil-Signature: v1=<hex HMAC-SHA256(signing key, "<timestamp>.<body>")>
//
//	{"incidentId", "updateId", "title", "phase", "message", "components", "eta",
//	 "etaKind", "impact", "at"}
//
// components maps catalog component ids to statuses; eta and etaKind are left out
// once the incident is resolved, and impact when the author set none. The message
// is the author's own: the receiver shows the ETA as it sees fit. An update is
// sent until a 2xx answer, so the receiver drops a delivery id it has seen. 408,
// 429 (with Retry-After) and 5xx are retried; other answers are permanent.
type StatusHook struct {
	url  string
	hide []string
	key  []byte
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
// WithInsecureHTTP), signing with key (at least signedlink.MinKeyBytes of secret
// randomness). The URL is a secret: no error quotes it.
func NewStatusHook(url string, key []byte, opts ...ChannelOption) (*StatusHook, error) {
	if len(key) < signedlink.MinKeyBytes {
		return nil, fmt.Errorf("%s: signing key must be at least %d bytes", statusHookChannel, signedlink.MinKeyBytes)
	}
	cfg := newChannelConfig(opts)
	if !cfg.checkURL(url) {
		scheme := "an https"
		if cfg.insecureHTTP {
			scheme = "an http(s)"
		}
		return nil, fmt.Errorf("%s: the URL is not %s URL", statusHookChannel, scheme)
	}
	// The key never goes on the wire; hiding it too costs nothing.
	hide := append(urlSecrets(url), string(key))
	return &StatusHook{url: url, hide: hide, key: append([]byte(nil), key...), cfg: cfg}, nil
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
	ts := strconv.FormatInt(h.cfg.now().Unix(), 10)
	hd := http.Header{}
	hd.Set(headerDelivery, u.UpdateID)
	hd.Set(HeaderTimestamp, ts)
	hd.Set(HeaderSignature, WebhookSignature(h.key, ts, body))
	rq := request{channel: statusHookChannel, url: h.url, body: body, header: hd, secrets: h.hide}
	resp, err := h.cfg.send(ctx, rq)
	if err != nil {
		return err
	}
	return h.cfg.check(rq, resp)
}
