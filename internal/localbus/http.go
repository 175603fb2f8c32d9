package localbus

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"vigil/internal/bus"
	"vigil/internal/fault"
)

// The loopback wire lets the custom-handler process, a child of `vigil local`,
// send through the host's Bus: the host serves NewHTTPHandler on 127.0.0.1 and
// passes the child its URL and a per-run token; the child uses a Client.

// MaxRequestBody bounds one request to the loopback wire.
const MaxRequestBody = 1 << 20

type sendRequest struct {
	Entity   string        `json:"entity"`
	Messages []bus.Message `json:"messages"`
}

type scheduleRequest struct {
	Entity  string      `json:"entity"`
	At      time.Time   `json:"at"`
	Message bus.Message `json:"message"`
}

type scheduleResponse struct {
	SequenceNumber int64 `json:"sequenceNumber"`
}

type cancelRequest struct {
	Entity         string `json:"entity"`
	SequenceNumber int64  `json:"sequenceNumber"`
}

type errorBody struct {
	Error wireError `json:"error"`
}

type wireError struct {
	Kind    string `json:"kind"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// NewHTTPHandler serves b's sending side: POST /send, /schedule and /cancel,
// each with "Authorization: Bearer <token>". Mount it with http.StripPrefix to
// serve it under a prefix. An empty token refuses every request.
func NewHTTPHandler(b *Bus, token string) http.Handler {
	h := &wireHandler{bus: b, token: []byte(token)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /send", h.send)
	mux.HandleFunc("POST /schedule", h.schedule)
	mux.HandleFunc("POST /cancel", h.cancel)
	return h.authorize(mux)
}

type wireHandler struct {
	bus   *Bus
	token []byte
}

func (h *wireHandler) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || len(h.token) == 0 || subtle.ConstantTimeCompare([]byte(got), h.token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="localbus"`)
			writeError(w, fault.New(fault.Unauthorized, "a valid bearer token is required"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *wireHandler) send(w http.ResponseWriter, r *http.Request) {
	var req sendRequest
	if err := decodeRequest(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, fault.InvalidField("messages", "must hold at least one message"))
		return
	}
	if err := h.bus.Send(r.Context(), req.Entity, req.Messages...); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *wireHandler) schedule(w http.ResponseWriter, r *http.Request) {
	var req scheduleRequest
	if err := decodeRequest(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	seq, err := h.bus.Schedule(r.Context(), req.Entity, req.At, req.Message)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, scheduleResponse{SequenceNumber: seq})
}

func (h *wireHandler) cancel(w http.ResponseWriter, r *http.Request) {
	var req cancelRequest
	if err := decodeRequest(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := h.bus.Cancel(r.Context(), req.Entity, req.SequenceNumber); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decodeRequest reads one strict JSON object of at most MaxRequestBody bytes.
func decodeRequest(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON object")
	}
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return fault.New(fault.TooLarge, "request body is over %d bytes", MaxRequestBody)
	}
	return fault.Wrap(fault.Invalid, err, "malformed JSON request")
}

func writeError(w http.ResponseWriter, err error) {
	kind := fault.KindOf(err)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		kind = fault.Transient
	}
	writeJSON(w, kind.HTTPStatus(), errorBody{Error: wireError{Kind: kind.String(), Field: fault.FieldOf(err), Message: err.Error()}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client is gone if this fails
}

// Client sends through a Bus served by NewHTTPHandler. Its methods mirror the
// Bus's sending methods, and errors keep their fault kind across the wire.
type Client struct {
	URL   string       // base URL of the handler, e.g. "http://127.0.0.1:7072/bus"
	Token string       // bearer token
	HTTP  *http.Client // nil: a shared client tuned for many concurrent senders on loopback
}

// NewLoopbackTransport is tuned for many concurrent callers of a process on
// this machine: enough idle connections per host for Vigil's 16+ concurrent
// senders to reuse theirs instead of dialling per request, no proxy, no
// compression. The local host's calls to its worker use it too.
func NewLoopbackTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

var loopbackClient = &http.Client{Timeout: 30 * time.Second, Transport: NewLoopbackTransport()}

// Send mirrors Bus.Send.
func (c *Client) Send(ctx context.Context, entity string, msgs ...bus.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	return c.call(ctx, "/send", sendRequest{Entity: entity, Messages: msgs}, nil)
}

// Schedule mirrors Bus.Schedule.
func (c *Client) Schedule(ctx context.Context, entity string, at time.Time, msg bus.Message) (int64, error) {
	var resp scheduleResponse
	err := c.call(ctx, "/schedule", scheduleRequest{Entity: entity, At: at, Message: msg}, &resp)
	return resp.SequenceNumber, err
}

// Cancel mirrors Bus.Cancel.
func (c *Client) Cancel(ctx context.Context, entity string, seq int64) error {
	return c.call(ctx, "/cancel", cancelRequest{Entity: entity, SequenceNumber: seq}, nil)
}

func (c *Client) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fault.Wrap(fault.Invalid, err, "localbus: encode request")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fault.Wrap(fault.Internal, err, "localbus: build request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	// All three calls are idempotent (duplicate detection by message ID, and
	// Cancel), so the transport may retry one that died on a stale keep-alive
	// connection. A nil value marks the request without sending the header.
	req.Header["Idempotency-Key"] = nil
	hc := c.HTTP
	if hc == nil {
		hc = loopbackClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fault.Wrap(fault.Transient, err, "localbus: %s", path)
	}
	defer func() {
		// Drain so the connection goes back to the pool for reuse.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxRequestBody))
		resp.Body.Close()
	}()
	if resp.StatusCode >= 300 {
		return decodeError(path, resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fault.Wrap(fault.Internal, err, "localbus: %s: decode response", path)
	}
	return nil
}

// decodeError turns an error response back into a classified error.
func decodeError(path string, resp *http.Response) error {
	var eb errorBody
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&eb)
	kind, ok := fault.ParseKind(eb.Error.Kind)
	if !ok {
		kind = kindOfStatus(resp.StatusCode)
	}
	msg := eb.Error.Message
	if msg == "" {
		msg = resp.Status
	}
	return &fault.Error{Kind: kind, Field: eb.Error.Field, Message: fmt.Sprintf("localbus: %s: %s", path, msg)}
}

func kindOfStatus(status int) fault.Kind {
	switch status {
	case http.StatusBadRequest:
		return fault.Invalid
	case http.StatusUnauthorized:
		return fault.Unauthorized
	case http.StatusForbidden:
		return fault.Forbidden
	case http.StatusNotFound:
		return fault.NotFound
	case http.StatusConflict:
		return fault.Conflict
	case http.StatusRequestEntityTooLarge:
		return fault.TooLarge
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return fault.Transient
	}
	return fault.Internal
}
