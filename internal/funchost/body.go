package funchost

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Request body limits, as the Functions host applies them: Kestrel's
// MaxRequestBodySize, which the host sets to 100 MiB and replaces with the
// FUNCTIONS_REQUEST_BODY_SIZE_LIMIT app setting (bytes) when that parses.
const (
	bodyLimitSetting = "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"
	defaultBodyLimit = 104857600
)

// bodyLimit reads FUNCTIONS_REQUEST_BODY_SIZE_LIMIT. Azure silently keeps
// the default for a value that is not a number; locally that is an error, so
// that a limit the operator believes in is never quietly ignored.
func bodyLimit(env []string) (int64, error) {
	v, ok := lookupSetting(env, bodyLimitSetting)
	if !ok || strings.TrimSpace(v) == "" {
		return defaultBodyLimit, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("funchost: %s=%q is not a number of bytes (Azure would ignore it and keep %d)", bodyLimitSetting, v, defaultBodyLimit)
	}
	return n, nil
}

// lookupSetting reads an app setting as the host sees it: from the settings
// given to the worker (the last one wins), then the process environment.
func lookupSetting(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v, true
		}
	}
	return os.LookupEnv(name)
}

// writeError answers the caller with the JSON error shape the app uses
// ({"error":{"code","message"}}), for what the host itself refuses.
func writeError(w http.ResponseWriter, status int, code, message string) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// retryAfter is how long a caller told to retry waits, in seconds: enough
// for the worker to be restarted.
const retryAfter = "5"

func tooLargeMessage(limit int64) string {
	return fmt.Sprintf("the request body is over the limit of %d bytes (%s)", limit, bodyLimitSetting)
}

// streamChunk is how much of a request body is read, escaped and passed on at a time.
const streamChunk = 32 << 10

// bodyStream reads a request body and yields it as the content of a JSON
// string: escaped text, or base64 for binary media. The body is never held
// whole: a worker that refuses a large invocation early stops the read, and
// only what it took was read from the caller.
type bodyStream struct {
	src     io.Reader
	binary  bool
	started bool // past the byte-order mark check
	eof     bool
	in      []byte // read buffer; starts with the carry from the last chunk
	carry   int    // bytes at the start of in kept for the next chunk
	out     []byte
	off     int
}

func (s *bodyStream) Read(p []byte) (int, error) {
	for s.off == len(s.out) {
		if s.eof {
			return 0, io.EOF
		}
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.out[s.off:])
	s.off += n
	return n, nil
}

// fill reads the next chunk and escapes it into out. It keeps back what
// cannot be encoded yet: a partial base64 group, a partial UTF-8 sequence, or
// too few bytes to know whether the body starts with a byte-order mark.
func (s *bodyStream) fill() error {
	if s.in == nil {
		s.in = make([]byte, streamChunk)
	}
	n, err := s.src.Read(s.in[s.carry:])
	switch {
	case err == io.EOF:
		s.eof = true
	case err != nil:
		return err
	}
	data := s.in[:s.carry+n]
	keep := 0
	if s.binary {
		if !s.eof {
			keep = len(data) % 3
		}
		s.out = base64.StdEncoding.AppendEncode(s.out[:0], data[:len(data)-keep])
	} else {
		if !s.started {
			if len(data) < len(utf8BOM) && !s.eof {
				s.carry, s.out, s.off = len(data), s.out[:0], 0
				return nil
			}
			s.started = true
			if bytes.HasPrefix(data, utf8BOM) {
				data = data[len(utf8BOM):]
			}
		}
		if !s.eof {
			keep = partialRune(data)
		}
		s.out = append(s.out[:0], jsonChars(data[:len(data)-keep])...)
	}
	s.off = 0
	// The kept bytes move to the front of the buffer; data may have
	// started past the byte-order mark, so copy from its end.
	s.carry = copy(s.in, data[len(data)-keep:])
	return nil
}

// jsonChars is p escaped as the characters of a JSON string, without the
// quotes (invalid UTF-8 becomes U+FFFD, as .NET decodes it).
func jsonChars(p []byte) []byte {
	q := marshal(string(p))
	return q[1 : len(q)-1]
}

// partialRune is how many bytes at the end of p begin a UTF-8 sequence that
// the next chunk completes.
func partialRune(p []byte) int {
	for i := 1; i <= utf8.UTFMax-1 && i <= len(p); i++ {
		if utf8.RuneStart(p[len(p)-i]) {
			if utf8.FullRune(p[len(p)-i:]) {
				return 0
			}
			return i
		}
	}
	return 0
}

// envelopeStream is an httpTrigger's invocation request as a stream: the
// request object up to its Body, the body as it is read from the caller, and
// then the rest, Metadata included, built once the body is read (a JSON
// object body's properties are binding data, so what was read is kept for
// that: as much as the worker took).
type envelopeStream struct {
	r      io.Reader
	closed atomic.Bool

	mu      sync.Mutex
	bodyErr error // the caller's body failed to read
}

// newEnvelopeStream streams head, then body (nil: none) through a
// bodyStream, then tail(the body read).
func newEnvelopeStream(head []byte, body io.Reader, binary bool, tail func(body []byte) []byte) *envelopeStream {
	e := &envelopeStream{}
	var kept bytes.Buffer
	parts := []io.Reader{bytes.NewReader(head)}
	if body != nil {
		parts = append(parts, &bodyStream{src: io.TeeReader(&recordErr{r: body, e: e}, &kept), binary: binary})
	}
	parts = append(parts, &lazyReader{build: func() []byte { return tail(kept.Bytes()) }})
	e.r = io.MultiReader(parts...)
	return e
}

var errEnvelopeClosed = fmt.Errorf("funchost: invocation request closed")

// Read is called by the transport, possibly after Do has returned: once
// closed, it stops reading the caller's body.
func (e *envelopeStream) Read(p []byte) (int, error) {
	if e.closed.Load() {
		return 0, errEnvelopeClosed
	}
	return e.r.Read(p)
}

func (e *envelopeStream) Close() error {
	e.closed.Store(true)
	return nil
}

// bodyError is the caller's body read failure, if any.
func (e *envelopeStream) bodyError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bodyErr
}

type recordErr struct {
	r io.Reader
	e *envelopeStream
}

func (r *recordErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.e.mu.Lock()
		if r.e.bodyErr == nil {
			r.e.bodyErr = err
		}
		r.e.mu.Unlock()
	}
	return n, err
}

// lazyReader builds its content on first read.
type lazyReader struct {
	build func() []byte
	r     *bytes.Reader
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.r == nil {
		l.r = bytes.NewReader(l.build())
	}
	return l.r.Read(p)
}
