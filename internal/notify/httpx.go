package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/fault"
)

// DefaultTimeout bounds one delivery request, connection to last byte, unless
// WithTimeout or the context sets a shorter one.
const DefaultTimeout = 10 * time.Second

const (
	// maxErrorBody is the most of a response body an error quotes.
	maxErrorBody = 300
	// maxResponseBody is the most of a response body read at all.
	maxResponseBody = 64 << 10
	// maxRetryAfter caps the delay a service can ask for.
	maxRetryAfter = time.Hour
	userAgent     = "vigil-notify/1"
	redacted      = "[redacted]"
)

// ChannelOption configures a channel's HTTP behaviour.
type ChannelOption func(*channelConfig)

// WithHTTPClient sends through a copy of c (its transport, proxy and TLS settings).
// Redirects are never followed, whatever c says: a webhook that redirects is
// misconfigured, and following it would hand the payload to another host.
func WithHTTPClient(c *http.Client) ChannelOption {
	return func(cc *channelConfig) { cc.client = c }
}

// WithTimeout bounds each request (DefaultTimeout otherwise).
func WithTimeout(d time.Duration) ChannelOption {
	return func(cc *channelConfig) { cc.timeout, cc.timeoutSet = d, true }
}

// WithClock replaces time.Now for signatures, token expiry, repeatability and
// Retry-After dates: for tests.
func WithClock(now func() time.Time) ChannelOption {
	return func(cc *channelConfig) { cc.now = now }
}

// WithInsecureHTTP accepts http:// webhook URLs and ACS endpoints besides https://
// ones: for tests and local receivers only, since webhook URLs and bearer tokens
// would then cross the network in clear text.
func WithInsecureHTTP() ChannelOption {
	return func(cc *channelConfig) { cc.insecureHTTP = true }
}

// WithBaseURL sends a channel that talks to one fixed API (Statuspage's
// https://api.statuspage.io/v1) to base instead: for tests and proxies. Channels
// whose address comes from a setting or a parameter ignore it.
func WithBaseURL(base string) ChannelOption {
	return func(cc *channelConfig) { cc.baseURL = base }
}

type channelConfig struct {
	client       *http.Client
	timeout      time.Duration
	timeoutSet   bool
	now          func() time.Time
	insecureHTTP bool
	baseURL      string
}

func newChannelConfig(opts []ChannelOption) channelConfig {
	c := channelConfig{timeout: DefaultTimeout, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	var hc http.Client
	if c.client != nil {
		hc = *c.client
	}
	if c.timeoutSet || hc.Timeout == 0 {
		hc.Timeout = c.timeout
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.client = &hc
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// request is one call with an optional JSON body: a POST unless method says
// otherwise.
type request struct {
	channel string // names the channel in errors: "slack"
	method  string // default POST
	url     string
	body    []byte // nil: no body
	// maxAnswer bounds how much of the answer is read (default maxResponseBody).
	maxAnswer int64
	header    http.Header
	// secrets are strings no error may contain: the URL, a token, an ack link.
	secrets []string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// send sends rq and returns the answer, whatever its status; the error is a
// Transient one when no answer came.
func (c *channelConfig) send(ctx context.Context, rq request) (*response, error) {
	method := rq.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader = http.NoBody
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rq.url, body)
	if err != nil {
		// The error would quote the URL, which is a secret.
		return nil, fault.New(fault.Permanent, "%s: cannot build a request to the configured URL", rq.channel)
	}
	for k, vs := range rq.header {
		req.Header[k] = vs
	}
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, transportError(ctx, rq, err)
	}
	defer resp.Body.Close()
	// An answer whose body breaks off is classified by its status all the same;
	// callers that need the body fail to parse it.
	limit := rq.maxAnswer
	if limit <= 0 {
		limit = maxResponseBody
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // lets the connection be reused
	return &response{status: resp.StatusCode, header: resp.Header, body: answer}, nil
}

func success(status int) bool { return status >= 200 && status < 300 }

// statusKind is the common classification of an HTTP status: Transient for 408,
// 429 and 5xx, Permanent for the rest (other 4xx, and 1xx/3xx that should not
// reach a client that follows no redirects).
func statusKind(status int) fault.Kind {
	if status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500 {
		return fault.Transient
	}
	return fault.Permanent
}

// check returns nil for a 2xx answer, and otherwise the classified error.
func (c *channelConfig) check(rq request, resp *response) error {
	if success(resp.status) {
		return nil
	}
	return c.failure(rq, resp, statusKind(resp.status))
}

// failure is the error for a non-2xx answer, of kind k; a Transient one carries the
// Retry-After delay, when the answer has one.
func (c *channelConfig) failure(rq request, resp *response, k fault.Kind) error {
	he := &HTTPError{Status: resp.status, Body: snippet(resp.body, rq.secrets)}
	if k == fault.Transient {
		he.retryAfter, he.hasRetryAfter = parseRetryAfter(resp.header, c.now())
	}
	what := "refused"
	if k == fault.Transient {
		what = "failed, will retry"
	}
	return fault.Wrap(k, he, "%s: delivery %s", rq.channel, what)
}

// HTTPError is a service's refusal: its status and the start of its answer
// (at most 300 bytes, secrets removed). It sits in the chain of the fault error a
// channel returns; errors.As finds it.
type HTTPError struct {
	Status int
	Body   string

	retryAfter    time.Duration
	hasRetryAfter bool
}

func (e *HTTPError) Error() string {
	s := "HTTP " + strconv.Itoa(e.Status)
	if t := http.StatusText(e.Status); t != "" {
		s += " " + t
	}
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// RetryAfter reports the delay the service asked for (Retry-After, retry-after-ms
// or x-ms-retry-after-ms) before a transient failure is retried, capped at an
// hour; or, when it asked for none, the back-off the channel's own rule sets
// (Vigil's webhooks).
func RetryAfter(err error) (time.Duration, bool) {
	var he *HTTPError
	if errors.As(err, &he) && he.hasRetryAfter {
		return he.retryAfter, true
	}
	var re *retryAfterError
	if errors.As(err, &re) {
		return re.wait, true
	}
	return 0, false
}

func parseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	clamp := func(d time.Duration) (time.Duration, bool) {
		return max(0, min(d, maxRetryAfter)), true
	}
	for _, name := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 {
				return clamp(time.Duration(min(ms, int64(maxRetryAfter/time.Millisecond))) * time.Millisecond)
			}
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		return clamp(time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second)
	}
	if at, err := http.ParseTime(v); err == nil {
		// Measure against the answer's own clock when it states one.
		base := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			base = d
		}
		return clamp(at.Sub(base))
	}
	return 0, false
}

// transportError classifies a request that got no answer: always Transient. The
// *url.Error the client returns quotes the URL, so only its cause is kept.
func transportError(ctx context.Context, rq request, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	what := "request failed"
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		what = "request abandoned"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		what = "request timed out"
	}
	return fault.Wrap(fault.Transient, &cleanError{msg: clip(redact(err.Error(), rq.secrets), maxErrorBody), err: err},
		"%s: %s", rq.channel, what)
}

// cleanError shows a redacted message and keeps the cause for errors.Is.
type cleanError struct {
	msg string
	err error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.err }

// snippet is the start of a response body fit for an error: secrets removed,
// control characters flattened, valid UTF-8, at most maxErrorBody bytes.
func snippet(body []byte, secrets []string) string {
	s := redact(string(body), secrets)
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return clipBytes(strings.Join(strings.Fields(s), " "), maxErrorBody)
}

func redact(s string, secrets []string) string {
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) }) // longest first
	for _, sec := range secrets {
		if len(sec) >= 4 { // shorter ones would mangle ordinary text and hide nothing
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// clipBytes cuts s to at most n bytes on a rune boundary.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// clip cuts s to at most n bytes on a rune boundary, ending with "…" when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	if n <= len(ellipsis) {
		return clipBytes(s, n)
	}
	return clipBytes(s, n-len(ellipsis)) + ellipsis
}

// checkURL accepts an absolute https URL (or http with WithInsecureHTTP).
func (c *channelConfig) checkURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return false
	}
	return u.Scheme == "https" || (c.insecureHTTP && u.Scheme == "http")
}

// minSecretPath is the shortest path and query of a webhook URL treated as a
// secret of its own (an answer might quote it without the host).
const minSecretPath = 8

// webhookURL reads the webhook URL of the setting n.Address names, and returns it
// with the strings errors must not contain. Errors name the setting, never its value.
func (c *channelConfig) webhookURL(channel string, secrets Secrets, setting string) (string, []string, error) {
	if setting == "" {
		return "", nil, fault.New(fault.Permanent, "%s: the notification has no address (the name of the setting holding the webhook URL)", channel)
	}
	v, ok := secrets(setting)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return "", nil, fault.New(fault.Permanent, "%s: setting %q is not set", channel, setting)
	}
	if !c.checkURL(v) {
		hint := ""
		if strings.HasPrefix(v, "@Microsoft.KeyVault(") {
			hint = " (its Key Vault reference did not resolve)"
		}
		scheme := "an https"
		if c.insecureHTTP {
			scheme = "an http(s)"
		}
		return "", nil, fault.New(fault.Permanent, "%s: setting %q does not hold %s URL%s", channel, setting, scheme, hint)
	}
	hide := []string{v}
	if u, err := url.Parse(v); err == nil {
		if p := u.RequestURI(); len(p) >= minSecretPath {
			hide = append(hide, p)
		}
		if len(u.RawQuery) >= minSecretPath {
			hide = append(hide, u.RawQuery)
		}
		if len(u.EscapedPath()) >= minSecretPath {
			hide = append(hide, u.EscapedPath())
		}
	}
	return v, hide, nil
}

// noteRef is how a notification is named in errors: by its key, never its address.
func noteRef(key string) string {
	if key == "" {
		return "notification"
	}
	return fmt.Sprintf("notification %s", key)
}
