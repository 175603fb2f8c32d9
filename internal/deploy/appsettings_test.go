package deploy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// armSite answers like Resource Manager for one site's app settings: POST
// {site}/config/appsettings/list returns them all, PUT {site}/config/appsettings
// replaces them, both with api-version and the deployer's bearer token; the
// body is {"properties": {name: value}} with string values only.
type armSite struct {
	t        *testing.T
	token    string
	site     string
	mu       sync.Mutex
	settings map[string]string
	puts     int
}

// providerStorage is what the azurerm provider writes for a Flex Consumption
// app whose deployment storage uses a managed identity: a connection string
// with an empty key.
const providerStorage = "DefaultEndpointsProtocol=https;AccountName=stvigiltest;AccountKey=;EndpointSuffix=core.windows.net"

func newARMSite(t *testing.T, token, site string) *armSite {
	return &armSite{t: t, token: token, site: site, settings: map[string]string{
		"AzureWebJobsStorage":                  providerStorage,
		"DEPLOYMENT_STORAGE_CONNECTION_STRING": providerStorage,
		"AzureWebJobsStorage__accountName":     "stvigiltest",
		"AzureWebJobsStorage__credential":      "managedidentity",
		"VIGIL_SIGNING_KEY":                    "@Microsoft.KeyVault(SecretUri=https://kv-vigiltest.vault.azure.net/secrets/signing-key)",
	}}
}

func (a *armSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+a.token {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"code":"AuthenticationFailed","message":"Authentication failed."}}`)
		return
	}
	if r.URL.Query().Get("api-version") != webAPIVersion {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"code":"MissingApiVersionParameter","message":"The api-version query parameter is required."}}`)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == a.site+"/config/appsettings/list":
		json.NewEncoder(w).Encode(map[string]any{"id": a.site + "/config/appsettings", "name": "appsettings", "type": "Microsoft.Web/sites/config", "properties": a.settings})
	case r.Method == http.MethodPut && r.URL.Path == a.site+"/config/appsettings":
		if r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		var body struct {
			Properties map[string]string `json:"properties"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || body.Properties == nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"code":"InvalidRequestContent","message":"The request content was invalid."}}`)
			return
		}
		a.settings = body.Properties
		a.puts++
		json.NewEncoder(w).Encode(map[string]any{"id": a.site + "/config/appsettings", "properties": a.settings})
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":"NotFound","message":"no such route"}}`)
	}
}

func (a *armSite) snapshot() (map[string]string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := map[string]string{}
	for k, v := range a.settings {
		c[k] = v
	}
	return c, a.puts
}

// The connection strings the provider writes are removed, everything else is
// kept as it was, no value is printed, and a site without them is not written.
func TestRemoveKeySettings(t *testing.T) {
	site := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/func-a"
	arm := newARMSite(t, "tok", site)
	srv := newServer(t, arm)
	a := appSettings{pub: Publisher{Credential: staticToken{token: "tok"}}, base: srv}

	removed, err := a.removeKeySettings(context.Background(), site)
	require.NoError(t, err)
	require.Equal(t, []string{"AzureWebJobsStorage", "DEPLOYMENT_STORAGE_CONNECTION_STRING"}, removed)
	got, puts := arm.snapshot()
	require.Equal(t, map[string]string{
		"AzureWebJobsStorage__accountName": "stvigiltest",
		"AzureWebJobsStorage__credential":  "managedidentity",
		"VIGIL_SIGNING_KEY":                "@Microsoft.KeyVault(SecretUri=https://kv-vigiltest.vault.azure.net/secrets/signing-key)",
	}, got)
	require.Equal(t, 1, puts)

	removed, err = a.removeKeySettings(context.Background(), site)
	require.NoError(t, err)
	require.Empty(t, removed)
	_, puts = arm.snapshot()
	require.Equal(t, 1, puts, "nothing to remove: nothing written")

	// Names compare without regard to case, as App Service compares them.
	arm.settings["azurewebjobsstorage"] = providerStorage
	removed, err = a.removeKeySettings(context.Background(), site)
	require.NoError(t, err)
	require.Equal(t, []string{"azurewebjobsstorage"}, removed)

	// A refusal says what the deployer lacks, and shows no value.
	_, err = appSettings{pub: Publisher{Credential: staticToken{token: "other"}}, base: srv}.removeKeySettings(context.Background(), site)
	require.ErrorContains(t, err, "401")
	require.NotContains(t, err.Error(), "AccountKey")
}

// The whole deploy leaves no key-based storage setting, says so, and the next
// run writes nothing.
func TestDeployRemovesTheProviderStorageSettings(t *testing.T) {
	tfPath := terraformOrSkip(t)
	f := newFixture(t)
	o := f.options(tfPath)
	o.Yes = true
	require.NoError(t, Run(context.Background(), o), f.out.String())
	got, puts := f.arm.snapshot()
	require.NotContains(t, got, "AzureWebJobsStorage")
	require.NotContains(t, got, "DEPLOYMENT_STORAGE_CONNECTION_STRING")
	require.Equal(t, "stvigiltest", got["AzureWebJobsStorage__accountName"])
	require.Equal(t, 1, puts)
	require.Contains(t, f.out.String(), "removed AzureWebJobsStorage and DEPLOYMENT_STORAGE_CONNECTION_STRING")
	require.NotContains(t, f.out.String(), "AccountKey", "no setting's value is printed")
	require.Less(t, strings.Index(f.out.String(), "removed AzureWebJobsStorage"), strings.Index(f.out.String(), "publishing"), "before the package is published")

	f.out.Reset()
	require.NoError(t, Run(context.Background(), o), f.out.String())
	_, puts = f.arm.snapshot()
	require.Equal(t, 1, puts)
	require.NotContains(t, f.out.String(), "removed")
}

func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
