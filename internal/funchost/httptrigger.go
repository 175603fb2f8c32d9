package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"
)

// serveHTTP is the host's front door: function routes, the admin status
// endpoint, and /dev/ pages proxied to the worker.
func (h *Host) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.opts.LocalIdentity {
		for k := range r.Header {
			if strings.HasPrefix(k, "X-Ms-Client-Principal") {
				delete(r.Header, k)
			}
		}
	}
	switch p := r.URL.Path; {
	case p == "/admin/host/status":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"state":"Running"}`)
	case strings.HasPrefix(p, "/dev/") && h.opts.DevPages:
		h.serveDev(w, r)
	case h.serveFunction(w, r):
	case p == "/":
		// The host's home page, unless a function took "/" (an empty
		// routePrefix and a catch-all route).
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "Your Functions app is up and running (vigil local).\n")
	default:
		h.notFound(w, r)
	}
}

// serveDev proxies developer pages (Options.DevPages) to the worker at the same path.
func (h *Host) serveDev(w http.ResponseWriter, r *http.Request) {
	unavailable := func(w http.ResponseWriter, _ *http.Request, _ error) {
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the worker is not running; try again")
	}
	base, err := h.worker.endpoint(r.Context())
	if err != nil {
		unavailable(w, r, err)
		return
	}
	target, _ := url.Parse(base)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		Transport:    h.transport,
		ErrorHandler: unavailable,
	}
	proxy.ServeHTTP(w, r)
}

// serveFunction invokes the httpTrigger the request is for (most specific
// route first; a method mismatch is a 404, as in the host); false when none.
func (h *Host) serveFunction(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.EscapedPath()
	prefix := "/"
	if h.cfg.routePrefix != "" {
		prefix = "/" + h.cfg.routePrefix + "/"
	}
	if len(path) < len(prefix) || !strings.EqualFold(path[:len(prefix)], prefix) {
		return false
	}
	rest := path[len(prefix):]
	for _, fn := range h.routes {
		params, ok := fn.route.match(rest, nil)
		if ok && fn.allowsMethod(r.Method) {
			h.serveHTTPTrigger(w, r, fn, params)
			return true
		}
	}
	return false
}

// notFound answers a request no function takes. Azure's host answers an
// empty 404; the local host answers in the app's JSON error shape.
func (h *Host) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no function answers %s %s", r.Method, r.URL.Path))
}

func (h *Host) serveHTTPTrigger(w http.ResponseWriter, r *http.Request, fn *function, params []param) {
	start := time.Now()
	id := newUUID()
	trigger := "http " + r.Method + " " + r.URL.Path
	tooLarge := func() {
		// The rest of the body is not read: the connection cannot carry
		// another request, and the server must not try to drain it first.
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", tooLargeMessage(h.bodyLimit))
		h.invocationLog(r.Context(), fn, trigger, id, start, fmt.Sprintf("rejected 413 (body over %d bytes)", h.bodyLimit), nil)
	}
	// Refuse by Content-Length before reading anything, and bound the read
	// in any case: a caller cannot make the host read past the limit.
	if r.ContentLength > h.bodyLimit {
		tooLarge()
		return
	}
	// The host reads a body only when Content-Length says there is one; a
	// chunked body without it reaches the function as no body at all. It is
	// still read (and dropped), so that one over the limit is refused.
	if r.ContentLength < 0 {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, h.bodyLimit)); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				tooLarge()
				return
			}
			writeError(w, http.StatusBadRequest, "invalid", "the request body could not be read")
			h.invocationLog(r.Context(), fn, trigger, id, start, "", fmt.Errorf("read request body: %w", err))
			return
		}
		h.warnChunked.Do(func() {
			h.log.Warn("a request without Content-Length (chunked) arrived: its body is dropped, as Azure drops it; clients must send Content-Length",
				"function", fn.name)
		})
	}
	// A body with a Content-Length is bounded by it (the server reads no
	// further), and it is within the limit.
	var body io.Reader
	if r.ContentLength > 0 {
		body = r.Body
	}
	env := h.httpEnvelope(r, fn, params, body)
	defer env.Close()

	// A client hanging up does not cancel the function in Azure; shutdown does.
	ctx, cancel := h.invocationContext(context.WithoutCancel(r.Context()))
	defer cancel()
	stop := context.AfterFunc(h.workCtx, cancel)
	defer stop()

	res, err := h.invoke(ctx, fn, id, env, -1)
	if berr := env.bodyError(); err != nil && berr != nil {
		writeError(w, http.StatusBadRequest, "invalid", "the request body could not be read")
		h.invocationLog(r.Context(), fn, trigger, id, start, "", fmt.Errorf("read request body: %w", berr))
		return
	}
	var resp httpResponse
	if err == nil {
		resp, err = h.httpResponse(fn, res)
	}
	if err != nil {
		// The outputs are dropped, as Azure drops them. Azure answers a bare
		// 500; the local host says to retry, since the work may have been done
		// before the worker failed and a retry is what duplicate detection is for.
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the function failed before it answered; try again")
		h.invocationLog(r.Context(), fn, trigger, id, start, "", err)
		return
	}
	resp.write(w)
	h.invocationLog(r.Context(), fn, trigger, id, start, statusOutcome(resp.status), nil)
}

// httpRequestData is Data.<name> of an httpTrigger: the request as the host's
// GetRequestAsJObject writes it (Body follows, when there is one).
type httpRequestData struct {
	URL        string              `json:"Url"`
	Method     string              `json:"Method"`
	Query      map[string]string   `json:"Query"`
	Headers    map[string][]string `json:"Headers"`
	Params     map[string]string   `json:"Params"`
	Identities []any               `json:"Identities"`
}

// httpEnvelope builds the invocation request for an httpTrigger: Data.<name>
// is the request; Metadata is the HTTP extension's binding data (body
// properties, query values, route values, Query, Headers) plus sys. body,
// when not nil, is streamed into Data.<name>.Body.
func (h *Host) httpEnvelope(r *http.Request, fn *function, params []param, body io.Reader) *envelopeStream {
	req := httpRequestData{
		URL:        "http://" + r.Host + r.URL.EscapedPath(),
		Method:     r.Method,
		Query:      map[string]string{},
		Headers:    requestHeaders(r),
		Params:     map[string]string{},
		Identities: []any{},
	}
	if r.URL.RawQuery != "" {
		req.URL += "?" + r.URL.RawQuery
	}
	query := parseQuery(r.URL.RawQuery)
	for _, q := range query {
		req.Query[q.key] = q.value
	}
	for _, p := range params {
		req.Params[p.name] = p.value
	}
	obj := marshal(req)
	head := append(append(append([]byte(`{"Data":{`), marshal(fn.inputName)...), ':'), obj[:len(obj)-1]...)
	if body != nil {
		head = append(head, `,"Body":"`...)
	}
	now := h.now()
	tail := func(raw []byte) []byte {
		var t []byte
		if body != nil {
			t = append(t, '"')
		}
		// Binding data, in the HTTP extension's order: later sources overwrite
		// earlier ones; Query and Headers only fill a gap; sys always wins.
		md := metadata{}
		if body != nil {
			md.applyBodyBindingData(raw, true)
		}
		for _, q := range query {
			if !strings.EqualFold(q.key, "code") {
				md.set(q.key, twice(q.value))
			}
		}
		for _, p := range params {
			md.set(p.name, twice(p.value))
		}
		if !md.has("Query") {
			md.set("Query", marshal(req.Query))
		}
		if !md.has("Headers") {
			joined := make(map[string]string, len(req.Headers))
			for k, v := range req.Headers {
				joined[k] = strings.Join(v, ",")
			}
			md.set("Headers", marshal(joined))
		}
		md.set("sys", sys(fn.name, now))
		t = append(append(t, `}},"Metadata":`...), marshal(md)...)
		return append(t, '}')
	}
	return newEnvelopeStream(head, body, isOctetOrMultipart(r.Header.Get("Content-Type")), tail)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func isOctetOrMultipart(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/octet-stream" || strings.HasPrefix(mt, "multipart/")
}

type queryValue struct{ key, value string }

// parseQuery reads a query string as ASP.NET does: keys compare
// case-insensitively, repeated keys join their values with ",", '+' is a space,
// a key without '=' has an empty value, and a bad escape is kept as written.
func parseQuery(raw string) []queryValue {
	var out []queryValue
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = unescapeQuery(k), unescapeQuery(v)
		if k == "" && v == "" {
			continue
		}
		merged := false
		for i := range out {
			if strings.EqualFold(out[i].key, k) {
				out[i].value += "," + v
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, queryValue{k, v})
		}
	}
	return out
}

func unescapeQuery(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}

// requestHeaders lists the request headers as Kestrel exposes them, Host and
// Transfer-Encoding included (Go keeps those out of r.Header). Names are Go's
// canonical form; Kestrel keeps the client's spelling for headers it does not
// know, so handlers must match names case-insensitively.
func requestHeaders(r *http.Request) map[string][]string {
	out := make(map[string][]string, len(r.Header)+2)
	for k, v := range r.Header {
		out[k] = v
	}
	if r.Host != "" {
		out["Host"] = []string{r.Host}
	}
	if len(r.TransferEncoding) > 0 {
		out["Transfer-Encoding"] = []string{strings.Join(r.TransferEncoding, ", ")}
	}
	return out
}

// httpResponse is the response an http output describes.
type httpResponse struct {
	status      int
	headers     []headerValue
	contentType string
	body        []byte
}

type headerValue struct{ name, value string }

func (resp *httpResponse) write(w http.ResponseWriter) {
	hdr := w.Header()
	for _, hv := range resp.headers {
		hdr.Add(hv.name, hv.value)
	}
	if resp.contentType != "" {
		hdr.Set("Content-Type", resp.contentType)
	} else {
		hdr["Content-Type"] = nil // Kestrel does not sniff; neither should we
	}
	w.WriteHeader(resp.status)
	if len(resp.body) > 0 {
		_, _ = w.Write(resp.body)
	}
}

// httpResponse turns the function's http output into the response, as the
// host's HttpBinding does. A value that is not a response object fails the
// invocation.
func (h *Host) httpResponse(fn *function, res *invokeResult) (httpResponse, error) {
	if fn.httpOut == "" {
		return httpResponse{status: http.StatusOK}, nil
	}
	raw, ok := res.Outputs[fn.httpOut]
	if !ok {
		// The host answers with an empty response object, serialised.
		h.warnMissingHTTP.Do(func() {
			h.log.Warn(fmt.Sprintf("function %s set no Outputs.%s: Azure answers 200 with body {}", fn.name, fn.httpOut))
		})
		return httpResponse{status: http.StatusOK, contentType: textPlain, body: []byte("{}")}, nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return httpResponse{}, fmt.Errorf("http output %q is not a response object {statusCode, body, headers}: %s", fn.httpOut, truncateBody(raw))
	}
	var out struct {
		StatusCode json.RawMessage   `json:"statusCode"`
		Body       json.RawMessage   `json:"body"`
		Headers    map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return httpResponse{}, fmt.Errorf("http output %q: %w", fn.httpOut, err)
	}
	resp := httpResponse{status: parseStatusCode(out.StatusCode), body: renderBody(out.Body)}
	names := make([]string, 0, len(out.Headers))
	for k := range out.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if strings.EqualFold(k, "Content-Type") {
			resp.contentType = out.Headers[k]
		} else {
			resp.headers = append(resp.headers, headerValue{k, out.Headers[k]})
		}
	}
	if resp.contentType == "" && len(resp.body) > 0 {
		// ASP.NET's string formatter labels an unlabelled body so.
		resp.contentType = textPlain
	}
	return resp, resp.check()
}

const textPlain = "text/plain; charset=utf-8"

func (resp *httpResponse) check() error {
	if resp.status < 100 || resp.status > 999 {
		return fmt.Errorf("http output status code %d is not a valid HTTP status", resp.status)
	}
	return nil
}

// parseStatusCode reads statusCode as the host does: an integer or a numeric
// string; anything else leaves the default 200.
func parseStatusCode(raw json.RawMessage) int {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return http.StatusOK
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if json.Unmarshal([]byte(strings.TrimSpace(s)), &n) == nil {
			return n
		}
	}
	return http.StatusOK
}

// renderBody writes a body value as the host does: a string raw, an object or
// array as indented JSON (the host writes it with JToken.ToString()), a scalar
// as .NET prints it, null as nothing.
func renderBody(raw json.RawMessage) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return []byte(s)
	case '{', '[':
		var b bytes.Buffer
		_ = json.Indent(&b, raw, "", "  ")
		return b.Bytes()
	}
	return []byte(dotnetScalar(raw))
}
