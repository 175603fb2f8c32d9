// Package graphtest is a stand-in for the part of Microsoft Graph v1.0 that
// vigil deploy uses: applications (read and upserted by uniqueName, read by
// appId, updated by id) and service principals (read by appId, created). It
// keeps them in memory and holds requests to the documented shapes: the
// alternate-key syntax, the Prefer header of the upsert, the JSON property
// names and types of application, webApplication, apiApplication,
// permissionScope, preAuthorizedApplication and optionalClaims (an unknown
// property is refused), a bearer token, and Graph's error bodies. It also
// refuses what Graph refuses: removing or renaming an enabled scope, and a
// pre-authorisation naming a scope that is not stored yet (Graph does not
// see a scope defined in the same request).
package graphtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// Application is the stored application, in Graph's property names.
type Application struct {
	ID             string          `json:"id"`
	AppID          string          `json:"appId"`
	UniqueName     string          `json:"uniqueName,omitempty"`
	DisplayName    string          `json:"displayName"`
	SignInAudience string          `json:"signInAudience"`
	IdentifierURIs []string        `json:"identifierUris"`
	Web            *Web            `json:"web"`
	API            *API            `json:"api"`
	OptionalClaims *OptionalClaims `json:"optionalClaims"`
}

// Web is webApplication.
type Web struct {
	HomePageURL           *string                `json:"homePageUrl"`
	LogoutURL             *string                `json:"logoutUrl"`
	RedirectURIs          []string               `json:"redirectUris"`
	ImplicitGrantSettings *ImplicitGrantSettings `json:"implicitGrantSettings"`
}

// ImplicitGrantSettings is implicitGrantSettings.
type ImplicitGrantSettings struct {
	EnableAccessTokenIssuance bool `json:"enableAccessTokenIssuance"`
	EnableIDTokenIssuance     bool `json:"enableIdTokenIssuance"`
}

// API is apiApplication.
type API struct {
	AcceptMappedClaims          *bool           `json:"acceptMappedClaims"`
	KnownClientApplications     []string        `json:"knownClientApplications"`
	OAuth2PermissionScopes      []Scope         `json:"oauth2PermissionScopes"`
	PreAuthorizedApplications   []PreAuthorized `json:"preAuthorizedApplications"`
	RequestedAccessTokenVersion *int            `json:"requestedAccessTokenVersion"`
}

// Scope is permissionScope.
type Scope struct {
	AdminConsentDescription string `json:"adminConsentDescription"`
	AdminConsentDisplayName string `json:"adminConsentDisplayName"`
	ID                      string `json:"id"`
	IsEnabled               bool   `json:"isEnabled"`
	Type                    string `json:"type"`
	UserConsentDescription  string `json:"userConsentDescription"`
	UserConsentDisplayName  string `json:"userConsentDisplayName"`
	Value                   string `json:"value"`
}

// PreAuthorized is preAuthorizedApplication (v1.0: delegatedPermissionIds).
type PreAuthorized struct {
	AppID                  string   `json:"appId"`
	DelegatedPermissionIDs []string `json:"delegatedPermissionIds"`
}

// OptionalClaims is optionalClaims.
type OptionalClaims struct {
	IDToken     []OptionalClaim `json:"idToken"`
	AccessToken []OptionalClaim `json:"accessToken"`
	Saml2Token  []OptionalClaim `json:"saml2Token"`
}

// OptionalClaim is optionalClaim.
type OptionalClaim struct {
	AdditionalProperties []string `json:"additionalProperties"`
	Essential            bool     `json:"essential"`
	Name                 string   `json:"name"`
	Source               *string  `json:"source"`
}

// Request is one request received.
type Request struct {
	Method, Path, Prefer, Body string
	Status                     int
}

// Server is the in-memory Graph. Use it as an http.Handler; its base URL is
// the server's plus /v1.0.
type Server struct {
	// Token is the bearer token expected.
	Token string
	// Lag makes a just-created application unknown to the next Lag requests
	// that name it by id or appId (directory replication).
	Lag int

	mu       sync.Mutex
	apps     []*Application
	sps      map[string]string // appId → service principal id
	requests []Request
	lagging  string // appId still replicating
	lagLeft  int
}

// New returns a Graph expecting token.
func New(token string) *Server { return &Server{Token: token, sps: map[string]string{}} }

var (
	keyPath = regexp.MustCompile(`^/v1\.0/applications\((uniqueName|appId)='((?:[^']|'')+)'\)$`)
	idPath  = regexp.MustCompile(`^/v1\.0/applications/([0-9a-f-]{36})$`)
	spPath  = regexp.MustCompile(`^/v1\.0/servicePrincipals\(appId='([^']+)'\)$`)
	guid    = regexp.MustCompile(`^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$`)
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := &responseRecorder{ResponseWriter: w}
	s.serve(rec, r, body)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Prefer: r.Header.Get("Prefer"), Body: string(body), Status: rec.status})
}

type responseRecorder struct {
	http.ResponseWriter
	status int
}

func (r *responseRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

func graphErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{"date": "2026-01-01T00:00:00", "request-id": "00000000-0000-0000-0000-000000000000"},
	}})
}

func notFound(w http.ResponseWriter, key string) {
	graphErr(w, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Header.Get("Authorization") != "Bearer "+s.Token || s.Token == "" {
		graphErr(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return
	}
	if (r.Method == http.MethodPatch || r.Method == http.MethodPost) && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		graphErr(w, http.StatusUnsupportedMediaType, "Request_BadRequest", "Content-Type must be application/json.")
		return
	}
	path := r.URL.Path
	switch m := keyPath.FindStringSubmatch(path); {
	case m != nil:
		val := strings.ReplaceAll(m[2], "''", "'")
		app := s.find(func(a *Application) bool {
			if m[1] == "uniqueName" {
				return a.UniqueName == val
			}
			return a.AppID == val
		})
		if m[1] == "appId" && s.replicating(app) {
			app = nil
		}
		switch r.Method {
		case http.MethodGet:
			if app == nil {
				notFound(w, val)
				return
			}
			writeJSON(w, http.StatusOK, app)
		case http.MethodPatch:
			if app == nil && m[1] == "uniqueName" && r.Header.Get("Prefer") == "create-if-missing" {
				s.create(w, val, body)
				return
			}
			if app == nil {
				notFound(w, val)
				return
			}
			s.update(w, app, body)
		default:
			graphErr(w, http.StatusMethodNotAllowed, "Request_BadRequest", "Method not allowed.")
		}
		return
	}
	if m := idPath.FindStringSubmatch(path); m != nil {
		app := s.find(func(a *Application) bool { return a.ID == m[1] })
		if s.replicating(app) {
			app = nil
		}
		if app == nil {
			notFound(w, m[1])
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, app)
		case http.MethodPatch:
			s.update(w, app, body)
		default:
			graphErr(w, http.StatusMethodNotAllowed, "Request_BadRequest", "Method not allowed.")
		}
		return
	}
	if m := spPath.FindStringSubmatch(path); m != nil && r.Method == http.MethodGet {
		id, ok := s.sps[m[1]]
		if !ok {
			notFound(w, m[1])
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "appId": m[1], "servicePrincipalType": "Application"})
		return
	}
	if path == "/v1.0/servicePrincipals" && r.Method == http.MethodPost {
		var req struct {
			AppID string `json:"appId"`
		}
		if err := strict(body, &req); err != nil || !guid.MatchString(req.AppID) {
			graphErr(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid service principal: %v", err))
			return
		}
		app := s.find(func(a *Application) bool { return a.AppID == req.AppID })
		if app == nil || s.replicating(app) {
			graphErr(w, http.StatusBadRequest, "Request_BadRequest",
				fmt.Sprintf("The appId '%s' of the service principal does not reference a valid application object.", req.AppID))
			return
		}
		if _, ok := s.sps[req.AppID]; ok {
			graphErr(w, http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue", "The service principal already exists.")
			return
		}
		s.sps[req.AppID] = uuid.NewString()
		writeJSON(w, http.StatusCreated, map[string]any{"id": s.sps[req.AppID], "appId": req.AppID, "servicePrincipalType": "Application"})
		return
	}
	graphErr(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+path+"'.")
}

func (s *Server) find(f func(*Application) bool) *Application {
	for _, a := range s.apps {
		if f(a) {
			return a
		}
	}
	return nil
}

// replicating says whether app is still unknown here, counting the request.
func (s *Server) replicating(app *Application) bool {
	if app == nil || app.AppID != s.lagging || s.lagLeft == 0 {
		return false
	}
	s.lagLeft--
	return true
}

// writable are the application properties a request may set.
var writable = map[string]func(*Application, json.RawMessage) error{
	"displayName":    func(a *Application, m json.RawMessage) error { return strict(m, &a.DisplayName) },
	"signInAudience": func(a *Application, m json.RawMessage) error { return strict(m, &a.SignInAudience) },
	"identifierUris": func(a *Application, m json.RawMessage) error {
		a.IdentifierURIs = nil
		return strict(m, &a.IdentifierURIs)
	},
	"web": func(a *Application, m json.RawMessage) error { a.Web = nil; return strict(m, &a.Web) },
	"api": func(a *Application, m json.RawMessage) error { a.API = nil; return strict(m, &a.API) },
	"optionalClaims": func(a *Application, m json.RawMessage) error {
		a.OptionalClaims = nil
		return strict(m, &a.OptionalClaims)
	},
}

func strict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// apply decodes a PATCH body onto a copy of app; each property sent
// replaces the stored one whole (complex ones included).
func apply(app Application, body []byte) (Application, error) {
	var props map[string]json.RawMessage
	if err := strict(body, &props); err != nil {
		return app, err
	}
	for k, raw := range props {
		set, ok := writable[k]
		if !ok {
			return app, fmt.Errorf("Invalid property '%s'", k)
		}
		if err := set(&app, raw); err != nil {
			return app, fmt.Errorf("property '%s': %v", k, err)
		}
	}
	return app, nil
}

func (s *Server) create(w http.ResponseWriter, uniqueName string, body []byte) {
	app := Application{ID: uuid.NewString(), AppID: uuid.NewString(), UniqueName: uniqueName, SignInAudience: "AzureADMyOrg", IdentifierURIs: []string{}}
	next, err := apply(app, body)
	if err == nil && next.DisplayName == "" {
		err = fmt.Errorf("displayName is required")
	}
	if err == nil {
		err = validate(nil, &next)
	}
	if err != nil {
		graphErr(w, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	s.apps = append(s.apps, &next)
	s.lagging, s.lagLeft = next.AppID, s.Lag
	writeJSON(w, http.StatusCreated, next)
}

func (s *Server) update(w http.ResponseWriter, app *Application, body []byte) {
	next, err := apply(*app, body)
	if err == nil {
		err = validate(app, &next)
	}
	if err != nil {
		graphErr(w, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	*app = next
	w.WriteHeader(http.StatusNoContent)
}

// validate refuses what Graph refuses.
func validate(old, app *Application) error {
	for _, u := range app.IdentifierURIs {
		if !strings.HasPrefix(u, "api://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("identifierUris: %q is not a valid URI", u)
		}
	}
	if w := app.Web; w != nil {
		for _, u := range w.RedirectURIs {
			if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://localhost") {
				return fmt.Errorf("web.redirectUris: %q must be https", u)
			}
		}
	}
	var oldScopes []Scope
	if old != nil && old.API != nil {
		oldScopes = old.API.OAuth2PermissionScopes
	}
	var scopes []Scope
	if a := app.API; a != nil {
		if v := a.RequestedAccessTokenVersion; v != nil && *v != 1 && *v != 2 {
			return fmt.Errorf("api.requestedAccessTokenVersion must be 1 or 2")
		}
		scopes = a.OAuth2PermissionScopes
		for _, sc := range scopes {
			if !guid.MatchString(sc.ID) || sc.Value == "" || strings.Contains(sc.Value, " ") || (sc.Type != "User" && sc.Type != "Admin") {
				return fmt.Errorf("api.oauth2PermissionScopes: invalid scope %+v", sc)
			}
		}
		for _, p := range a.PreAuthorizedApplications {
			if !guid.MatchString(p.AppID) {
				return fmt.Errorf("api.preAuthorizedApplications: appId %q is not a GUID", p.AppID)
			}
			for _, id := range p.DelegatedPermissionIDs {
				if !slices.ContainsFunc(oldScopes, func(s Scope) bool { return s.ID == id }) {
					return fmt.Errorf("Property api.preAuthorizedApplications.delegatedPermissionIds has a Permission Id that cannot be found in the AppPermissions sets.")
				}
			}
		}
	}
	for _, o := range oldScopes {
		if !o.IsEnabled {
			continue
		}
		i := slices.IndexFunc(scopes, func(s Scope) bool { return s.ID == o.ID })
		if i < 0 || scopes[i].Value != o.Value || scopes[i].Type != o.Type {
			return fmt.Errorf("CannotDeleteOrUpdateEnabledEntitlement: Permission (scope or role) cannot be deleted or updated unless disabled first.")
		}
	}
	if c := app.OptionalClaims; c != nil {
		for _, list := range [][]OptionalClaim{c.IDToken, c.AccessToken, c.Saml2Token} {
			for _, o := range list {
				if o.Name == "" {
					return fmt.Errorf("optionalClaims: a claim has no name")
				}
			}
		}
	}
	return nil
}

// App returns a copy of the application with that unique name.
func (s *Server) App(uniqueName string) (Application, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.find(func(a *Application) bool { return a.UniqueName == uniqueName })
	if a == nil {
		return Application{}, false
	}
	var cp Application
	b, _ := json.Marshal(a)
	json.Unmarshal(b, &cp)
	return cp, true
}

// Add stores an application as if made by hand (no unique name needed).
func (s *Server) Add(a Application) Application {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.ID == "" {
		a.ID = uuid.NewString()
	}
	if a.AppID == "" {
		a.AppID = uuid.NewString()
	}
	s.apps = append(s.apps, &a)
	return a
}

// Edit changes the stored application, as a person in the portal would.
func (s *Server) Edit(appID string, f func(*Application)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.find(func(a *Application) bool { return a.AppID == appID }); a != nil {
		f(a)
	}
}

// HasServicePrincipal says whether the tenant has one for appID.
func (s *Server) HasServicePrincipal(appID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sps[appID]
	return ok
}

// DeleteServicePrincipal removes appID's service principal.
func (s *Server) DeleteServicePrincipal(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sps, appID)
}

// Requests returns the requests received so far and forgets them.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

// Writes are the requests among rs that change something (PATCH, POST).
func Writes(rs []Request) []Request {
	var w []Request
	for _, r := range rs {
		if r.Method != http.MethodGet {
			w = append(w, r)
		}
	}
	return w
}
