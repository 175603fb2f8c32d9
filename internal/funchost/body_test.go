package funchost

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBodyLimitSetting(t *testing.T) {
	for _, tt := range []struct {
		env  []string
		want int64
		err  string
	}{
		{nil, 104857600, ""},
		{[]string{"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT="}, 104857600, ""},
		{[]string{"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT=1048576"}, 1048576, ""},
		{[]string{"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT= 4096 "}, 4096, ""},
		{[]string{"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT=0"}, 0, ""},
		{[]string{"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT=1MB"}, 0, `FUNCTIONS_REQUEST_BODY_SIZE_LIMIT="1MB" is not a number of bytes`},
		{[]string{"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT=-1"}, 0, "is not a number of bytes"},
	} {
		t.Setenv(bodyLimitSetting, "") // the process environment is the fallback
		got, err := bodyLimit(tt.env)
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got, "%v", tt.env)
	}
	t.Setenv(bodyLimitSetting, "2048")
	got, err := bodyLimit(nil)
	require.NoError(t, err)
	require.Equal(t, int64(2048), got, "read from the host's environment too")

	_, err = New(Options{AppDir: "testdata/app", Env: []string{"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT=lots"}, WorkerURL: "http://127.0.0.1:1", Bus: openQueue(t, 10)})
	require.ErrorContains(t, err, "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "a limit that does not parse stops the host")
}

// tooLargeAnswer checks a 413 from the host: JSON naming the limit.
func tooLargeAnswer(t *testing.T, resp *http.Response, body []byte, limit string) {
	t.Helper()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	var out struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(body, &out), "%s", body)
	require.Equal(t, "too_large", out.Error.Code)
	require.Contains(t, out.Error.Message, limit+" bytes")
}

func TestHTTPBodyOverTheLimitIs413(t *testing.T) {
	a := startApp(t, appConfig{env: []string{"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT=4096"}})

	// By Content-Length: refused before a byte of the body is read (the
	// client here sends only one).
	conn, err := net.Dial("tcp", a.host.Addr())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, "POST /api/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4097\r\n\r\n{")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	tooLargeAnswer(t, resp, body, "4096")

	// Chunked, without Content-Length: read only up to the limit.
	const size = 64 << 20
	var served atomic.Int64
	big := &countingReader{r: io.MultiReader(strings.NewReader(`{"pad":"`), io.LimitReader(repeatReader('x'), size)), n: &served}
	req := a.request(t, "POST", "/api/cases", big)
	req.Header.Set("Content-Type", "application/json")
	resp, body = a.do(t, req)
	tooLargeAnswer(t, resp, body, "4096")
	require.Less(t, served.Load(), int64(size/4), "the host stopped reading the chunked body")

	// Exactly the limit passes, by either route.
	exact := `{"pad":"` + strings.Repeat("x", 4096-10) + `"}`
	req = a.request(t, "POST", "/api/cases", strings.NewReader(exact))
	resp, _ = a.do(t, req)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	req = a.request(t, "POST", "/api/cases", io.MultiReader(strings.NewReader(exact)))
	resp, _ = a.do(t, req)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, a.worker.callsOf("CreateCase"), 2, "only the bodies within the limit were invoked")
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestHTTPBodyIsStreamedToTheWorker: a large body within the host's limit is
// passed on as it arrives, so a worker that refuses after its own limit stops
// the read: the host never holds the body whole, and answers what the worker said.
func TestHTTPBodyIsStreamedToTheWorker(t *testing.T) {
	const workerLimit = 256 << 10
	var took atomic.Int64
	addr := startHost(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/CreateCase" {
			answer(w, 200, obj{})
			return
		}
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, workerLimit))
		took.Store(n)
		answer(w, 200, obj{"Outputs": obj{"res": obj{"statusCode": 413, "body": `{"error":{"code":"too_large"}}`, "headers": obj{"Content-Type": "application/json"}}}})
	}))

	const size = 64 << 20
	var served atomic.Int64
	body := &countingReader{r: io.MultiReader(strings.NewReader(`{"pad":"`), io.LimitReader(repeatReader('x'), size-10), strings.NewReader(`"}`)), n: &served}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/cases", body)
	require.NoError(t, err)
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 413, resp.StatusCode)
	require.JSONEq(t, `{"error":{"code":"too_large"}}`, string(out))
	require.Equal(t, int64(workerLimit), took.Load())
	require.Less(t, served.Load(), int64(size/4), "the host read a fraction of the body, not all of it")
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// TestBodyStreamEncodesAsAWhole: however the body arrives in pieces, the
// stream is the same JSON string content as the whole body encoded at once.
func TestBodyStreamEncodesAsAWhole(t *testing.T) {
	bodies := []string{
		"",
		"a",
		"\xEF\xBB",
		"\xEF\xBB\xBF{\"a\":1}",
		"x\xEF\xBB\xBF",
		"héllo wörld — ✓ 𝄞 \u2028 \u0085 \"q\" \\ \n\t\x01",
		"bad \xff utf8 \xe2\x82 cut",
		strings.Repeat("é𝄞✓", 40000), // crosses chunk boundaries mid-rune
		"ends mid rune \xf0\x9d",
	}
	for _, body := range bodies {
		want := jsonChars(bytes.TrimPrefix([]byte(body), utf8BOM))
		for name, src := range map[string]io.Reader{
			"whole":    strings.NewReader(body),
			"one byte": iotest.OneByteReader(strings.NewReader(body)),
			"halves":   iotest.HalfReader(strings.NewReader(body)),
		} {
			got, err := io.ReadAll(&bodyStream{src: src})
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "%s: %.40q", name, body)

			bin, err := io.ReadAll(&bodyStream{src: iotest.OneByteReader(strings.NewReader(body)), binary: true})
			require.NoError(t, err)
			require.Equal(t, base64.StdEncoding.EncodeToString([]byte(body)), string(bin), "binary keeps the mark and every byte")
		}
	}
	_, err := io.ReadAll(&bodyStream{src: iotest.ErrReader(io.ErrUnexpectedEOF)})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "a failed read fails the stream")
}

// TestHTTPBodyCutShortIs400: a client that sends less than its
// Content-Length and hangs up gets the host's 400, not a worker failure.
func TestHTTPBodyCutShortIs400(t *testing.T) {
	invoked := make(chan error, 1)
	addr := startHost(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/CreateCase" {
			_, err := io.ReadAll(r.Body)
			invoked <- err
		}
	}))
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, "POST /api/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	conn.Close()
	require.Error(t, <-invoked, "the worker saw the invocation cut short too, so it cannot act on it")
}

// startHost runs the host over testdata/app with worker as its custom
// handler, until the test ends, and returns its address.
func startHost(t *testing.T, worker http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(worker)
	t.Cleanup(srv.Close)
	h, err := New(Options{AppDir: "testdata/app", Addr: "127.0.0.1:0", Bus: openQueue(t, 10), WorkerURL: srv.URL})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	select {
	case <-h.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return h.Addr()
}
