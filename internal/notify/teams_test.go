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
	"vigil/internal/notify/teamstest"
)

// A Workflows trigger URL: the signature in its query is what makes it secret.
const teamsPath = "/workflows/0a1b2c3d/triggers/manual/paths/invoke"
const teamsQuery = "api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=TEAMSSECRETSIG"

func teamsSetup(t *testing.T, reply func(http.ResponseWriter, hit)) (*stub, *Teams, string) {
	t.Helper()
	srv := newStub(t, reply)
	url := srv.URL + teamsPath + "?" + teamsQuery
	ch, err := NewTeams(secretsOf(map[string]string{"TEAMS_ONCALL_URL": url}), testOpts...)
	require.NoError(t, err)
	return srv, ch, url
}

func TestTeamsPostsAnAdaptiveCard(t *testing.T) {
	srv, ch, _ := teamsSetup(t, answer(http.StatusAccepted, ""))
	require.NoError(t, ch.Deliver(context.Background(), page(incident.ChannelTeams, "TEAMS_ONCALL_URL")))

	h := srv.last(t)
	assert.Equal(t, http.MethodPost, h.Method)
	assert.Equal(t, teamsPath, h.Path)
	assert.Equal(t, teamsQuery, h.Query, "the workflow URL is used exactly as configured")
	assert.Equal(t, "application/json", h.Header.Get("Content-Type"))

	msg := decode(t, h.Body)
	assert.ElementsMatch(t, []string{"type", "attachments"}, keys(msg))
	assert.Equal(t, "message", msg["type"])
	atts := arr(t, msg["attachments"])
	require.Len(t, atts, 1)
	att := obj(t, atts[0])
	assert.Equal(t, "application/vnd.microsoft.card.adaptive", att["contentType"])
	cu, present := att["contentUrl"]
	assert.True(t, present, "contentUrl is sent, as null")
	assert.Nil(t, cu)

	card := obj(t, att["content"])
	assert.Equal(t, "http://adaptivecards.io/schemas/adaptive-card.json", card["$schema"])
	assert.Equal(t, "AdaptiveCard", card["type"])
	assert.Equal(t, "1.4", card["version"])

	var texts []string
	for _, e := range arr(t, card["body"]) {
		el := obj(t, e)
		assert.Equal(t, "TextBlock", el["type"])
		assert.Equal(t, true, el["wrap"], "text blocks wrap")
		texts = append(texts, el["text"].(string))
	}
	assert.Equal(t, []string{"Checkout is failing", "Severity: SEV1", "Urgency: high",
		"Error rate 35% on checkout-api in westeurope"}, texts)
	assert.Equal(t, "Attention", obj(t, arr(t, card["body"])[1])["color"], "sev1 stands out")

	actions := arr(t, card["actions"])
	require.Len(t, actions, 2)
	ack, open := obj(t, actions[0]), obj(t, actions[1])
	assert.Equal(t, "Action.OpenUrl", ack["type"])
	assert.Equal(t, "Acknowledge", ack["title"])
	assert.Equal(t, testAckURL, ack["url"])
	assert.Equal(t, "Action.OpenUrl", open["type"])
	assert.Equal(t, "Open incident", open["title"])
	assert.Equal(t, testLink, open["url"])
}

func TestTeamsNotificationWithoutAckLink(t *testing.T) {
	srv, ch, _ := teamsSetup(t, answer(http.StatusAccepted, ""))
	n := page(incident.ChannelTeams, "TEAMS_ONCALL_URL")
	n.AckURL, n.Urgency, n.Severity = "", "", incident.Sev3
	require.NoError(t, ch.Deliver(context.Background(), n))

	card := obj(t, obj(t, arr(t, decode(t, srv.last(t).Body)["attachments"])[0])["content"])
	actions := arr(t, card["actions"])
	require.Len(t, actions, 1)
	assert.Equal(t, "Open incident", obj(t, actions[0])["title"])
	body := arr(t, card["body"])
	require.Len(t, body, 3, "subject, severity, text: no urgency block when unset")
	assert.Nil(t, obj(t, body[1])["color"], "sev3 is not coloured")
}

func TestTeamsAnswers(t *testing.T) {
	cases := []struct {
		name       string
		reply      func(http.ResponseWriter, hit)
		kind       fault.Kind
		contains   string
		retryAfter time.Duration
	}{
		{"200 is success too", answer(http.StatusOK, "1"), 0, "", 0},
		{"400 bad card", answer(http.StatusBadRequest, `{"error":{"code":"InvalidRequestContent","message":"The input body for trigger 'manual' of type 'Request' did not match its schema definition."}}`),
			fault.Permanent, "HTTP 400 Bad Request: {\"error\":{\"code\":\"InvalidRequestContent\"", 0},
		{"404 flow deleted", answer(http.StatusNotFound, `{"error":{"code":"WorkflowNotFound"}}`), fault.Permanent, "HTTP 404", 0},
		{"429 throttled", answer(http.StatusTooManyRequests, `{"error":{"code":"WorkflowRequestsThrottled"}}`, "Retry-After", "17"),
			fault.Transient, "HTTP 429", 17 * time.Second},
		{"500", answer(http.StatusInternalServerError, "oops"), fault.Transient, "HTTP 500", 0},
		{"502", answer(http.StatusBadGateway, ""), fault.Transient, "HTTP 502", 0},
		{"408", answer(http.StatusRequestTimeout, ""), fault.Transient, "HTTP 408", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ch, url := teamsSetup(t, tc.reply)
			err := ch.Deliver(context.Background(), page(incident.ChannelTeams, "TEAMS_ONCALL_URL"))
			if tc.kind == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.kind, fault.KindOf(err), "%v", err)
			assert.Contains(t, err.Error(), tc.contains)
			assert.Contains(t, err.Error(), "teams: ")
			noSecrets(t, err, url, "TEAMSSECRETSIG", teamsPath)
			d, ok := RetryAfter(err)
			assert.Equal(t, tc.retryAfter != 0, ok)
			assert.Equal(t, tc.retryAfter, d)
		})
	}
}

func TestWebhookSettingProblemsArePermanentAndNameTheSetting(t *testing.T) {
	const secretValue = "not a url but a secret-ish value"
	settings := secretsOf(map[string]string{
		"EMPTY":                    "  ",
		"NOT_A_URL":                secretValue,
		"PLAIN_HTTP_OUTSIDE_TESTS": "http://hooks.example.com/SECRET",
		"UNRESOLVED":               "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/teams-oncall/)",
	})
	ch, err := NewTeams(settings) // no WithInsecureHTTP: https only
	require.NoError(t, err)
	for setting, want := range map[string]string{
		"MISSING":                  `setting "MISSING" is not set`,
		"EMPTY":                    `setting "EMPTY" is not set`,
		"NOT_A_URL":                `setting "NOT_A_URL" does not hold an https URL`,
		"PLAIN_HTTP_OUTSIDE_TESTS": `setting "PLAIN_HTTP_OUTSIDE_TESTS" does not hold an https URL`,
		"UNRESOLVED":               `its Key Vault reference did not resolve`,
		"":                         "has no address",
	} {
		err := ch.Deliver(context.Background(), page(incident.ChannelTeams, setting))
		require.Error(t, err, setting)
		assert.True(t, fault.Is(err, fault.Permanent), "%s: %v", setting, err)
		assert.Contains(t, err.Error(), want)
		noSecrets(t, err, secretValue, "hooks.example.com", "kv.vault.azure.net")
	}
}

func TestChannelConstructorsNeedSecrets(t *testing.T) {
	_, err := NewTeams(nil)
	assert.Error(t, err)
	_, err = NewSlack(nil)
	assert.Error(t, err)
	_, err = NewWebhook(nil)
	assert.Error(t, err)
}

// Against the Workflows test server: the card is one the flow takes.
func TestTeamsCardIsOneTheFlowPosts(t *testing.T) {
	srv := teamstest.New(t)
	ch, err := NewTeams(secretsOf(map[string]string{"TEAMS_ONCALL_URL": srv.URL()}), testOpts...)
	require.NoError(t, err)
	require.NoError(t, ch.Deliver(context.Background(), page(incident.ChannelTeams, "TEAMS_ONCALL_URL")))
	require.Len(t, srv.Posted(), 1)
	assert.Equal(t, "AdaptiveCard", srv.Posted()[0].Content["type"])
}

// However long or odd the text, the message stays within Teams' 28 KB (JSON
// escapes can make a text six times longer on the wire).
func TestTeamsMessageFitsTeamsLimit(t *testing.T) {
	srv := teamstest.New(t)
	ch, err := NewTeams(secretsOf(map[string]string{"T": srv.URL()}), testOpts...)
	require.NoError(t, err)
	for _, text := range []string{strings.Repeat("<&>", 20000), strings.Repeat("\x01", 20000), strings.Repeat("é", 20000)} {
		n := page(incident.ChannelTeams, "T")
		n.Subject, n.Text = text, text
		require.NoError(t, ch.Deliver(context.Background(), n))
	}
	assert.Len(t, srv.Posted(), 3)

	// Text that fits is not cut: < and & go as themselves, not as \u003c.
	n := page(incident.ChannelTeams, "T")
	n.Text = strings.Repeat("<", 5000)
	require.NoError(t, ch.Deliver(context.Background(), n))
	body := arr(t, srv.Posted()[3].Content["body"])
	assert.Equal(t, n.Text, obj(t, body[len(body)-1])["text"])
}

// What Vigil cannot see: a flow that accepts and does not post (a private
// channel, an owner who left) looks delivered. Hence docs/channels.md, and
// vigil check's warning when Teams is a person's only channel.
func TestTeamsCannotSeeAFlowThatDoesNotPost(t *testing.T) {
	srv := teamstest.New(t)
	srv.NotPosting("the flow's owner left the organisation")
	ch, err := NewTeams(secretsOf(map[string]string{"T": srv.URL()}), testOpts...)
	require.NoError(t, err)
	require.NoError(t, ch.Deliver(context.Background(), page(incident.ChannelTeams, "T")), "202: accepted")
	assert.Empty(t, srv.Posted())
}
