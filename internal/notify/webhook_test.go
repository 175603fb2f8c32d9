package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

const webhookPath = "/hooks/vigil/WEBHOOKSECRETPATH"

var webhookKey = []byte("0123456789abcdef0123456789abcdef-webhook")

func webhookSetup(t *testing.T, reply func(http.ResponseWriter, hit)) (*stub, *Webhook, string) {
	t.Helper()
	srv := newStub(t, reply)
	url := srv.URL + webhookPath
	ch, err := NewWebhook(secretsOf(map[string]string{"OPS_BRIDGE_URL": url}), webhookKey, testOpts...)
	require.NoError(t, err)
	return srv, ch, url
}

// verify checks a request the way a receiver would, without this package's code.
func verify(t *testing.T, key []byte, h hit) {
	t.Helper()
	ts := h.Header.Get("X-Vigil-Timestamp")
	sig := h.Header.Get("X-Vigil-Signature")
	require.True(t, strings.HasPrefix(sig, "v1="), "signature %q", sig)
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "v1="))
	require.NoError(t, err)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts + "." + string(h.Body)))
	require.True(t, hmac.Equal(m.Sum(nil), got), "the signature does not verify")
}

func TestWebhookPostsSignedJSON(t *testing.T) {
	srv, ch, _ := webhookSetup(t, answer(http.StatusNoContent, ""))
	n := page(incident.ChannelWebhook, "OPS_BRIDGE_URL")
	require.NoError(t, ch.Deliver(context.Background(), n))

	h := srv.last(t)
	assert.Equal(t, http.MethodPost, h.Method)
	assert.Equal(t, webhookPath, h.Path)
	assert.Equal(t, "application/json", h.Header.Get("Content-Type"))
	assert.Equal(t, n.Key, h.Header.Get("Idempotency-Key"))
	assert.Equal(t, strconv.FormatInt(clock().Unix(), 10), h.Header.Get("X-Vigil-Timestamp"))
	verify(t, webhookKey, h)
	assert.Equal(t, h.Header.Get("X-Vigil-Signature"), WebhookSignature(webhookKey, h.Header.Get("X-Vigil-Timestamp"), h.Body))

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

func TestWebhookSignatureChangesWithKeyAndBody(t *testing.T) {
	a := WebhookSignature(webhookKey, "1700000000", []byte(`{"a":1}`))
	assert.NotEqual(t, a, WebhookSignature(webhookKey, "1700000001", []byte(`{"a":1}`)))
	assert.NotEqual(t, a, WebhookSignature(webhookKey, "1700000000", []byte(`{"a":2}`)))
	assert.NotEqual(t, a, WebhookSignature([]byte("another key of at least thirty-two bytes"), "1700000000", []byte(`{"a":1}`)))
}

func TestNewWebhookRefusesWithoutAKey(t *testing.T) {
	s := secretsOf(nil)
	_, err := NewWebhook(s, nil)
	assert.ErrorContains(t, err, "no signing key")
	_, err = NewWebhook(s, []byte("short"))
	assert.ErrorContains(t, err, "at least 32 bytes")
	_, err = NewWebhook(s, webhookKey)
	assert.NoError(t, err)
}

func TestWebhookAnswers(t *testing.T) {
	for status, kind := range map[int]fault.Kind{
		http.StatusUnauthorized:        fault.Permanent,
		http.StatusUnprocessableEntity: fault.Permanent,
		http.StatusTooManyRequests:     fault.Transient,
		http.StatusGatewayTimeout:      fault.Transient,
	} {
		_, ch, url := webhookSetup(t, answer(status, "no thanks, to "+webhookPath))
		err := ch.Deliver(context.Background(), page(incident.ChannelWebhook, "OPS_BRIDGE_URL"))
		require.Error(t, err)
		assert.Equal(t, kind, fault.KindOf(err), "%d: %v", status, err)
		assert.Contains(t, err.Error(), "HTTP "+strconv.Itoa(status))
		noSecrets(t, err, url, webhookPath, "WEBHOOKSECRETPATH")
	}
}
