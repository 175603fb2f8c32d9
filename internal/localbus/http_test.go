package localbus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/bus"
	"vigil/internal/fault"
)

// sender is what Vigil's handlers need to send: the Bus in-process, the Client
// across the loopback wire, and the Service Bus adapter in Azure all fit it.
type sender interface {
	Send(ctx context.Context, entity string, msgs ...bus.Message) error
	Schedule(ctx context.Context, entity string, at time.Time, msg bus.Message) (int64, error)
	Cancel(ctx context.Context, entity string, seq int64) error
}

var (
	_ sender = (*Bus)(nil)
	_ sender = (*Client)(nil)
)

const testToken = "s3cret-token"

func serveBus(t *testing.T) (*Bus, *fakeClock, *httptest.Server) {
	t.Helper()
	b, clock := openClocked(t)
	mux := http.NewServeMux()
	mux.Handle("/bus/", http.StripPrefix("/bus", NewHTTPHandler(b, testToken)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return b, clock, srv
}

func TestHTTPErrors(t *testing.T) {
	_, _, srv := serveBus(t)
	tests := []struct {
		name       string
		path       string
		auth       string
		body       string
		wantStatus int
		wantKind   string
	}{
		{"no token", "/send", "", `{"entity":"q","messages":[{"id":"m"}]}`, 401, "unauthorized"},
		{"wrong token", "/send", "Bearer nope", `{"entity":"q","messages":[{"id":"m"}]}`, 401, "unauthorized"},
		{"not bearer", "/send", "Basic " + testToken, `{"entity":"q","messages":[{"id":"m"}]}`, 401, "unauthorized"},
		{"bad JSON", "/send", "Bearer " + testToken, `{"entity":`, 400, "invalid"},
		{"unknown field", "/send", "Bearer " + testToken, `{"entity":"q","msgs":[]}`, 400, "invalid"},
		{"trailing data", "/cancel", "Bearer " + testToken, `{"entity":"q","sequenceNumber":1} {}`, 400, "invalid"},
		{"no messages", "/send", "Bearer " + testToken, `{"entity":"q","messages":[]}`, 400, "invalid"},
		{"missing id", "/send", "Bearer " + testToken, `{"entity":"q","messages":[{"body":"eA=="}]}`, 400, "invalid"},
		{"no schedule time", "/schedule", "Bearer " + testToken, `{"entity":"q","message":{"id":"m"}}`, 400, "invalid"},
		{"bad sequence number", "/cancel", "Bearer " + testToken, `{"entity":"q","sequenceNumber":0}`, 400, "invalid"},
		{"over 1 MiB", "/send", "Bearer " + testToken, `{"entity":"q","messages":[{"id":"m","subject":"` + strings.Repeat("x", MaxRequestBody) + `"}]}`, 413, "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/bus"+tt.path, strings.NewReader(tt.body))
			require.NoError(t, err)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tt.wantStatus, resp.StatusCode)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var eb errorBody
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&eb))
			require.Equal(t, tt.wantKind, eb.Error.Kind)
			require.NotEmpty(t, eb.Error.Message)
		})
	}

	t.Run("wrong method", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/bus/send", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	})
	t.Run("empty server token refuses everyone", func(t *testing.T) {
		b, _ := openClocked(t)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/send", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer ")
		NewHTTPHandler(b, "").ServeHTTP(rec, req)
		require.Equal(t, http.StatusUnauthorized, rec.Code)
	})
}

// TestClientKeepsFaultKinds: a caller of the Client decides retry vs
// dead-letter exactly as with the Bus.
func TestClientKeepsFaultKinds(t *testing.T) {
	_, _, srv := serveBus(t)
	tests := []struct {
		name      string
		client    *Client
		call      func(c *Client) error
		wantKind  fault.Kind
		wantField string
	}{
		{"bad token", &Client{URL: srv.URL + "/bus", Token: "x"},
			func(c *Client) error { return c.Send(ctx, "q", msg("m")) }, fault.Unauthorized, ""},
		{"invalid message", &Client{URL: srv.URL + "/bus", Token: testToken},
			func(c *Client) error { return c.Send(ctx, "q", bus.Message{}) }, fault.Invalid, "messages[0].id"},
		{"too large", &Client{URL: srv.URL + "/bus", Token: testToken},
			func(c *Client) error {
				return c.Send(ctx, "q", bus.Message{ID: "big", Body: make([]byte, MaxMessageSize+1)})
			}, fault.TooLarge, "messages[0]"},
		{"undeclared queue", &Client{URL: srv.URL + "/bus", Token: testToken},
			func(c *Client) error { return c.Send(ctx, "nope", msg("m")) }, fault.NotFound, ""},
		{"unreachable", &Client{URL: "http://127.0.0.1:1", Token: testToken},
			func(c *Client) error { return c.Cancel(ctx, "q", 1) }, fault.Transient, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(tt.client)
			require.Error(t, err)
			require.Equal(t, tt.wantKind, fault.KindOf(err), "%v", err)
			require.Equal(t, tt.wantField, fault.FieldOf(err))
		})
	}
}

func TestHTTPConcurrentSenders(t *testing.T) {
	b, _, srv := serveBus(t)
	c := &Client{URL: srv.URL + "/bus", Token: testToken}
	var wg sync.WaitGroup
	for s := range 16 {
		wg.Go(func() {
			for i := range 20 {
				assertNoError(t, c.Send(ctx, "intake", msg(fmt.Sprintf("s%d-%d", s, i))))
			}
		})
	}
	wg.Wait()
	require.Equal(t, 320, statsOf(t, b, "intake").Active)
}

func TestHTTPResponseShapes(t *testing.T) {
	b, _ := openClocked(t)
	h := NewHTTPHandler(b, testToken)
	do := func(path, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := do("/send", `{"entity":"q","messages":[{"id":"m","body":"eyJ4IjoxfQ=="}]}`)
	require.Equal(t, http.StatusNoContent, rec.Code)
	rec = do("/schedule", `{"entity":"q","at":"2026-11-06T10:05:00Z","message":{"id":"s"}}`)
	require.Equal(t, http.StatusOK, rec.Code)
	body, _ := io.ReadAll(rec.Body)
	require.JSONEq(t, `{"sequenceNumber":2}`, string(body))
	rec = do("/cancel", `{"entity":"q","sequenceNumber":2}`)
	require.Equal(t, http.StatusNoContent, rec.Code)
	require.Equal(t, EntityStats{Name: "q", Active: 1}, statsOf(t, b, "q"))
}
