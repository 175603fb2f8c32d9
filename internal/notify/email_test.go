package notify

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

const emailSender = "DoNotReply@notify.vigil.example.com"

var uuidV5 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// emailAccepted answers like ACS: 202 with the operation's status and where to poll it.
func emailAccepted(w http.ResponseWriter, h hit) {
	id := h.Header.Get("Operation-Id")
	answer(http.StatusAccepted, `{"id":"`+id+`","status":"Running"}`,
		"Operation-Location", "https://acs.example/emails/operations/"+id+"?api-version=2023-03-31",
		"Retry-After", "30")(w, h)
}

func emailSetup(t *testing.T, reply func(http.ResponseWriter, hit), opts ...ChannelOption) (*stub, *Email, *fakeCred) {
	t.Helper()
	srv := newStub(t, reply)
	cred := newFakeCred()
	ch, err := NewEmail(srv.URL+"/", emailSender, cred, append(testOpts, opts...)...)
	require.NoError(t, err)
	return srv, ch, cred
}

func TestEmailSendsThroughACS(t *testing.T) {
	srv, ch, cred := emailSetup(t, emailAccepted)
	n := page(incident.ChannelEmail, "ada@example.com")
	require.NoError(t, ch.Deliver(context.Background(), n))

	h := srv.last(t)
	assert.Equal(t, http.MethodPost, h.Method)
	assert.Equal(t, "/emails:send", h.Path)
	q, err := url.ParseQuery(h.Query)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"api-version": {"2023-03-31"}}, q)
	assert.Equal(t, "application/json", h.Header.Get("Content-Type"))
	assert.Equal(t, "Bearer "+testToken, h.Header.Get("Authorization"))
	assert.Equal(t, [][]string{{"https://communication.azure.com/.default"}}, cred.scopes)

	opID := h.Header.Get("Operation-Id")
	assert.Regexp(t, uuidV5, opID, "Operation-Id is a UUID")
	assert.Equal(t, keyUUID(n.Key), opID, "derived from the key, so a redelivery names the same operation")
	assert.Equal(t, opID, h.Header.Get("Repeatability-Request-Id"))
	assert.Equal(t, "Sat, 14 Mar 2026 09:26:53 GMT", h.Header.Get("Repeatability-First-Sent"))

	msg := decode(t, h.Body)
	assert.ElementsMatch(t, []string{"senderAddress", "content", "recipients", "userEngagementTrackingDisabled"}, keys(msg))
	assert.Equal(t, emailSender, msg["senderAddress"])
	assert.Equal(t, true, msg["userEngagementTrackingDisabled"])
	content := obj(t, msg["content"])
	assert.ElementsMatch(t, []string{"subject", "plainText", "html"}, keys(content))
	assert.Equal(t, "[SEV1] Checkout is failing", content["subject"])
	plain := content["plainText"].(string)
	for _, want := range []string{"Checkout is failing", "Severity: SEV1", "Urgency: high", n.Text,
		"Acknowledge: " + testAckURL, "Open incident: " + testLink} {
		assert.Contains(t, plain, want)
	}
	html := content["html"].(string)
	assert.Contains(t, html, `<a href="https://vigil.example.com/ack/INC-7QX2?t=SIGNEDACKTOKEN"><strong>Acknowledge</strong></a>`)
	assert.Contains(t, html, `<a href="`+testLink+`">Open incident</a>`)
	rcpts := obj(t, msg["recipients"])
	assert.ElementsMatch(t, []string{"to"}, keys(rcpts))
	to := arr(t, rcpts["to"])
	require.Len(t, to, 1)
	assert.Equal(t, map[string]any{"address": "ada@example.com", "displayName": "Ada Lovelace"}, to[0])
}

func TestEmailEscapesHTML(t *testing.T) {
	srv, ch, _ := emailSetup(t, emailAccepted)
	n := page(incident.ChannelEmail, "ada@example.com")
	n.Subject, n.Text = `<img src=x onerror=alert(1)>`, `a & b <b>`
	require.NoError(t, ch.Deliver(context.Background(), n))
	html := obj(t, decode(t, srv.last(t).Body)["content"])["html"].(string)
	assert.NotContains(t, html, "<img")
	assert.Contains(t, html, "&lt;img src=x onerror=alert(1)&gt;")
	assert.Contains(t, html, "a &amp; b &lt;b&gt;")
}

func TestEmailOldNotificationGoesWithoutRepeatability(t *testing.T) {
	srv, ch, _ := emailSetup(t, emailAccepted)
	n := page(incident.ChannelEmail, "ada@example.com")
	n.CreatedAt = clock().Add(-10 * time.Minute) // past ACS's 5-minute tracking window
	require.NoError(t, ch.Deliver(context.Background(), n))
	h := srv.last(t)
	assert.Equal(t, keyUUID(n.Key), h.Header.Get("Operation-Id"), "still names its operation")
	assert.Empty(t, h.Header.Get("Repeatability-Request-Id"))
	assert.Empty(t, h.Header.Get("Repeatability-First-Sent"))
}

func TestEmailTokenIsCachedAndRenewed(t *testing.T) {
	now := clock()
	srv, ch, cred := emailSetup(t, emailAccepted, WithClock(func() time.Time { return now }))
	n := page(incident.ChannelEmail, "ada@example.com")
	require.NoError(t, ch.Deliver(context.Background(), n))
	require.NoError(t, ch.Deliver(context.Background(), n))
	assert.Equal(t, 1, cred.callCount(), "one token for both sends")

	now = t0.Add(56 * time.Minute) // within 5 minutes of expiry
	require.NoError(t, ch.Deliver(context.Background(), n))
	assert.Equal(t, 2, cred.callCount(), "renewed before it expires")
	assert.Equal(t, 3, srv.count())
}

func TestEmailAnswers(t *testing.T) {
	acsError := func(code, message string) string {
		return `{"error":{"code":"` + code + `","message":"` + message + `"}}`
	}
	cases := []struct {
		name       string
		status     int
		body       string
		headers    []string
		kind       fault.Kind
		retryAfter time.Duration
	}{
		{"bad request", 400, acsError("InvalidRequest", "The sender address is not valid."), nil, fault.Permanent, 0},
		{"forbidden", 403, acsError("Forbidden", "The identity has no role on the resource."), nil, fault.Permanent, 0},
		{"throttled", 429, acsError("TooManyRequests", "Rate limit exceeded."), []string{"Retry-After", "42"}, fault.Transient, 42 * time.Second},
		{"throttled ms", 429, "", []string{"retry-after-ms", "1500"}, fault.Transient, 1500 * time.Millisecond},
		{"server error", 500, acsError("InternalServerError", "boom"), nil, fault.Transient, 0},
		{"unavailable", 503, "", []string{"Retry-After", "5"}, fault.Transient, 5 * time.Second},
		{"first request still running", 409, acsError("Conflict", "in progress"), nil, fault.Transient, 0},
		{"repeatability window passed", 412, acsError("PreconditionFailed", "Repeatability-First-Sent is not in the 5 minute window."), nil, fault.Transient, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, ch, _ := emailSetup(t, answer(tc.status, tc.body, tc.headers...))
			err := ch.Deliver(context.Background(), page(incident.ChannelEmail, "ada@example.com"))
			require.Error(t, err)
			assert.Equal(t, tc.kind, fault.KindOf(err), "%v", err)
			assert.Contains(t, err.Error(), "email: ")
			if tc.body != "" {
				assert.Contains(t, err.Error(), strings.TrimSuffix(tc.body[:40], `"`))
			}
			noSecrets(t, err, testToken, srv.URL, testAckURL)
			d, ok := RetryAfter(err)
			assert.Equal(t, tc.retryAfter > 0, ok)
			assert.Equal(t, tc.retryAfter, d)
		})
	}
}

func TestEmail401DropsTheTokenAndRetries(t *testing.T) {
	srv, ch, cred := emailSetup(t, answer(http.StatusUnauthorized, `{"error":{"code":"Unauthorized","message":"token expired"}}`))
	n := page(incident.ChannelEmail, "ada@example.com")
	err := ch.Deliver(context.Background(), n)
	assert.True(t, fault.Is(err, fault.Transient), "%v", err)
	noSecrets(t, err, testToken)

	srv.setReply(emailAccepted)
	require.NoError(t, ch.Deliver(context.Background(), n))
	assert.Equal(t, 2, cred.callCount(), "a fresh token after the 401")
}

func TestEmailCredentialFailure(t *testing.T) {
	srv, ch, cred := emailSetup(t, emailAccepted)
	cred.err = errors.New("ManagedIdentityCredential: no identity endpoint")
	err := ch.Deliver(context.Background(), page(incident.ChannelEmail, "ada@example.com"))
	assert.True(t, fault.Is(err, fault.Transient), "%v", err)
	assert.Contains(t, err.Error(), "no identity endpoint")
	assert.Equal(t, 0, srv.count(), "nothing is sent without a token")
}

func TestEmailRefusesABadAddress(t *testing.T) {
	srv, ch, _ := emailSetup(t, emailAccepted)
	err := ch.Deliver(context.Background(), page(incident.ChannelEmail, "not an address"))
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
	assert.Equal(t, 0, srv.count())
}

func TestNewEmailChecksItsSettings(t *testing.T) {
	cred := newFakeCred()
	_, err := NewEmail("https://vigil.communication.azure.com", emailSender, nil)
	assert.ErrorContains(t, err, "credential")
	_, err = NewEmail("http://vigil.communication.azure.com", emailSender, cred)
	assert.ErrorContains(t, err, "https", "plain http only with WithInsecureHTTP")
	_, err = NewEmail("vigil.communication.azure.com", emailSender, cred)
	assert.Error(t, err)
	_, err = NewEmail("https://vigil.communication.azure.com?x=1", emailSender, cred)
	assert.Error(t, err)
	_, err = NewEmail("https://vigil.communication.azure.com", "Vigil <a@b.example>", cred)
	assert.ErrorContains(t, err, "sender")
	_, err = NewEmail("https://vigil.communication.azure.com/", emailSender, cred)
	assert.NoError(t, err)
}

func TestKeyUUID(t *testing.T) {
	a, b := keyUUID("ntf:a"), keyUUID("ntf:b")
	assert.Regexp(t, uuidV5, a)
	assert.Equal(t, a, keyUUID("ntf:a"))
	assert.NotEqual(t, a, b)
}
