package teamstest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func card(content string) string {
	return `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":` + content + `}]}`
}

const goodCard = `{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"Down"}],"actions":[{"type":"Action.OpenUrl","title":"Open","url":"https://x"}]}`

func post(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestRefusesWhatTheFlowRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"over 28 KB", card(`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"` + strings.Repeat("x", MaxBody) + `"}]}`), 413},
		{"type", strings.Replace(card(goodCard), `"type":"message"`, `"type":"note"`, 1), 400},
		{"connector card", `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.teams.card.o365connector","content":{}}]}`, 400},
		{"no attachments", `{"type":"message","attachments":[]}`, 400},
		{"no version", card(`{"type":"AdaptiveCard","body":[]}`), 400},
		{"Action.Submit", card(`{"type":"AdaptiveCard","version":"1.4","actions":[{"type":"Action.Submit","title":"Ack"}]}`), 400},
		{"not JSON", `text`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t)
			s.ExpectRefusals()
			assert.Equal(t, tc.status, post(t, s.URL(), tc.body))
			assert.Len(t, s.Refusals(), 1)
			assert.Zero(t, s.Accepted())
			assert.Empty(t, s.Posted())
		})
	}
	s := New(t)
	s.ExpectRefusals()
	assert.Equal(t, http.StatusUnauthorized, post(t, strings.Replace(s.URL(), "sig=", "sig=x", 1), card(goodCard)))
	assert.Equal(t, http.StatusNotFound, post(t, strings.Replace(s.URL(), "/invoke", "/other", 1), card(goodCard)))
}

func TestPostsOrOnlyAccepts(t *testing.T) {
	s := New(t)
	assert.Equal(t, http.StatusAccepted, post(t, s.URL(), card(goodCard)))
	require.Len(t, s.Posted(), 1)
	assert.Equal(t, "1.4", s.Posted()[0].Content["version"])

	s.NotPosting("the flow's owner left the organisation")
	assert.Equal(t, http.StatusAccepted, post(t, s.URL(), card(goodCard)), "202 all the same")
	assert.Equal(t, 2, s.Accepted())
	assert.Len(t, s.Posted(), 1, "but nothing posted")
}
