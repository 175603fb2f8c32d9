package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/incident"
	"vigil/internal/localbus"
)

// ---- envelope helpers -------------------------------------------------------

// decodeEnvelope and encodeEnvelope round-trip an envelope fixture for editing.
func decodeEnvelope(t *testing.T, envelope []byte) map[string]any {
	t.Helper()
	var env map[string]any
	require.NoError(t, json.Unmarshal(envelope, &env))
	return env
}

func encodeEnvelope(t *testing.T, env map[string]any) []byte {
	t.Helper()
	out, err := json.Marshal(env)
	require.NoError(t, err)
	return out
}

// hostString is a string value as the host encodes it in Metadata: JSON-encoded
// once more ("x" arrives as "\"x\"").
func hostString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// headerMaps returns the request's headers and the Metadata copy of them.
func headerMaps(env map[string]any) []map[string]any {
	req := env["Data"].(map[string]any)["req"].(map[string]any)
	out := []map[string]any{req["Headers"].(map[string]any)}
	if h, ok := env["Metadata"].(map[string]any)["Headers"].(map[string]any); ok {
		out = append(out, h)
	}
	return out
}

// as signs an HTTP envelope in as principal the way Easy Auth does: the
// X-MS-CLIENT-PRINCIPAL headers and the identity the host passes in the request
// binding. principal "" removes every trace of a sign-in.
func as(t *testing.T, envelope []byte, principal string) []byte {
	t.Helper()
	env := decodeEnvelope(t, envelope)
	req := env["Data"].(map[string]any)["req"].(map[string]any)
	for _, h := range headerMaps(env) {
		for _, k := range []string{"X-MS-CLIENT-PRINCIPAL", "X-MS-CLIENT-PRINCIPAL-NAME", "X-MS-CLIENT-PRINCIPAL-ID", "X-MS-CLIENT-PRINCIPAL-IDP"} {
			delete(h, k)
		}
		if principal != "" {
			claims, err := json.Marshal(map[string]any{"auth_typ": "aad", "name_typ": "preferred_username", "role_typ": "roles",
				"claims": []map[string]string{{"typ": "preferred_username", "val": principal}}})
			require.NoError(t, err)
			h["X-MS-CLIENT-PRINCIPAL"] = []string{base64.StdEncoding.EncodeToString(claims)}
			h["X-MS-CLIENT-PRINCIPAL-NAME"] = []string{principal}
			h["X-MS-CLIENT-PRINCIPAL-ID"] = []string{"00000000-0000-4000-8000-0000000000aa"}
			h["X-MS-CLIENT-PRINCIPAL-IDP"] = []string{"aad"}
		}
	}
	if principal == "" {
		req["Identities"] = []any{}
	} else {
		req["Identities"] = []any{map[string]any{
			"AuthenticationType": "aad", "IsAuthenticated": true, "Actor": nil, "BootstrapContext": nil,
			"Claims": []any{map[string]any{"Issuer": "https://login.microsoftonline.com/72f988bf-0000-0000-0000-2d7cd011db47/v2.0",
				"OriginalIssuer": "https://login.microsoftonline.com/72f988bf-0000-0000-0000-2d7cd011db47/v2.0", "Properties": map[string]any{},
				"Subject": nil, "Type": "preferred_username", "Value": principal, "ValueType": "http://www.w3.org/2001/XMLSchema#string"}},
			"Label": nil, "Name": principal, "NameClaimType": "preferred_username", "RoleClaimType": "roles",
		}}
	}
	return encodeEnvelope(t, env)
}

// splitURL splits an absolute URL or a path-and-query into its prefix (scheme and
// host), path and raw query.
func splitURL(s string) (prefix, path, query string) {
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.Index(s[i+3:], "/"); j >= 0 {
			prefix, s = s[:i+3+j], s[i+3+j:]
		}
	}
	path, query, _ = strings.Cut(s, "?")
	return prefix, path, query
}

// rewriteURLs applies f to the path and query of the request URL and of the
// front end's copies of it (X-Original-URL, X-WAWS-Unencoded-URL).
func rewriteURLs(env map[string]any, f func(path, query string) (string, string)) {
	join := func(prefix, path, query string) string {
		if query != "" {
			return prefix + path + "?" + query
		}
		return prefix + path
	}
	req := env["Data"].(map[string]any)["req"].(map[string]any)
	prefix, p, q := splitURL(req["Url"].(string))
	p, q = f(p, q)
	req["Url"] = join(prefix, p, q)
	for _, h := range headerMaps(env) {
		for _, k := range []string{"X-Original-URL", "X-WAWS-Unencoded-URL"} {
			if v, ok := h[k].([]any); ok && len(v) == 1 {
				_, p, q := splitURL(v[0].(string))
				p, q = f(p, q)
				h[k] = []string{join("", p, q)}
			}
		}
	}
}

// withParams changes route values (and the URL segments holding them), as the
// host would send for a request to the other address.
func withParams(t *testing.T, envelope []byte, params map[string]string) []byte {
	t.Helper()
	env := decodeEnvelope(t, envelope)
	req := env["Data"].(map[string]any)["req"].(map[string]any)
	meta := env["Metadata"].(map[string]any)
	ps := req["Params"].(map[string]any)
	swap := map[string]string{}
	for k, v := range params {
		old, ok := ps[k].(string)
		require.True(t, ok, "the fixture has no route value %q", k)
		swap[url.PathEscape(old)] = url.PathEscape(v)
		ps[k] = v
		meta[k] = hostString(v)
	}
	rewriteURLs(env, func(path, query string) (string, string) {
		segs := strings.Split(path, "/")
		for i, s := range segs {
			if n, ok := swap[s]; ok {
				segs[i] = n
			}
		}
		return strings.Join(segs, "/"), query
	})
	return encodeEnvelope(t, env)
}

// withQuery replaces the query string.
func withQuery(t *testing.T, envelope []byte, query map[string]string) []byte {
	t.Helper()
	env := decodeEnvelope(t, envelope)
	req := env["Data"].(map[string]any)["req"].(map[string]any)
	meta := env["Metadata"].(map[string]any)
	for k := range req["Query"].(map[string]any) {
		delete(meta, k)
	}
	q := map[string]any{}
	vs := url.Values{}
	for k, v := range query {
		q[k] = v
		vs.Set(k, v)
		if !strings.EqualFold(k, "code") {
			meta[k] = hostString(v)
		}
	}
	req["Query"], meta["Query"] = q, q
	rewriteURLs(env, func(path, _ string) (string, string) { return path, vs.Encode() })
	return encodeEnvelope(t, env)
}

// withJSON gives an HTTP envelope a JSON body.
func withJSON(t *testing.T, envelope []byte, body string) []byte {
	t.Helper()
	return withBody(t, envelope, "application/json", &body)
}

// escalationEnvelope is an escalations-queue trigger envelope built like the
// fixture.
func escalationEnvelope(t *testing.T, body []byte, messageID string, delivery int) []byte {
	t.Helper()
	return queueEnvelope(t, "escalate-incident.json", body, messageID, delivery)
}

// queueEnvelope is a Service Bus trigger envelope built like the fixture
// named: the body encoded twice, MessageId and DeliveryCount as the host
// sends them, and the body's top-level properties copied into Metadata in
// place of the fixture's own.
func queueEnvelope(t *testing.T, name string, body []byte, messageID string, delivery int) []byte {
	t.Helper()
	env := decodeEnvelope(t, fixture(t, name))
	data := env["Data"].(map[string]any)
	meta := env["Metadata"].(map[string]any)
	var was string
	var wasProps map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(data["msg"].(string)), &was))
	require.NoError(t, json.Unmarshal([]byte(was), &wasProps))
	for k := range wasProps {
		delete(meta, k)
	}
	once, err := json.Marshal(string(body))
	require.NoError(t, err)
	data["msg"] = string(once)
	meta["MessageId"] = hostString(messageID)
	meta["DeliveryCount"] = strconv.Itoa(delivery)
	var props map[string]json.RawMessage
	if json.Unmarshal(body, &props) == nil {
		for k, v := range props {
			switch {
			case len(v) == 0 || v[0] == '[' || string(v) == "null":
			case v[0] == '{':
				meta[k] = v
			case v[0] == '"':
				var s string
				_ = json.Unmarshal(v, &s)
				meta[k] = hostString(s)
			default:
				meta[k] = hostString(string(v))
			}
		}
	}
	return encodeEnvelope(t, env)
}

// httpOut extracts the http output whatever its body's type (the
// acknowledge pages are HTML).
func httpOut(t *testing.T, r Response) HTTPResponse {
	t.Helper()
	raw, err := json.Marshal(r.Outputs["res"])
	require.NoError(t, err)
	var out HTTPResponse
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

// problemOf returns the error object of a 4xx answer.
func problemOf(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	p, ok := body["error"].(map[string]any)
	require.True(t, ok, "an error answer carries an error object: %v", body)
	require.NotEmpty(t, p["message"])
	return p
}

// ---- harness helpers --------------------------------------------------------

// sub returns the harness bound to a subtest's t.
func (h *harness) sub(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// openIncident raises the generic alert fixture (a Sev1 on public-api) and
// returns the incident it opened. Its first pages are on the notify queue.
func (h *harness) openIncident() *incident.Incident {
	h.t.Helper()
	_, resp := h.invoke("GenericAlert", fixture(h.t, "generic-alert.json"))
	out, _ := res(h.t, resp)
	require.Equal(h.t, http.StatusAccepted, out.StatusCode, out.Body)
	h.deliverIntake(1)
	incs, _, err := h.store.ListIncidents(context.Background(), app.IncidentFilter{Limit: 10})
	require.NoError(h.t, err)
	require.Len(h.t, incs, 1)
	return incs[0]
}

func (h *harness) incident(id string) *incident.Incident {
	h.t.Helper()
	inc, err := h.store.GetIncident(context.Background(), id)
	require.NoError(h.t, err)
	return inc
}

func (h *harness) outbox() []*incident.Notification {
	h.t.Helper()
	sent, err := h.store.Outbox(context.Background(), 100)
	require.NoError(h.t, err)
	return sent
}

// receiveOne takes the single message waiting on queue.
func (h *harness) receiveOne(queue string) *localbus.Delivery {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ds, err := h.bus.Receive(ctx, queue, 16)
	require.NoError(h.t, err)
	require.Len(h.t, ds, 1)
	return ds[0]
}

// call invokes an HTTP function and returns its http output and JSON body.
func (h *harness) call(function string, envelope []byte) (HTTPResponse, map[string]any) {
	h.t.Helper()
	status, resp := h.invoke(function, envelope)
	require.Equal(h.t, http.StatusOK, status, "an HTTP function always answers the host 200")
	return res(h.t, resp)
}

// onCall answers GetOnCall as rotation → shift.
func (h *harness) onCall(envelope []byte) (map[string]map[string]any, []any) {
	h.t.Helper()
	out, body := h.call("GetOnCall", envelope)
	require.Equal(h.t, http.StatusOK, out.StatusCode, out.Body)
	shifts := map[string]map[string]any{}
	for _, s := range body["shifts"].([]any) {
		m := s.(map[string]any)
		shifts[m["rotation"].(string)] = m
	}
	return shifts, body["overrides"].([]any)
}

func pagesFor(sent []*incident.Notification, incidentID, person string) []*incident.Notification {
	var out []*incident.Notification
	for _, n := range sent {
		if n.IncidentID == incidentID && n.Person == person && n.Event == incident.NotifyPage {
			out = append(out, n)
		}
	}
	return out
}

func actionEnvelope(t *testing.T, id, action string) []byte {
	t.Helper()
	return withParams(t, fixture(t, "incident-action.json"), map[string]string{"id": id, "action": action})
}

// ---- IncidentAction ---------------------------------------------------------

func TestIncidentActionAcknowledgeAsAListedResponder(t *testing.T) {
	h := newHarness(t)
	inc := h.openIncident()
	require.Equal(t, incident.Triggered, inc.State)
	require.False(t, inc.Escalation.DueAt.IsZero(), "step 2 is pending")

	// The fixture is Priya (priya.raman@fabrikam.example) signed in through Easy Auth.
	out, body := h.call("IncidentAction", replace(fixture(t, "incident-action.json"), "INC-PLACEHOLDER", inc.ID))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, inc.ID, body["id"])
	require.Equal(t, "acknowledged", body["state"])

	after := h.incident(inc.ID)
	require.Equal(t, incident.Acknowledged, after.State)
	require.Equal(t, now, after.AcknowledgedAt.UTC())
	require.Greater(t, after.Version, inc.Version)
	require.True(t, after.Escalation.DueAt.IsZero(), "acknowledging stops the escalation")
	i := slices.IndexFunc(after.Timeline, func(e incident.Event) bool {
		return e.Kind == incident.EventState && e.Data["to"] == string(incident.Acknowledged)
	})
	require.GreaterOrEqual(t, i, 0, "the timeline records the acknowledgement")
	require.Equal(t, incident.Actor("user:priya"), after.Timeline[i].Actor, "the catalog's person id, not the raw principal")
	require.Equal(t, now, after.Timeline[i].At.UTC())

	// Acknowledging again is harmless and writes nothing.
	out, body = h.call("IncidentAction", replace(fixture(t, "incident-action.json"), "INC-PLACEHOLDER", inc.ID))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, "acknowledged", body["state"])
	require.Equal(t, after.Version, h.incident(inc.ID).Version)

	// A principal maps to its person by email whatever its case.
	ben := as(t, actionEnvelope(t, inc.ID, "note"), "Ben.Walsh@Fabrikam.example")
	out, _ = h.call("IncidentAction", withJSON(t, ben, `{"text":"Looking at the APIM gateway"}`))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	last := h.incident(inc.ID).Timeline
	require.Equal(t, incident.Actor("user:ben"), last[len(last)-1].Actor)
	require.Equal(t, incident.EventNote, last[len(last)-1].Kind)

	// An unknown incident is a 404.
	out, _ = h.call("IncidentAction", actionEnvelope(t, "INC-NOSUCHTHING0", "acknowledge"))
	require.Equal(t, http.StatusNotFound, out.StatusCode, out.Body)
}

func TestIncidentActionRefusalsChangeNothing(t *testing.T) {
	h := newHarness(t)
	inc := h.openIncident()
	env := replace(fixture(t, "incident-action.json"), "INC-PLACEHOLDER", inc.ID)
	str := func(s string) *string { return &s }
	big := `{"text":"` + strings.Repeat("x", maxActionBytes) + `"}`

	tests := []struct {
		name                 string
		envelope             []byte
		status               int
		code, field, mention string
	}{
		{"no sign-in", as(t, env, ""), 401, "unauthorized", "", ""},
		{"signed in but not in vigil.yaml", as(t, env, "stranger@contoso.example"), 403, "forbidden", "", "stranger@contoso.example"},
		{"unknown action", actionEnvelope(t, inc.ID, "explode"), 404, "not_found", "", `"explode"`},
		{"body is not JSON", withJSON(t, env, `{"reason": "on it"`), 400, "invalid", "", ""},
		{"unknown field", withJSON(t, env, `{"reasn":"typo"}`), 400, "invalid", "", "reasn"},
		{"severity without reason", withJSON(t, actionEnvelope(t, inc.ID, "severity"), `{"severity":"sev2"}`), 400, "invalid", "reason", ""},
		{"unknown severity", withJSON(t, actionEnvelope(t, inc.ID, "severity"), `{"severity":"sev9","reason":"x"}`), 400, "invalid", "severity", ""},
		{"reassign to nobody known", withJSON(t, actionEnvelope(t, inc.ID, "reassign"), `{"person":"zed"}`), 400, "invalid", "person", ""},
		{"body over 64 KiB", withJSON(t, actionEnvelope(t, inc.ID, "note"), big), 413, "too_large", "", ""},
		{"wrong content type", withBody(t, env, "text/plain", str(`{}`)), 415, "unsupported_media_type", "", "text/plain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := h.sub(t)
			out, body := h.call("IncidentAction", tc.envelope)
			require.Equal(t, tc.status, out.StatusCode, out.Body)
			p := problemOf(t, body)
			require.Equal(t, tc.code, p["code"], out.Body)
			if tc.field != "" {
				require.Equal(t, tc.field, p["field"], out.Body)
			}
			if tc.mention != "" {
				require.Contains(t, p["message"], tc.mention)
			}
			if tc.status == http.StatusUnauthorized {
				require.Equal(t, "unauthorized", p["code"])
				require.NotEmpty(t, out.Headers["WWW-Authenticate"], "a 401 says how to authenticate")
			}
			if tc.name == "unknown action" {
				for _, k := range app.ActionKinds {
					require.Contains(t, p["message"], k, "the 404 names the actions")
				}
			}
			after := h.incident(inc.ID)
			require.Equal(t, inc.Version, after.Version, "nothing written")
			require.Equal(t, incident.Triggered, after.State)
			require.Len(t, after.Timeline, len(inc.Timeline))
		})
	}
}

// ---- AcknowledgeLink --------------------------------------------------------

// ackEnvelope fills the acknowledge-link fixture with a link's parts.
func ackEnvelope(t *testing.T, name, id string, q url.Values) []byte {
	t.Helper()
	return replace(fixture(t, name), "INC-PLACEHOLDER", id, "PERSON-PLACEHOLDER", q.Get("person"),
		"EXPIRES-PLACEHOLDER", q.Get("expires"), "TOKEN-PLACEHOLDER", q.Get("token"))
}

func parseAckURL(t *testing.T, link string) (string, url.Values) {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	id, ok := strings.CutPrefix(u.Path, "/api/ack/")
	require.True(t, ok, link)
	return id, u.Query()
}

// ackPage invokes AcknowledgeLink and checks what every answer of it carries.
func (h *harness) ackPage(envelope []byte) HTTPResponse {
	h.t.Helper()
	status, resp := h.invoke("AcknowledgeLink", envelope)
	require.Equal(h.t, http.StatusOK, status)
	out := httpOut(h.t, resp)
	require.Equal(h.t, "text/html; charset=utf-8", out.Headers["Content-Type"])
	require.Equal(h.t, "no-referrer", out.Headers["Referrer-Policy"], "the token is in the URL")
	require.Equal(h.t, "no-store", out.Headers["Cache-Control"])
	require.NotEmpty(h.t, out.Headers["Content-Security-Policy"])
	require.Contains(h.t, out.Headers["Content-Security-Policy"], "default-src 'none'")
	require.Equal(h.t, "DENY", out.Headers["X-Frame-Options"])
	require.True(h.t, strings.HasPrefix(out.Body, "<!doctype html>"), out.Body)
	return out
}

func TestAcknowledgeLinkFromAPage(t *testing.T) {
	h := newHarness(t)
	inc := h.openIncident()
	require.Equal(t, 2, h.deliver("Notify", app.QueueNotify, 1))
	sent := h.outbox()
	require.Len(t, sent, 2)
	require.Contains(t, sent[0].Text, "Runbook (public-api): https://runbooks.fabrikam.example/public-api", "the runbook is in the page itself")
	id, q := parseAckURL(t, sent[0].AckURL)
	require.Equal(t, inc.ID, id)
	require.Equal(t, "ben", q.Get("person"))
	expires, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	require.NoError(t, err)
	require.Greater(t, expires, now.Unix())

	// GET (a mail scanner, a chat unfurler, or the person) only asks.
	out := h.ackPage(ackEnvelope(t, "ack-link-get.json", id, q))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Contains(t, out.Body, `<form method="post">`)
	require.Contains(t, out.Body, "<strong>ben</strong>")
	require.Equal(t, inc.Version, h.incident(id).Version, "GET changes nothing")
	require.Equal(t, incident.Triggered, h.incident(id).State)

	// Broken links: a tampered token, another person's name, an incomplete link.
	tampered := url.Values{"person": {"ben"}, "expires": {q.Get("expires")}, "token": {flip(q.Get("token"))}}
	asAmara := url.Values{"person": {"amara"}, "expires": {q.Get("expires")}, "token": {q.Get("token")}}
	later := url.Values{"person": {"ben"}, "expires": {strconv.FormatInt(expires+3600, 10)}, "token": {q.Get("token")}}
	for name, v := range map[string]url.Values{"tampered token": tampered, "another person": asAmara, "longer expiry": later} {
		for _, f := range []string{"ack-link-get.json", "ack-link-post.json"} {
			out := h.ackPage(ackEnvelope(t, f, id, v))
			require.Equal(t, http.StatusForbidden, out.StatusCode, "%s %s: %s", name, f, out.Body)
			require.NotContains(t, out.Body, "<form", "%s %s", name, f)
		}
	}
	out = h.ackPage(withQuery(t, ackEnvelope(t, "ack-link-post.json", id, q), map[string]string{"person": "ben", "expires": q.Get("expires")}))
	require.Equal(t, http.StatusBadRequest, out.StatusCode, out.Body)

	// An expired link, properly signed.
	_, old := parseAckURL(t, h.srv.App.Links.Ack(id, "ben", now.Add(-time.Minute)))
	out = h.ackPage(ackEnvelope(t, "ack-link-post.json", id, old))
	require.Equal(t, http.StatusForbidden, out.StatusCode, out.Body)
	require.Contains(t, out.Body, "expired")
	require.Equal(t, inc.Version, h.incident(id).Version, "no refused link changed the incident")

	// POST (the button) acknowledges as the person the link was made for.
	out = h.ackPage(ackEnvelope(t, "ack-link-post.json", id, q))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Contains(t, out.Body, "Acknowledged by <strong>ben</strong>")
	after := h.incident(id)
	require.Equal(t, incident.Acknowledged, after.State)
	i := slices.IndexFunc(after.Timeline, func(e incident.Event) bool { return e.Kind == incident.EventAcknowledged })
	require.GreaterOrEqual(t, i, 0)
	require.Equal(t, incident.Actor("user:ben"), after.Timeline[i].Actor)
	j := slices.IndexFunc(after.Timeline, func(e incident.Event) bool {
		return e.Kind == incident.EventState && e.Data["to"] == string(incident.Acknowledged)
	})
	require.GreaterOrEqual(t, j, 0)
	require.Equal(t, incident.Actor("user:ben"), after.Timeline[j].Actor)

	raw, err := json.Marshal(h.srv.App.View(after))
	require.NoError(t, err)
	require.NotContains(t, string(raw), q.Get("token"), "the used token is not readable in the timeline")

	// The link is spent: its page says so, with no button.
	out = h.ackPage(ackEnvelope(t, "ack-link-post.json", id, q))
	require.Equal(t, http.StatusConflict, out.StatusCode, out.Body)
	require.Equal(t, after.Version, h.incident(id).Version)
	out = h.ackPage(ackEnvelope(t, "ack-link-get.json", id, q))
	require.Equal(t, http.StatusConflict, out.StatusCode, out.Body)
	require.NotContains(t, out.Body, "<form")

	// A genuine link for someone who was not paged, or one claiming to last
	// longer than any page gives, acknowledges nothing.
	_, stranger := parseAckURL(t, h.srv.App.Links.Ack(id, "priya", now.Add(time.Hour)))
	require.Equal(t, http.StatusForbidden, h.ackPage(ackEnvelope(t, "ack-link-get.json", id, stranger)).StatusCode)
	_, forever := parseAckURL(t, h.srv.App.Links.Ack(id, "ben", now.Add(30*24*time.Hour)))
	require.Equal(t, http.StatusForbidden, h.ackPage(ackEnvelope(t, "ack-link-get.json", id, forever)).StatusCode)
}

// The confirmation page for a link that has expired should say so instead of
// offering a button that can only fail.
func TestAcknowledgeLinkExpiredGetSaysSo(t *testing.T) {
	h := newHarness(t)
	inc := h.openIncident()
	_, old := parseAckURL(t, h.srv.App.Links.Ack(inc.ID, "ben", now.Add(-time.Minute)))
	out := h.ackPage(ackEnvelope(t, "ack-link-get.json", inc.ID, old))
	require.Equal(t, http.StatusForbidden, out.StatusCode, out.Body)
	require.NotContains(t, out.Body, "<form")
}

// flip changes the last character of a token.
func flip(token string) string {
	last := token[len(token)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return token[:len(token)-1] + string(repl)
}

// ---- EscalateIncident and EscalationSweep -----------------------------------

func TestEscalateIncidentPagesTheNextStepOnce(t *testing.T) {
	h := newHarness(t)
	inc := h.openIncident()
	// depth counts active and scheduled messages: the step-2 timer is there
	// whether or not its time has come on the queue's clock.
	require.Equal(t, 1, h.depth(app.QueueEscalations), "step 2's timer is scheduled")
	require.Equal(t, 2, h.deliver("Notify", app.QueueNotify, 1), "step 1: Ben, email and SMS")
	due := inc.Escalation.DueAt
	require.Equal(t, now.Add(5*time.Minute), due.UTC(), "step 1's delay")

	d := h.receiveOne(app.QueueEscalations)
	require.Equal(t, "esc:"+inc.ID+":1:2", d.ID)
	var m app.EscalationMessage
	require.NoError(t, json.Unmarshal(d.Body, &m))
	require.Equal(t, app.EscalationMessage{IncidentID: inc.ID, Cycle: 1, Position: 2}, m)

	// Delivered before its time, it does nothing.
	status, _ := h.invoke("EscalateIncident", escalationEnvelope(t, d.Body, d.ID, 1))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 0, h.depth(app.QueueNotify))
	require.Equal(t, inc.Version, h.incident(inc.ID).Version)

	// At its time, step 2 pages the platform-secondary rotation: in week 43
	// (dev, amara, ben) that is Amara.
	shifts, _ := h.onCall(fixture(t, "get-oncall.json"))
	require.Equal(t, "amara", shifts["platform-secondary"]["person"])
	h.srv.Now = func() time.Time { return due.Add(time.Second) }
	status, resp := h.invoke("EscalateIncident", escalationEnvelope(t, d.Body, d.ID, 1))
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, resp.Outputs)
	require.Equal(t, 2, h.depth(app.QueueNotify), "Amara: email and SMS")
	require.Equal(t, 2, h.deliver("Notify", app.QueueNotify, 1))
	sent := h.outbox()
	require.Len(t, sent, 4)
	step2 := pagesFor(sent, inc.ID, "amara")
	require.Len(t, step2, 2)
	for _, n := range step2 {
		require.Equal(t, 2, n.Step)
	}
	after := h.incident(inc.ID)
	require.Equal(t, 3, after.Escalation.Next)
	require.Equal(t, due.Add(time.Second).Add(5*time.Minute), after.Escalation.DueAt.UTC())
	require.Equal(t, 1, h.depth(app.QueueEscalations), "step 3's timer")

	// The same message again (Service Bus is at-least-once): nobody is paged twice.
	status, _ = h.invoke("EscalateIncident", escalationEnvelope(t, d.Body, d.ID, 2))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 0, h.depth(app.QueueNotify), "the resent pages are dropped as duplicates")
	require.Len(t, h.outbox(), 4)
	require.Equal(t, 1, h.depth(app.QueueEscalations))
	require.Equal(t, after.Version, h.incident(inc.ID).Version)
	require.NoError(t, h.bus.Complete(context.Background(), d))
}

func TestAcknowledgedIncidentIsNotEscalated(t *testing.T) {
	h := newHarness(t)
	inc := h.openIncident()
	h.deliver("Notify", app.QueueNotify, 1)
	out, _ := h.call("IncidentAction", replace(fixture(t, "incident-action.json"), "INC-PLACEHOLDER", inc.ID))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	acked := h.incident(inc.ID)

	d := h.receiveOne(app.QueueEscalations)
	h.srv.Now = func() time.Time { return inc.Escalation.DueAt.Add(time.Minute) }
	status, _ := h.invoke("EscalateIncident", escalationEnvelope(t, d.Body, d.ID, 1))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 0, h.depth(app.QueueNotify), "nobody further is paged")
	require.Equal(t, acked.Version, h.incident(inc.ID).Version)

	_, resp := h.invoke("EscalationSweep", fixture(t, "escalation-sweep.json"))
	require.Equal(t, app.SweepResult{}, sweepResult(t, resp))
}

func TestMalformedEscalationIsParked(t *testing.T) {
	tests := []struct{ name, body, description string }{
		{"not JSON", `{"incidentId":"INC-1","cycle":`, "not valid JSON"},
		{"no position", `{"incidentId":"INC-1","cycle":1}`, "position"},
		{"no incident", `{"cycle":1,"position":2}`, "incidentId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			status, resp := h.invoke("EscalateIncident", escalationEnvelope(t, []byte(tc.body), "esc-poison-1", 1))
			require.Equal(t, http.StatusOK, status, "a message that can never succeed is not retried")
			require.NotEmpty(t, resp.Logs)
			require.Contains(t, resp.Logs[0], app.QueuePoison)
			d := h.receiveOne(app.QueuePoison)
			require.Equal(t, tc.body, string(d.Body), "parked as received")
			require.Equal(t, app.QueueEscalations, d.Properties["sourceQueue"])
			require.Equal(t, "esc-poison-1", d.Properties["sourceMessageId"])
			require.Equal(t, "permanent", d.Properties["reason"])
			require.Contains(t, d.Properties["description"], tc.description)
			require.NotEmpty(t, d.Properties["parkedAt"])
		})
	}

	t.Run("an incident that does not exist", func(t *testing.T) {
		h := newHarness(t)
		status, _ := h.invoke("EscalateIncident", escalationEnvelope(t, []byte(`{"incidentId":"INC-GONE","cycle":1,"position":2}`), "esc:INC-GONE:1:2", 1))
		require.Equal(t, http.StatusOK, status)
		// Vigil never schedules a timer for an incident it did not store: such
		// a message was forged or corrupted, and an operator should see it.
		d := h.receiveOne(app.QueuePoison)
		require.Contains(t, d.Properties["description"], "does not exist")
	})
}

func sweepResult(t *testing.T, resp Response) app.SweepResult {
	t.Helper()
	require.NotNil(t, resp.ReturnValue, "the sweep returns what it did")
	raw, err := json.Marshal(resp.ReturnValue)
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var r app.SweepResult
	require.NoError(t, dec.Decode(&r), string(raw))
	return r
}

func TestEscalationSweepFromItsTimer(t *testing.T) {
	h := newHarness(t)
	status, resp := h.invoke("EscalationSweep", fixture(t, "escalation-sweep.json"))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, app.SweepResult{}, sweepResult(t, resp), "nothing due")
	require.NotNil(t, resp.Outputs)

	inc := h.openIncident()
	due := inc.Escalation.DueAt

	// Overdue, but within the grace the scheduled message has: the sweep waits.
	h.srv.Now = func() time.Time { return due.Add(app.EscalationGrace - time.Second) }
	_, resp = h.invoke("EscalationSweep", fixture(t, "escalation-sweep.json"))
	require.Equal(t, app.SweepResult{}, sweepResult(t, resp))

	// The timer was lost: the sweep drives step 2 itself.
	late := due.Add(app.EscalationGrace + time.Second)
	h.srv.Now = func() time.Time { return late }
	status, resp = h.invoke("EscalationSweep", fixture(t, "escalation-sweep.json"))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, app.SweepResult{Due: 1, Escalated: 1}, sweepResult(t, resp))
	require.Equal(t, 3, h.incident(inc.ID).Escalation.Next)
	require.Equal(t, 4, h.depth(app.QueueNotify), "Ben's step-1 pages and Amara's step-2 pages")

	// The timer arrives after all: it finds nothing left to do. (Step 3's timer
	// is on the queue too.)
	require.Equal(t, 2, h.depth(app.QueueEscalations))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ds, err := h.bus.Receive(ctx, app.QueueEscalations, 16)
	require.NoError(t, err)
	i := slices.IndexFunc(ds, func(d *localbus.Delivery) bool { return d.ID == "esc:"+inc.ID+":1:2" })
	require.GreaterOrEqual(t, i, 0, "the step-2 timer")
	d := ds[i]
	status, _ = h.invoke("EscalateIncident", escalationEnvelope(t, d.Body, d.ID, 1))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 4, h.depth(app.QueueNotify))
	require.NoError(t, h.bus.Complete(context.Background(), d))
	require.Equal(t, 4, h.deliver("Notify", app.QueueNotify, 1))
	require.Len(t, pagesFor(h.outbox(), inc.ID, "amara"), 2)

	// The next run finds step 3 not yet due.
	_, resp = h.invoke("EscalationSweep", fixture(t, "escalation-sweep.json"))
	require.Equal(t, app.SweepResult{}, sweepResult(t, resp))
}

// ---- CreateOverride and GetOnCall -------------------------------------------

func TestOverrideChangesWhoIsOnCall(t *testing.T) {
	h := newHarness(t)
	shifts, overrides := h.onCall(fixture(t, "get-oncall.json"))
	require.Equal(t, "ben", shifts["platform-primary"]["person"], "week 43 of amara, ben, chloe")
	require.Empty(t, overrides)
	require.Len(t, shifts, 4, "every rotation")

	// Ben hands the rest of his day to Dev (fixture: 10:00–18:00 UTC).
	out, ov := h.call("CreateOverride", fixture(t, "create-override.json"))
	require.Equal(t, http.StatusCreated, out.StatusCode, out.Body)
	require.True(t, strings.HasPrefix(ov["id"].(string), "OV-"), ov["id"])
	require.Equal(t, "platform-primary", ov["rotation"])
	require.Equal(t, "dev", ov["person"])
	require.Equal(t, "user:ben", ov["by"])
	require.Equal(t, "2026-11-06T18:00:00Z", ov["end"])

	shifts, overrides = h.onCall(fixture(t, "get-oncall.json"))
	require.Equal(t, "dev", shifts["platform-primary"]["person"])
	require.NotNil(t, shifts["platform-primary"]["override"])
	require.Equal(t, ov["id"], shifts["platform-primary"]["override"].(map[string]any)["id"])
	require.Len(t, overrides, 1)
	require.Equal(t, "amara", shifts["platform-secondary"]["person"], "other rotations unchanged")

	// After the override ends, Ben again.
	shifts, _ = h.onCall(withQuery(t, fixture(t, "get-oncall.json"), map[string]string{"at": "2026-11-06T19:00:00Z"}))
	require.Equal(t, "ben", shifts["platform-primary"]["person"])
	out, body := h.call("GetOnCall", withQuery(t, fixture(t, "get-oncall.json"), map[string]string{"at": "tomorrow"}))
	require.Equal(t, http.StatusBadRequest, out.StatusCode, out.Body)
	require.Equal(t, "at", problemOf(t, body)["field"])

	// A new incident pages Dev (email only) instead of Ben.
	inc := h.openIncident()
	require.Equal(t, 1, h.depth(app.QueueNotify))
	h.deliver("Notify", app.QueueNotify, 1)
	require.Len(t, pagesFor(h.outbox(), inc.ID, "dev"), 1)
	require.Empty(t, pagesFor(h.outbox(), inc.ID, "ben"))
}

func TestEndOverrideEarly(t *testing.T) {
	h := newHarness(t)
	out, ov := h.call("CreateOverride", withJSON(t, fixture(t, "create-override.json"),
		`{"person":"dev","start":"2026-11-06T09:00:00Z","end":"2026-11-06T18:00:00Z","reason":"covering"}`))
	require.Equal(t, http.StatusCreated, out.StatusCode, out.Body)
	id := ov["id"].(string)
	shifts, _ := h.onCall(fixture(t, "get-oncall.json"))
	require.Equal(t, "dev", shifts["platform-primary"]["person"])

	end := replace(fixture(t, "end-override.json"), "OV-PLACEHOLDER", id)
	out, ended := h.call("EndOverride", end)
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, "user:ben", ended["endedBy"])
	shifts, overrides := h.onCall(fixture(t, "get-oncall.json"))
	require.NotEqual(t, "dev", shifts["platform-primary"]["person"], "the rotation's own schedule again")
	require.Empty(t, overrides)

	out, _ = h.call("EndOverride", end)
	require.Equal(t, http.StatusConflict, out.StatusCode, "already over")
	out, _ = h.call("EndOverride", replace(fixture(t, "end-override.json"), "OV-PLACEHOLDER", "OV-NONE"))
	require.Equal(t, http.StatusNotFound, out.StatusCode)
	out, _ = h.call("EndOverride", withParams(t, end, map[string]string{"id": "platform-secondary", "override": id}))
	require.Equal(t, http.StatusNotFound, out.StatusCode, "another rotation's override")
	out, _ = h.call("EndOverride", as(t, end, ""))
	require.Equal(t, http.StatusUnauthorized, out.StatusCode)
}

func TestCreateOverrideRefusals(t *testing.T) {
	h := newHarness(t)
	env := fixture(t, "create-override.json")
	tests := []struct {
		name     string
		envelope []byte
		status   int
		field    string
	}{
		{"end before start", withJSON(t, env, `{"person":"dev","start":"2026-11-06T18:00:00Z","end":"2026-11-06T10:00:00Z"}`), 400, "end"},
		{"already over", withJSON(t, env, `{"person":"dev","start":"2026-11-05T08:00:00Z","end":"2026-11-05T18:00:00Z"}`), 400, "end"},
		{"no start", withJSON(t, env, `{"person":"dev","end":"2026-11-06T18:00:00Z"}`), 400, "start"},
		{"unknown person", withJSON(t, env, `{"person":"zed","start":"2026-11-06T10:00:00Z","end":"2026-11-06T18:00:00Z"}`), 400, "person"},
		{"not a time", withJSON(t, env, `{"person":"dev","start":"today","end":"2026-11-06T18:00:00Z"}`), 400, "start"},
		{"end not a time", withJSON(t, env, `{"person":"dev","start":"2026-11-06T10:00:00Z","end":18}`), 400, "end"},
		{"no zone", withJSON(t, env, `{"person":"dev","start":"2026-11-06T10:00:00","end":"2026-11-06T18:00:00Z"}`), 400, "start"},
		{"reason not UTF-8", withJSON(t, env, "{\"person\":\"dev\",\"start\":\"2026-11-06T10:00:00Z\",\"end\":\"2026-11-06T18:00:00Z\",\"reason\":\"caf\xe9\"}"), 400, "reason"},
		{"unknown rotation", withParams(t, env, map[string]string{"id": "platform-tertiary"}), 404, ""},
		{"no sign-in", as(t, env, ""), 401, ""},
		{"stranger", as(t, env, "stranger@contoso.example"), 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := h.sub(t)
			out, body := h.call("CreateOverride", tc.envelope)
			require.Equal(t, tc.status, out.StatusCode, out.Body)
			p := problemOf(t, body)
			if tc.field != "" {
				require.Equal(t, tc.field, p["field"], out.Body)
			}
			require.NotContains(t, p["message"], "time.Time", "no Go type names")
			require.Equal(t, "nosniff", out.Headers["X-Content-Type-Options"])
			_, overrides := h.onCall(fixture(t, "get-oncall.json"))
			require.Empty(t, overrides, "nothing stored")
		})
	}
}

// ---- CaseAction ---------------------------------------------------------------

func caseEnvelope(t *testing.T, id, action, body string) []byte {
	t.Helper()
	env := withParams(t, fixture(t, "case-action.json"), map[string]string{"id": id, "action": action})
	return withJSON(t, env, body)
}

func TestCaseTriageAskReplyEscalateResolve(t *testing.T) {
	h := newHarness(t)
	out, receipt := h.call("SubmitCase", fixture(t, "submit-case-form.json"))
	require.Equal(t, http.StatusAccepted, out.StatusCode, out.Body)
	id := receipt["caseId"].(string)
	h.deliverIntake(1)
	h.deliver("Notify", app.QueueNotify, 1)
	token := h.links.CaseToken(id)
	customer := func() map[string]any {
		t.Helper()
		out, view := h.call("GetCase", replace(fixture(t, "get-case-customer.json"), "CS-PLACEHOLDER", id, "TOKEN-PLACEHOLDER", token))
		require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
		return view
	}
	lastUpdate := func(view map[string]any) map[string]any {
		updates := view["updates"].([]any)
		require.NotEmpty(t, updates)
		return updates[len(updates)-1].(map[string]any)
	}
	require.Equal(t, "received", customer()["status"])

	// First-line support (Jonas, in the fixture) asks the reporter a question.
	out, c := h.call("CaseAction", replace(fixture(t, "case-action.json"), "CS-PLACEHOLDER", id))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, string(incident.CaseAwaitingCustomer), c["state"])
	view := customer()
	require.Equal(t, "waiting for your reply", view["status"])
	require.Equal(t, map[string]any{"at": view["updatedAt"], "text": "Which report is slow, and for which pay period?", "kind": "question"}, lastUpdate(view))
	stored, err := h.store.GetCase(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, incident.Actor("user:jonas"), stored.Timeline[len(stored.Timeline)-1].Actor)
	// The reporter is told by e-mail, with their private link.
	h.deliver("Notify", app.QueueNotify, 1)
	told := sentFor(h.outbox(), incident.NotifyCaseUpdate)
	require.Len(t, told, 1)
	require.Equal(t, stored.Reporter.Email, told[0].Address)
	require.Contains(t, told[0].Text, "Which report is slow")
	require.Contains(t, told[0].Text, "token="+url.QueryEscape(token), "their private link")

	// The reporter replies through the private link, signed in to nothing.
	reply := replace(fixture(t, "case-reply.json"), "CS-PLACEHOLDER", id, "TOKEN-PLACEHOLDER", token)
	out, view = h.call("CaseAction", reply)
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, "received", view["status"])
	require.Equal(t, "customer", lastUpdate(view)["kind"])
	require.Equal(t, "The payslip PDF export for October, all 240 employees.", lastUpdate(view)["text"])
	require.NotContains(t, view, "timeline")
	require.Equal(t, "received", customer()["status"])
	// Support hears of the reply: nobody is assigned yet, so the triage team.
	h.deliver("Notify", app.QueueNotify, 1)
	replies := sentFor(h.outbox(), incident.NotifyCaseReply)
	require.NotEmpty(t, replies)
	require.Contains(t, replies[0].Text, "The payslip PDF export for October")

	out, _ = h.call("CaseAction", replace(fixture(t, "case-reply.json"), "CS-PLACEHOLDER", id, "TOKEN-PLACEHOLDER", h.links.CaseToken("CS-OTHER")))
	require.Equal(t, http.StatusNotFound, out.StatusCode, "another case's token opens nothing")
	out, _ = h.call("CaseAction", withQuery(t, replace(fixture(t, "case-reply.json"), "CS-PLACEHOLDER", id), nil))
	require.Equal(t, http.StatusNotFound, out.StatusCode, "a reply without the link's token")
	out, body := h.call("CaseAction", withJSON(t, reply, `{"text":"  "}`))
	require.Equal(t, http.StatusBadRequest, out.StatusCode, out.Body)
	require.Equal(t, "text", problemOf(t, body)["field"])

	// Triage actions need a responder; the reporter's link is not one.
	out, _ = h.call("CaseAction", as(t, caseEnvelope(t, id, "assign", `{"person":"sofia"}`), ""))
	require.Equal(t, http.StatusUnauthorized, out.StatusCode, out.Body)
	out, body = h.call("CaseAction", caseEnvelope(t, id, "close", `{}`))
	require.Equal(t, http.StatusNotFound, out.StatusCode, out.Body)
	for _, k := range app.CaseActionKinds {
		require.Contains(t, problemOf(t, body)["message"], k)
	}

	// Escalating opens an incident carrying what support gathered, and it pages.
	out, c = h.call("CaseAction", caseEnvelope(t, id, "escalate", `{"severity":"sev2","note":"Reproduced: every export times out"}`))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, string(incident.CaseEscalated), c["state"])
	incID, _ := c["incidentId"].(string)
	require.True(t, strings.HasPrefix(incID, "INC-"), incID)
	inc := h.incident(incID)
	require.Equal(t, []string{id}, inc.Cases)
	require.Equal(t, incident.Sev2, inc.Severity)
	require.Equal(t, incident.Triggered, inc.State)
	require.Contains(t, inc.Description, "Reporter replied: The payslip PDF export")
	require.Equal(t, incident.EventOpened, inc.Timeline[0].Kind)
	require.Equal(t, incident.Actor("user:jonas"), inc.Timeline[0].Actor, "opened by who escalated, not by the customer")
	require.True(t, slices.ContainsFunc(inc.Timeline, func(e incident.Event) bool {
		return e.Kind == incident.EventNote && strings.Contains(e.Text, "Reproduced: every export times out")
	}), "support's note is on the incident")
	require.NotNil(t, inc.Escalation)
	require.Equal(t, "payroll", inc.Escalation.Policy, "payslip-reports belongs to payroll")
	shifts, _ := h.onCall(fixture(t, "get-oncall.json"))
	onCall := shifts["payroll"]["person"].(string)
	require.Positive(t, h.deliver("Notify", app.QueueNotify, 1))
	require.NotEmpty(t, pagesFor(h.outbox(), incID, onCall), "the payroll rotation's %s is paged", onCall)
	view = customer()
	require.Equal(t, "being worked on", view["status"])
	raw, _ := json.Marshal(view)
	require.NotContains(t, string(raw), incID, "the customer never sees the incident")

	// Resolving needs the answer the customer will read.
	before, err := h.store.GetCase(context.Background(), id)
	require.NoError(t, err)
	out, body = h.call("CaseAction", caseEnvelope(t, id, "resolve", `{}`))
	require.Equal(t, http.StatusBadRequest, out.StatusCode, out.Body)
	require.Equal(t, "answer", problemOf(t, body)["field"])
	unchanged, err := h.store.GetCase(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, before.Version, unchanged.Version)

	answer := "Fixed: exports are back to under a minute."
	out, c = h.call("CaseAction", caseEnvelope(t, id, "resolve", `{"answer":"`+answer+`"}`))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, string(incident.CaseResolved), c["state"])
	view = customer()
	require.Equal(t, "resolved", view["status"])
	require.Equal(t, answer, lastUpdate(view)["text"])
	out, _ = h.call("CaseAction", reply)
	require.Equal(t, http.StatusConflict, out.StatusCode, "a resolved case takes no more replies")
	h.deliver("Notify", app.QueueNotify, 1)
	told = sentFor(h.outbox(), incident.NotifyCaseUpdate)
	require.Len(t, told, 2, "the question, then the answer")
	require.Contains(t, told[0].Text+told[1].Text, answer)
}

// sentFor lists the notifications of event in the outbox.
func sentFor(sent []*incident.Notification, event string) []*incident.Notification {
	var out []*incident.Notification
	for _, n := range sent {
		if n.Event == event {
			out = append(out, n)
		}
	}
	return out
}

// A retried escalation (a client retrying after a timeout, or after the first
// attempt died between opening the incident and linking the case) should find
// the incident it opened, as escalateCase's comment promises.
func TestCaseEscalateRetryOpensTheIncidentOnce(t *testing.T) {
	h := newHarness(t)
	_, receipt := h.call("SubmitCase", fixture(t, "submit-case-form.json"))
	id := receipt["caseId"].(string)
	h.deliverIntake(1)
	h.deliver("Notify", app.QueueNotify, 1)

	out, c := h.call("CaseAction", caseEnvelope(t, id, "escalate", `{}`))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	incID := c["incidentId"].(string)
	h.deliver("Notify", app.QueueNotify, 1)

	out, c = h.call("CaseAction", caseEnvelope(t, id, "escalate", `{}`))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, incID, c["incidentId"])
	require.Equal(t, 0, h.depth(app.QueueNotify), "nobody is paged twice")
}

// The same root cause on the intake path: a severe case's message redelivered
// after it opened its incident should succeed, not be parked as poison.
func TestSevereCaseRedeliveryIsNotParked(t *testing.T) {
	h := newHarness(t)
	_, receipt := h.call("SubmitCase", fixture(t, "submit-case-json.json"))
	h.deliverIntake(2)
	c, err := h.store.GetCase(context.Background(), receipt["caseId"].(string))
	require.NoError(t, err)
	require.Equal(t, incident.CaseEscalated, c.State)
	require.Zero(t, h.depth(app.QueuePoison), "the redelivery is not parked: it is the same incident")
}

// A case escalated again after its incident was resolved (the customer says it is
// still broken) should reach someone: today escalateCase re-derives the same
// incident id, finds it exists (resolved), links the case to it again and pages
// nobody, while the customer is told engineers are working on it.
func TestCaseReescalatedAfterItsIncidentResolvedPagesSomeone(t *testing.T) {
	h := newHarness(t)
	_, receipt := h.call("SubmitCase", fixture(t, "submit-case-form.json"))
	id := receipt["caseId"].(string)
	h.deliverIntake(1)
	h.deliver("Notify", app.QueueNotify, 1)
	out, c := h.call("CaseAction", caseEnvelope(t, id, "escalate", `{}`))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	first := c["incidentId"].(string)
	h.deliver("Notify", app.QueueNotify, 1)
	out, _ = h.call("IncidentAction", withJSON(t, actionEnvelope(t, first, "resolve"), `{"reason":"deployed the fix"}`))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)

	out, c = h.call("CaseAction", caseEnvelope(t, id, "escalate", `{"note":"Customer says exports still time out"}`))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	linked := h.incident(c["incidentId"].(string))
	require.True(t, linked.State.Open(), "the case is linked to an open incident")
	require.Positive(t, h.depth(app.QueueNotify), "someone is paged")
}

// ---- fixtures against function.json -------------------------------------------

type binding struct {
	Type      string   `json:"type"`
	Direction string   `json:"direction"`
	Name      string   `json:"name"`
	AuthLevel string   `json:"authLevel"`
	Methods   []string `json:"methods"`
	Route     string   `json:"route"`
	QueueName string   `json:"queueName"`
	Schedule  string   `json:"schedule"`
}

func functionBindings(t *testing.T, function string) []binding {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "functions", function, "function.json"))
	require.NoError(t, err)
	var doc struct {
		Bindings []binding `json:"bindings"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	return doc.Bindings
}

var routeParam = regexp.MustCompile(`\{([^}:]+)(:[^}]*)?\}`)

// TestRespondFixturesMatchTheirFunctions checks each new fixture against its
// function.json (trigger, binding name, route, method, queue) and against what
// the handler reads (route values, binding names), so neither can drift.
func TestRespondFixturesMatchTheirFunctions(t *testing.T) {
	httpFixtures := map[string]struct {
		function string
		params   []string // the route values the handler reads
	}{
		"incident-action.json": {"IncidentAction", []string{"action", "id"}},
		"case-action.json":     {"CaseAction", []string{"action", "id"}},
		"case-reply.json":      {"CaseAction", []string{"action", "id"}},
		"ack-link-get.json":    {"AcknowledgeLink", []string{"id"}},
		"ack-link-post.json":   {"AcknowledgeLink", []string{"id"}},
		"create-override.json": {"CreateOverride", []string{"id"}},
		"get-oncall.json":      {"GetOnCall", nil},
		"end-override.json":    {"EndOverride", []string{"id", "override"}},
		"list-cases.json":      {"ListCases", nil},
		"get-catalog.json":     {"GetCatalog", nil},
	}
	for name, want := range httpFixtures {
		t.Run(name, func(t *testing.T) {
			bs := functionBindings(t, want.function)
			require.Len(t, bs, 2)
			trig, out := bs[0], bs[1]
			require.Equal(t, "httpTrigger", trig.Type)
			require.Equal(t, "in", trig.Direction)
			require.Equal(t, "req", trig.Name, "the handler reads the req binding")
			require.Equal(t, binding{Type: "http", Direction: "out", Name: "res"}, out, "the handler answers in res")

			env := fixture(t, name)
			var inv Invocation
			require.NoError(t, json.Unmarshal(env, &inv))
			req, err := inv.HTTPRequest("req")
			require.NoError(t, err)
			require.Contains(t, trig.Methods, strings.ToLower(req.Method))
			require.Equal(t, want.function, decodeEnvelope(t, env)["Metadata"].(map[string]any)["sys"].(map[string]any)["MethodName"])

			var names []string
			for _, m := range routeParam.FindAllStringSubmatch(trig.Route, -1) {
				names = append(names, m[1])
			}
			sort.Strings(names)
			require.Equal(t, want.params, names, "route %s", trig.Route)
			var got []string
			for k := range req.Params {
				got = append(got, k)
			}
			sort.Strings(got)
			require.Equal(t, want.params, got)

			u, err := url.Parse(req.URL)
			require.NoError(t, err)
			path := "/api/" + routeParam.ReplaceAllStringFunc(trig.Route, func(m string) string {
				return url.PathEscape(req.Params[routeParam.FindStringSubmatch(m)[1]])
			})
			require.Equal(t, path, u.Path)
			require.Equal(t, u.RequestURI(), req.Header("X-Original-URL"))
			query := map[string]string{}
			for k, v := range u.Query() {
				query[k] = strings.Join(v, ",")
			}
			require.Equal(t, query, req.Query)

			meta := decodeEnvelope(t, env)["Metadata"].(map[string]any)
			for k, v := range req.Params {
				require.Equal(t, hostString(v), meta[k], "route value %s in Metadata", k)
			}
			if req.HasBody {
				require.Equal(t, strconv.Itoa(len(req.Body)), req.Header("Content-Length"))
			} else {
				cl := req.Header("Content-Length")
				require.True(t, cl == "" || cl == "0", "the host sends no Body only without a length")
			}
			if trig.AuthLevel == "anonymous" && want.function != "AcknowledgeLink" && name != "case-reply.json" {
				_, err := (&Server{SignIn: SignInEasyAuth}).responder(req)
				require.NoError(t, err, "responder routes are anonymous to the host and signed in through Easy Auth")
			}
		})
	}

	t.Run("escalate-incident.json", func(t *testing.T) {
		bs := functionBindings(t, "EscalateIncident")
		require.Len(t, bs, 1)
		require.Equal(t, "serviceBusTrigger", bs[0].Type)
		require.Equal(t, app.QueueEscalations, bs[0].QueueName)
		require.Equal(t, "msg", bs[0].Name)
		var inv Invocation
		require.NoError(t, json.Unmarshal(fixture(t, "escalate-incident.json"), &inv))
		var once string
		require.NoError(t, json.Unmarshal(inv.Data["msg"], &once))
		require.True(t, strings.HasPrefix(once, `"`), "the body is encoded twice")
		m, err := inv.ServiceBusMessage("msg", false)
		require.NoError(t, err)
		var em app.EscalationMessage
		dec := json.NewDecoder(strings.NewReader(string(m.Body)))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&em))
		require.Equal(t, "esc:"+em.IncidentID+":1:2", m.MessageID)
		require.Equal(t, int64(1), m.DeliveryCount)
		require.False(t, m.EnqueuedAt.IsZero())
		require.Equal(t, `"1"`, string(inv.Metadata["DeliveryCount"]), "ints arrive as strings")
		require.Equal(t, `"\"INC-PLACEHOLDER\""`, string(inv.Metadata["incidentId"]))
		require.Equal(t, "EscalateIncident", methodName(t, &inv))
	})

	t.Run("escalation-sweep.json", func(t *testing.T) {
		bs := functionBindings(t, "EscalationSweep")
		require.Len(t, bs, 1)
		require.Equal(t, "timerTrigger", bs[0].Type)
		var inv Invocation
		require.NoError(t, json.Unmarshal(fixture(t, "escalation-sweep.json"), &inv))
		var ti struct {
			ScheduleStatus *struct{ Last, Next, LastUpdated string }
		}
		raw, ok := inv.Data[bs[0].Name]
		require.True(t, ok, "the fixture's binding is the function.json one (%s)", bs[0].Name)
		require.NoError(t, json.Unmarshal(raw, &ti))
		require.NotNil(t, ti.ScheduleStatus, "useMonitor: true sends the schedule status")
		// As the host sends them: local DateTimes with their offset, never Z;
		// on a first run Last and LastUpdated are .NET's default, with no zone.
		require.Equal(t, "0001-01-01T00:00:00", ti.ScheduleStatus.Last, "a first run")
		require.Equal(t, "0001-01-01T00:00:00", ti.ScheduleStatus.LastUpdated, "a first run")
		require.True(t, strings.HasSuffix(ti.ScheduleStatus.Next, "+00:00"), ti.ScheduleStatus.Next)
		_, err := time.Parse(time.RFC3339Nano, ti.ScheduleStatus.Next)
		require.NoError(t, err)
		require.Equal(t, "EscalationSweep", methodName(t, &inv))
	})
}

// methodName returns the sys.MethodName of an invocation.
func methodName(t *testing.T, inv *Invocation) string {
	t.Helper()
	var sys struct{ MethodName string }
	require.NoError(t, json.Unmarshal(inv.Metadata["sys"], &sys))
	return sys.MethodName
}
