package notify

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/notify/slacktest"
)

const slackPath = "/services/T00000000/B00000000/SLACKSECRETXXXXXXXXXXXX"

func slackSetup(t *testing.T, reply func(http.ResponseWriter, hit)) (*stub, *Slack, string) {
	t.Helper()
	srv := newStub(t, reply)
	url := srv.URL + slackPath
	ch, err := NewSlack(secretsOf(map[string]string{"SLACK_SRE_WEBHOOK": url}), testOpts...)
	require.NoError(t, err)
	return srv, ch, url
}

func TestSlackPostsBlocks(t *testing.T) {
	srv, ch, _ := slackSetup(t, answer(http.StatusOK, "ok", "Content-Type", "text/html"))
	n := page(incident.ChannelSlack, "SLACK_SRE_WEBHOOK")
	n.Subject = "Checkout <script> & cart failing"
	require.NoError(t, ch.Deliver(context.Background(), n))

	h := srv.last(t)
	assert.Equal(t, http.MethodPost, h.Method)
	assert.Equal(t, slackPath, h.Path)
	assert.Equal(t, "application/json", h.Header.Get("Content-Type"))

	msg := decode(t, h.Body)
	assert.ElementsMatch(t, []string{"text", "blocks"}, keys(msg))
	assert.Equal(t, "[SEV1] Checkout &lt;script&gt; &amp; cart failing", msg["text"],
		"the fallback text (what push notifications show) is escaped like any other")
	blocks := arr(t, msg["blocks"])
	require.Len(t, blocks, 2)

	section := obj(t, blocks[0])
	assert.Equal(t, "section", section["type"])
	text := obj(t, section["text"])
	assert.Equal(t, "mrkdwn", text["type"])
	assert.Equal(t, "*Checkout &lt;script&gt; &amp; cart failing*\n*Severity:* SEV1   *Urgency:* high\n"+
		"Error rate 35% on checkout-api in westeurope", text["text"])

	actions := obj(t, blocks[1])
	assert.Equal(t, "actions", actions["type"])
	buttons := arr(t, actions["elements"])
	require.Len(t, buttons, 2)
	ids := map[any]bool{}
	for i, want := range []struct{ title, url string }{{"Acknowledge", testAckURL}, {"Open incident", testLink}} {
		b := obj(t, buttons[i])
		assert.Equal(t, "button", b["type"])
		bt := obj(t, b["text"])
		assert.Equal(t, "plain_text", bt["type"])
		assert.Equal(t, want.title, bt["text"])
		assert.Equal(t, want.url, b["url"])
		require.NotEmpty(t, b["action_id"])
		ids[b["action_id"]] = true
	}
	assert.Len(t, ids, 2, "action ids are unique in a block")
	assert.Equal(t, "primary", obj(t, buttons[0])["style"])
}

// Against the Slack test server: an alert title that looks like markup (a
// mention, a disguised link) reaches Slack escaped everywhere, so it is shown,
// not obeyed.
func TestSlackTakesMarkupAsText(t *testing.T) {
	srv := slacktest.New(t)
	ch, err := NewSlack(secretsOf(map[string]string{"SLACK_SRE_WEBHOOK": srv.URL()}), testOpts...)
	require.NoError(t, err)
	n := page(incident.ChannelSlack, "SLACK_SRE_WEBHOOK")
	n.Subject = "[SEV1] <!channel> checkout <https://evil.example|vigil.example.com> & cart"
	n.Text = "a > b & <@U123>"
	require.NoError(t, ch.Deliver(context.Background(), n))
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "[SEV1] &lt;!channel&gt; checkout &lt;https://evil.example|vigil.example.com&gt; &amp; cart", msgs[0].Text)
}

// Cutting a long text never leaves half an escape behind.
func TestSlackCutsBetweenEscapes(t *testing.T) {
	srv := slacktest.New(t)
	ch, err := NewSlack(secretsOf(map[string]string{"SLACK_SRE_WEBHOOK": srv.URL()}), testOpts...)
	require.NoError(t, err)
	for shift := range 5 {
		n := page(incident.ChannelSlack, "SLACK_SRE_WEBHOOK")
		n.Text = strings.Repeat("x", shift) + strings.Repeat("&", 3000)
		require.NoError(t, ch.Deliver(context.Background(), n), "shift %d", shift)
	}
	assert.Len(t, srv.Messages(), 5)
}

func TestSlackWithoutLinksSendsNoActionsBlock(t *testing.T) {
	srv, ch, _ := slackSetup(t, answer(http.StatusOK, "ok"))
	n := page(incident.ChannelSlack, "SLACK_SRE_WEBHOOK")
	n.AckURL, n.Link = "", ""
	require.NoError(t, ch.Deliver(context.Background(), n))
	assert.Len(t, arr(t, decode(t, srv.last(t).Body)["blocks"]), 1, "an empty actions block is invalid")
}

func TestSlackLongTextIsCut(t *testing.T) {
	srv, ch, _ := slackSetup(t, answer(http.StatusOK, "ok"))
	n := page(incident.ChannelSlack, "SLACK_SRE_WEBHOOK")
	long := make([]byte, 10000)
	for i := range long {
		long[i] = 'x'
	}
	n.Text = string(long)
	require.NoError(t, ch.Deliver(context.Background(), n))
	section := obj(t, arr(t, decode(t, srv.last(t).Body)["blocks"])[0])
	assert.LessOrEqual(t, len(obj(t, section["text"])["text"].(string)), slackMaxSection)
}

// Slack's documented webhook errors ("Improving error conditions for Incoming Webhooks").
func TestSlackAnswers(t *testing.T) {
	cases := []struct {
		status     int
		body       string
		kind       fault.Kind
		retryAfter time.Duration
	}{
		{http.StatusBadRequest, "invalid_payload", fault.Permanent, 0},
		{http.StatusBadRequest, "user_not_found", fault.Permanent, 0},
		{http.StatusForbidden, "action_prohibited", fault.Permanent, 0},
		{http.StatusNotFound, "channel_not_found", fault.Permanent, 0},
		{http.StatusNotFound, "no_service", fault.Permanent, 0},
		{http.StatusGone, "channel_is_archived", fault.Permanent, 0},
		{http.StatusTooManyRequests, "rate_limited", fault.Transient, 30 * time.Second},
		{http.StatusInternalServerError, "rollup_error", fault.Transient, 0},
		{http.StatusServiceUnavailable, "", fault.Transient, 0},
	}
	for _, tc := range cases {
		t.Run(tc.body, func(t *testing.T) {
			reply := answer(tc.status, tc.body)
			if tc.retryAfter > 0 {
				reply = answer(tc.status, tc.body, "Retry-After", "30")
			}
			_, ch, url := slackSetup(t, reply)
			err := ch.Deliver(context.Background(), page(incident.ChannelSlack, "SLACK_SRE_WEBHOOK"))
			require.Error(t, err)
			assert.Equal(t, tc.kind, fault.KindOf(err), "%v", err)
			assert.Contains(t, err.Error(), tc.body)
			var he *HTTPError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tc.status, he.Status)
			noSecrets(t, err, url, slackPath, "SLACKSECRET")
			d, ok := RetryAfter(err)
			assert.Equal(t, tc.retryAfter > 0, ok)
			assert.Equal(t, tc.retryAfter, d)
		})
	}
}
