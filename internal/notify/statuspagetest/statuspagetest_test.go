package statuspagetest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const key = "k-3c9a1e7f5b2d4f6a8c0e"

func call(t *testing.T, f *Server, method, path, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.Base()+"/pages/pg1/incidents"+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "OAuth "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

// Every refusal the issue lists, with the API's status and body shape.
func TestRefusesWhatTheAPIRefuses(t *testing.T) {
	long := strings.Repeat("x", 256)
	longBody := strings.Repeat("y", 25001)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		says                     string
	}{
		{"create without a name", "POST", "", `{"incident":{"status":"investigating","body":"b"}}`, 422, "Name can't be blank"},
		{"empty name", "POST", "", `{"incident":{"name":" "}}`, 422, "Name can't be blank"},
		{"name over 255", "POST", "", `{"incident":{"name":"` + long + `"}}`, 422, "Name is too long"},
		{"body over 25,000", "POST", "", `{"incident":{"name":"n","body":"` + longBody + `"}}`, 422, "Body is too long"},
		{"component status", "POST", "", `{"incident":{"name":"n","components":{"sp-core":"down"}}}`, 422, "Component status"},
		{"unknown component", "POST", "", `{"incident":{"name":"n","components":{"sp-nope":"major_outage"}}}`, 422, "Component sp-nope not found"},
		{"unknown component id", "POST", "", `{"incident":{"name":"n","component_ids":["sp-nope"]}}`, 422, "not found"},
		{"metadata not objects", "POST", "", `{"incident":{"name":"n","metadata":{"vigil":"INC-1"}}}`, 422, "Metadata vigil must be an object"},
		{"status", "POST", "", `{"incident":{"name":"n","status":"fixed"}}`, 422, "Status fixed"},
		{"impact", "POST", "", `{"incident":{"name":"n","impact_override":"sev1"}}`, 422, "Impact override"},
		{"not wrapped", "POST", "", `{"name":"n"}`, 400, "incident"},
		{"update with a bad component status", "PATCH", "/sp-manual", `{"incident":{"components":{"sp-core":"fine"}}}`, 422, "Component status"},
		{"per_page over 100", "GET", "/unresolved?per_page=101", "", 400, "per_page must be between 1 and 100"},
		{"page 0", "GET", "/unresolved?page=0", "", 400, "page must be"},
		{"limit over 100", "GET", "?limit=500", "", 400, "limit must be between 1 and 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New(t, "pg1", key, "sp-core")
			f.ExpectRefusals()
			status, _, body := call(t, f, tc.method, tc.path, tc.body)
			assert.Equal(t, tc.status, status, body)
			assert.Contains(t, body, tc.says)
			var shape map[string]any
			require.NoError(t, json.Unmarshal([]byte(body), &shape))
			if tc.status == 422 {
				assert.IsType(t, []any{}, shape["error"], "422 lists its errors")
			} else {
				assert.IsType(t, "", shape["error"])
			}
			assert.Len(t, f.Refusals(), 1)
			assert.Empty(t, f.ForIncident("INC-1"), "nothing is stored")
		})
	}
}

func TestAcceptsWhatTheAPIAccepts(t *testing.T) {
	f := New(t, "pg1", key, "sp-core")
	status, _, body := call(t, f, "POST", "", `{"incident":{"name":"Checkout errors","metadata":{"vigil":{"incident_id":"INC-1"}}}}`)
	require.Equal(t, http.StatusCreated, status, body)
	var created map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	assert.Equal(t, "investigating", created["status"], "status defaults")

	// An update needs none of status, body or deliver_notifications.
	status, _, body = call(t, f, "PATCH", "/"+created["id"].(string), `{"incident":{"components":{"sp-core":"operational"}}}`)
	assert.Equal(t, http.StatusOK, status, body)
	status, _, body = call(t, f, "PATCH", "/"+created["id"].(string), `{"incident":{"status":"resolved","body":"Fixed."}}`)
	assert.Equal(t, http.StatusOK, status, body)

	status, _, body = call(t, f, "GET", "/unresolved?page=1&per_page=100", "")
	assert.Equal(t, http.StatusOK, status)
	assert.NotContains(t, body, "INC-1", "resolved")
	status, _, body = call(t, f, "GET", "?limit=2", "")
	assert.Equal(t, http.StatusOK, status)
	var newest []map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &newest))
	require.Len(t, newest, 2)
	assert.Equal(t, created["id"], newest[0]["id"], "newest first, resolved ones included")
	assert.Empty(t, f.Refusals())
}

func TestRateLimits(t *testing.T) {
	f := New(t, "pg1", key)
	f.ThrottleNext(1, RateLimited, "")
	f.ThrottleNext(1, http.StatusTooManyRequests, "")
	f.ThrottleNext(1, http.StatusTooManyRequests, "2")
	for _, want := range []struct {
		status     int
		retryAfter string
	}{{420, ""}, {429, ""}, {429, "2"}, {200, ""}} {
		status, h, _ := call(t, f, "GET", "/unresolved", "")
		assert.Equal(t, want.status, status)
		assert.Equal(t, want.retryAfter, h.Get("Retry-After"))
	}
	f.SetThrottle(true)
	status, h, _ := call(t, f, "GET", "/unresolved", "")
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "7", h.Get("Retry-After"))
}

func TestRefusesAnotherKey(t *testing.T) {
	f := New(t, "pg1", "another-key")
	status, _, _ := call(t, f, "GET", "/unresolved", "")
	assert.Equal(t, http.StatusUnauthorized, status)
}
