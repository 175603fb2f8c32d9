package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/require"

	"vigil/internal/incident"
)

// t0 is when the test notifications were created; clock is 30 s later.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func clock() time.Time { return t0.Add(30 * time.Second) }

const (
	testToken  = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.test-token-value"
	testAckURL = "https://vigil.example.com/ack/INC-7QX2?t=SIGNEDACKTOKEN"
	testLink   = "https://vigil.example.com/incidents/INC-7QX2"
)

// page is a high-urgency page as the app builds them.
func page(channel, address string) incident.Notification {
	return incident.Notification{
		Key: "ntf:5d0c3a4f9e2b7a1c", Event: incident.NotifyIncidentOpened, IncidentID: "INC-7QX2",
		Severity: incident.Sev1, Urgency: incident.UrgencyHigh, To: "Ada Lovelace",
		Channel: channel, Address: address,
		Subject: "Checkout is failing", Text: "Error rate 35% on checkout-api in westeurope",
		Link: testLink, AckURL: testAckURL, Person: "ada", Round: 1, Step: 2, CreatedAt: t0,
	}
}

// hit is one request a stub received.
type hit struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// stub is a test server that records every request and answers with reply.
type stub struct {
	*httptest.Server
	mu    sync.Mutex
	hits  []hit
	reply func(w http.ResponseWriter, h hit)
}

func newStub(t *testing.T, reply func(w http.ResponseWriter, h hit)) *stub {
	t.Helper()
	s := &stub{reply: reply}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func newTLSStub(t *testing.T, reply func(w http.ResponseWriter, h hit)) *stub {
	t.Helper()
	s := &stub{reply: reply}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *stub) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h := hit{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	s.hits = append(s.hits, h)
	reply := s.reply
	s.mu.Unlock()
	reply(w, h)
}

func (s *stub) setReply(reply func(w http.ResponseWriter, h hit)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply = reply
}

func (s *stub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.hits)
}

func (s *stub) last(t *testing.T) hit {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.hits, "the server got no request")
	return s.hits[len(s.hits)-1]
}

// answer replies with status, headers (name, value pairs) and body.
func answer(status int, body string, headers ...string) func(http.ResponseWriter, hit) {
	return func(w http.ResponseWriter, _ hit) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		if strings.HasPrefix(body, "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// decode parses a JSON body into a generic value, so that tests see the wire
// shape rather than this package's structs.
func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m), "body is not a JSON object: %s", body)
	return m
}

func obj(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	require.True(t, ok, "want a JSON object, got %#v", v)
	return m
}

func arr(t *testing.T, v any) []any {
	t.Helper()
	a, ok := v.([]any)
	require.True(t, ok, "want a JSON array, got %#v", v)
	return a
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// secretsOf serves webhook URLs from a map.
func secretsOf(m map[string]string) Secrets {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// fakeCred is an azcore.TokenCredential returning a fixed token and recording
// the scopes asked for.
type fakeCred struct {
	mu      sync.Mutex
	token   string
	expires time.Time
	err     error
	calls   int
	scopes  [][]string
}

func newFakeCred() *fakeCred { return &fakeCred{token: testToken, expires: t0.Add(time.Hour)} }

func (f *fakeCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.scopes = append(f.scopes, append([]string(nil), o.Scopes...))
	if f.err != nil {
		return azcore.AccessToken{}, f.err
	}
	return azcore.AccessToken{Token: f.token, ExpiresOn: f.expires}, nil
}

func (f *fakeCred) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var _ azcore.TokenCredential = (*fakeCred)(nil)

// noSecrets fails the test when err's message contains any of secrets.
func noSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	require.Error(t, err)
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		for _, s := range secrets {
			require.NotContains(t, msg, s, "an error leaks a secret")
		}
	}
}

var testOpts = []ChannelOption{WithInsecureHTTP(), WithClock(clock)}
