package notify

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// StatusUpdate is one customer-facing status update of one Vigil incident, written by a person.
type StatusUpdate struct {
	IncidentID string            // Vigil incident id
	UpdateID   string            // unique per update, the same on every redelivery
	Title      string            // public name of the incident
	Phase      string            // investigating | identified | monitoring | resolved
	Message    string            // written by the communications lead, never by Vigil
	Components map[string]string // catalog component id -> operational | under_maintenance | degraded_performance | partial_outage | major_outage
	ETA        time.Time         // zero only when Phase is resolved
	ETAKind    string            // "resolution" or "next-update"
	Impact     string            // none | minor | major | critical
	At         time.Time
}

// impacts are the values of Statuspage's impact_override.
var impacts = []string{"none", "minor", "major", "critical"}

// validate refuses an update no status page could take, before anything is sent.
func (u StatusUpdate) validate() error {
	switch {
	case u.IncidentID == "":
		return fault.InvalidField("incidentId", "is required")
	case u.UpdateID == "":
		return fault.InvalidField("updateId", "is required")
	case !slices.Contains(incident.Phases, incident.Phase(u.Phase)):
		return fault.InvalidField("phase", "%q is not a phase (investigating, identified, monitoring, resolved)", u.Phase)
	case strings.TrimSpace(u.Message) == "":
		return fault.InvalidField("message", "is required: Vigil never writes a status update by itself")
	case u.Impact != "" && !slices.Contains(impacts, u.Impact):
		return fault.InvalidField("impact", "%q is not an impact (%s)", u.Impact, strings.Join(impacts, ", "))
	}
	for _, id := range slices.Sorted(maps.Keys(u.Components)) {
		if st := u.Components[id]; id == "" || !slices.Contains(incident.ComponentStatuses, st) {
			return fault.InvalidField("components."+id, "%q is not a component status (%s)", st, strings.Join(incident.ComponentStatuses, ", "))
		}
	}
	if u.Phase == string(incident.PhaseResolved) {
		return nil
	}
	if u.ETA.IsZero() {
		return fault.InvalidField("eta", "is required until the incident is resolved")
	}
	if u.ETAKind != incident.ETAResolution && u.ETAKind != incident.ETANextUpdate {
		return fault.InvalidField("etaKind", "%q is not %q or %q", u.ETAKind, incident.ETAResolution, incident.ETANextUpdate)
	}
	return nil
}

// statusBody is the text customers read: the author's message, then a line with
// the ETA in UTC ("Next update by 14:30 UTC."), dated when it falls on another
// day than the update. A resolved update promises nothing. Open, Post and
// HasUpdate all use it, so a sent update is recognised when it is read back.
func statusBody(u StatusUpdate) string {
	msg := strings.TrimSpace(u.Message)
	if u.Phase == string(incident.PhaseResolved) || u.ETA.IsZero() {
		return msg
	}
	what := "Next update"
	if u.ETAKind == incident.ETAResolution {
		what = "Estimated resolution"
	}
	eta, at := u.ETA.UTC(), u.At.UTC()
	when := eta.Format("15:04") + " UTC"
	if y, m, d := eta.Date(); y != at.Year() || m != at.Month() || d != at.Day() {
		when += " on " + eta.Format("2 January 2006")
	}
	return msg + "\n\n" + what + " by " + when + "."
}

// sameBody compares bodies as Statuspage may store them: line endings and
// surrounding space aside.
func sameBody(a, b string) bool {
	norm := func(s string) string { return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n")) }
	return norm(a) == norm(b)
}

// statuspageBaseURL is the Atlassian Statuspage REST API (WithBaseURL changes it).
const statuspageBaseURL = "https://api.statuspage.io/v1"

// statuspageMaxBody is the most of an answer read: incident lists carry every
// update of every incident, more than maxResponseBody allows.
const statuspageMaxBody = 1 << 20

const statuspageChannel = "statuspage"

// statuspageRateLimited is the API's other answer, besides 429, to a key over
// its rate limit ("error codes 420 or 429").
const statuspageRateLimited = 420

// Statuspage publishes to an Atlassian Statuspage page.
//
// Requests, as in the Statuspage REST API reference ("Incidents"):
//
//	POST  /pages/{page_id}/incidents                  create: {"incident": {name, status,
//	      impact_override, body, component_ids, components, deliver_notifications, metadata}}
//	PATCH /pages/{page_id}/incidents/{incident_id}    update: {"incident": {status, body,
//	      impact_override, component_ids, components, deliver_notifications}}
//	GET   /pages/{page_id}/incidents/unresolved       FindOpen, then
//	GET   /pages/{page_id}/incidents?limit=100        (the newest, resolved ones too)
//	GET   /pages/{page_id}/incidents/{incident_id}    HasUpdate
//	Authorization: OAuth <api key>
//
// The API has no idempotency key: the caller records the incident id Open returns
// and the updates it has posted, and after a failure that may hide a success asks
// FindOpen or HasUpdate before sending again. metadata.vigil.incident_id marks
// the incidents Vigil created. The rate limit (about one request a second per
// key) answers 420 or 429, with or without Retry-After: both are transient, like
// 5xx; 401 and 403 mean the API key is refused; other 4xx are permanent.
type Statuspage struct {
	pageID     string
	apiKey     string
	components map[string]string // catalog id -> Statuspage component id
	base       string
	cfg        channelConfig
}

// NewStatuspage returns the publisher of page pageID, authenticated with apiKey;
// components maps catalog component ids to Statuspage component ids (components
// it does not map are left off the page).
func NewStatuspage(pageID, apiKey string, components map[string]string, opts ...ChannelOption) (*Statuspage, error) {
	if strings.TrimSpace(pageID) == "" {
		return nil, errors.New("statuspage: no page id")
	}
	if strings.TrimSpace(apiKey) == "" {
		return nil, errors.New("statuspage: no API key")
	}
	cfg := newChannelConfig(opts)
	base := statuspageBaseURL
	if cfg.baseURL != "" {
		base = strings.TrimRight(cfg.baseURL, "/")
	}
	if u, err := url.Parse(base); err != nil || !cfg.checkURL(base) || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("statuspage: the base URL must be an https URL without query")
	}
	for id, sp := range components {
		if id == "" || sp == "" {
			return nil, errors.New("statuspage: the component mapping has an empty id")
		}
	}
	return &Statuspage{pageID: pageID, apiKey: apiKey, components: maps.Clone(components), base: base, cfg: cfg}, nil
}

// spIncidentIn is the "incident" of a create or update request.
type spIncidentIn struct {
	Name                 string            `json:"name,omitempty"`
	Status               string            `json:"status"`
	ImpactOverride       string            `json:"impact_override,omitempty"`
	Body                 string            `json:"body"`
	ComponentIDs         []string          `json:"component_ids,omitempty"`
	Components           map[string]string `json:"components,omitempty"`
	DeliverNotifications bool              `json:"deliver_notifications"`
	Metadata             *spMetadata       `json:"metadata,omitempty"`
}

type spMetadata struct {
	Vigil spVigil `json:"vigil"`
}

type spVigil struct {
	IncidentID string `json:"incident_id"`
	UpdateID   string `json:"update_id,omitempty"`
}

// spIncident is the part of an incident in an answer that Vigil reads.
type spIncident struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Metadata is read per incident, so that one incident's odd metadata does
	// not spoil a whole list.
	Metadata json.RawMessage    `json:"metadata"`
	Updates  []spIncidentUpdate `json:"incident_updates"`
}

type spIncidentUpdate struct {
	Status    string `json:"status"`
	Body      string `json:"body"`
	CreatedAt string `json:"created_at"`
}

// incident is the request for u: on the page's components only, all of them
// notified to subscribers.
func (s *Statuspage) incident(u StatusUpdate) spIncidentIn {
	in := spIncidentIn{Status: u.Phase, ImpactOverride: u.Impact, Body: statusBody(u), DeliverNotifications: true}
	for id, st := range u.Components {
		if sp, ok := s.components[id]; ok {
			if in.Components == nil {
				in.Components = map[string]string{}
			}
			in.Components[sp] = st
		}
	}
	in.ComponentIDs = slices.Sorted(maps.Keys(in.Components))
	return in
}

// Open creates the Statuspage incident for u (POST /pages/{page_id}/incidents) and returns its id.
func (s *Statuspage) Open(ctx context.Context, u StatusUpdate) (remoteID string, err error) {
	if err := u.validate(); err != nil {
		return "", err
	}
	if strings.TrimSpace(u.Title) == "" {
		return "", fault.InvalidField("title", "is required to open a Statuspage incident")
	}
	in := s.incident(u)
	in.Name = u.Title
	in.Metadata = &spMetadata{Vigil: spVigil{IncidentID: u.IncidentID, UpdateID: u.UpdateID}}
	var out spIncident
	if err := s.call(ctx, http.MethodPost, s.incidents(), in, &out, ""); err != nil {
		return "", err
	}
	if out.ID == "" {
		// Most likely created all the same: a retry finds it with FindOpen.
		return "", fault.New(fault.Transient, "statuspage: the answer to creating the incident of %s has no id", u.IncidentID)
	}
	return out.ID, nil
}

// Post adds u to an existing Statuspage incident (PATCH /pages/{page_id}/incidents/{id}).
func (s *Statuspage) Post(ctx context.Context, remoteID string, u StatusUpdate) error {
	if err := u.validate(); err != nil {
		return err
	}
	if remoteID == "" {
		return fault.InvalidField("remoteId", "is required to update a Statuspage incident")
	}
	return s.call(ctx, http.MethodPatch, s.incidents()+"/"+url.PathEscape(remoteID), s.incident(u), nil, remoteID)
}

// FindOpen looks for the Statuspage incident created for incidentID (matching
// metadata.vigil.incident_id), to recover when a create succeeded but its id was
// never stored: among the unresolved incidents (GET .../incidents/unresolved),
// then among the 100 newest (GET .../incidents?limit=100), since an incident
// whose first update resolved it is no longer unresolved.
func (s *Statuspage) FindOpen(ctx context.Context, incidentID string) (remoteID string, found bool, err error) {
	if incidentID == "" {
		return "", false, fault.InvalidField("incidentId", "is required")
	}
	// A page has a handful of unresolved incidents, far fewer than a page of
	// 100; the lost create, if any, is among the newest incidents.
	for _, list := range []string{"/unresolved?per_page=100", "?limit=100"} {
		var incs []spIncident
		if err := s.call(ctx, http.MethodGet, s.incidents()+list, nil, &incs, ""); err != nil {
			return "", false, err
		}
		for _, inc := range incs {
			var md spMetadata
			if inc.ID != "" && json.Unmarshal(inc.Metadata, &md) == nil && md.Vigil.IncidentID == incidentID {
				return inc.ID, true, nil
			}
		}
	}
	return "", false, nil
}

// HasUpdate reports whether the Statuspage incident's latest incident update already is u (GET /pages/{page_id}/incidents/{id}; compare status and body), to recover when a PATCH may have gone out but was never recorded.
func (s *Statuspage) HasUpdate(ctx context.Context, remoteID string, u StatusUpdate) (bool, error) {
	if err := u.validate(); err != nil {
		return false, err
	}
	if remoteID == "" {
		return false, fault.InvalidField("remoteId", "is required to read a Statuspage incident")
	}
	var inc spIncident
	if err := s.call(ctx, http.MethodGet, s.incidents()+"/"+url.PathEscape(remoteID), nil, &inc, remoteID); err != nil {
		return false, err
	}
	latest, ok := latestUpdate(inc.Updates)
	return ok && latest.Status == u.Phase && sameBody(latest.Body, statusBody(u)), nil
}

// latestUpdate is the newest of an incident's updates. The API lists them newest
// first; created_at decides when the order says otherwise.
func latestUpdate(ups []spIncidentUpdate) (spIncidentUpdate, bool) {
	if len(ups) == 0 {
		return spIncidentUpdate{}, false
	}
	best := ups[0]
	bestAt, bestOK := parseTime(best.CreatedAt)
	for _, up := range ups[1:] {
		if at, ok := parseTime(up.CreatedAt); ok && bestOK && at.After(bestAt) {
			best, bestAt = up, at
		}
	}
	return best, true
}

func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func (s *Statuspage) incidents() string {
	return s.base + "/pages/" + url.PathEscape(s.pageID) + "/incidents"
}

// call sends one request to the API: in, when not nil, as {"incident": in}, and
// the 2xx answer decoded into out, when not nil. remoteID names the incident a 404
// is about ("" when the request is about the page).
func (s *Statuspage) call(ctx context.Context, method, target string, in, out any, remoteID string) error {
	rq := request{channel: statuspageChannel, method: method, url: target, header: http.Header{}, secrets: []string{s.apiKey}, maxAnswer: statuspageMaxBody}
	rq.header.Set("Authorization", "OAuth "+s.apiKey)
	if in != nil {
		body, err := json.Marshal(map[string]any{"incident": in})
		if err != nil {
			return fault.Wrap(fault.Internal, err, "statuspage: encoding the incident")
		}
		rq.body = body
	}
	resp, err := s.cfg.send(ctx, rq)
	if err != nil {
		return err
	}
	if !success(resp.status) {
		return s.refusal(rq, resp, remoteID)
	}
	if out != nil && json.Unmarshal(resp.body, out) != nil {
		return fault.New(fault.Transient, "statuspage: %s %s: HTTP %d with an answer that is not the expected JSON",
			method, strings.TrimPrefix(target, s.base), resp.status)
	}
	return nil
}

// refusal classifies a non-2xx answer: the common way, except that a refused key
// and a missing incident say so.
func (s *Statuspage) refusal(rq request, resp *response, remoteID string) error {
	he := func() *HTTPError { return &HTTPError{Status: resp.status, Body: snippet(resp.body, rq.secrets)} }
	switch {
	case resp.status == http.StatusUnauthorized || resp.status == http.StatusForbidden:
		return fault.Wrap(fault.Permanent, he(), "statuspage: the API key is refused for page %s", s.pageID)
	case resp.status == http.StatusNotFound && remoteID != "":
		return fault.Wrap(fault.Permanent, he(), "statuspage: no such Statuspage incident %s on page %s", remoteID, s.pageID)
	case resp.status == http.StatusNotFound:
		return fault.Wrap(fault.Permanent, he(), "statuspage: no such Statuspage page %s", s.pageID)
	case resp.status == statuspageRateLimited:
		return s.cfg.failure(rq, resp, fault.Transient)
	}
	return s.cfg.check(rq, resp)
}
