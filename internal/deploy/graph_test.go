package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/deploy/graphtest"
)

const testUnique = "vigil-prod-responders"

var testRedirects = []string{
	"https://ops.example.com/.auth/login/aad/callback",
	"https://func-vigilprod.azurewebsites.net/.auth/login/aad/callback",
}

func newGraph(t *testing.T) (*graphtest.Server, AppRegistrations, *bytes.Buffer) {
	t.Helper()
	g := graphtest.New("graph-tok")
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	var log bytes.Buffer
	return g, AppRegistrations{HTTP: srv.Client(), Credential: scopedToken{}, BaseURL: srv.URL + "/v1.0", PollEvery: time.Millisecond, Log: &log}, &log
}

// requireSignInReady checks every property App Service Authentication needs.
func requireSignInReady(t *testing.T, g *graphtest.Server, app graphtest.Application, redirects []string) {
	t.Helper()
	scope := ScopeID(app.AppID)
	require.ElementsMatch(t, redirects, app.Web.RedirectURIs)
	require.True(t, app.Web.ImplicitGrantSettings.EnableIDTokenIssuance)
	require.Contains(t, app.IdentifierURIs, "api://"+app.AppID)
	require.NotNil(t, app.API)
	require.Equal(t, 2, *app.API.RequestedAccessTokenVersion)
	require.Contains(t, app.API.OAuth2PermissionScopes, graphtest.Scope{
		ID: scope, Value: "user_impersonation", Type: "User", IsEnabled: true,
		AdminConsentDisplayName: "Use Vigil as a responder",
		AdminConsentDescription: "Lets the application call Vigil's responder API as the signed-in responder.",
		UserConsentDisplayName:  "Use Vigil as you",
		UserConsentDescription:  "Lets the application call Vigil's responder API as you.",
	})
	var cli *graphtest.PreAuthorized
	for i, p := range app.API.PreAuthorizedApplications {
		if p.AppID == AzureCLIAppID {
			cli = &app.API.PreAuthorizedApplications[i]
		}
	}
	require.NotNil(t, cli, "the Azure CLI is pre-authorised")
	require.Contains(t, cli.DelegatedPermissionIDs, scope)
	for _, list := range [][]graphtest.OptionalClaim{app.OptionalClaims.IDToken, app.OptionalClaims.AccessToken} {
		var names []string
		for _, c := range list {
			names = append(names, c.Name)
		}
		require.Subset(t, names, []string{"upn", "email"})
	}
	require.True(t, g.HasServicePrincipal(app.AppID))
}

func TestAppRegistrationIsCreatedWithEverythingSignInNeeds(t *testing.T) {
	g, regs, log := newGraph(t)
	reg, err := regs.EnsureByUniqueName(context.Background(), testUnique, testRedirects)
	require.NoError(t, err)
	require.True(t, reg.Changed)
	app, ok := g.App(testUnique)
	require.True(t, ok)
	require.Equal(t, app.AppID, reg.AppID)
	require.Equal(t, testUnique, app.DisplayName)
	require.Equal(t, []string{"api://" + app.AppID}, app.IdentifierURIs)
	requireSignInReady(t, g, app, testRedirects)

	reqs := g.Requests()
	require.Equal(t, http.MethodGet, reqs[0].Method)
	require.Equal(t, "/v1.0/applications(uniqueName='"+testUnique+"')", reqs[0].Path)
	require.Equal(t, http.StatusNotFound, reqs[0].Status)
	require.Equal(t, http.MethodPatch, reqs[1].Method, "Graph's upsert")
	require.Equal(t, "create-if-missing", reqs[1].Prefer)
	require.Equal(t, http.StatusCreated, reqs[1].Status)
	for _, r := range graphtest.Writes(reqs) {
		require.Less(t, r.Status, 300, "%s %s answered %d: %s", r.Method, r.Path, r.Status, r.Body)
	}
	require.Contains(t, log.String(), "created app registration "+testUnique)
	require.Contains(t, log.String(), "created its service principal")
}

func TestAppRegistrationSecondRunChangesNothing(t *testing.T) {
	g, regs, _ := newGraph(t)
	_, err := regs.EnsureByUniqueName(context.Background(), testUnique, testRedirects)
	require.NoError(t, err)
	g.Requests()

	var log bytes.Buffer
	regs.Log = &log
	reg, err := regs.EnsureByUniqueName(context.Background(), testUnique, testRedirects)
	require.NoError(t, err)
	require.False(t, reg.Changed)
	require.Empty(t, graphtest.Writes(g.Requests()))
	require.Empty(t, log.String())

	// Before the hosts are known (the first phase of a deploy), too.
	reg, err = regs.EnsureByUniqueName(context.Background(), testUnique, nil)
	require.NoError(t, err)
	require.False(t, reg.Changed)
	require.Empty(t, graphtest.Writes(g.Requests()))
}

func TestAppRegistrationEditedByHandIsRepaired(t *testing.T) {
	home := "https://ops.example.com/"
	for name, edit := range map[string]func(*graphtest.Application){
		"redirect URI missing": func(a *graphtest.Application) { a.Web.RedirectURIs = a.Web.RedirectURIs[:1] },
		"a stale redirect URI": func(a *graphtest.Application) {
			a.Web.RedirectURIs = append(a.Web.RedirectURIs, "https://old.example.com/cb")
		},
		"ID tokens off":           func(a *graphtest.Application) { a.Web.ImplicitGrantSettings.EnableIDTokenIssuance = false },
		"no web at all":           func(a *graphtest.Application) { a.Web = nil },
		"access token version 1":  func(a *graphtest.Application) { v := 1; a.API.RequestedAccessTokenVersion = &v },
		"token version unset":     func(a *graphtest.Application) { a.API.RequestedAccessTokenVersion = nil },
		"no identifier URI":       func(a *graphtest.Application) { a.IdentifierURIs = []string{} },
		"scope disabled":          func(a *graphtest.Application) { a.API.OAuth2PermissionScopes[0].IsEnabled = false },
		"scope and CLI gone":      func(a *graphtest.Application) { a.API = nil },
		"CLI not pre-authorised":  func(a *graphtest.Application) { a.API.PreAuthorizedApplications = nil },
		"CLI without the scope":   func(a *graphtest.Application) { a.API.PreAuthorizedApplications[0].DelegatedPermissionIDs = []string{} },
		"upn claim removed":       func(a *graphtest.Application) { a.OptionalClaims.AccessToken = a.OptionalClaims.AccessToken[1:] },
		"no optional claims":      func(a *graphtest.Application) { a.OptionalClaims = nil },
		"email only in ID tokens": func(a *graphtest.Application) { a.OptionalClaims.IDToken = a.OptionalClaims.IDToken[:1] },
	} {
		t.Run(name, func(t *testing.T) {
			g, regs, _ := newGraph(t)
			reg, err := regs.EnsureByUniqueName(context.Background(), testUnique, testRedirects)
			require.NoError(t, err)
			// What a person added stays: a home page, another scope.
			other := graphtest.Scope{ID: "5a0e4d4e-7a8c-4b3f-9d3e-0c8f1e2a3b4c", Value: "read", Type: "Admin", IsEnabled: true}
			g.Edit(reg.AppID, func(a *graphtest.Application) {
				a.Web.HomePageURL = &home
				a.API.OAuth2PermissionScopes = append(a.API.OAuth2PermissionScopes, other)
			})
			g.Edit(reg.AppID, edit)
			g.Requests()

			again, err := regs.EnsureByUniqueName(context.Background(), testUnique, testRedirects)
			require.NoError(t, err)
			require.True(t, again.Changed)
			require.NotEmpty(t, graphtest.Writes(g.Requests()))
			app, _ := g.App(testUnique)
			requireSignInReady(t, g, app, testRedirects)
			if app.API != nil && len(app.API.OAuth2PermissionScopes) > 1 {
				require.Contains(t, app.API.OAuth2PermissionScopes, other)
			}
			if name != "no web at all" {
				require.Equal(t, &home, app.Web.HomePageURL)
			}

			// And then it holds.
			again, err = regs.EnsureByUniqueName(context.Background(), testUnique, testRedirects)
			require.NoError(t, err)
			require.False(t, again.Changed)
			require.Empty(t, graphtest.Writes(g.Requests()))
		})
	}
}

func TestAppRegistrationGetsBackItsServicePrincipal(t *testing.T) {
	g, regs, _ := newGraph(t)
	reg, err := regs.EnsureByUniqueName(context.Background(), testUnique, testRedirects)
	require.NoError(t, err)
	g.DeleteServicePrincipal(reg.AppID)
	g.Requests()
	again, err := regs.EnsureByUniqueName(context.Background(), testUnique, testRedirects)
	require.NoError(t, err)
	require.True(t, again.Changed)
	require.True(t, g.HasServicePrincipal(reg.AppID))
	writes := graphtest.Writes(g.Requests())
	require.Len(t, writes, 1)
	require.Equal(t, "/v1.0/servicePrincipals", writes[0].Path)
	require.JSONEq(t, `{"appId":"`+reg.AppID+`"}`, writes[0].Body)
}

func TestAppRegistrationWaitsForANewApplicationToReplicate(t *testing.T) {
	g, regs, _ := newGraph(t)
	g.Lag = 3
	_, err := regs.EnsureByUniqueName(context.Background(), testUnique, testRedirects)
	require.NoError(t, err)
	app, _ := g.App(testUnique)
	requireSignInReady(t, g, app, testRedirects)
}

func TestAppRegistrationDryRunChangesNothing(t *testing.T) {
	g, regs, log := newGraph(t)
	regs.DryRun = true
	reg, err := regs.EnsureByUniqueName(context.Background(), testUnique, nil)
	require.NoError(t, err)
	require.False(t, reg.Exists)
	require.Contains(t, log.String(), "would be created")

	regs.DryRun = false
	made, err := regs.EnsureByUniqueName(context.Background(), testUnique, testRedirects)
	require.NoError(t, err)
	g.Edit(made.AppID, func(a *graphtest.Application) { v := 1; a.API.RequestedAccessTokenVersion = &v })
	g.Requests()
	regs.DryRun = true
	log.Reset()
	reg, err = regs.EnsureByUniqueName(context.Background(), testUnique, testRedirects)
	require.NoError(t, err)
	require.True(t, reg.Changed)
	require.Contains(t, log.String(), "would set api.requestedAccessTokenVersion = 2")
	require.Empty(t, graphtest.Writes(g.Requests()))
}

func TestAppRegistrationTheOperatorNamedIsRepairedNotTrimmed(t *testing.T) {
	g, regs, _ := newGraph(t)
	own := g.Add(graphtest.Application{DisplayName: "responders", SignInAudience: "AzureADMyOrg",
		IdentifierURIs: []string{"https://vigil.example.com"},
		Web:            &graphtest.Web{RedirectURIs: []string{"http://localhost:7071/.auth/login/aad/callback"}}})
	_, err := regs.EnsureByAppID(context.Background(), own.AppID, testRedirects)
	require.NoError(t, err)
	var app graphtest.Application
	g.Edit(own.AppID, func(a *graphtest.Application) { app = *a })
	requireSignInReady(t, g, app, append([]string{"http://localhost:7071/.auth/login/aad/callback"}, testRedirects...))
	require.Equal(t, []string{"https://vigil.example.com", "api://" + own.AppID}, app.IdentifierURIs)

	_, err = regs.EnsureByAppID(context.Background(), "44444444-4444-4444-4444-444444444444", nil)
	require.ErrorContains(t, err, "names no app registration")
}

func TestAppRegistrationRefusalSaysWhatPermissionIsNeeded(t *testing.T) {
	_, regs, _ := newGraph(t)
	regs.Credential = staticToken{token: "tok-123"} // a Resource Manager token
	_, err := regs.EnsureByUniqueName(context.Background(), testUnique, nil)
	require.ErrorContains(t, err, "HTTP 401 InvalidAuthenticationToken")
	require.ErrorContains(t, err, "Application.ReadWrite.OwnedBy")
	require.ErrorContains(t, err, "--app-registration=skip")
}

func TestScopeIDIsStable(t *testing.T) {
	a := ScopeID("6e6f7b8a-1111-4222-8333-944455556666")
	require.Equal(t, a, ScopeID("6E6F7B8A-1111-4222-8333-944455556666"))
	require.NotEqual(t, a, ScopeID("6e6f7b8a-1111-4222-8333-944455556667"))
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, a)
}

func TestNewApplicationBodyIsGraphsShape(t *testing.T) {
	b, err := json.Marshal(newApplication("vigil-x-responders"))
	require.NoError(t, err)
	require.JSONEq(t, `{
	  "displayName": "vigil-x-responders",
	  "signInAudience": "AzureADMyOrg",
	  "web": {"homePageUrl": null, "logoutUrl": null, "redirectUris": [],
	          "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": true}},
	  "optionalClaims": {
	    "idToken": [{"additionalProperties": [], "essential": false, "name": "upn", "source": null},
	                {"additionalProperties": [], "essential": false, "name": "email", "source": null}],
	    "accessToken": [{"additionalProperties": [], "essential": false, "name": "upn", "source": null},
	                    {"additionalProperties": [], "essential": false, "name": "email", "source": null}],
	    "saml2Token": []}
	}`, string(b))
}
