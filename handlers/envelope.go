package handlers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"vigil/internal/fault"
)

// Invocation is the body the Functions host POSTs to a custom handler:
// {"Data": {binding: value}, "Metadata": {name: value}}. Values keep the host's own
// encoding until a typed accessor decodes them, because that encoding differs by kind:
// strings are JSON-encoded twice, ints arrive as strings, DateTime has no zone.
type Invocation struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// String decodes a string value, undoing the host's double encoding: the raw
// value is a JSON string whose content is itself a JSON string literal. One level of
// encoding is accepted too, as some host versions and bindings send that.
func decodeString(raw json.RawMessage) (string, error) {
	var once string
	if err := json.Unmarshal(raw, &once); err != nil {
		return "", fmt.Errorf("not a JSON string: %w", err)
	}
	if len(once) >= 2 && once[0] == '"' && once[len(once)-1] == '"' {
		var twice string
		if err := json.Unmarshal([]byte(once), &twice); err == nil {
			return twice, nil
		}
	}
	return once, nil
}

// MetaString returns a string metadata value ("" when absent).
func (inv *Invocation) MetaString(name string) string {
	raw, ok := inv.Metadata[name]
	if !ok {
		return ""
	}
	s, err := decodeString(raw)
	if err != nil {
		return ""
	}
	return s
}

// MetaInt returns an integer metadata value; the host sends ints as strings ("3").
func (inv *Invocation) MetaInt(name string) (int64, bool) {
	raw, ok := inv.Metadata[name]
	if !ok {
		return 0, false
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, true
	}
	s, err := decodeString(raw)
	if err != nil {
		return 0, false
	}
	n, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}

// MetaTime returns a DateTime metadata value. The host drops the zone of DateTime
// values ("2026-11-20T10:15:02" is UTC) and keeps it on DateTimeOffset ones.
func (inv *Invocation) MetaTime(name string) (time.Time, bool) {
	s := inv.MetaString(name)
	if s == "" {
		return time.Time{}, false
	}
	return parseHostTime(s)
}

func parseHostTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// Message is a Service Bus trigger's message as the handler sees it.
type Message struct {
	Body          []byte
	MessageID     string
	DeliveryCount int64
	EnqueuedAt    time.Time
	// ContentType, Subject and Properties (the application properties) are
	// what a retry's copy carries on, besides the body.
	ContentType string
	Subject     string
	Properties  map[string]string
}

// ServiceBusMessage decodes the trigger binding `name`. Without dataType the body
// arrives as a string, encoded twice; with dataType binary, as base64.
func (inv *Invocation) ServiceBusMessage(name string, binary bool) (Message, error) {
	raw, ok := inv.Data[name]
	if !ok {
		return Message{}, fault.New(fault.Permanent, "invocation has no %q binding", name)
	}
	var body []byte
	if binary {
		var b64 string
		if err := json.Unmarshal(raw, &b64); err != nil {
			return Message{}, fault.Wrap(fault.Permanent, err, "binding %q", name)
		}
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return Message{}, fault.Wrap(fault.Permanent, err, "binding %q is not base64", name)
		}
		body = b
	} else {
		s, err := decodeString(raw)
		if err != nil {
			// A JSON object or array body may come through as JSON itself.
			if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') {
				s = string(raw)
			} else {
				return Message{}, fault.Wrap(fault.Permanent, err, "binding %q", name)
			}
		}
		body = []byte(s)
	}
	m := Message{Body: body, MessageID: inv.MetaString("MessageId")}
	m.DeliveryCount, _ = inv.MetaInt("DeliveryCount")
	m.EnqueuedAt, _ = inv.MetaTime("EnqueuedTimeUtc")
	shadowed := bodyKeys(body)
	m.ContentType = inv.brokerString(shadowed, "ContentType")
	// A notification's "subject" (the e-mail's) replaces the message's
	// Subject in the binding data; Label, its older name, is still the message's.
	if m.Subject = inv.brokerString(shadowed, "Subject"); m.Subject == "" {
		m.Subject = inv.brokerString(shadowed, "Label")
	}
	m.Properties = inv.applicationProperties(shadowed)
	return m, nil
}

// bodyKeys lists, lower-cased, the top-level keys of a JSON object body: the
// host copies them into the metadata over any key of the same name (compared
// case-insensitively).
func bodyKeys(body []byte) map[string]bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return nil
	}
	keys := make(map[string]bool, len(obj))
	for k := range obj {
		keys[strings.ToLower(k)] = true
	}
	return keys
}

// brokerString returns a string the broker set on the message, "" when the
// body has a field of that name (the metadata then holds the body's value).
func (inv *Invocation) brokerString(shadowed map[string]bool, name string) string {
	if shadowed[strings.ToLower(name)] {
		return ""
	}
	return inv.MetaString(name)
}

// applicationProperties decodes the message's application properties (the
// extension's ApplicationProperties, or UserProperties, its older name), an
// object; a value that is not a string (another sender may set numbers) is
// kept as its JSON text.
func (inv *Invocation) applicationProperties(shadowed map[string]bool) map[string]string {
	for _, name := range []string{"ApplicationProperties", "UserProperties"} {
		raw, ok := inv.Metadata[name]
		if !ok || shadowed[strings.ToLower(name)] {
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			continue
		}
		props := make(map[string]string, len(obj))
		for k, v := range obj {
			if s, err := decodeString(v); err == nil {
				props[k] = s
			} else if string(v) != "null" {
				props[k] = string(v)
			}
		}
		return props
	}
	return map[string]string{}
}

// HTTPRequest is an httpTrigger's request as the host serialises it.
type HTTPRequest struct {
	URL        string              `json:"Url"`
	Method     string              `json:"Method"`
	Query      map[string]string   `json:"-"`
	Headers    map[string][]string `json:"-"`
	Params     map[string]string   `json:"Params"`
	Identities []json.RawMessage   `json:"Identities"`
	// Body is the raw body, base64-decoded when the host sent it as base64
	// (octet-stream, multipart). HasBody is false when the host sent none, which it
	// does whenever Content-Length is absent or 0.
	Body    []byte `json:"-"`
	HasBody bool   `json:"-"`
}

type rawHTTPRequest struct {
	URL        string            `json:"Url"`
	Method     string            `json:"Method"`
	Query      json.RawMessage   `json:"Query"`
	Headers    json.RawMessage   `json:"Headers"`
	Params     map[string]string `json:"Params"`
	Identities []json.RawMessage `json:"Identities"`
	Body       *string           `json:"Body"`
}

// HTTPRequest decodes the httpTrigger binding `name`.
func (inv *Invocation) HTTPRequest(name string) (*HTTPRequest, error) {
	raw, ok := inv.Data[name]
	if !ok {
		return nil, fmt.Errorf("invocation has no %q binding", name)
	}
	var r rawHTTPRequest
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("binding %q is not an HTTP request: %w", name, err)
	}
	req := &HTTPRequest{URL: r.URL, Method: strings.ToUpper(r.Method), Params: r.Params, Identities: r.Identities}
	var err error
	if req.Query, err = decodeQuery(r.Query); err != nil {
		return nil, err
	}
	if req.Headers, err = decodeHeaders(r.Headers); err != nil {
		return nil, err
	}
	if r.Body != nil {
		req.HasBody = true
		req.Body = []byte(*r.Body)
		if isBinaryMedia(req.Header("Content-Type")) {
			if b, err := base64.StdEncoding.DecodeString(*r.Body); err == nil {
				req.Body = b
			}
		}
	}
	return req, nil
}

// decodeQuery accepts the current shape (an object) and the older one (an object
// serialised into a string).
func decodeQuery(raw json.RawMessage) (map[string]string, error) {
	q := map[string]string{}
	if len(raw) == 0 || string(raw) == "null" {
		return q, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		if s == "" {
			return q, nil
		}
		raw = json.RawMessage(s)
	}
	if err := json.Unmarshal(raw, &q); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return q, nil
}

// decodeHeaders accepts values as arrays (how the host serialises StringValues) or strings.
func decodeHeaders(raw json.RawMessage) (map[string][]string, error) {
	h := map[string][]string{}
	if len(raw) == 0 || string(raw) == "null" {
		return h, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	for k, v := range m {
		key := http.CanonicalHeaderKey(k)
		var many []string
		if err := json.Unmarshal(v, &many); err == nil {
			h[key] = append(h[key], many...)
			continue
		}
		var one string
		if err := json.Unmarshal(v, &one); err != nil {
			return nil, fmt.Errorf("header %s: %w", k, err)
		}
		h[key] = append(h[key], one)
	}
	return h, nil
}

// Header returns the first value of a header, case-insensitively.
func (r *HTTPRequest) Header(name string) string {
	if v := r.Headers[http.CanonicalHeaderKey(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// MediaType returns the request's media type, lower-cased, without parameters.
func (r *HTTPRequest) MediaType() string {
	mt, _, err := mime.ParseMediaType(r.Header("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

func isBinaryMedia(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/octet-stream" || strings.HasPrefix(mt, "multipart/")
}

// Response is what the handler answers the host. A non-2xx answer fails the
// invocation and the host discards Outputs, so an HTTP function reports a 4xx to
// its caller inside Outputs with a 200 to the host.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// HTTPResponse is an `http` output binding's value.
type HTTPResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	// Body is JSON text sent as a string: the host writes a string body as is, and
	// JSON text is never mistaken for base64 since it starts with { or [.
	Body string `json:"body"`
}

func jsonHTTP(status int, v any) HTTPResponse {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return HTTPResponse{StatusCode: http.StatusInternalServerError, Headers: map[string]string{"Content-Type": "application/json"},
			Body: `{"error":{"code":"internal","message":"encoding the response failed"}}`}
	}
	return HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store",
		// Never sniffed into something a browser would run.
		"X-Content-Type-Options": "nosniff"},
		Body: strings.TrimSuffix(buf.String(), "\n")}
}
