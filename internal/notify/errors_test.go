package notify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// Every channel, against a server that echoes everything it got (the URL, the
// Authorization header, the body with its ack link) into a refusal: no error
// may repeat any of it.
func TestNoSecretInAnyError(t *testing.T) {
	echo := func(status int) func(http.ResponseWriter, hit) {
		return func(w http.ResponseWriter, h hit) {
			w.WriteHeader(status)
			w.Write([]byte("you sent " + h.Path + "?" + h.Query + " with " + h.Header.Get("Authorization") + ": "))
			w.Write(h.Body)
		}
	}
	for _, status := range []int{400, 401, 403, 404, 429, 500} {
		srv := newStub(t, echo(status))
		teamsURL := srv.URL + teamsPath + "?" + teamsQuery
		slackURL := srv.URL + slackPath
		hookURL := srv.URL + webhookPath
		secrets := secretsOf(map[string]string{"TEAMS": teamsURL, "SLACK": slackURL, "HOOK": hookURL, "HOOK_SIGNING_KEY": webhookSecret})
		cred := newFakeCred()

		teams, err := NewTeams(secrets, testOpts...)
		require.NoError(t, err)
		slack, err := NewSlack(secrets, testOpts...)
		require.NoError(t, err)
		hook, err := NewWebhook(secrets, testOpts...)
		require.NoError(t, err)
		email, err := NewEmail(srv.URL, emailSender, cred, testOpts...)
		require.NoError(t, err)
		sms, err := NewSMS(srv.URL, smsFrom, cred, testOpts...)
		require.NoError(t, err)

		for _, tc := range []struct {
			ch Channel
			n  incident.Notification
		}{
			{teams, page(incident.ChannelTeams, "TEAMS")},
			{slack, page(incident.ChannelSlack, "SLACK")},
			{hook, page(incident.ChannelWebhook, "HOOK")},
			{email, page(incident.ChannelEmail, "ada@example.com")},
			{sms, page(incident.ChannelSMS, "+14255550123")},
		} {
			err := tc.ch.Deliver(context.Background(), tc.n)
			require.Error(t, err, "%s %d", tc.n.Channel, status)
			noSecrets(t, err, teamsURL, teamsPath, "TEAMSSECRETSIG", slackURL, "SLACKSECRET", hookURL,
				"WEBHOOKSECRETPATH", testToken, "SIGNEDACKTOKEN", string(webhookKey), webhookSecret)
			var he *HTTPError
			require.ErrorAs(t, err, &he)
			assert.LessOrEqual(t, len(he.Body), maxErrorBody)
			assert.Contains(t, he.Body, "you sent")
		}
	}
}

func TestNoAnswerIsTransientAndQuotesNoURL(t *testing.T) {
	srv := newStub(t, answer(200, "ok"))
	deadURL := srv.URL + slackPath
	srv.Close() // connection refused from here on
	slack, err := NewSlack(secretsOf(map[string]string{"SLACK": deadURL}), testOpts...)
	require.NoError(t, err)
	err = slack.Deliver(context.Background(), page(incident.ChannelSlack, "SLACK"))
	require.Error(t, err)
	assert.True(t, fault.Is(err, fault.Transient), "%v", err)
	assert.Contains(t, err.Error(), "slack: request failed")
	noSecrets(t, err, deadURL, slackPath, "SLACKSECRET")

	cred := newFakeCred()
	email, err := NewEmail(strings.Replace(deadURL, slackPath, "", 1), emailSender, cred, testOpts...)
	require.NoError(t, err)
	err = email.Deliver(context.Background(), page(incident.ChannelEmail, "ada@example.com"))
	assert.True(t, fault.Is(err, fault.Transient), "%v", err)
	noSecrets(t, err, testToken)
}

func TestTimeoutIsTransient(t *testing.T) {
	release := make(chan struct{})
	srv := newStub(t, func(w http.ResponseWriter, _ hit) { <-release })
	defer close(release)
	url := srv.URL + webhookPath
	hook, err := NewWebhook(secretsOf(map[string]string{"HOOK": url, "HOOK_SIGNING_KEY": webhookSecret}),
		append(testOpts, WithTimeout(50*time.Millisecond))...)
	require.NoError(t, err)
	err = hook.Deliver(context.Background(), page(incident.ChannelWebhook, "HOOK"))
	require.Error(t, err)
	assert.True(t, fault.Is(err, fault.Transient), "%v", err)
	assert.Contains(t, err.Error(), "webhook: request timed out")
	noSecrets(t, err, url, webhookPath)
}

func TestCancelledContextIsTransient(t *testing.T) {
	srv := newStub(t, answer(200, "ok"))
	slack, err := NewSlack(secretsOf(map[string]string{"SLACK": srv.URL + slackPath}), testOpts...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = slack.Deliver(ctx, page(incident.ChannelSlack, "SLACK"))
	assert.True(t, fault.Is(err, fault.Transient), "%v", err)
	assert.True(t, errors.Is(err, context.Canceled), "the cause stays in the chain: %v", err)
	noSecrets(t, err, srv.URL)
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	target := newStub(t, answer(200, "ok"))
	srv := newStub(t, answer(http.StatusTemporaryRedirect, "", "Location", target.URL+"/elsewhere"))
	slack, err := NewSlack(secretsOf(map[string]string{"SLACK": srv.URL + slackPath}), testOpts...)
	require.NoError(t, err)
	err = slack.Deliver(context.Background(), page(incident.ChannelSlack, "SLACK"))
	assert.True(t, fault.Is(err, fault.Permanent), "%v", err)
	assert.Contains(t, err.Error(), "HTTP 307")
	assert.Equal(t, 0, target.count(), "the payload never reaches the redirect target")
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		name string
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{"none", h(), 0, false},
		{"seconds", h("Retry-After", "120"), 2 * time.Minute, true},
		{"zero", h("Retry-After", "0"), 0, true},
		{"date", h("Retry-After", "Sat, 14 Mar 2026 10:00:45 GMT"), 45 * time.Second, true},
		{"date against the answer's clock", h("Retry-After", "Sat, 14 Mar 2026 09:00:45 GMT", "Date", "Sat, 14 Mar 2026 09:00:00 GMT"), 45 * time.Second, true},
		{"date in the past", h("Retry-After", "Sat, 14 Mar 2026 09:00:00 GMT"), 0, true},
		{"milliseconds win", h("Retry-After", "9", "retry-after-ms", "250"), 250 * time.Millisecond, true},
		{"x-ms milliseconds", h("x-ms-retry-after-ms", "1200"), 1200 * time.Millisecond, true},
		{"capped", h("Retry-After", "86400"), time.Hour, true},
		{"huge", h("Retry-After", "999999999999999999"), time.Hour, true},
		{"garbage", h("Retry-After", "soon"), 0, false},
		{"negative", h("Retry-After", "-5"), 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.h, now)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRetryAfterOnlyForCarriedDelays(t *testing.T) {
	_, ok := RetryAfter(nil)
	assert.False(t, ok)
	_, ok = RetryAfter(fault.New(fault.Transient, "x"))
	assert.False(t, ok)
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	s := snippet([]byte(long), nil)
	assert.LessOrEqual(t, len(s), maxErrorBody)
	assert.True(t, utf8.ValidString(s))

	s = snippet([]byte("line one\r\n\tline two\x00\xff secret-value-here"), []string{"secret-value-here"})
	assert.Equal(t, "line one line two ? [redacted]", s)
}

func TestClip(t *testing.T) {
	assert.Equal(t, "short", clip("short", 10))
	assert.Equal(t, "abcd…", clip("abcdefghij", 7))
	assert.LessOrEqual(t, len(clip(strings.Repeat("ü", 10), 7)), 7)
	assert.True(t, utf8.ValidString(clip(strings.Repeat("ü", 10), 7)))
}
