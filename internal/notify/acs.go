package notify

import (
	"context"
	"crypto/sha1"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"vigil/internal/fault"
)

// Azure Communication Services, shared by Email and SMS.
//
// Authentication is Microsoft Entra ID only ("Authenticate to Azure Communication
// Services"): a bearer token for the scope ACSScope from the app's managed
// identity, which needs a role assignment on the resource that allows sending.
// There are no access keys.

// ACSScope is the Entra ID scope of ACS data-plane tokens.
const ACSScope = "https://communication.azure.com/.default"

const (
	// tokenRefreshMargin renews a cached token this long before it expires
	// when the credential suggests no refresh time.
	tokenRefreshMargin = 5 * time.Minute
	// repeatabilityWindow is how old a text may be and still be sent as a
	// repeatable request (SMS's repeatabilityRequestId and
	// repeatabilityFirstSent). ACS tracks repeatable requests for 5 minutes
	// ("Repeatable requests" in the ACS REST reference) and refuses an older
	// first-sent time with 412; the minute's margin covers clock skew. An older
	// text is sent without the repeatability fields, so a late retry may page
	// twice rather than not at all.
	repeatabilityWindow = 4 * time.Minute
)

type acsClient struct {
	channel  string
	cfg      channelConfig
	endpoint string // scheme://host[/path], no trailing slash
	cred     azcore.TokenCredential

	mu    sync.Mutex
	token azcore.AccessToken
}

func newACSClient(channel, endpoint string, cred azcore.TokenCredential, cfg channelConfig) (*acsClient, error) {
	if cred == nil {
		return nil, fmt.Errorf("%s: no Entra ID credential for Azure Communication Services", channel)
	}
	endpoint = strings.TrimRight(strings.TrimSpace(endpoint), "/")
	u, err := url.Parse(endpoint)
	if endpoint == "" || err != nil || !cfg.checkURL(endpoint) || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s: the ACS endpoint must be an https URL such as https://<resource>.communication.azure.com", channel)
	}
	return &acsClient{channel: channel, cfg: cfg, endpoint: endpoint, cred: cred}, nil
}

// bearer returns a cached token, fetching a new one when it is due for refresh.
// The lock makes concurrent deliveries share one fetch.
func (a *acsClient) bearer(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.now()
	if a.token.Token != "" && now.Before(refreshAt(a.token)) {
		return a.token.Token, nil
	}
	tok, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{ACSScope}})
	if err != nil {
		return "", fault.Wrap(fault.Transient, &cleanError{msg: clip(oneLine(err.Error()), maxErrorBody), err: err},
			"%s: getting an Entra ID token for Azure Communication Services", a.channel)
	}
	if tok.Token == "" {
		return "", fault.New(fault.Transient, "%s: the credential returned an empty token", a.channel)
	}
	a.token = tok
	return tok.Token, nil
}

func (a *acsClient) forget(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token.Token == token {
		a.token = azcore.AccessToken{}
	}
}

func refreshAt(t azcore.AccessToken) time.Time {
	if !t.RefreshOn.IsZero() {
		return t.RefreshOn
	}
	return t.ExpiresOn.Add(-tokenRefreshMargin)
}

// post sends body to path?api-version=version with a bearer token. kind
// classifies non-2xx statuses (statusKind when nil). A 401 drops the cached
// token and is Transient: the next attempt signs in again.
func (a *acsClient) post(ctx context.Context, path, version string, body []byte, h http.Header,
	secrets []string, kind func(int) fault.Kind) (*response, error) {
	return a.call(ctx, http.MethodPost, path, version, body, h, secrets, kind)
}

// call is post with another method: a GET has no body.
func (a *acsClient) call(ctx context.Context, method, path, version string, body []byte, h http.Header,
	secrets []string, kind func(int) fault.Kind) (*response, error) {
	tok, err := a.bearer(ctx)
	if err != nil {
		return nil, err
	}
	if h == nil {
		h = http.Header{}
	}
	h.Set("Authorization", "Bearer "+tok)
	rq := request{
		channel: a.channel, method: method,
		url:  a.endpoint + path + "?api-version=" + url.QueryEscape(version),
		body: body, header: h,
		secrets: append([]string{tok}, secrets...),
	}
	resp, err := a.cfg.send(ctx, rq)
	if err != nil {
		return nil, err
	}
	if success(resp.status) {
		return resp, nil
	}
	k := statusKind(resp.status)
	if kind != nil {
		k = kind(resp.status)
	}
	if resp.status == http.StatusUnauthorized {
		a.forget(tok)
		k = fault.Transient
	}
	return resp, a.cfg.failure(rq, resp, k)
}

// repeatable reports whether a notification created at created may still be sent
// as a repeatable request at now.
func repeatable(created, now time.Time) bool {
	if created.IsZero() {
		return false
	}
	age := now.Sub(created)
	return age < repeatabilityWindow && age > -repeatabilityWindow
}

// firstSent formats t as ACS wants repeatabilityFirstSent: IMF-fixdate (RFC
// 1123 with "GMT").
func firstSent(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// keyNamespace is the namespace of the name-based UUIDs derived from keys.
var keyNamespace = [16]byte{0x6f, 0x1c, 0x2a, 0x4e, 0x9d, 0x3b, 0x4e, 0x7a, 0x8c, 0x21, 0x4b, 0x0f, 0x3d, 0x9e, 0x7a, 0x15}

// keyUUID is the RFC 9562 version 5 (SHA-1, name-based) UUID of a notification
// key: the same key always gives the same UUID, which makes it an idempotency id
// for APIs that want a GUID.
func keyUUID(key string) string {
	h := sha1.New()
	h.Write(keyNamespace[:])
	h.Write([]byte(key))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
