package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/intake"
)

// unreadable fails the test if the handler reads it.
type unreadable struct{ t *testing.T }

func (u unreadable) Read([]byte) (int, error) {
	u.t.Error("the invocation was read")
	return 0, errors.New("must not be read")
}

// TestOversizedInvocationIsRefusedBeforeItIsRead: an envelope that cannot
// hold a body the function takes is refused by its Content-Length without a
// byte read, and one without a length is read no further than the limit;
// either way an HTTP caller gets 413 naming the endpoint's limit.
func TestOversizedInvocationIsRefusedBeforeItIsRead(t *testing.T) {
	h := newHarness(t)
	limit := envelopeLimit(intake.MaxAlertBytes)

	post := func(function string, body io.Reader, length int64) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/"+function, body)
		req.ContentLength = length
		rec := httptest.NewRecorder()
		h.http.ServeHTTP(rec, req)
		return rec
	}
	tooLarge := func(rec *httptest.ResponseRecorder, want string) {
		t.Helper()
		require.Equal(t, http.StatusOK, rec.Code, "the caller's status travels in the http output")
		var resp Response
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
		out, body := res(t, resp)
		require.Equal(t, http.StatusRequestEntityTooLarge, out.StatusCode)
		require.Equal(t, "too_large", body["error"].(map[string]any)["code"])
		require.Contains(t, body["error"].(map[string]any)["message"], want)
	}

	tooLarge(post("GenericAlert", unreadable{t}, limit+1), "at most 262144 bytes")
	tooLarge(post("SubmitCase", unreadable{t}, envelopeLimit(intake.MaxCaseBytes)+1), "at most 65536 bytes")
	tooLarge(post("ListIncidents", unreadable{t}, envelopeLimit(0)+1), "takes no body")

	// Without a length (the host streams a request body): read up to the limit only.
	var read int64
	stream := &countingReader{r: io.MultiReader(strings.NewReader(`{"Data":{"req":{"Body":"`), repeat('x')), n: &read}
	tooLarge(post("GenericAlert", stream, -1), "at most 262144 bytes")
	require.LessOrEqual(t, read, limit+64<<10, "read no further than the limit (and a buffer)")

	// Within the limit, the function's own check still names the exact size.
	body := `{"source":"grafana","summary":"` + strings.Repeat("x", intake.MaxAlertBytes) + `","severity":"error"}`
	status, resp := h.invoke("GenericAlert", withBody(t, fixture(t, "generic-alert.json"), "application/json", &body))
	require.Equal(t, http.StatusOK, status)
	out, problem := res(t, resp)
	require.Equal(t, http.StatusRequestEntityTooLarge, out.StatusCode)
	require.Contains(t, problem["error"].(map[string]any)["message"], "the limit is 262144")

	// A message too large for its queue function fails the invocation.
	rec := post("ProcessIntake", unreadable{t}, envelopeLimit(maxMessageBytes)+1)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	require.Contains(t, rec.Body.String(), "cannot be processed")
	require.Equal(t, 0, h.intakeDepth())
}

type countingReader struct {
	r io.Reader
	n *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

type repeat byte

func (r repeat) Read(p []byte) (int, error) {
	copy(p, bytes.Repeat([]byte{byte(r)}, len(p)))
	return len(p), nil
}
