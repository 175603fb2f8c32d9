package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Publisher uploads a package to a Flex Consumption function app through its
// deployment endpoint (One Deploy: POST /api/publish), signed in with Entra
// ID, and waits for the deployment to finish. Basic (publishing profile)
// credentials are off on the app, so a bearer token is the only way in.
type Publisher struct {
	HTTP       *http.Client
	Credential azcore.TokenCredential
	PollEvery  time.Duration // default 3s
	Timeout    time.Duration // default 10 minutes
	Log        io.Writer
}

// Deployment states (status in /api/deployments/<id>), as the Azure CLI reads
// them for Flex Consumption.
const (
	kuduCancelled       = -1
	kuduFailed          = 3
	kuduSuccess         = 4
	kuduConflictAborted = 5 // cancelled: another deployment was running
	kuduPartialSuccess  = 6
	notFoundGrace       = 30 * time.Second // a new deployment may not be listed at once
	uploadRetryFor      = 3 * time.Minute  // a new role on the storage may not be in force yet
)

// uploadRetryEvery paces retried uploads (a variable for tests).
var uploadRetryEvery = 10 * time.Second

type deployment struct {
	ID         string `json:"id"`
	Status     int    `json:"status"`
	StatusText string `json:"status_text"`
	Complete   bool   `json:"complete"`
}

// Publish sends the zip at pkgPath to base (https://<app>.scm.<...>) and
// polls the deployment until it succeeds or fails.
func (p Publisher) Publish(ctx context.Context, base, pkgPath string) error {
	logw := p.Log
	if logw == nil {
		logw = io.Discard
	}
	every, timeout := p.PollEvery, p.Timeout
	if every <= 0 {
		every = 3 * time.Second
	}
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// RemoteBuild=false: the package already holds the built binary.
	publishURL := strings.TrimSuffix(base, "/") + "/api/publish?RemoteBuild=false&Deployer=vigil"
	var resp *http.Response
	var body []byte
	var size int64
	for start := time.Now(); ; {
		var err error
		resp, body, size, err = p.upload(ctx, publishURL, pkgPath)
		if err != nil {
			return err
		}
		// Storage refuses the upload while the app identity's new role there
		// is not yet in force: wait for it a little.
		if resp.StatusCode == http.StatusBadRequest && strings.Contains(string(body), "BlobUploadFailed") && time.Since(start) < uploadRetryFor {
			fmt.Fprintln(logw, "    the deployment storage refused the upload (a new role assignment may not be in force yet); retrying")
			if err := sleep(ctx, uploadRetryEvery); err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			continue
		}
		break
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted:
	default:
		return statusError("uploading the package", resp.StatusCode, body)
	}
	fmt.Fprintf(logw, "    uploaded %d bytes; waiting for the deployment\n", size)

	// The answer names the deployment (its id as the body; a Location header
	// on some versions); without either, the app's latest deployment.
	statusURL := strings.TrimSuffix(base, "/") + "/api/deployments/latest"
	if id := strings.Trim(strings.TrimSpace(string(body)), `"`); id != "" && !strings.ContainsAny(id, "/{} ") {
		statusURL = strings.TrimSuffix(base, "/") + "/api/deployments/" + url.PathEscape(id)
	} else if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := url.Parse(base); err == nil {
			if ref, err := u.Parse(loc); err == nil {
				statusURL = ref.String()
			}
		}
	}
	last := ""
	polling := time.Now()
	for {
		d, found, err := p.status(ctx, statusURL)
		if err != nil {
			return err
		}
		if !found && time.Since(polling) > notFoundGrace {
			return fmt.Errorf("publish: the deployment (%s) is not listed %s after the upload", statusURL, notFoundGrace)
		}
		if d.StatusText != "" && d.StatusText != last {
			fmt.Fprintf(logw, "    %s\n", d.StatusText)
			last = d.StatusText
		}
		switch d.Status {
		case kuduSuccess:
			fmt.Fprintf(logw, "    deployment %s succeeded\n", d.ID)
			return nil
		case kuduPartialSuccess:
			fmt.Fprintf(logw, "    deployment %s partly succeeded: %s (check its log)\n", d.ID, d.StatusText)
			return nil
		case kuduFailed, kuduCancelled, kuduConflictAborted:
			what := "failed"
			if d.Status != kuduFailed {
				what = "was cancelled"
			}
			return fmt.Errorf("publish: deployment %s %s: %s (its log: %s/api/deployments/%s/log)",
				d.ID, what, d.StatusText, strings.TrimSuffix(base, "/"), d.ID)
		}
		if err := sleep(ctx, every); err != nil {
			return fmt.Errorf("publish: the deployment did not finish within %s: %w", timeout, err)
		}
	}
}

// upload posts the package once.
func (p Publisher) upload(ctx context.Context, publishURL, pkgPath string) (*http.Response, []byte, int64, error) {
	f, err := os.Open(pkgPath)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("publish: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("publish: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, publishURL, f)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("publish: %w", err)
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/zip")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := p.do(ctx, req)
	if err != nil {
		return nil, nil, 0, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp, body, st.Size(), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// status reads the deployment; found is false while it is not listed yet.
func (p Publisher) status(ctx context.Context, statusURL string) (d deployment, found bool, _ error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statusURL, nil)
	if err != nil {
		return deployment{}, false, fmt.Errorf("publish: %w", err)
	}
	resp, err := p.do(ctx, req)
	if err != nil {
		return deployment{}, false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return deployment{}, false, nil
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted:
		return deployment{}, false, statusError("reading the deployment's status", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &d); err != nil {
		// A half-started endpoint may answer something else: ask again.
		return deployment{Status: -2}, true, nil
	}
	return d, true, nil
}

// do signs req with a fresh Resource Manager token and sends it.
func (p Publisher) do(ctx context.Context, req *http.Request) (*http.Response, error) {
	resp, err := signedDo(ctx, p.HTTP, p.Credential, armScope, req)
	if err != nil && !errors.Is(err, errNoCredentials) {
		return nil, fmt.Errorf("publish: %w", err)
	}
	return resp, err
}

// signedDo signs req with a fresh token for scope (Resource Manager, Graph)
// and sends it with client (nil: the default one). A failure to get the
// token is a credentialsError; a transport failure names only the method and
// host (a URL carries no secret here, but keeps the message short).
func signedDo(ctx context.Context, client *http.Client, cred azcore.TokenCredential, scope string, req *http.Request) (*http.Response, error) {
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		return nil, credentialsError(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("User-Agent", "vigil-deploy")
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Host, err)
	}
	return resp, nil
}

func statusError(what string, code int, body []byte) error {
	hint := ""
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = ": the signed-in identity may not deploy to this app (it needs Website Contributor, or Contributor, on the function app)"
	case http.StatusNotFound:
		hint = ": no such app, or its deployment endpoint is not ready yet (run deploy again in a minute)"
	case http.StatusConflict:
		hint = ": another deployment is under way"
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	if text != "" {
		text = " — " + text
	}
	return fmt.Errorf("publish: %s: HTTP %d%s%s", what, code, hint, text)
}
