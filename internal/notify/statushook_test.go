package notify

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
)

const statusHookPath = "/status/vigil/HOOKSECRETTOKEN"

func statusHookSetup(t *testing.T, reply func(http.ResponseWriter, hit)) (*stub, *StatusHook, string) {
	t.Helper()
	srv := newStub(t, reply)
	url := srv.URL + statusHookPath
	h, err := NewStatusHook(url, WebhookKeys{webhookKey}, testOpts...)
	require.NoError(t, err)
	return srv, h, url
}

func TestStatusHookPostsSignedJSON(t *testing.T) {
	srv, h, _ := statusHookSetup(t, answer(http.StatusAccepted, ""))
	u := statusUpdate()
	require.NoError(t, h.Publish(context.Background(), u))

	got := srv.last(t)
	assert.Equal(t, http.MethodPost, got.Method)
	assert.Equal(t, statusHookPath, got.Path)
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, "upd-1", got.Header.Get("webhook-id"), "the update id: the same on every retry")
	assert.Equal(t, strconv.FormatInt(clock().Unix(), 10), got.Header.Get("webhook-timestamp"))
	verify(t, webhookKey, got)

	assert.Equal(t, map[string]any{
		"incidentId": "INC-7QX2", "updateId": "upd-1", "title": "Checkout errors", "phase": "investigating",
		"message":    "Some customers cannot complete checkout. We are investigating.",
		"components": map[string]any{"core": "partial_outage", "billing": "degraded_performance"},
		"eta":        "2026-03-14T10:00:00Z", "etaKind": "next-update", "impact": "major",
		"at": "2026-03-14T09:26:53Z",
	}, decode(t, got.Body), "catalog component ids: the receiver maps them")
}

func TestStatusHookResolvedHasNoETA(t *testing.T) {
	srv, h, _ := statusHookSetup(t, answer(http.StatusOK, `{"ok":true}`))
	u := StatusUpdate{IncidentID: "INC-7QX2", UpdateID: "upd-9", Title: "Checkout errors", Phase: "resolved",
		Message: "Fixed.", ETA: t0.Add(time.Hour), ETAKind: "resolution", At: t0.In(time.FixedZone("CET", 3600))}
	require.NoError(t, h.Publish(context.Background(), u))
	body := decode(t, srv.last(t).Body)
	assert.ElementsMatch(t, []string{"incidentId", "updateId", "title", "phase", "message", "components", "at"}, keys(body))
	assert.Equal(t, map[string]any{}, body["components"])
	assert.Equal(t, "2026-03-14T09:26:53Z", body["at"], "times in UTC")
	verify(t, webhookKey, srv.last(t))
}

// Standard Webhooks' rule: 410 Gone refuses for good; every other failure is
// transient (the caller retries with back-off for a day), with the
// receiver's Retry-After when it gives one.
func TestStatusHookAnswers(t *testing.T) {
	for _, tc := range []struct {
		status int
		kind   fault.Kind
		retry  string
	}{
		{http.StatusGone, fault.Permanent, ""},
		{http.StatusBadRequest, fault.Transient, ""},
		{http.StatusUnauthorized, fault.Transient, ""},
		{http.StatusNotFound, fault.Transient, ""},
		{http.StatusRequestTimeout, fault.Transient, ""},
		{http.StatusTooManyRequests, fault.Transient, "3"},
		{http.StatusInternalServerError, fault.Transient, ""},
		{http.StatusServiceUnavailable, fault.Transient, "120"},
	} {
		var headers []string
		if tc.retry != "" {
			headers = []string{"Retry-After", tc.retry}
		}
		_, h, url := statusHookSetup(t, answer(tc.status, "no thanks, to "+statusHookPath, headers...))
		err := h.Publish(context.Background(), statusUpdate())
		require.Error(t, err)
		assert.Equal(t, tc.kind, fault.KindOf(err), "%d: %v", tc.status, err)
		assert.Contains(t, err.Error(), "HTTP "+strconv.Itoa(tc.status))
		noSecrets(t, err, url, statusHookPath, "HOOKSECRETTOKEN", string(webhookKey))
		d, ok := RetryAfter(err)
		if tc.retry == "" {
			assert.False(t, ok, "%d: the caller's back-off", tc.status)
			continue
		}
		secs, _ := strconv.Atoi(tc.retry)
		assert.True(t, ok, "%d", tc.status)
		assert.Equal(t, time.Duration(secs)*time.Second, d)
	}
}

func TestStatusHookNoAnswerIsTransient(t *testing.T) {
	srv := newStub(t, answer(200, "ok"))
	url := srv.URL + statusHookPath
	srv.Close()
	h, err := NewStatusHook(url, WebhookKeys{webhookKey}, testOpts...)
	require.NoError(t, err)
	err = h.Publish(context.Background(), statusUpdate())
	assert.True(t, fault.Is(err, fault.Transient), "%v", err)
	noSecrets(t, err, url, statusHookPath)
}

func TestNewStatusHookChecks(t *testing.T) {
	const url = "http://status.example.com/hook/SECRETPATH123"
	keys := WebhookKeys{webhookKey}
	_, err := NewStatusHook(url, WebhookKeys{[]byte("short")}, WithInsecureHTTP())
	assert.ErrorContains(t, err, "at least 32 bytes")
	_, err = NewStatusHook(url, nil, WithInsecureHTTP())
	assert.ErrorContains(t, err, "no signing key")
	_, err = NewStatusHook(url, keys)
	assert.ErrorContains(t, err, "https")
	noSecrets(t, err, url, "SECRETPATH123")
	_, err = NewStatusHook("not a url", keys)
	assert.Error(t, err)
	_, err = NewStatusHook(url, keys, WithInsecureHTTP())
	assert.NoError(t, err)
	_, err = NewStatusHook("https://status.example.com/hook", keys)
	assert.NoError(t, err)
}
