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
	"vigil/internal/notify/acstest"
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

// acsSetup is the e-mail channel in front of the ACS test server.
func acsSetup(t *testing.T, opts ...ChannelOption) (*acstest.Server, *Email, *fakeCred) {
	t.Helper()
	srv := acstest.New(t, testToken)
	cred := newFakeCred()
	ch, err := NewEmail(srv.URL()+"/", emailSender, cred, append(testOpts, opts...)...)
	require.NoError(t, err)
	return srv, ch, cred
}

func TestEmailSendsThroughACS(t *testing.T) {
	srv, ch, cred := acsSetup(t)
	n := page(incident.ChannelEmail, "ada@example.com")
	require.NoError(t, ch.Deliver(context.Background(), n))

	sent := srv.Emails()
	require.Len(t, sent, 1)
	assert.Equal(t, [][]string{{"https://communication.azure.com/.default"}}, cred.scopes)
	opID := sent[0].OperationID
	assert.Regexp(t, uuidV5, opID, "Operation-Id is a UUID")
	assert.Equal(t, keyUUID(n.Key), opID, "derived from the key, so a redelivery names the same operation")

	msg := sent[0].Message
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

// The request on the wire: the documented path, version and headers, and no
// Repeatability-* header (only the 2021-10-01 preview had them; the service
// answers 501 to an operation that does not support them).
func TestEmailRequestHeaders(t *testing.T) {
	srv, ch, _ := emailSetup(t, emailAccepted)
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
	assert.Equal(t, keyUUID(n.Key), h.Header.Get("Operation-Id"))
	for name := range h.Header {
		assert.False(t, strings.HasPrefix(strings.ToLower(name), "repeatability-"), "sends %s", name)
	}
}

// A redelivery names the same operation: the service answers it again and
// sends one e-mail.
func TestEmailRedeliveryIsOneOperation(t *testing.T) {
	srv, ch, _ := acsSetup(t)
	n := page(incident.ChannelEmail, "ada@example.com")
	n.CreatedAt = clock().Add(-time.Hour) // long after any repeatability window: the operation id is what counts
	first, err := ch.Send(context.Background(), n)
	require.NoError(t, err)
	again, err := ch.Send(context.Background(), n)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	assert.Len(t, srv.Emails(), 1)
}

func TestEmailEscapesHTML(t *testing.T) {
	srv, ch, _ := acsSetup(t)
	n := page(incident.ChannelEmail, "ada@example.com")
	n.Subject, n.Text = `<img src=x onerror=alert(1)>`, `a & b <b>`
	require.NoError(t, ch.Deliver(context.Background(), n))
	html := obj(t, srv.Emails()[0].Message["content"])["html"].(string)
	assert.NotContains(t, html, "<img")
	assert.Contains(t, html, "&lt;img src=x onerror=alert(1)&gt;")
	assert.Contains(t, html, "a &amp; b &lt;b&gt;")
}

// 202 is "accepted", not "delivered": Send names the operation, and Follow
// checks it until the service says how it ended.
func TestEmailAcceptedIsFollowedToItsEnd(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		outcome acstest.Outcome
		polls   int // checks that answer Pending
		want    OutcomeState
		says    string
	}{
		{"succeeds", acstest.Outcome{Polls: 2, Status: acstest.Succeeded}, 2, Delivered, ""},
		{"fails", acstest.Outcome{Polls: 1, Status: acstest.Failed, Code: "EmailDropped", Message: "Email was dropped after several attempts to deliver."},
			1, Failed, "EmailDropped: Email was dropped after several attempts to deliver."},
		{"is canceled", acstest.Outcome{Polls: 0, Status: acstest.Canceled, Code: "Canceled", Message: "The operation was canceled."},
			0, Failed, "operation Canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, ch, _ := acsSetup(t)
			srv.EmailOutcome("ada@example.com", tc.outcome)
			n := page(incident.ChannelEmail, "ada@example.com")
			d, err := ch.Send(ctx, n)
			require.NoError(t, err)
			require.NotNil(t, d.FollowUp, "accepted, not delivered")
			assert.Equal(t, FollowUp{Channel: incident.ChannelEmail, Operation: keyUUID(n.Key)}, *d.FollowUp)
			assert.Equal(t, 5*time.Second, d.CheckAfter, "the service's retry-after")

			for i := range tc.polls {
				o, err := ch.Follow(ctx, n, *d.FollowUp)
				require.NoError(t, err)
				assert.Equal(t, Pending, o.State, "check %d", i)
				assert.Equal(t, 5*time.Second, o.CheckAfter)
			}
			o, err := ch.Follow(ctx, n, *d.FollowUp)
			require.NoError(t, err)
			assert.Equal(t, tc.want, o.State, "%v", o)
			if tc.want == Delivered {
				assert.NoError(t, o.Err)
				return
			}
			require.Error(t, o.Err)
			assert.True(t, fault.Is(o.Err, fault.Permanent), "%v", o.Err)
			assert.Contains(t, o.Err.Error(), tc.says)
			var oe *OperationError
			require.ErrorAs(t, o.Err, &oe)
			assert.Equal(t, tc.outcome.Status, oe.Status)
			assert.Equal(t, tc.outcome.Code, oe.Code)
			noSecrets(t, o.Err, testToken, testAckURL)
		})
	}
}

// Through the router, as the application will use it.
func TestRouterSendsAndFollowsEmail(t *testing.T) {
	srv, ch, _ := acsSetup(t)
	srv.EmailOutcome("ada@example.com", acstest.Outcome{Polls: 0, Status: acstest.Failed, Code: "EmailDropped", Message: "dropped"})
	outbox := &recorder{}
	r := NewRouter(WithChannel(incident.ChannelEmail, ch), OutboxCopy(outbox))
	n := page(incident.ChannelEmail, "ada@example.com")
	d, err := r.Send(context.Background(), n)
	require.NoError(t, err)
	require.NotNil(t, d.FollowUp)
	o, err := r.Follow(context.Background(), n, *d.FollowUp)
	require.NoError(t, err)
	assert.Equal(t, Failed, o.State)
	assert.Len(t, outbox.keys(), 1)

	// A follow-up that is not the notification's is refused, not sent.
	_, err = r.Follow(context.Background(), n, FollowUp{Channel: incident.ChannelSMS, Operation: "x"})
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
	only := NewRouter(WithChannel(incident.ChannelEmail, ch), OutboxOnly(outbox))
	d, err = only.Send(context.Background(), n)
	require.NoError(t, err)
	assert.Nil(t, d.FollowUp, "nothing was sent")
	_, err = only.Follow(context.Background(), n, FollowUp{Channel: incident.ChannelEmail, Operation: keyUUID(n.Key)})
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
}

func TestEmailFollowAnswers(t *testing.T) {
	ctx := context.Background()
	n := page(incident.ChannelEmail, "ada@example.com")
	f := FollowUp{Channel: incident.ChannelEmail, Operation: keyUUID(n.Key)}

	srv, ch, _ := acsSetup(t)
	o, err := ch.Follow(ctx, n, f)
	require.NoError(t, err, "an operation the service does not know is an answer")
	assert.Equal(t, Failed, o.State, "its outcome is unknown: not delivered")
	var oe *OperationError
	require.ErrorAs(t, o.Err, &oe)
	assert.Equal(t, "NotFound", oe.Status)
	assert.Empty(t, srv.Refusals())

	_, err = ch.Follow(ctx, n, FollowUp{Channel: incident.ChannelEmail, Operation: "../sms"})
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)

	for status, kind := range map[int]fault.Kind{
		http.StatusTooManyRequests:    fault.Transient,
		http.StatusServiceUnavailable: fault.Transient,
		http.StatusUnauthorized:       fault.Transient,
		http.StatusForbidden:          fault.Permanent,
	} {
		stub, ch, _ := emailSetup(t, answer(status, `{"error":{"code":"X","message":"no"}}`, "Retry-After", "9"))
		_, err := ch.Follow(ctx, n, f)
		require.Error(t, err)
		assert.Equal(t, kind, fault.KindOf(err), "%d: %v", status, err)
		h := stub.last(t)
		assert.Equal(t, http.MethodGet, h.Method)
		assert.Equal(t, "/emails/operations/"+f.Operation, h.Path)
		assert.Equal(t, "api-version=2023-03-31", h.Query)
		noSecrets(t, err, testToken)
	}
	_, ch2, _ := emailSetup(t, answer(http.StatusOK, `not json`))
	_, err = ch2.Follow(ctx, n, f)
	assert.True(t, fault.Is(err, fault.Transient), "an unreadable answer is checked again: %v", err)
}

// The send answer may already say how the operation stands (a repeated
// Operation-Id answers the operation again).
func TestEmailSendAnswerStates(t *testing.T) {
	ctx := context.Background()
	n := page(incident.ChannelEmail, "ada@example.com")
	_, ch, _ := emailSetup(t, answer(http.StatusAccepted, `{"id":"`+keyUUID(n.Key)+`","status":"Succeeded"}`))
	d, err := ch.Send(ctx, n)
	require.NoError(t, err)
	assert.Nil(t, d.FollowUp, "already delivered")

	_, ch, _ = emailSetup(t, answer(http.StatusAccepted, `{"id":"`+keyUUID(n.Key)+`","status":"Failed","error":{"code":"EmailDropped","message":"dropped"}}`))
	_, err = ch.Send(ctx, n)
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
	assert.Contains(t, err.Error(), "EmailDropped")

	_, ch, _ = emailSetup(t, answer(http.StatusAccepted, ``, "Operation-Location", "https://acs.example/emails/operations/"+keyUUID(n.Key)+"?api-version=2023-03-31"))
	d, err = ch.Send(ctx, n)
	require.NoError(t, err)
	require.NotNil(t, d.FollowUp, "no body: still accepted, followed by the id it was sent with")
	assert.Equal(t, keyUUID(n.Key), d.FollowUp.Operation)
	assert.Equal(t, DefaultCheckAfter, d.CheckAfter)
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
		{"operation id reused with another message", 400, acsError("BadRequest", "Operation-Id was already used with another request."), nil, fault.Permanent, 0},
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
