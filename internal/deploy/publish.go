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

// Kudu deployment states (status in /api/deployments).
const (
	kuduFailed  = 3
	kuduSuccess = 4
)

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

	f, err := os.Open(pkgPath)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	// RemoteBuild=false: the package already holds the built binary.
	publishURL := strings.TrimSuffix(base, "/") + "/api/publish?RemoteBuild=false&Deployer=vigil"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, publishURL, f)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/zip")
	resp, err := p.do(ctx, req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted:
	default:
		return statusError("uploading the package", resp.StatusCode, body)
	}
	fmt.Fprintf(logw, "    uploaded %d bytes; waiting for the deployment\n", st.Size())

	// The deployment's own status URL when the endpoint gives one, else the
	// latest deployment of the app.
	statusURL := strings.TrimSuffix(base, "/") + "/api/deployments/latest"
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := url.Parse(base)
		if err == nil {
			if ref, err := u.Parse(loc); err == nil {
				statusURL = ref.String()
			}
		}
	}
	last := ""
	for {
		d, err := p.status(ctx, statusURL)
		if err != nil {
			return err
		}
		if d.StatusText != "" && d.StatusText != last {
			fmt.Fprintf(logw, "    %s\n", d.StatusText)
			last = d.StatusText
		}
		switch {
		case d.Status == kuduSuccess && d.Complete:
			fmt.Fprintf(logw, "    deployment %s succeeded\n", d.ID)
			return nil
		case d.Status == kuduFailed:
			return fmt.Errorf("publish: deployment %s failed: %s (its log: %s/api/deployments/%s/log)",
				d.ID, d.StatusText, strings.TrimSuffix(base, "/"), d.ID)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("publish: the deployment did not finish within %s: %w", timeout, ctx.Err())
		case <-time.After(every):
		}
	}
}

func (p Publisher) status(ctx context.Context, statusURL string) (deployment, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statusURL, nil)
	if err != nil {
		return deployment{}, fmt.Errorf("publish: %w", err)
	}
	resp, err := p.do(ctx, req)
	if err != nil {
		return deployment{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return deployment{}, statusError("reading the deployment's status", resp.StatusCode, body)
	}
	var d deployment
	if err := json.Unmarshal(body, &d); err != nil {
		return deployment{}, fmt.Errorf("publish: the deployment's status is not JSON: %w", err)
	}
	return d, nil
}

// do signs req with a fresh Resource Manager token and sends it.
func (p Publisher) do(ctx context.Context, req *http.Request) (*http.Response, error) {
	tok, err := p.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{armScope}})
	if err != nil {
		return nil, credentialsError(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("User-Agent", "vigil-deploy")
	client := p.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The URL carries no secret, but say only the host to keep it short.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("publish: %s %s: %w", req.Method, req.URL.Host, err)
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
