package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// HostVersion is what the local host reports in X-Azure-Functions-HostVersion
// and User-Agent: a 4.x host, marked as the local one.
const HostVersion = "4.1040.0-vigil-local"

const userAgent = "Azure-Functions-Host/" + HostVersion

// reasonBodyLimit is how much of a failing worker's answer goes into a
// dead-letter reason and the log.
const reasonBodyLimit = 300

// invokeResult is the custom handler's answer (its ReturnValue, which no
// binding of the app reads, is ignored). Outputs keep raw JSON: each binding
// interprets its own value.
type invokeResult struct {
	Outputs map[string]json.RawMessage `json:"Outputs"`
	Logs    []json.RawMessage          `json:"Logs"`
}

// invokeError says why an invocation failed, in words fit for a log line and a
// dead-letter description.
type invokeError struct {
	status int    // the worker's HTTP status; 0 when it did not answer
	body   []byte // the start of its answer
	msg    string
	err    error
}

func (e *invokeError) Error() string {
	var b bytes.Buffer
	b.WriteString(e.msg)
	if e.status != 0 {
		fmt.Fprintf(&b, " (worker answered %d", e.status)
		if len(e.body) > 0 {
			fmt.Fprintf(&b, ": %s", e.body)
		}
		b.WriteByte(')')
	}
	if e.err != nil {
		fmt.Fprintf(&b, ": %v", e.err)
	}
	return b.String()
}

func (e *invokeError) Unwrap() error { return e.err }

func truncateBody(b []byte) []byte {
	if len(b) > reasonBodyLimit {
		b = b[:reasonBodyLimit]
	}
	return bytes.Clone(b)
}

// invokeBytes posts an envelope held in memory.
func (h *Host) invokeBytes(ctx context.Context, fn *function, id string, envelope []byte) (*invokeResult, error) {
	return h.invoke(ctx, fn, id, io.NopCloser(bytes.NewReader(envelope)), int64(len(envelope)))
}

// invoke posts one envelope (length bytes; -1 when streamed) to the worker and
// reads its answer. Any failure — no answer, a non-2xx, an answer that is not
// the invocation-result JSON — fails the invocation, and the caller then
// discards every output, as Azure does. It closes body.
func (h *Host) invoke(ctx context.Context, fn *function, id string, reqBody io.ReadCloser, length int64) (*invokeResult, error) {
	base, err := h.worker.endpoint(ctx)
	if err != nil {
		reqBody.Close()
		return nil, &invokeError{msg: "no worker to invoke", err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+fn.name, reqBody)
	if err != nil {
		reqBody.Close()
		return nil, &invokeError{msg: "build invocation request", err: err}
	}
	req.ContentLength = length
	// Header names as the host spells them on the wire.
	req.Header = http.Header{
		"Content-Type":                   {"application/json; charset=utf-8"},
		"X-Azure-Functions-InvocationId": {id},
		"X-Azure-Functions-HostVersion":  {HostVersion},
		"User-Agent":                     {userAgent},
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && h.cfg.functionTimeout > 0 {
			return nil, &invokeError{msg: fmt.Sprintf("timed out after %s (functionTimeout)", h.cfg.functionTimeout)}
		}
		return nil, &invokeError{msg: "worker did not answer", err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &invokeError{status: resp.StatusCode, msg: "read worker answer", err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &invokeError{status: resp.StatusCode, body: truncateBody(body), msg: "function failed"}
	}
	if len(body) == 0 {
		// The real host would wait for a result that never comes, until functionTimeout.
		return nil, &invokeError{status: resp.StatusCode, msg: "worker answered with an empty body; Azure would hang this invocation until functionTimeout"}
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" && mt != "text/json" {
		// The host reads the answer with a JSON formatter only; Go's sniffed
		// "text/plain" fails there too.
		return nil, &invokeError{status: resp.StatusCode, body: truncateBody(body),
			msg: fmt.Sprintf("worker answered Content-Type %q; the host only reads application/json", resp.Header.Get("Content-Type"))}
	}
	var res invokeResult
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, &invokeError{status: resp.StatusCode, body: truncateBody(body), msg: "worker answer is not an invocation result {\"Outputs\":{},\"Logs\":[],\"ReturnValue\":null}", err: err}
	}
	h.logWorkerLines(ctx, fn, id, res.Logs)
	return &res, nil
}

// logWorkerLines prints the handler's Logs, which Azure sends to Application Insights.
func (h *Host) logWorkerLines(ctx context.Context, fn *function, id string, lines []json.RawMessage) {
	if len(lines) == 0 || !h.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	for _, raw := range lines {
		line := string(raw)
		var s string
		if json.Unmarshal(raw, &s) == nil {
			line = s
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, line, slog.String("function", fn.name), slog.String("invocation", id))
	}
}

// newUUID is a random (version 4) UUID: invocation ids, as the host makes them.
func newUUID() string { return uuid.NewString() }

// invocationLog writes the one line per invocation.
func (h *Host) invocationLog(ctx context.Context, fn *function, trigger string, id string, start time.Time, outcome string, err error) {
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		outcome = "failed: " + err.Error()
	}
	if !h.log.Enabled(ctx, level) {
		return
	}
	h.log.LogAttrs(ctx, level, "invocation",
		slog.String("function", fn.name),
		slog.String("trigger", trigger),
		slog.Duration("duration", time.Since(start)),
		slog.String("outcome", outcome),
		slog.String("id", id))
}

func statusOutcome(code int) string { return "ok " + strconv.Itoa(code) }
