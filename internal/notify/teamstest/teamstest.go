// Package teamstest is a test server playing a Microsoft Teams Workflows
// webhook ("When a Teams webhook request is received", then "Post card in a
// chat or channel"), for the tests of every package that posts to Teams.
//
// It answers as the flow does: 202 Accepted with no body once the trigger
// takes the request; 404 WorkflowNotFound for a flow it does not know, 401
// for a trigger URL without its signature; 413 for a body over 28 KB, the
// size of a Teams message; 400 InvalidRequestContent for a body that is not a
// message with Adaptive Card attachments (a type other than "message", a
// contentType other than application/vnd.microsoft.card.adaptive, a card
// without a version, an Action.Submit, which a card posted by a flow cannot
// carry).
//
// A 202 only means the flow started: posting comes after, and can fail where
// the caller cannot see it (a private channel, which Workflows cannot post
// to; a flow whose owner left the organisation). NotPosting plays that: the
// server still answers 202, and posts nothing.
//
// A refusal also fails the test unless the test said it expects some
// (ExpectRefusals).
package teamstest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"vigil/internal/notify/refusals"
)

// MaxBody is the largest message Teams takes: 28 KB.
const MaxBody = 28 << 10

const (
	adaptiveCard = "application/vnd.microsoft.card.adaptive"
	flowPath     = "/workflows/4e1c0a2b9d3f/triggers/manual/paths/invoke"
	signature    = "teamstestSIGNATUREvalue"
)

// Card is one Adaptive Card the flow posted.
type Card struct {
	Content map[string]any
}

// Server is one flow.
type Server struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	posted     []Card
	accepted   int
	notPosting string
	refusals   *refusals.Log
}

// New starts the flow.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, refusals: refusals.New(t, "teamstest")}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the flow's trigger URL, signature included.
func (s *Server) URL() string {
	return s.srv.URL + flowPath + "?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + signature
}

// NotPosting makes the flow accept requests (202) and post nothing, for
// reason: what a private channel or an owner who left does.
func (s *Server) NotPosting(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notPosting = reason
}

// ExpectRefusals lets the test provoke refusals without failing.
func (s *Server) ExpectRefusals() { s.refusals.Expect() }

// Refusals lists the refusals: "status code: why".
func (s *Server) Refusals() []string { return s.refusals.List() }

// Accepted counts the requests answered 202.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Posted lists the cards that reached the channel.
func (s *Server) Posted() []Card {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.posted)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse := func(status int, code, why string) {
		s.refusals.Add(fmt.Sprintf("%d %s: %s", status, code, why))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": why}})
	}
	if r.URL.Path != flowPath || r.Method != http.MethodPost {
		refuse(http.StatusNotFound, "WorkflowNotFound", "The workflow could not be found.")
		return
	}
	if r.URL.Query().Get("sig") != signature {
		refuse(http.StatusUnauthorized, "DirectApiAuthorizationRequired", "The request must be authenticated: the trigger URL's sig is missing or wrong.")
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if len(raw) > MaxBody {
		refuse(http.StatusRequestEntityTooLarge, "MessageSizeTooLarge", fmt.Sprintf("The message is larger than %d bytes.", MaxBody))
		return
	}
	var msg map[string]any
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.Unmarshal(raw, &msg) != nil {
		refuse(http.StatusBadRequest, "InvalidRequestContent", "The input body for trigger 'manual' of type 'Request' must be JSON.")
		return
	}
	cards, why := cardsOf(msg)
	if why != "" {
		refuse(http.StatusBadRequest, "InvalidRequestContent", "The input body for trigger 'manual' of type 'Request' did not match its schema definition: "+why)
		return
	}
	s.accepted++
	w.WriteHeader(http.StatusAccepted)
	if s.notPosting != "" {
		return
	}
	for _, c := range cards {
		s.posted = append(s.posted, Card{Content: c})
	}
}

// cardsOf returns the Adaptive Cards of a message, or why it is not one.
func cardsOf(msg map[string]any) ([]map[string]any, string) {
	if msg["type"] != "message" {
		return nil, fmt.Sprintf("type is %v, not \"message\"", msg["type"])
	}
	atts, _ := msg["attachments"].([]any)
	if len(atts) == 0 {
		return nil, "attachments must list at least one card"
	}
	var cards []map[string]any
	for i, a := range atts {
		att, _ := a.(map[string]any)
		if att["contentType"] != adaptiveCard {
			return nil, fmt.Sprintf("attachments[%d].contentType is %v, not %s", i, att["contentType"], adaptiveCard)
		}
		card, _ := att["content"].(map[string]any)
		if card["type"] != "AdaptiveCard" {
			return nil, fmt.Sprintf("attachments[%d].content.type is %v, not AdaptiveCard", i, card["type"])
		}
		if v, _ := card["version"].(string); v == "" {
			return nil, fmt.Sprintf("attachments[%d].content has no version", i)
		}
		if hasSubmit(card) {
			return nil, fmt.Sprintf("attachments[%d] has an Action.Submit, which a flow cannot handle", i)
		}
		cards = append(cards, card)
	}
	return cards, ""
}

func hasSubmit(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if x["type"] == "Action.Submit" {
			return true
		}
		for _, e := range x {
			if hasSubmit(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasSubmit(e) {
				return true
			}
		}
	}
	return false
}
