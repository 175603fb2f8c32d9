package deploy

import (
	"slices"
	"strings"

	"github.com/google/uuid"
)

// The Entra ID app registration responders sign in with, as App Service
// Authentication (infra/functionapp.tf, auth_settings_v2) needs it: the
// shapes below are Microsoft Graph v1.0's application resource and the
// complex types of its web, api and optionalClaims properties. Only the
// properties Vigil reads or writes are modelled; the rules in this file do
// no I/O.

// AzureCLIAppID is the Azure CLI's application id: pre-authorised for the
// responder scope so `az account get-access-token --resource api://<appId>`
// works without a consent prompt.
const AzureCLIAppID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// ResponderScope is the one delegated permission the registration exposes.
const ResponderScope = "user_impersonation"

type graphApplication struct {
	ID             string          `json:"id,omitempty"`
	AppID          string          `json:"appId,omitempty"`
	DisplayName    string          `json:"displayName,omitempty"`
	UniqueName     string          `json:"uniqueName,omitempty"`
	SignInAudience string          `json:"signInAudience,omitempty"`
	IdentifierURIs []string        `json:"identifierUris,omitempty"`
	Web            *webApplication `json:"web,omitempty"`
	API            *apiApplication `json:"api,omitempty"`
	OptionalClaims *optionalClaims `json:"optionalClaims,omitempty"`
}

type webApplication struct {
	HomePageURL           *string                `json:"homePageUrl"`
	LogoutURL             *string                `json:"logoutUrl"`
	RedirectURIs          []string               `json:"redirectUris"`
	ImplicitGrantSettings *implicitGrantSettings `json:"implicitGrantSettings"`
}

type implicitGrantSettings struct {
	EnableAccessTokenIssuance bool `json:"enableAccessTokenIssuance"`
	EnableIDTokenIssuance     bool `json:"enableIdTokenIssuance"`
}

type apiApplication struct {
	AcceptMappedClaims          *bool                      `json:"acceptMappedClaims"`
	KnownClientApplications     []string                   `json:"knownClientApplications"`
	OAuth2PermissionScopes      []permissionScope          `json:"oauth2PermissionScopes"`
	PreAuthorizedApplications   []preAuthorizedApplication `json:"preAuthorizedApplications"`
	RequestedAccessTokenVersion *int                       `json:"requestedAccessTokenVersion"`
}

type permissionScope struct {
	AdminConsentDescription string `json:"adminConsentDescription"`
	AdminConsentDisplayName string `json:"adminConsentDisplayName"`
	ID                      string `json:"id"`
	IsEnabled               bool   `json:"isEnabled"`
	Type                    string `json:"type"`
	UserConsentDescription  string `json:"userConsentDescription"`
	UserConsentDisplayName  string `json:"userConsentDisplayName"`
	Value                   string `json:"value"`
}

type preAuthorizedApplication struct {
	AppID                  string   `json:"appId"`
	DelegatedPermissionIDs []string `json:"delegatedPermissionIds"`
}

type optionalClaims struct {
	IDToken     []optionalClaim `json:"idToken"`
	AccessToken []optionalClaim `json:"accessToken"`
	Saml2Token  []optionalClaim `json:"saml2Token"`
}

type optionalClaim struct {
	AdditionalProperties []string `json:"additionalProperties"`
	Essential            bool     `json:"essential"`
	Name                 string   `json:"name"`
	Source               *string  `json:"source"`
}

// userNameClaims are the optional claims that name the signed-in responder
// in both ID and access tokens (v2.0 ID tokens carry preferred_username
// already; handlers read preferred_username, upn or email).
var userNameClaims = []string{"upn", "email"}

// ScopeID is the responder scope's id: derived from the appId (UUIDv5), so a
// run repeated, or one after a hand edit, finds the scope it made instead of
// adding another.
func ScopeID(appID string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("api://"+strings.ToLower(appID)+"/"+ResponderScope)).String()
}

// RedirectURI is where Entra ID returns a responder after sign-in to the app
// at host (App Service Authentication's callback).
func RedirectURI(host string) string {
	return "https://" + host + "/.auth/login/aad/callback"
}

// appPatch is one PATCH of the application: its body, and what it changes,
// said for the operator.
type appPatch struct {
	Body    map[string]any
	Changes []string
}

// newApplication is the body of the upsert that creates the registration:
// what needs no appId (the identifier URI and the scope's id do).
func newApplication(displayName string) map[string]any {
	return map[string]any{
		"displayName":    displayName,
		"signInAudience": "AzureADMyOrg",
		"web":            reconcileWeb(nil, nil, false),
		"optionalClaims": reconcileClaims(nil),
	}
}

// reconcile says what to PATCH so that app has every property sign-in needs,
// in order: Graph refuses a pre-authorisation naming a scope the same request
// defines, so the scope comes first and the pre-authorisation after. It keeps
// what others added (scopes, pre-authorised clients, claims, identifier URIs).
// redirectURIs nil leaves the redirect URIs alone (the app's host is not
// known yet); exact sets them to exactly that list, otherwise the missing
// ones are added.
func reconcile(app graphApplication, redirectURIs []string, exact bool) []appPatch {
	var first appPatch
	first.Body = map[string]any{}

	web := reconcileWeb(app.Web, redirectURIs, exact)
	if app.Web == nil || app.Web.ImplicitGrantSettings == nil || !app.Web.ImplicitGrantSettings.EnableIDTokenIssuance {
		first.Changes = append(first.Changes, "web.implicitGrantSettings.enableIdTokenIssuance = true")
	}
	if redirectURIs != nil && !sameSet(currentRedirects(app.Web), web.RedirectURIs) {
		first.Changes = append(first.Changes, "web.redirectUris = "+strings.Join(web.RedirectURIs, ", "))
	}
	if len(first.Changes) > 0 {
		first.Body["web"] = web
	}

	uri := "api://" + app.AppID
	if !slices.Contains(app.IdentifierURIs, uri) {
		first.Body["identifierUris"] = append(slices.Clone(app.IdentifierURIs), uri)
		first.Changes = append(first.Changes, "identifierUris += "+uri)
	}

	claims := reconcileClaims(app.OptionalClaims)
	if app.OptionalClaims == nil || len(claims.IDToken) != len(app.OptionalClaims.IDToken) || len(claims.AccessToken) != len(app.OptionalClaims.AccessToken) {
		first.Body["optionalClaims"] = claims
		first.Changes = append(first.Changes, "optionalClaims: "+strings.Join(userNameClaims, ", ")+" in ID and access tokens")
	}

	scopeID := ScopeID(app.AppID)
	api, apiChanges := reconcileScope(app.API, scopeID)
	if len(apiChanges) > 0 {
		first.Body["api"] = api
		first.Changes = append(first.Changes, apiChanges...)
	}

	var patches []appPatch
	if len(first.Changes) > 0 {
		patches = append(patches, first)
	}
	if withCLI, changed := reconcilePreAuthorized(api, scopeID); changed {
		patches = append(patches, appPatch{
			Body:    map[string]any{"api": withCLI},
			Changes: []string{"api.preAuthorizedApplications: the Azure CLI (" + AzureCLIAppID + ") for " + ResponderScope},
		})
	}
	return patches
}

// reconcileWeb is the web property with ID tokens issued and the redirect
// URIs wanted; the home page and logout URL are kept as they are.
func reconcileWeb(cur *webApplication, redirectURIs []string, exact bool) webApplication {
	var w webApplication
	if cur != nil {
		w = *cur
		w.RedirectURIs = slices.Clone(cur.RedirectURIs)
	}
	if w.RedirectURIs == nil {
		w.RedirectURIs = []string{}
	}
	grant := implicitGrantSettings{EnableIDTokenIssuance: true}
	if cur != nil && cur.ImplicitGrantSettings != nil {
		grant.EnableAccessTokenIssuance = cur.ImplicitGrantSettings.EnableAccessTokenIssuance
	}
	w.ImplicitGrantSettings = &grant
	switch {
	case redirectURIs == nil:
	case exact:
		w.RedirectURIs = slices.Clone(redirectURIs)
	default:
		for _, u := range redirectURIs {
			if !slices.Contains(w.RedirectURIs, u) {
				w.RedirectURIs = append(w.RedirectURIs, u)
			}
		}
	}
	return w
}

func currentRedirects(w *webApplication) []string {
	if w == nil {
		return nil
	}
	return w.RedirectURIs
}

// reconcileClaims adds the user-name claims to ID and access tokens.
func reconcileClaims(cur *optionalClaims) optionalClaims {
	var c optionalClaims
	if cur != nil {
		c = optionalClaims{IDToken: slices.Clone(cur.IDToken), AccessToken: slices.Clone(cur.AccessToken), Saml2Token: slices.Clone(cur.Saml2Token)}
	}
	add := func(list []optionalClaim) []optionalClaim {
		if list == nil {
			list = []optionalClaim{}
		}
		for _, name := range userNameClaims {
			if !slices.ContainsFunc(list, func(o optionalClaim) bool { return o.Name == name && o.Source == nil }) {
				list = append(list, optionalClaim{Name: name, AdditionalProperties: []string{}})
			}
		}
		return list
	}
	c.IDToken, c.AccessToken = add(c.IDToken), add(c.AccessToken)
	if c.Saml2Token == nil {
		c.Saml2Token = []optionalClaim{}
	}
	return c
}

// responderScope is the delegated permission as Vigil defines it.
func responderScope(id string) permissionScope {
	return permissionScope{
		ID: id, Value: ResponderScope, Type: "User", IsEnabled: true,
		AdminConsentDisplayName: "Use Vigil as a responder",
		AdminConsentDescription: "Lets the application call Vigil's responder API as the signed-in responder.",
		UserConsentDisplayName:  "Use Vigil as you",
		UserConsentDescription:  "Lets the application call Vigil's responder API as you.",
	}
}

// reconcileScope is the api property with the responder scope in place and
// v2.0 access tokens (the issuer App Service Authentication trusts). Other
// scopes stay: Graph refuses to drop an enabled one.
func reconcileScope(cur *apiApplication, scopeID string) (apiApplication, []string) {
	var a apiApplication
	if cur != nil {
		a = *cur
		a.OAuth2PermissionScopes = slices.Clone(cur.OAuth2PermissionScopes)
		a.PreAuthorizedApplications = slices.Clone(cur.PreAuthorizedApplications)
		a.KnownClientApplications = slices.Clone(cur.KnownClientApplications)
	}
	if a.KnownClientApplications == nil {
		a.KnownClientApplications = []string{}
	}
	if a.PreAuthorizedApplications == nil {
		a.PreAuthorizedApplications = []preAuthorizedApplication{}
	}
	var changes []string
	if a.RequestedAccessTokenVersion == nil || *a.RequestedAccessTokenVersion != 2 {
		v := 2
		a.RequestedAccessTokenVersion = &v
		changes = append(changes, "api.requestedAccessTokenVersion = 2")
	}
	want := responderScope(scopeID)
	i := slices.IndexFunc(a.OAuth2PermissionScopes, func(s permissionScope) bool { return s.ID == scopeID })
	switch {
	case i < 0:
		a.OAuth2PermissionScopes = append(a.OAuth2PermissionScopes, want)
		changes = append(changes, "api.oauth2PermissionScopes += "+ResponderScope)
	case !a.OAuth2PermissionScopes[i].IsEnabled || a.OAuth2PermissionScopes[i].Value != ResponderScope:
		// A scope Vigil made, disabled or renamed by hand: its texts may
		// stay, the value and state are Vigil's.
		s := a.OAuth2PermissionScopes[i]
		s.IsEnabled, s.Value = true, ResponderScope
		if s.Type == "" {
			s.Type = want.Type
		}
		a.OAuth2PermissionScopes[i] = s
		changes = append(changes, "api.oauth2PermissionScopes: "+ResponderScope+" enabled")
	}
	if a.OAuth2PermissionScopes == nil {
		a.OAuth2PermissionScopes = []permissionScope{}
	}
	return a, changes
}

// reconcilePreAuthorized pre-authorises the Azure CLI for the scope.
func reconcilePreAuthorized(a apiApplication, scopeID string) (apiApplication, bool) {
	a.PreAuthorizedApplications = slices.Clone(a.PreAuthorizedApplications)
	i := slices.IndexFunc(a.PreAuthorizedApplications, func(p preAuthorizedApplication) bool { return strings.EqualFold(p.AppID, AzureCLIAppID) })
	if i < 0 {
		a.PreAuthorizedApplications = append(a.PreAuthorizedApplications, preAuthorizedApplication{AppID: AzureCLIAppID, DelegatedPermissionIDs: []string{scopeID}})
		return a, true
	}
	p := a.PreAuthorizedApplications[i]
	if slices.Contains(p.DelegatedPermissionIDs, scopeID) {
		return a, false
	}
	p.DelegatedPermissionIDs = append(slices.Clone(p.DelegatedPermissionIDs), scopeID)
	a.PreAuthorizedApplications[i] = p
	return a, true
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
