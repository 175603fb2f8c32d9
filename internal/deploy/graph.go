package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// graphScope is the audience of Microsoft Graph tokens.
const graphScope = "https://graph.microsoft.com/.default"

// GraphURL is Microsoft Graph v1.0.
const GraphURL = "https://graph.microsoft.com/v1.0"

// graphReplicationWait bounds how long a just-created application may be
// unknown to the next request (directory replication).
const graphReplicationWait = 2 * time.Minute

// AppRegistrations creates and repairs the responders' app registration
// through Microsoft Graph, signed in as the deployer.
type AppRegistrations struct {
	HTTP       *http.Client
	Credential azcore.TokenCredential
	BaseURL    string // default GraphURL
	PollEvery  time.Duration
	Log        io.Writer
	// DryRun reads and says what it would change, and changes nothing.
	DryRun bool
}

// Registration is what Ensure found or made.
type Registration struct {
	ObjectID, AppID string
	Exists          bool // false only in a dry run that would create it
	Changed         bool
}

// graphError is Graph's error body.
type graphError struct {
	Status int
	Code   string `json:"code"`
	Msg    string `json:"message"`
}

func (e *graphError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = " (the signed-in identity may not manage app registrations: it needs Application.ReadWrite.OwnedBy, " +
			"or the Application Administrator or Cloud Application Administrator role; or pass --app-registration=skip " +
			"and set the registration up with the az commands in the README)"
	}
	return fmt.Sprintf("HTTP %d %s: %s%s", e.Status, e.Code, e.Msg, hint)
}

func isNotFound(err error) bool {
	var ge *graphError
	return errors.As(err, &ge) && ge.Status == http.StatusNotFound
}

// EnsureByUniqueName finds the registration by its unique name, creating it
// if missing (Graph's upsert), and gives it every property sign-in needs.
func (a AppRegistrations) EnsureByUniqueName(ctx context.Context, uniqueName string, redirectURIs []string) (Registration, error) {
	key := "/applications(uniqueName='" + odataString(uniqueName) + "')"
	app, err := a.getApp(ctx, key)
	fresh := false
	switch {
	case isNotFound(err) && a.DryRun:
		a.logf("    app registration %s would be created", uniqueName)
		return Registration{}, nil
	case isNotFound(err):
		var created graphApplication
		status, err := a.send(ctx, http.MethodPatch, key, newApplication(uniqueName), &created, "Prefer", "create-if-missing")
		if err != nil {
			return Registration{}, fmt.Errorf("deploy: creating the app registration %s: %w", uniqueName, err)
		}
		if status != http.StatusCreated || created.AppID == "" {
			// Updated after all (created meanwhile): read it back.
			if created, err = a.getApp(ctx, key); err != nil {
				return Registration{}, fmt.Errorf("deploy: reading the app registration %s: %w", uniqueName, err)
			}
		}
		a.logf("    created app registration %s (appId %s)", uniqueName, created.AppID)
		app, fresh = created, true
	case err != nil:
		return Registration{}, fmt.Errorf("deploy: reading the app registration %s: %w", uniqueName, err)
	}
	reg, err := a.ensure(ctx, app, redirectURIs, true, fresh)
	reg.Changed = reg.Changed || fresh
	return reg, err
}

// EnsureByAppID repairs the registration the operator named; it creates
// nothing but a missing service principal, and only adds redirect URIs.
func (a AppRegistrations) EnsureByAppID(ctx context.Context, appID string, redirectURIs []string) (Registration, error) {
	app, err := a.getApp(ctx, "/applications(appId='"+odataString(appID)+"')")
	if isNotFound(err) {
		return Registration{}, fmt.Errorf("deploy: responder_login.client_id %s names no app registration in the tenant you are signed in to", appID)
	}
	if err != nil {
		return Registration{}, fmt.Errorf("deploy: reading the app registration %s: %w", appID, err)
	}
	return a.ensure(ctx, app, redirectURIs, false, false)
}

func (a AppRegistrations) ensure(ctx context.Context, app graphApplication, redirectURIs []string, exact, fresh bool) (Registration, error) {
	reg := Registration{ObjectID: app.ID, AppID: app.AppID, Exists: true}
	path := "/applications/" + url.PathEscape(app.ID)
	for _, p := range reconcile(app, redirectURIs, exact) {
		for _, c := range p.Changes {
			if a.DryRun {
				a.logf("    would set %s", c)
			} else {
				a.logf("    set %s", c)
			}
		}
		reg.Changed = true
		if a.DryRun {
			continue
		}
		if err := a.retryFresh(ctx, fresh, func() error {
			_, err := a.send(ctx, http.MethodPatch, path, p.Body, nil)
			return err
		}); err != nil {
			return reg, fmt.Errorf("deploy: updating the app registration %s: %w", app.AppID, err)
		}
	}

	spKey := "/servicePrincipals(appId='" + odataString(app.AppID) + "')"
	var sp struct {
		ID string `json:"id"`
	}
	_, err := a.send(ctx, http.MethodGet, spKey, nil, &sp)
	switch {
	case isNotFound(err) && a.DryRun:
		a.logf("    would create its service principal")
		reg.Changed = true
	case isNotFound(err):
		if err := a.retryFresh(ctx, true, func() error {
			_, err := a.send(ctx, http.MethodPost, "/servicePrincipals", map[string]any{"appId": app.AppID}, &sp)
			return err
		}); err != nil {
			return reg, fmt.Errorf("deploy: creating the service principal of %s: %w", app.AppID, err)
		}
		a.logf("    created its service principal (%s)", sp.ID)
		reg.Changed = true
	case err != nil:
		return reg, fmt.Errorf("deploy: reading the service principal of %s: %w", app.AppID, err)
	}
	return reg, nil
}

// retryFresh repeats f while a just-created application is not yet known
// everywhere (404, or 400 saying the appId references no application).
func (a AppRegistrations) retryFresh(ctx context.Context, fresh bool, f func() error) error {
	every := a.PollEvery
	if every <= 0 {
		every = 3 * time.Second
	}
	for start := time.Now(); ; {
		err := f()
		var ge *graphError
		replicating := errors.As(err, &ge) && (ge.Status == http.StatusNotFound ||
			ge.Status == http.StatusBadRequest && strings.Contains(ge.Msg, "valid application object"))
		if err == nil || !fresh || !replicating || time.Since(start) > graphReplicationWait {
			return err
		}
		if err := sleep(ctx, every); err != nil {
			return err
		}
	}
}

func (a AppRegistrations) getApp(ctx context.Context, path string) (graphApplication, error) {
	var app graphApplication
	_, err := a.send(ctx, http.MethodGet, path, nil, &app)
	return app, err
}

// send makes one Graph request, decoding a 2xx body into out when given.
func (a AppRegistrations) send(ctx context.Context, method, path string, body, out any, headers ...string) (int, error) {
	base := a.BaseURL
	if base == "" {
		base = GraphURL
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := signedDo(ctx, a.HTTP, a.Credential, graphScope, req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		ge := &graphError{Status: resp.StatusCode}
		var env struct {
			Error *graphError `json:"error"`
		}
		if json.Unmarshal(data, &env) == nil && env.Error != nil {
			ge.Code, ge.Msg = env.Error.Code, env.Error.Msg
		} else {
			ge.Msg = strings.TrimSpace(string(data))
		}
		return resp.StatusCode, ge
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func (a AppRegistrations) logf(format string, args ...any) {
	if a.Log != nil {
		fmt.Fprintf(a.Log, format+"\n", args...)
	}
}

// odataString escapes a string literal in an OData key: a quote is doubled.
func odataString(s string) string { return strings.ReplaceAll(s, "'", "''") }
