package slacktest

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

const section = `{"type":"section","text":{"type":"mrkdwn","text":"*Checkout*"}}`

func button(text, url, id string) string {
	return `{"type":"button","text":{"type":"plain_text","text":"` + text + `"},"url":"` + url + `","action_id":"` + id + `"}`
}

func TestRefusesWhatSlackRefuses(t *testing.T) {
	long := strings.Repeat("x", 3001)
	for _, tc := range []struct {
		name, body, code string
	}{
		{"not JSON", `text=hi`, "invalid_payload"},
		{"nothing to show", `{"blocks":[]}`, "no_text"},
		{"empty section text", `{"text":"t","blocks":[{"type":"section","text":{"type":"mrkdwn","text":""}}]}`, "invalid_blocks"},
		{"section without text", `{"text":"t","blocks":[{"type":"section"}]}`, "invalid_blocks"},
		{"section over 3,000", `{"text":"t","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"` + long + `"}}]}`, "invalid_blocks"},
		{"button text over 75", `{"text":"t","blocks":[{"type":"actions","elements":[` + button(strings.Repeat("b", 76), "https://x", "a") + `]}]}`, "invalid_blocks"},
		{"url over 3,000", `{"text":"t","blocks":[{"type":"actions","elements":[` + button("Ack", "https://x/"+long, "a") + `]}]}`, "invalid_blocks"},
		{"duplicate action_id", `{"text":"t","blocks":[{"type":"actions","elements":[` + button("Ack", "https://x", "a") + `,` + button("Open", "https://y", "a") + `]}]}`, "invalid_blocks"},
		{"empty actions", `{"text":"t","blocks":[` + section + `,{"type":"actions","elements":[]}]}`, "invalid_blocks"},
		{"unescaped < in a section", `{"text":"t","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"<!channel> down"}}]}`, "invalid_blocks"},
		{"unescaped & in a button", `{"text":"t","blocks":[{"type":"actions","elements":[` + button("Ack & open", "https://x", "a") + `]}]}`, "invalid_blocks"},
		{"unescaped > in text", `{"text":"a > b","blocks":[` + section + `]}`, "invalid_payload"},
		{"disguised link in text", `{"text":"<https://evil.example|vigil.example.com>"}`, "invalid_payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t)
			s.ExpectRefusals()
			status, body := post(t, s.URL(), tc.body)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, tc.code, body)
			assert.Len(t, s.Refusals(), 1)
			assert.Empty(t, s.Messages())
		})
	}
	s := New(t)
	s.ExpectRefusals()
	status, body := post(t, s.URL()+"x", `{"text":"t"}`)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "no_service", body)
}

func TestTakesAnEscapedMessage(t *testing.T) {
	s := New(t)
	status, body := post(t, s.URL(), `{"text":"[SEV1] a &amp; b &lt;c&gt;","blocks":[`+section+`,{"type":"actions","elements":[`+
		button("Acknowledge", "https://vigil.example/ack?a=1&b=2", "vigil-ack")+`,`+button("Open", "https://vigil.example/i", "vigil-open")+`]}]}`)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ok", body, "a URL is not text: its & needs no escape")
	require.Len(t, s.Messages(), 1)
	assert.Equal(t, "[SEV1] a &amp; b &lt;c&gt;", s.Messages()[0].Text)
}
