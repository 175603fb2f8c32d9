package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// webAPIVersion is the Microsoft.Web API version used for app settings.
const webAPIVersion = "2024-04-01"

// keySettings are the app settings the azurerm provider writes on a Flex
// Consumption app whatever the configuration says: AzureWebJobsStorage (on
// every create and update) and DEPLOYMENT_STORAGE_CONNECTION_STRING (on an
// update), both connection strings with an empty account key. The host takes
// any AzureWebJobsStorage value, even an empty one, for a connection string
// and then ignores the identity-based AzureWebJobsStorage__* settings, so
// neither may stay. The provider leaves both out of the state it reads, so
// removing them shows as no change in the next plan.
var keySettings = []string{"AzureWebJobsStorage", "DEPLOYMENT_STORAGE_CONNECTION_STRING"}

// appSettings reads and writes a site's app settings through Resource Manager.
type appSettings struct {
	pub  Publisher // signs requests with the deployer's Resource Manager token
	base string    // https://management.azure.com, or a test server
}

// removeKeySettings deletes keySettings from the site's app settings when any
// is there, and returns the names it removed (none: nothing was written).
// Values are never printed: some hold Key Vault references, and the
// provider's ones are connection strings.
func (a appSettings) removeKeySettings(ctx context.Context, siteID string) ([]string, error) {
	settings, err := a.list(ctx, siteID)
	if err != nil {
		return nil, err
	}
	var removed []string
	for name := range settings {
		for _, k := range keySettings {
			// App setting names compare without regard to case.
			if strings.EqualFold(name, k) {
				removed = append(removed, name)
				delete(settings, name)
			}
		}
	}
	if len(removed) == 0 {
		return nil, nil
	}
	sort.Strings(removed)
	if err := a.put(ctx, siteID, settings); err != nil {
		return nil, err
	}
	return removed, nil
}

type settingsResource struct {
	Properties map[string]string `json:"properties"`
}

// list is POST {site}/config/appsettings/list: every setting, with its value.
func (a appSettings) list(ctx context.Context, siteID string) (map[string]string, error) {
	body, err := a.call(ctx, http.MethodPost, siteID+"/config/appsettings/list", nil)
	if err != nil {
		return nil, err
	}
	var r settingsResource
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("deploy: reading the app settings: %w", err)
	}
	if r.Properties == nil {
		r.Properties = map[string]string{}
	}
	return r.Properties, nil
}

// put is PUT {site}/config/appsettings: it replaces the whole set.
func (a appSettings) put(ctx context.Context, siteID string, settings map[string]string) error {
	_, err := a.call(ctx, http.MethodPut, siteID+"/config/appsettings", settingsResource{Properties: settings})
	return err
}

func (a appSettings) call(ctx context.Context, method, path string, payload any) ([]byte, error) {
	var body io.Reader
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(a.base, "/")+path+"?api-version="+webAPIVersion, body)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.pub.do(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		hint := ""
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
			hint = " (the signed-in identity needs Website Contributor, or Contributor, on the function app)"
		}
		// Resource Manager's error body names the problem, never a setting's value.
		return nil, fmt.Errorf("deploy: %s app settings: %s%s: %s", method, resp.Status, hint, strings.TrimSpace(string(out)))
	}
	return out, nil
}
