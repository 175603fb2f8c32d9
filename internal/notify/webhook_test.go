package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

const webhookPath = "/hooks/vigil/WEBHOOKSECRETPATH"

var (
	webhookKey = []byte("0123456789abcdef0123456789abcdef-webhook")
	// webhookSecret is webhookKey as a receiver is given it.
	webhookSecret = "whsec_" + base64.StdEncoding.EncodeToString(webhookKey)
	newKey        = []byte("fedcba9876543210fedcba9876543210-rotated")
	newSecret     = "whsec_" + base64.StdEncoding.EncodeToString(newKey)
)

// hookSecrets are the settings of one receiver: its URL and its key.
func hookSecrets(url, keys string) Secrets {
	return secretsOf(map[string]string{"OPS_BRIDGE_URL": url, "OPS_BRIDGE_URL_SIGNING_KEY": keys})
}

func webhookSetup(t *testing.T, reply func(http.ResponseWriter, hit)) (*stub, *Webhook, string) {
	t.Helper()
	srv := newStub(t, reply)
	url := srv.URL + webhookPath
	ch, err := NewWebhook(hookSecrets(url, webhookSecret), testOpts...)
	require.NoError(t, err)
	return srv, ch, url
}

// verify checks a request the way the Standard Webhooks spec describes,
// without this package's code: one of the space-separated v1 signatures is
// the base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>".
func verify(t *testing.T, key []byte, h hit) {
	t.Helper()
	id, ts := h.Header.Get("webhook-id"), h.Header.Get("webhook-timestamp")
	require.NotEmpty(t, id)
	require.NotContains(t, id, ".", "a dot would blur the signed content")
	_, err := strconv.ParseInt(ts, 10, 64)
	require.NoError(t, err, "webhook-timestamp is unix seconds")
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "." + string(h.Body)))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	require.Contains(t, strings.Fields(h.Header.Get("webhook-signature")), want, "no signature verifies")
}

func TestWebhookPostsSignedJSON(t *testing.T) {
	srv, ch, _ := webhookSetup(t, answer(http.StatusNoContent, ""))
	n := page(incident.ChannelWebhook, "OPS_BRIDGE_URL")
	require.NoError(t, ch.Deliver(context.Background(), n))

	h := srv.last(t)
	assert.Equal(t, http.MethodPost, h.Method)
	assert.Equal(t, webhookPath, h.Path)
	assert.Equal(t, "application/json", h.Header.Get("Content-Type"))
	assert.Equal(t, n.Key, h.Header.Get("webhook-id"), "the notification key: the same on every retry")
	assert.Equal(t, strconv.FormatInt(clock().Unix(), 10), h.Header.Get("webhook-timestamp"))
	verify(t, webhookKey, h)
	assert.Regexp(t, `^v1,[A-Za-z0-9+/]{43}=$`, h.Header.Get("webhook-signature"), "one key, one signature")
	for _, old := range []string{"X-Vigil-Signature", "X-Vigil-Timestamp", "Idempotency-Key"} {
		assert.Empty(t, h.Header.Get(old))
	}

	body := decode(t, h.Body)
	assert.Equal(t, map[string]any{
		"key": n.Key, "event": "incident-opened", "incidentId": "INC-7QX2",
		"severity": "sev1", "urgency": "high", "to": "Ada Lovelace",
		"subject": "Checkout is failing", "text": "Error rate 35% on checkout-api in westeurope",
		"link": testLink, "ackUrl": testAckURL, "createdAt": "2026-03-14T09:26:53Z",
	}, body, "the documented schema, and nothing else (no address, person or channel)")
}

func TestWebhookCaseNotificationSchema(t *testing.T) {
	srv, ch, _ := webhookSetup(t, answer(http.StatusOK, `{"received":true}`))
	n := incident.Notification{Key: "ntf:case", Event: incident.NotifyCaseReceived, CaseID: "CS-42",
		Severity: incident.Sev3, To: "Support", Channel: incident.ChannelWebhook, Address: "OPS_BRIDGE_URL",
		Subject: "New case", Text: "details", CreatedAt: t0}
	require.NoError(t, ch.Deliver(context.Background(), n))
	body := decode(t, srv.last(t).Body)
	assert.ElementsMatch(t, []string{"key", "event", "caseId", "severity", "to", "subject", "text", "createdAt"}, keys(body),
		"optional fields are omitted when empty")
	verify(t, webhookKey, srv.last(t))
}

func TestWebhookSignatureChangesWithKeyIDTimeAndBody(t *testing.T) {
	ks := WebhookKeys{webhookKey}
	a := ks.WebhookSignature("ntf:1", 1700000000, []byte(`{"a":1}`))
	assert.NotEqual(t, a, ks.WebhookSignature("ntf:2", 1700000000, []byte(`{"a":1}`)))
	assert.NotEqual(t, a, ks.WebhookSignature("ntf:1", 1700000001, []byte(`{"a":1}`)))
	assert.NotEqual(t, a, ks.WebhookSignature("ntf:1", 1700000000, []byte(`{"a":2}`)))
	assert.NotEqual(t, a, WebhookKeys{newKey}.WebhookSignature("ntf:1", 1700000000, []byte(`{"a":1}`)))
	assert.Equal(t, "msg_"+keyUUID("a.b"), webhookID("a.b"), "an id with a dot is replaced")
}

func TestParseWebhookKeys(t *testing.T) {
	ks, err := ParseWebhookKeys(webhookSecret)
	require.NoError(t, err)
	assert.Equal(t, WebhookKeys{webhookKey}, ks)
	ks, err = ParseWebhookKeys(" " + newSecret + "  " + base64.StdEncoding.EncodeToString(webhookKey) + "\n")
	require.NoError(t, err, "two keys while the key changes; whsec_ optional")
	assert.Equal(t, WebhookKeys{newKey, webhookKey}, ks)
	for text, want := range map[string]string{
		"": "no signing key",
		webhookSecret + " " + newSecret + " " + webhookSecret:                         "holds 3 keys",
		"whsec_!!!not-base64-secret!!!":                                               "not base64",
		"whsec_" + base64.StdEncoding.EncodeToString([]byte("short-secret")):          "is 12 bytes",
		base64.StdEncoding.EncodeToString(make([]byte, 65)):                           "is 65 bytes",
		"@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/hook-key/)": "did not resolve",
	} {
		_, err := ParseWebhookKeys(text)
		require.Error(t, err, text)
		assert.Contains(t, err.Error(), want)
		assert.NotContains(t, err.Error(), "not-base64-secret")
		assert.NotContains(t, err.Error(), "short-secret")
	}
}

func TestWebhookNeedsTheReceiversKey(t *testing.T) {
	srv := newStub(t, answer(http.StatusOK, ""))
	for keys, want := range map[string]string{
		"":                 `setting "OPS_BRIDGE_URL_SIGNING_KEY" is not set: each webhook receiver has its own signing key`,
		"whsec_c2hvcnQ=":   `setting "OPS_BRIDGE_URL_SIGNING_KEY" key 1 is 5 bytes`,
		"not base64 ! ! !": `setting "OPS_BRIDGE_URL_SIGNING_KEY" holds 5 keys`,
	} {
		ch, err := NewWebhook(hookSecrets(srv.URL+webhookPath, keys), testOpts...)
		require.NoError(t, err)
		err = ch.Deliver(context.Background(), page(incident.ChannelWebhook, "OPS_BRIDGE_URL"))
		require.Error(t, err)
		assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
		assert.Contains(t, err.Error(), want)
	}
	assert.Zero(t, srv.count(), "nothing unsigned is sent")
}

// Standard Webhooks' rule: 2xx delivered; 410 Gone stops; everything else is
// retried with back-off (the receiver's Retry-After when it gives one), for a
// day after the notification was created.
func TestWebhookAnswers(t *testing.T) {
	for _, tc := range []struct {
		status  int
		headers []string
		kind    fault.Kind
		wait    time.Duration
	}{
		{http.StatusGone, nil, fault.Permanent, 0},
		{http.StatusNotFound, nil, fault.Transient, 5 * time.Second},
		{http.StatusUnauthorized, nil, fault.Transient, 5 * time.Second},
		{http.StatusUnprocessableEntity, nil, fault.Transient, 5 * time.Second},
		{http.StatusTemporaryRedirect, nil, fault.Transient, 5 * time.Second},
		{http.StatusTooManyRequests, []string{"Retry-After", "90"}, fault.Transient, 90 * time.Second},
		{http.StatusGatewayTimeout, nil, fault.Transient, 5 * time.Second},
	} {
		_, ch, url := webhookSetup(t, answer(tc.status, "no thanks, to "+webhookPath, tc.headers...))
		err := ch.Deliver(context.Background(), page(incident.ChannelWebhook, "OPS_BRIDGE_URL"))
		require.Error(t, err)
		assert.Equal(t, tc.kind, fault.KindOf(err), "%d: %v", tc.status, err)
		assert.Contains(t, err.Error(), "HTTP "+strconv.Itoa(tc.status))
		noSecrets(t, err, url, webhookPath, "WEBHOOKSECRETPATH", string(webhookKey), webhookSecret)
		d, ok := RetryAfter(err)
		assert.Equal(t, tc.wait > 0, ok, "%d", tc.status)
		assert.Equal(t, tc.wait, d, "%d", tc.status)
	}
}

func TestWebhookBacksOffAndGivesUp(t *testing.T) {
	_, ch, _ := webhookSetup(t, answer(http.StatusNotFound, "not yet"))
	n := page(incident.ChannelWebhook, "OPS_BRIDGE_URL")
	var waits []time.Duration
	for deferrals := range 11 {
		n.Deferrals = deferrals
		d, ok := RetryAfter(ch.Deliver(context.Background(), n))
		require.True(t, ok)
		waits = append(waits, d)
	}
	assert.Equal(t, []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 5 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour}, waits)

	n.CreatedAt = clock().Add(-25 * time.Hour)
	err := ch.Deliver(context.Background(), n)
	assert.True(t, fault.Is(err, fault.Permanent), "past the day's budget: %v", err)
	assert.Contains(t, err.Error(), "gave up")

	srv := newStub(t, answer(200, "ok"))
	dead := srv.URL + webhookPath
	srv.Close()
	down, err := NewWebhook(hookSecrets(dead, webhookSecret), testOpts...)
	require.NoError(t, err)
	n.CreatedAt = t0
	err = down.Deliver(context.Background(), n)
	assert.True(t, fault.Is(err, fault.Transient), "%v", err)
	d, ok := RetryAfter(err)
	assert.True(t, ok, "no answer backs off too")
	assert.Equal(t, 8*time.Hour, d)
}

// A receiver of the vendor's own, verifying with a third-party Standard
// Webhooks library (the spec's Go library, timestamp tolerance included): it
// answers 401 to what it cannot verify, 204 otherwise, or what the test sets.
type receiver struct {
	*stub
	verifiers []*standardwebhooks.Webhook
}

func newReceiver(t *testing.T, secrets ...string) *receiver {
	t.Helper()
	rc := &receiver{}
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		require.NoError(t, err)
		rc.verifiers = append(rc.verifiers, wh)
	}
	rc.stub = newStub(t, func(w http.ResponseWriter, h hit) {
		for _, v := range rc.verifiers {
			if v.Verify(h.Body, h.Header) == nil {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	return rc
}

func TestAStandardWebhooksReceiverVerifiesVigil(t *testing.T) {
	ctx := context.Background()
	n := page(incident.ChannelWebhook, "OPS_BRIDGE_URL")
	n.CreatedAt = time.Now() // the library checks the timestamp against its own clock

	// A receiver that knows the key verifies; one with another key does not.
	rc := newReceiver(t, webhookSecret)
	ch, err := NewWebhook(hookSecrets(rc.URL+webhookPath, webhookSecret), WithInsecureHTTP())
	require.NoError(t, err)
	require.NoError(t, ch.Deliver(ctx, n))
	other := newReceiver(t, newSecret)
	ch, err = NewWebhook(hookSecrets(other.URL+webhookPath, webhookSecret), WithInsecureHTTP())
	require.NoError(t, err)
	err = ch.Deliver(ctx, n)
	assert.True(t, fault.Is(err, fault.Transient), "401 is retried, not dropped: %v", err)

	// During a change of key Vigil signs with both, so a receiver on either verifies.
	for _, secret := range []string{webhookSecret, newSecret} {
		rc := newReceiver(t, secret)
		ch, err := NewWebhook(hookSecrets(rc.URL+webhookPath, newSecret+" "+webhookSecret), WithInsecureHTTP())
		require.NoError(t, err)
		require.NoError(t, ch.Deliver(ctx, n), "receiver on %s", secret[:10])
	}

	// Status webhooks are signed the same way.
	rc = newReceiver(t, webhookSecret)
	hook, err := NewStatusHook(rc.URL+"/status", WebhookKeys{webhookKey}, WithInsecureHTTP())
	require.NoError(t, err)
	require.NoError(t, hook.Publish(ctx, statusUpdate()))
	assert.Equal(t, "upd-1", rc.last(t).Header.Get("webhook-id"))
}

// A receiver briefly answering 404 (a deployment in progress) gets the page
// once it is back; one answering 410 is not asked again.
func TestWebhookReceiverGoneOrBriefly404(t *testing.T) {
	ctx := context.Background()
	rc := newReceiver(t, webhookSecret)
	ch, err := NewWebhook(hookSecrets(rc.URL+webhookPath, webhookSecret), WithInsecureHTTP())
	require.NoError(t, err)
	n := page(incident.ChannelWebhook, "OPS_BRIDGE_URL")
	n.CreatedAt = time.Now()

	verifying := rc.reply
	rc.setReply(answer(http.StatusNotFound, "no such route yet"))
	err = ch.Deliver(ctx, n)
	require.True(t, fault.Is(err, fault.Transient), "%v", err)
	rc.setReply(verifying)
	require.NoError(t, ch.Deliver(ctx, n), "the retry arrives")

	rc.setReply(answer(http.StatusGone, "unsubscribed"))
	err = ch.Deliver(ctx, n)
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
	_, ok := RetryAfter(err)
	assert.False(t, ok)
}
