package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"vigil/internal/fault"
	"vigil/internal/signedlink"
)

// Vigil's own webhooks (paging webhooks, status webhooks) follow Standard
// Webhooks 1.0 (standardwebhooks.com), so that a receiver verifies them with
// any of that spec's libraries:
//
//	webhook-id:        <the delivery's id: the same on every retry>
//	webhook-timestamp: <unix seconds of this attempt>
//	webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")> [v1,<...>]
//
// Each receiver has its own signing key, in the app setting named like the
// setting of its URL with "_SIGNING_KEY" after it (a Key Vault reference in
// Azure). The setting holds one key, or two separated by a space while the
// key changes: Vigil then signs with both, and the receiver accepts either,
// so that it can move to the new key at its own pace. A key is
// "whsec_<base64>" (the spec's form) or plain base64, of 32 to 64 bytes.

// Standard Webhooks headers.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// WebhookKeySuffix follows the name of a receiver's URL setting to name the
// setting of its signing keys: OPS_BRIDGE_URL → OPS_BRIDGE_URL_SIGNING_KEY.
const WebhookKeySuffix = "_SIGNING_KEY"

const (
	webhookSecretPrefix = "whsec_"
	maxWebhookKeyBytes  = 64
	// maxWebhookKeys is one current key and, during a change, the old one.
	maxWebhookKeys = 2
)

// WebhookKeySetting names the setting holding the signing keys of the
// receiver whose URL setting is urlSetting.
func WebhookKeySetting(urlSetting string) string { return urlSetting + WebhookKeySuffix }

// WebhookKeys are one receiver's signing keys: every one signs each request.
type WebhookKeys [][]byte

// ParseWebhookKeys reads a key setting's value: one key, or two separated by
// white space. Errors never quote the value.
func ParseWebhookKeys(text string) (WebhookKeys, error) {
	fields := strings.Fields(text)
	switch {
	case len(fields) == 0:
		return nil, errors.New("holds no signing key")
	case len(fields) > maxWebhookKeys:
		return nil, fmt.Errorf("holds %d keys: one, or two while the key changes", len(fields))
	}
	var keys WebhookKeys
	for i, f := range fields {
		if strings.HasPrefix(f, "@Microsoft.KeyVault(") {
			return nil, errors.New("holds a Key Vault reference that did not resolve")
		}
		k, err := signedlink.ParseKey(strings.TrimPrefix(f, webhookSecretPrefix))
		switch {
		case err != nil:
			return nil, fmt.Errorf("key %d is not base64 (whsec_<base64> or base64)", i+1)
		case len(k) < signedlink.MinKeyBytes || len(k) > maxWebhookKeyBytes:
			return nil, fmt.Errorf("key %d is %d bytes: a signing key is %d to %d bytes of secret randomness", i+1, len(k), signedlink.MinKeyBytes, maxWebhookKeyBytes)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// WebhookSignature is the webhook-signature value of body sent as delivery id
// at ts: one "v1,<base64 HMAC-SHA256>" per key, space separated.
func (ks WebhookKeys) WebhookSignature(id string, ts int64, body []byte) string {
	sigs := make([]string, len(ks))
	for i, k := range ks {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(strconv.FormatInt(ts, 10)))
		m.Write([]byte{'.'})
		m.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return strings.Join(sigs, " ")
}

// secrets are the keys in the forms an error could echo them.
func (ks WebhookKeys) secrets() []string {
	var out []string
	for _, k := range ks {
		out = append(out, string(k), base64.StdEncoding.EncodeToString(k))
	}
	return out
}

// signedHeaders are the Standard Webhooks headers of body as delivery id.
func (ks WebhookKeys) signedHeaders(id string, now time.Time, body []byte) http.Header {
	ts := now.Unix()
	h := http.Header{}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderWebhookSignature, ks.WebhookSignature(id, ts, body))
	return h
}

// plainID is a delivery id as the spec wants it: no '.', which would blur
// the signed "<id>.<timestamp>.<body>".
var plainID = regexp.MustCompile(`^[A-Za-z0-9_:-]{1,128}$`)

// webhookID is the delivery id for key: key itself when plain, else a
// name-based UUID of it.
func webhookID(key string) string {
	if plainID.MatchString(key) {
		return key
	}
	return "msg_" + keyUUID(key)
}

// webhookKeys reads the signing keys of the receiver whose URL setting is
// urlSetting, for channel; errors name the setting, never its value.
func webhookKeys(channel string, secrets Secrets, urlSetting string) (WebhookKeys, error) {
	name := WebhookKeySetting(urlSetting)
	v, ok := secrets(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fault.New(fault.Permanent, "%s: setting %q is not set: each webhook receiver has its own signing key", channel, name)
	}
	keys, err := ParseWebhookKeys(v)
	if err != nil {
		return nil, fault.New(fault.Permanent, "%s: setting %q %s", channel, name, err)
	}
	return keys, nil
}

// Webhook answers, as Standard Webhooks asks: 2xx is delivered; 410 Gone
// means the receiver wants no more, so the delivery stops; anything else (a
// redirect, 401, 404, 429, 5xx, no answer) is a failure retried with
// back-off, within webhookRetryBudget.
func webhookKind(status int) fault.Kind {
	if status == http.StatusGone {
		return fault.Permanent
	}
	return fault.Transient
}

// webhookRetryBudget is how long after its creation a webhook delivery is
// still retried.
const webhookRetryBudget = 24 * time.Hour

// webhookBackoff is the wait before the retry that follows attempt (0 the
// first): ten steps over about sixteen hours, after the spec's example
// schedule, shorter at first because a page is urgent.
var webhookBackoff = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 5 * time.Minute,
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour}

func backoffAfter(attempt int) time.Duration {
	return webhookBackoff[min(max(attempt, 0), len(webhookBackoff)-1)]
}

// retryAfterError carries the delay before a retry that the service did not
// give but the channel's rule sets (RetryAfter reads it).
type retryAfterError struct {
	err  error
	wait time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }
