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
	case p == "/":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "Your Functions app is up and running (vigil local).\n")
	default:
		h.serveFunction(w, r)
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

// serveFunction finds the httpTrigger for the request (most specific route
// first; a method mismatch is a 404, as in the host) and invokes it.
func (h *Host) serveFunction(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	prefix := "/"
	if h.cfg.routePrefix != "" {
		prefix = "/" + h.cfg.routePrefix + "/"
	}
	if len(path) < len(prefix) || !strings.EqualFold(path[:len(prefix)], prefix) {
		h.notFound(w, r)
		return
	}
	rest := path[len(prefix):]
	for _, fn := range h.routes {
		params, ok := fn.route.match(rest, nil)
		if !ok || !fn.allowsMethod(r.Method) {
			continue
		}
		h.serveHTTPTrigger(w, r, fn, params)
		return
	}
	h.notFound(w, r)
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
	if err == nil {
		err = h.sendOutputs(ctx, fn, res)
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

// httpEnvelope builds the invocation request for an httpTrigger: Data.<name>
// is the request object of the host's GetRequestAsJObject; Metadata is the HTTP
// extension's binding data (body properties, query values, route values,
// Query, Headers) plus sys. body, when not nil, is streamed into Data.<name>.Body.
func (h *Host) httpEnvelope(r *http.Request, fn *function, params []param, body io.Reader) *envelopeStream {
	query := parseQuery(r.URL.RawQuery)
	headers := requestHeaders(r)

	b := append([]byte(nil), `{"Data":{`...)
	b = appendJSONString(b, fn.inputName)
	b = append(b, `:{"Url":`...)
	u := "http://" + r.Host + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	b = appendJSONString(b, u)
	b = append(b, `,"Method":`...)
	b = appendJSONString(b, r.Method)
	b = append(b, `,"Query":`...)
	b = appendQueryObject(b, query)
	b = append(b, `,"Headers":{`...)
	for i, hd := range headers {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, hd.name)
		b = append(b, ":["...)
		for j, v := range hd.values {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		b = append(b, ']')
	}
	b = append(b, `},"Params":{`...)
	for i, p := range params {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, p.name)
		b = append(b, ':')
		b = appendJSONString(b, p.value)
	}
	b = append(b, `},"Identities":[]`...)
	if body != nil {
		b = append(b, `,"Body":"`...)
	}
	hasBody := body != nil
	params = slices.Clone(params)
	now := h.now()
	tail := func(raw []byte) []byte {
		var t []byte
		if hasBody {
			t = append(t, '"')
		}
		t = append(t, `}},"Metadata":`...)
		// Binding data, in the HTTP extension's order: later sources overwrite
		// earlier ones; Query and Headers only fill a gap; sys always wins.
		md := new(metadata)
		if hasBody {
			md.applyBodyBindingData(raw, true)
		}
		for _, q := range query {
			if !strings.EqualFold(q.key, "code") {
				md.setString(q.key, q.value)
			}
		}
		for _, p := range params {
			md.setString(p.name, p.value)
		}
		if !md.has("Query") {
			start := len(md.arena)
			md.arena = appendQueryObject(md.arena, query)
			md.put("Query", start)
		}
		if !md.has("Headers") {
			start := len(md.arena)
			md.arena = append(md.arena, '{')
			for i, hd := range headers {
				if i > 0 {
					md.arena = append(md.arena, ',')
				}
				md.arena = appendJSONString(md.arena, hd.name)
				md.arena = append(md.arena, ':')
				md.arena = appendJSONString(md.arena, strings.Join(hd.values, ","))
			}
			md.arena = append(md.arena, '}')
			md.put("Headers", start)
		}
		md.setSys(fn.name, now, newUUID())
		t = md.appendTo(t)
		return append(t, '}')
	}
	return newEnvelopeStream(b, body, isOctetOrMultipart(r.Header.Get("Content-Type")), tail)
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

func appendQueryObject(b []byte, query []queryValue) []byte {
	b = append(b, '{')
	for i, q := range query {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, q.key)
		b = append(b, ':')
		b = appendJSONString(b, q.value)
	}
	return append(b, '}')
}

type headerValues struct {
	name   string
	values []string
}

// requestHeaders lists the request headers as Kestrel exposes them, Host and
// Transfer-Encoding included (Go keeps those out of r.Header), sorted by name.
// Names are Go's canonical form; Kestrel keeps the client's spelling for
// headers it does not know, so handlers must match names case-insensitively.
func requestHeaders(r *http.Request) []headerValues {
	out := make([]headerValues, 0, len(r.Header)+2)
	for k, v := range r.Header {
		out = append(out, headerValues{k, v})
	}
	if r.Host != "" {
		out = append(out, headerValues{"Host", []string{r.Host}})
	}
	if len(r.TransferEncoding) > 0 {
		out = append(out, headerValues{"Transfer-Encoding", []string{strings.Join(r.TransferEncoding, ", ")}})
	}
	slices.SortFunc(out, func(a, b headerValues) int { return strings.Compare(a.name, b.name) })
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
// invocation (the caller gets 500).
func (h *Host) httpResponse(fn *function, res *invokeResult) (httpResponse, error) {
	switch fn.httpOut {
	case "":
		return httpResponse{status: http.StatusOK}, nil
	case "$return":
		return h.returnValueResponse(res.ReturnValue)
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
	if len(raw) > 0 && raw[0] == '"' {
		// A string holding the response object's JSON is read the same way.
		var s string
		if json.Unmarshal(raw, &s) == nil {
			raw = bytes.TrimSpace([]byte(s))
		}
	}
	if len(raw) == 0 || raw[0] != '{' {
		return httpResponse{}, fmt.Errorf("http output %q is not a response object {statusCode, body, headers}: %s", fn.httpOut, truncateBody(raw))
	}
	var out struct {
		StatusCode json.RawMessage            `json:"statusCode"`
		Body       json.RawMessage            `json:"body"`
		Headers    map[string]json.RawMessage `json:"headers"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return httpResponse{}, fmt.Errorf("http output %q: %w", fn.httpOut, err)
	}
	resp := httpResponse{status: parseStatusCode(out.StatusCode)}
	// The host writes an object or array body with JToken.ToString(): indented JSON.
	resp.body = renderBody(out.Body, true)
	if err := resp.setHeaders(out.Headers); err != nil {
		return httpResponse{}, fmt.Errorf("http output %q: %w", fn.httpOut, err)
	}
	return resp, resp.check()
}

const textPlain = "text/plain; charset=utf-8"

// returnValueResponse interprets ReturnValue for an http output named $return:
// it is a response object only if it has a "body" key; any other object is
// itself the body.
func (h *Host) returnValueResponse(raw json.RawMessage) (httpResponse, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return httpResponse{status: http.StatusOK}, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return httpResponse{}, fmt.Errorf("ReturnValue: %w", err)
		}
		if b, ok := dotnetBase64(s); ok {
			// The base64 gotcha: a string that decodes is sent as its bytes.
			return httpResponse{status: http.StatusOK, body: b}, nil
		}
		t := bytes.TrimSpace([]byte(s))
		if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
			return httpResponse{status: http.StatusOK, contentType: textPlain, body: []byte(s)}, nil
		}
		raw = t
	}
	if raw[0] != '{' {
		return httpResponse{status: http.StatusOK, contentType: textPlain, body: renderBody(raw, false)}, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return httpResponse{}, fmt.Errorf("ReturnValue: %w", err)
	}
	get := func(name string) (json.RawMessage, bool) {
		for k, v := range obj {
			if strings.EqualFold(k, name) {
				return v, true
			}
		}
		return nil, false
	}
	bodyRaw, isResponse := get("body")
	if !isResponse {
		var c bytes.Buffer
		_ = json.Compact(&c, raw)
		return httpResponse{status: http.StatusOK, contentType: textPlain, body: c.Bytes()}, nil
	}
	status, ok := get("statusCode")
	if !ok {
		status, _ = get("status")
	}
	resp := httpResponse{status: parseStatusCode(status)}
	if t := bytes.TrimSpace(bodyRaw); len(t) > 0 && t[0] == '[' {
		h.warnArrayBody.Do(func() {
			h.log.Warn("ReturnValue.body is an array: Azure writes it as \"System.Collections.Generic.List`1[System.Object]\"; wrap it in an object or send JSON text")
		})
	}
	resp.body = renderBody(bodyRaw, false)
	var headers map[string]json.RawMessage
	if hr, ok := get("headers"); ok && string(bytes.TrimSpace(hr)) != "null" {
		if err := json.Unmarshal(hr, &headers); err != nil {
			return httpResponse{}, fmt.Errorf("ReturnValue.headers: %w", err)
		}
	}
	if err := resp.setHeaders(headers); err != nil {
		return httpResponse{}, fmt.Errorf("ReturnValue: %w", err)
	}
	return resp, resp.check()
}

func (resp *httpResponse) setHeaders(headers map[string]json.RawMessage) error {
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := bytes.TrimSpace(headers[k])
		if len(v) == 0 || string(v) == "null" {
			if strings.EqualFold(k, "Content-Type") {
				return errors.New("content-type header cannot be null")
			}
			continue
		}
		var s string
		if v[0] == '"' || v[0] == 't' || v[0] == 'f' || (v[0] >= '0' && v[0] <= '9') || v[0] == '-' {
			s = dotnetScalar(v)
		} else {
			s = string(v)
		}
		if strings.EqualFold(k, "Content-Type") {
			resp.contentType = s
			continue
		}
		resp.headers = append(resp.headers, headerValue{k, s})
	}
	if resp.contentType == "" && len(resp.body) > 0 {
		// ASP.NET's string formatter labels an unlabelled body so.
		resp.contentType = textPlain
	}
	return nil
}

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
// array as JSON (indented for a named http output, whose body the host writes
// with JToken.ToString()), a scalar as .NET prints it, null as nothing.
func renderBody(raw json.RawMessage, indent bool) []byte {
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
		if indent {
			_ = json.Indent(&b, raw, "", "  ")
		} else {
			_ = json.Compact(&b, raw)
		}
		return b.Bytes()
	}
	return []byte(dotnetScalar(raw))
}
