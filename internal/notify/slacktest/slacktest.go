// Package slacktest is a test server playing Slack incoming webhooks, for
// the tests of every package that posts to Slack.
//
// It answers as Slack does ("Sending messages using incoming webhooks",
// "Improving error conditions for Incoming Webhooks"): 200 "ok"; 404
// no_service for a webhook it does not know; 400 invalid_payload for a body
// that is not a JSON message, no_text for one with neither text nor blocks,
// and invalid_blocks for blocks Block Kit refuses: a section without text or
// with text over 3,000 characters, an actions block with no element, a
// button whose text is over 75 characters or whose URL is over 3,000, an
// action_id used twice in a block. Text must have &, < and > escaped
// (&amp; &lt; &gt;): Slack would read them as markup (mentions such as
// <!channel>, disguised links), and Vigil never means markup, so this server
// refuses any unescaped one (invalid_blocks in a block, invalid_payload in
// the top-level text).
//
// A refusal also fails the test unless the test said it expects some
// (ExpectRefusals).
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
	"vigil/internal/notify/refusals"
)

// Block Kit limits.
const (
	MaxSectionText = 3000
	MaxButtonText  = 75
	MaxURL         = 3000
	MaxActionID    = 255
	MaxElements    = 25
)

// Path is the path of the webhook URL the server knows.
const Path = "/services/T0VIGIL01/B0VIGIL01/slacktestsecretwebhooktoken"

// Message is one message Slack took.
type Message struct {
	Text   string
	Blocks []any
}

// Server is one Slack workspace's webhook endpoint.
type Server struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	messages []Message
	refusals *refusals.Log
}

// New starts the server.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, refusals: refusals.New(t, "slacktest")}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the webhook URL to post to.
func (s *Server) URL() string { return s.srv.URL + Path }

// ExpectRefusals lets the test provoke refusals without failing.
func (s *Server) ExpectRefusals() { s.refusals.Expect() }

// Refusals lists the refusals: "status error: why".
func (s *Server) Refusals() []string { return s.refusals.List() }

// Messages lists the messages posted.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	answer := func(status int, body string) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	refuse := func(status int, code, why string) {
		s.refusals.Add(fmt.Sprintf("%d %s: %s", status, code, why))
		answer(status, code)
	}
	if r.URL.Path != Path || r.Method != http.MethodPost {
		refuse(http.StatusNotFound, "no_service", r.Method+" "+r.URL.Path)
		return
	}
	var msg struct {
		Text   *string          `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.NewDecoder(r.Body).Decode(&msg) != nil {
		refuse(http.StatusBadRequest, "invalid_payload", "not a JSON message")
		return
	}
	if (msg.Text == nil || *msg.Text == "") && len(msg.Blocks) == 0 {
		refuse(http.StatusBadRequest, "no_text", "neither text nor blocks")
		return
	}
	if msg.Text != nil {
		if why := unescaped(*msg.Text); why != "" {
			refuse(http.StatusBadRequest, "invalid_payload", "text: "+why)
			return
		}
	}
	for i, b := range msg.Blocks {
		if why := invalidBlock(b); why != "" {
			refuse(http.StatusBadRequest, "invalid_blocks", fmt.Sprintf("blocks[%d]: %s", i, why))
			return
		}
	}
	m := Message{Blocks: make([]any, len(msg.Blocks))}
	if msg.Text != nil {
		m.Text = *msg.Text
	}
	for i, b := range msg.Blocks {
		m.Blocks[i] = b
	}
	s.messages = append(s.messages, m)
	answer(http.StatusOK, "ok")
}

// entity is an escape Slack decodes; any other & is a bare one.
var entity = regexp.MustCompile(`^&(amp|lt|gt);`)

// unescaped says which control character s leaves bare, or "".
func unescaped(s string) string {
	for i, r := range s {
		switch r {
		case '<', '>':
			return fmt.Sprintf("unescaped %q at %d", r, i)
		case '&':
			if !entity.MatchString(s[i:]) {
				return fmt.Sprintf("unescaped '&' at %d", i)
			}
		}
	}
	return ""
}

// textObject checks a composition text object of up to max characters.
func textObject(v any, max int, types ...string) string {
	t, ok := v.(map[string]any)
	if !ok {
		return "text must be a text object"
	}
	if typ, _ := t["type"].(string); !slices.Contains(types, typ) {
		return fmt.Sprintf("text type %v is not %s", t["type"], strings.Join(types, " or "))
	}
	s, _ := t["text"].(string)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "text must not be empty"
	case n > max:
		return fmt.Sprintf("text is %d characters, over %d", n, max)
	}
	return unescaped(s)
}

func invalidBlock(b map[string]any) string {
	switch b["type"] {
	case "section":
		if b["text"] == nil {
			return "a section needs text"
		}
		return textObject(b["text"], MaxSectionText, "mrkdwn", "plain_text")
	case "actions":
		els, _ := b["elements"].([]any)
		if len(els) == 0 || len(els) > MaxElements {
			return fmt.Sprintf("an actions block needs 1 to %d elements", MaxElements)
		}
		ids := map[string]bool{}
		for j, e := range els {
			el, _ := e.(map[string]any)
			if el["type"] != "button" {
				return fmt.Sprintf("elements[%d]: type %v", j, el["type"])
			}
			if why := textObject(el["text"], MaxButtonText, "plain_text"); why != "" {
				return fmt.Sprintf("elements[%d]: %s", j, why)
			}
			if u, _ := el["url"].(string); utf8.RuneCountInString(u) > MaxURL {
				return fmt.Sprintf("elements[%d]: url over %d characters", j, MaxURL)
			}
			id, _ := el["action_id"].(string)
			if len(id) > MaxActionID {
				return fmt.Sprintf("elements[%d]: action_id over %d characters", j, MaxActionID)
			}
			if id != "" && ids[id] {
				return fmt.Sprintf("elements[%d]: action_id %q is used twice", j, id)
			}
			ids[id] = true
		}
		return ""
	}
	return fmt.Sprintf("unknown block type %v", b["type"])
}
