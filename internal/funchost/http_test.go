package funchost

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type obj = map[string]any

func TestHTTPRoundTrip(t *testing.T) {
	a := startApp(t, appConfig{})
	a.worker.handle("GetCase", func(w http.ResponseWriter, inv invocation) {
		answer(w, 200, obj{
			"Outputs": obj{"res": obj{
				"statusCode": 200,
				"headers":    obj{"Content-Type": "application/json", "X-Case": "c-1", "Cache-Control": "no-store"},
				"body":       obj{"id": "c-1", "status": "open"},
			}},
			"Logs":        []string{"looked up case c-1"},
			"ReturnValue": nil,
		})
	})

	req := a.request(t, "GET", "/api/cases/c-1?tenant=t-7&tag=a&tag=b&code=secret", nil)
	req.Header.Set("X-Vigil-Trace", "abc")
	resp, body := a.do(t, req)

	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, "c-1", resp.Header.Get("X-Case"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Equal(t, "{\n  \"id\": \"c-1\",\n  \"status\": \"open\"\n}", string(body),
		"an object body is written as the host writes a JToken: indented JSON")

	inv := a.worker.next(t, "GetCase")
	require.Regexp(t, `^[0-9a-f-]{36}$`, inv.Header.Get("X-Azure-Functions-InvocationId"))
	require.Equal(t, HostVersion, inv.Header.Get("X-Azure-Functions-HostVersion"))
	require.Equal(t, "Azure-Functions-Host/"+HostVersion, inv.Header.Get("User-Agent"))
	require.Contains(t, inv.Header.Get("Content-Type"), "application/json")

	var req0 struct {
		Url, Method string
		Query       map[string]string
		Headers     map[string][]string
		Params      map[string]string
		Identities  []any
		Body        *string
	}
	inv.data(t, "req", &req0)
	require.Equal(t, "GET", req0.Method)
	require.Equal(t, a.url+"/api/cases/c-1?tenant=t-7&tag=a&tag=b&code=secret", req0.Url)
	require.Equal(t, map[string]string{"tenant": "t-7", "tag": "a,b", "code": "secret"}, req0.Query)
	require.Equal(t, []string{"abc"}, req0.Headers["X-Vigil-Trace"])
	require.Equal(t, map[string]string{"id": "c-1"}, req0.Params)
	require.NotNil(t, req0.Identities)
	require.Nil(t, req0.Body, "no body without Content-Length")

	var id, tenant, tag string
	inv.meta(t, "id", &id)
	inv.meta(t, "tenant", &tenant)
	inv.meta(t, "tag", &tag)
	require.Equal(t, `"c-1"`, id, "route values are strings, encoded twice")
	require.Equal(t, `"t-7"`, tenant, "query values join the binding data")
	require.Equal(t, `"a,b"`, tag)
	require.NotContains(t, inv.Envelope.Metadata, "code", "the function key is never binding data")
	var headers map[string]string
	inv.meta(t, "Headers", &headers)
	require.Equal(t, "abc", headers["X-Vigil-Trace"])
	golden(t, "http_get_case", inv.Raw)

	require.Eventually(t, func() bool {
		l := a.logs.String()
		return strings.Contains(l, "looked up case c-1") &&
			strings.Contains(l, `function=GetCase trigger="http GET /api/cases/c-1"`) && strings.Contains(l, `outcome="ok 200"`)
	}, 2*time.Second, 10*time.Millisecond, a.logs.String())
}

func TestHTTPPostBodyAndBindingData(t *testing.T) {
	a := startApp(t, appConfig{})
	a.worker.handle("CreateCase", func(w http.ResponseWriter, inv invocation) {
		answer(w, 200, obj{"Outputs": obj{
			"res": obj{"statusCode": "202", "body": `{"caseId":"c-9"}`, "headers": obj{"content-type": "application/json"}},
		}})
	})

	req := a.request(t, "POST", "/api/cases", strings.NewReader(`{"tenantId":"t-7","title":"Checkout fails","severity":2,"tags":["checkout"],"reporter":{"email":"a@example.com"}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, body := a.do(t, req)
	require.Equal(t, 202, resp.StatusCode, "a numeric string status code")
	require.Equal(t, `{"caseId":"c-9"}`, string(body), "a string body is written raw")
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	inv := a.worker.next(t, "CreateCase")
	var req0 struct{ Body string }
	inv.data(t, "req", &req0)
	require.Equal(t, `{"tenantId":"t-7","title":"Checkout fails","severity":2,"tags":["checkout"],"reporter":{"email":"a@example.com"}}`, req0.Body)
	var severity, tags string
	inv.meta(t, "severity", &severity)
	inv.meta(t, "tags", &tags)
	require.Equal(t, `"2"`, severity, "body scalars become strings, then are encoded twice")
	require.Equal(t, `["checkout"]`, tags, "the HTTP extension passes arrays as JSON text")
	golden(t, "http_create_case", inv.Raw)
}

func TestHTTPBodyIsAbsentWithoutContentLength(t *testing.T) {
	a := startApp(t, appConfig{})

	// A reader of unknown length makes the client send chunked, without Content-Length.
	for range 2 {
		req := a.request(t, "POST", "/api/cases", io.MultiReader(strings.NewReader(`{"tenantId":"t-7"}`)))
		req.Header.Set("Content-Type", "application/json")
		resp, body := a.do(t, req)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "{}", string(body), "no Outputs.res: the host answers an empty response object")

		inv := a.worker.next(t, "CreateCase")
		var req0 map[string]any
		inv.data(t, "req", &req0)
		require.NotContains(t, req0, "Body", "Azure drops a body sent without Content-Length")
		require.Equal(t, []any{"chunked"}, req0["Headers"].(map[string]any)["Transfer-Encoding"])
		require.NotContains(t, inv.Envelope.Metadata, "tenantId")
	}
	require.Equal(t, 1, strings.Count(a.logs.String(), "without Content-Length"), "warned once")
	golden(t, "http_chunked_no_body", a.worker.callsOf("CreateCase")[0].Raw)

	req := a.request(t, "POST", "/api/cases", http.NoBody)
	req.ContentLength = 0
	resp, _ := a.do(t, req)
	require.Equal(t, 200, resp.StatusCode)
	var req0 map[string]any
	a.worker.next(t, "CreateCase").data(t, "req", &req0)
	require.NotContains(t, req0, "Body", "Content-Length: 0 means no body")
}

func TestHTTPBinaryBodiesAreBase64(t *testing.T) {
	a := startApp(t, appConfig{})
	a.worker.handle("Echo", func(w http.ResponseWriter, inv invocation) {
		answer(w, 200, obj{"Outputs": obj{"res": obj{"statusCode": 201, "body": "stored", "headers": obj{"X-Stored": "yes"}}}})
	})

	raw := []byte{0x00, 0x01, 0x02, 0xff, 'v', 'i', 'g'}
	req := a.request(t, "PUT", "/api/echo/uploads/a%20b.bin", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, body := a.do(t, req)
	require.Equal(t, 201, resp.StatusCode)
	require.Equal(t, "stored", string(body))
	require.Equal(t, "yes", resp.Header.Get("X-Stored"))
	require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"), "an unlabelled body is text")

	inv := a.worker.next(t, "Echo")
	var req0 struct {
		Body   string
		Params map[string]string
	}
	inv.data(t, "req", &req0)
	require.Equal(t, base64.StdEncoding.EncodeToString(raw), req0.Body)
	require.Equal(t, map[string]string{"rest": "uploads/a b.bin"}, req0.Params, "a catch-all takes the rest of the path")
	golden(t, "http_octet_stream", inv.Raw)

	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "x.bin")
	_, _ = fw.Write(raw)
	require.NoError(t, mw.Close())
	req = a.request(t, "POST", "/api/echo/form", bytes.NewReader(mp.Bytes()))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, _ = a.do(t, req)
	require.Equal(t, 201, resp.StatusCode)
	a.worker.next(t, "Echo").data(t, "req", &req0)
	require.Equal(t, base64.StdEncoding.EncodeToString(mp.Bytes()), req0.Body)
}

// TestHTTPResponseObject: the http output as the host reads it.
func TestHTTPResponseObject(t *testing.T) {
	a := startApp(t, appConfig{})
	tests := []struct {
		name   string
		res    any
		status int
		ctype  string
		body   string
	}{
		{"no res: an empty object", nil, 200, "text/plain; charset=utf-8", "{}"},
		{"object body: indented JSON", obj{"statusCode": 200, "body": obj{"a": 1}}, 200, "text/plain; charset=utf-8", "{\n  \"a\": 1\n}"},
		{"no body", obj{"statusCode": 204}, 204, "", ""},
		{"no status code", obj{"body": "hi", "headers": obj{"Content-Type": "text/html"}}, 200, "text/html", "hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.worker.handle("Echo", func(w http.ResponseWriter, inv invocation) {
				out := obj{}
				if tt.res != nil {
					out["res"] = tt.res
				}
				answer(w, 200, obj{"Outputs": out})
			})
			resp, body := a.do(t, a.request(t, "GET", "/api/echo", nil))
			require.Equal(t, tt.status, resp.StatusCode)
			require.Equal(t, tt.ctype, resp.Header.Get("Content-Type"))
			require.Equal(t, tt.body, string(body))
		})
	}
}

// TestHTTPFailedInvocationAnswers503AndDropsOutputs: a failed invocation
// drops its outputs, as in Azure, and tells the caller to retry, in JSON.
func TestHTTPFailedInvocationAnswers503AndDropsOutputs(t *testing.T) {
	a := startApp(t, appConfig{})
	good := obj{"res": obj{"statusCode": 202, "body": "accepted"}}
	tests := []struct {
		name    string
		respond func(http.ResponseWriter)
		logged  string
	}{
		{"worker 500", func(w http.ResponseWriter) { answer(w, 500, obj{"Outputs": good, "error": "store down"}) }, `worker answered 500: {\"Outputs\"`},
		{"worker 400", func(w http.ResponseWriter) { answer(w, 400, obj{"Outputs": good}) }, "worker answered 400"},
		{"not JSON content type", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, `{"Outputs":{"res":{"statusCode":202}}}`)
		}, "the host only reads application/json"},
		{"empty 200", func(w http.ResponseWriter) { w.WriteHeader(200) }, "empty body"},
		{"not an object", func(w http.ResponseWriter) { answer(w, 200, []int{1}) }, "not an invocation result"},
		{"res is a plain string", func(w http.ResponseWriter) {
			answer(w, 200, obj{"Outputs": obj{"res": "accepted"}})
		}, "is not a response object"},
		{"bad status code", func(w http.ResponseWriter) {
			answer(w, 200, obj{"Outputs": obj{"res": obj{"statusCode": 42}}})
		}, "not a valid HTTP status"},
		{"a header that is not a string", func(w http.ResponseWriter) {
			answer(w, 200, obj{"Outputs": obj{"res": obj{"statusCode": 202, "headers": obj{"X-Count": 3}}}})
		}, "cannot unmarshal number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.worker.handle("CreateCase", func(w http.ResponseWriter, inv invocation) { tt.respond(w) })
			req := a.request(t, "POST", "/api/cases", strings.NewReader(`{"tenantId":"t-7"}`))
			resp, body := a.do(t, req)
			requireRetry(t, resp, body)
			require.Eventually(t, func() bool { return strings.Contains(a.logs.String(), tt.logged) },
				2*time.Second, 10*time.Millisecond, "log should say %q:\n%s", tt.logged, a.logs.String())
		})
	}
}

func TestHTTPRoutingAdminAndDevPages(t *testing.T) {
	a := startApp(t, appConfig{})

	resp, body := a.do(t, a.request(t, "GET", "/admin/host/status", nil))
	require.Equal(t, 200, resp.StatusCode)
	require.JSONEq(t, `{"state":"Running"}`, string(body))

	resp, body = a.do(t, a.request(t, "GET", "/dev/outbox?tenant=t-7", nil))
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "<h1>outbox</h1> path=/dev/outbox query=tenant=t-7", string(body))
	resp, body = a.do(t, a.request(t, "GET", "/dev/hang-up", nil))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a worker failing a dev page")
	require.Equal(t, "5", resp.Header.Get("Retry-After"))
	require.Contains(t, string(body), `"code":"unavailable"`)

	resp, _ = a.do(t, a.request(t, "GET", "/API/Cases/c-1", nil))
	require.Equal(t, 200, resp.StatusCode, "routes match case-insensitively")
	resp, body = a.do(t, a.request(t, "DELETE", "/api/cases/c-1", nil))
	requireNotFound(t, resp, body, "DELETE /api/cases/c-1")
	resp, body = a.do(t, a.request(t, "GET", "/api/nothing-here", nil))
	requireNotFound(t, resp, body, "GET /api/nothing-here")
	resp, body = a.do(t, a.request(t, "GET", "/elsewhere", nil))
	requireNotFound(t, resp, body, "GET /elsewhere")
}

// requireNotFound checks a 404 from the host: JSON, never sniffed.
func requireNotFound(t *testing.T, resp *http.Response, body []byte, what string) {
	t.Helper()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: a method the function does not take is a 404, as in the host", what)
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.JSONEq(t, `{"error":{"code":"not_found","message":"no function answers `+what+`"}}`, string(body))
}

func TestHTTPBodyOver100MBIs413(t *testing.T) {
	a := startApp(t, appConfig{})
	conn, err := net.Dial("tcp", a.host.Addr())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /api/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 104857601\r\n\r\n{")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, 413, resp.StatusCode)
	require.Empty(t, a.worker.callsOf("CreateCase"))
}

// requireRetry checks the answer to a failed invocation: 503, Retry-After,
// and the app's JSON error shape.
func requireRetry(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "5", resp.Header.Get("Retry-After"))
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.JSONEq(t, `{"error":{"code":"unavailable","message":"the function failed before it answered; try again"}}`, string(body))
}

// TestHTTPCallerPrincipalNeedsLocalIdentity: the sign-in headers a caller
// sends reach the functions only when the host is told to trust them (vigil
// local on loopback); otherwise they are stripped, as Easy Auth strips them.
func TestHTTPCallerPrincipalNeedsLocalIdentity(t *testing.T) {
	send := func(a *testApp) map[string][]string {
		req := a.request(t, "GET", "/api/cases/c-1", nil)
		req.Header.Set("X-MS-CLIENT-PRINCIPAL-NAME", "mallory@example.com")
		req.Header.Set("X-MS-CLIENT-PRINCIPAL", "eyJjbGFpbXMiOltdfQ==")
		req.Header.Set("x-ms-client-principal-idp", "aad")
		req.Header.Set("X-Vigil-Trace", "abc")
		resp, _ := a.do(t, req)
		require.Equal(t, 200, resp.StatusCode)
		var req0 struct{ Headers map[string][]string }
		a.worker.next(t, "GetCase").data(t, "req", &req0)
		return req0.Headers
	}
	headers := send(startApp(t, appConfig{}))
	for k := range headers {
		require.NotContains(t, strings.ToLower(k), "x-ms-client-principal", "stripped")
	}
	require.Equal(t, []string{"abc"}, headers["X-Vigil-Trace"], "other headers pass")

	headers = send(startApp(t, appConfig{tune: func(h *Host) { h.opts.LocalIdentity = true }}))
	require.Equal(t, []string{"mallory@example.com"}, headers["X-Ms-Client-Principal-Name"])
	require.Equal(t, []string{"aad"}, headers["X-Ms-Client-Principal-Idp"])
}

func TestHTTPDevPagesOnlyWhenAsked(t *testing.T) {
	a := startApp(t, appConfig{noDev: true})
	resp, body := a.do(t, a.request(t, "GET", "/dev/outbox", nil))
	requireNotFound(t, resp, body, "GET /dev/outbox")
}
