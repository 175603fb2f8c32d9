package deploy

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	tfjson "github.com/hashicorp/terraform-json"
	"github.com/stretchr/testify/require"

	"vigil/internal/deploy/graphtest"
)

// staticToken is a credential for tests: a fixed token, or a fixed failure.
type staticToken struct {
	token string
	err   error
}

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if s.err != nil {
		return azcore.AccessToken{}, s.err
	}
	return azcore.AccessToken{Token: s.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// scopedToken is a credential for tests whose token names its audience:
// Resource Manager (and the deployment endpoint) get tok-123, Graph graph-tok.
type scopedToken struct{}

func (scopedToken) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok := "tok-123"
	if len(o.Scopes) == 1 && o.Scopes[0] == "https://graph.microsoft.com/.default" {
		tok = "graph-tok"
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// kudu answers like a Flex Consumption app's deployment endpoint: POST
// /api/publish takes the zip and answers 202 with the deployment id as its
// body; /api/deployments/<id> is not listed at first, then reports building,
// then the outcome (status 4, or final when set: 3 failed, 5 cancelled).
type kudu struct {
	t       *testing.T
	token   string
	final   int
	refuse  int // storage refusals (400 BlobUploadFailedException) before accepting
	mu      sync.Mutex
	uploads [][]byte
	polls   int
	// unhealthy: how many health probes answer 503 before the app is up.
	unhealthy int
}

func (k *kudu) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/health" && r.Header.Get("Authorization") != "Bearer "+k.token {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/publish":
		if k.refuse > 0 {
			k.refuse--
			http.Error(w, `{"Message":"BlobUploadFailedException: 403 This request is not authorized"}`, http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("RemoteBuild") != "false" || r.Header.Get("Content-Type") != "application/zip" {
			http.Error(w, "expected RemoteBuild=false and a zip", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if _, err := zip.NewReader(bytes.NewReader(body), int64(len(body))); err != nil {
			http.Error(w, "not a zip: "+err.Error(), http.StatusBadRequest)
			return
		}
		k.uploads = append(k.uploads, body)
		k.polls = 0
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "d-1")
	case r.Method == http.MethodGet && r.URL.Path == "/api/health":
		if k.unhealthy > 0 {
			k.unhealthy--
			http.Error(w, "Function host is not running.", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"status":"ok"}`)
	case r.Method == http.MethodGet && r.URL.Path == "/api/deployments/d-1":
		k.polls++
		switch {
		case k.polls == 1:
			http.NotFound(w, r) // not listed yet
			return
		case k.polls < 4:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"d-1","status":1,"status_text":"Building and deploying","complete":false}`)
		case k.final == 3:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"d-1","status":3,"status_text":"Function host failed to start","complete":true}`)
		case k.final == 5:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"d-1","status":5,"status_text":"Cancelled: another deployment is in progress","complete":true}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"d-1","status":4,"status_text":"Deployment successful","complete":true}`)
		}
	default:
		http.NotFound(w, r)
	}
}

func (k *kudu) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.uploads)
}

// terraformOrSkip returns the terraform the test command provides; outside
// CI, a machine without one skips.
func terraformOrSkip(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("VIGIL_TERRAFORM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("terraform"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no terraform: scripts/test.sh provides one (scripts/terraform-tools.sh)")
	}
	t.Skip("no terraform on PATH")
	return ""
}

type fixture struct {
	dir, varFile, pkg string
	kudu              *kudu
	srv               *httptest.Server
	arm               *armSite
	armSrv            *httptest.Server
	graph             *graphtest.Server
	graphURL          string
	out               *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/module/terraform.tf")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "terraform.tf"), src, 0o644))
	varFile := filepath.Join(t.TempDir(), "prod.tfvars")
	require.NoError(t, os.WriteFile(varFile, []byte(`name = "func-vigiltest"`+"\n"), 0o644))

	pkg := filepath.Join(t.TempDir(), "vigil.zip")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("host.json")
	io.WriteString(w, `{"version":"2.0"}`)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(pkg, buf.Bytes(), 0o644))

	k := &kudu{t: t, token: "tok-123"}
	srv := httptest.NewServer(k)
	t.Cleanup(srv.Close)
	arm := newARMSite(t, "tok-123", "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-vigil/providers/Microsoft.Web/sites/func-vigiltest")
	armSrv := httptest.NewServer(arm)
	t.Cleanup(armSrv.Close)
	g := graphtest.New("graph-tok")
	gsrv := httptest.NewServer(g)
	t.Cleanup(gsrv.Close)
	return &fixture{dir: dir, varFile: varFile, pkg: pkg, kudu: k, srv: srv, arm: arm, armSrv: armSrv, graph: g, graphURL: gsrv.URL + "/v1.0", out: &bytes.Buffer{}}
}

func (f *fixture) options(tfPath string) Options {
	return Options{
		Dir: f.dir, VarFiles: []string{f.varFile}, PackagePath: f.pkg, Terraform: tfPath,
		Credential: scopedToken{}, GraphURL: f.graphURL,
		SCMURL: func(host string) string {
			if host != "func-vigiltest.azurewebsites.net" {
				return "http://unexpected.invalid"
			}
			return f.srv.URL
		},
		HealthURL: func(host string) string { return f.srv.URL + "/api/health" },
		ARMURL:    f.armSrv.URL,
		PollEvery: time.Millisecond, PublishTimeout: 30 * time.Second, HealthTimeout: 5 * time.Second,
		Out: f.out,
	}
}

func TestDeployPlansAsksAppliesAndPublishes(t *testing.T) {
	tfPath := terraformOrSkip(t)
	f := newFixture(t)

	o := f.options(tfPath)
	o.In = strings.NewReader("yes\n")
	require.NoError(t, Run(context.Background(), o), f.out.String())
	out := f.out.String()
	require.Contains(t, out, "Plan: 2 to add, 0 to change, 0 to replace, 0 to destroy.")
	require.Contains(t, out, "Apply this plan?")
	require.Contains(t, out, "deployment d-1 succeeded")
	require.Contains(t, out, "deployed: https://func-vigiltest.azurewebsites.net")
	require.FileExists(t, filepath.Join(f.dir, "terraform.tfstate"))
	require.Equal(t, 1, f.kudu.count())
	pkg, _ := os.ReadFile(f.pkg)
	require.Equal(t, pkg, f.kudu.uploads[0], "the package is uploaded as it is")
	require.NoFileExists(t, filepath.Join(f.dir, ".vigil-deploy.tfplan"), "the plan file is removed")

	// The app registration was made first and its client id reached
	// Terraform; after apply, its callback points at the app.
	app, ok := f.graph.App("vigil-func-vigiltest-responders")
	require.True(t, ok, out)
	require.Equal(t, map[string]any{"client_id": app.AppID, "tenant_id": nil, "allowed_applications": []any{}}, stateOutput(t, f.dir, "responder_login"))
	require.Equal(t, []string{"https://func-vigiltest.azurewebsites.net/.auth/login/aad/callback"}, app.Web.RedirectURIs)
	require.True(t, f.graph.HasServicePrincipal(app.AppID))
	require.Contains(t, out, "created app registration vigil-func-vigiltest-responders")
	require.Less(t, strings.Index(out, "created app registration"), strings.Index(out, "terraform plan"))
	f.graph.Requests()

	// Again, with nothing to change: no question, and the package is
	// published again (a code-only release).
	f.out.Reset()
	o.In = strings.NewReader("")
	require.NoError(t, Run(context.Background(), o), f.out.String())
	require.Contains(t, f.out.String(), "Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy.")
	require.Contains(t, f.out.String(), "the infrastructure is up to date")
	require.NotContains(t, f.out.String(), "Apply this plan?")
	require.Equal(t, 2, f.kudu.count())
	require.Contains(t, f.out.String(), "app registration up to date")
	require.NotContains(t, f.out.String(), "    set ")
	require.Empty(t, graphtest.Writes(f.graph.Requests()), "nothing to change in Entra ID")
}

// stateOutput is a root output of the fixture's state, JSON-decoded.
func stateOutput(t *testing.T, dir, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "terraform.tfstate"))
	require.NoError(t, err)
	var st struct {
		Outputs map[string]struct {
			Value any `json:"value"`
		} `json:"outputs"`
	}
	require.NoError(t, json.Unmarshal(b, &st))
	return st.Outputs[name].Value
}

func TestDeployKeepsTheOperatorsLoginSettingsAndHonoursTheName(t *testing.T) {
	tfPath := terraformOrSkip(t)
	f := newFixture(t)
	require.NoError(t, os.WriteFile(f.varFile, []byte(`name = "func-vigiltest"
responder_login = {
  tenant_id            = "11111111-1111-1111-1111-111111111111"
  allowed_applications = ["22222222-2222-2222-2222-222222222222"]
}
public_url = "https://ops.example.com"
`), 0o644))
	o := f.options(tfPath)
	o.Yes = true
	o.AppRegistration = "vigil-prod-responders"
	require.NoError(t, Run(context.Background(), o), f.out.String())
	app, ok := f.graph.App("vigil-prod-responders")
	require.True(t, ok, f.out.String())
	require.Equal(t, map[string]any{
		"client_id": app.AppID, "tenant_id": "11111111-1111-1111-1111-111111111111",
		"allowed_applications": []any{"22222222-2222-2222-2222-222222222222"},
	}, stateOutput(t, f.dir, "responder_login"))
	require.ElementsMatch(t, []string{
		"https://ops.example.com/.auth/login/aad/callback",
		"https://func-vigiltest.azurewebsites.net/.auth/login/aad/callback",
	}, app.Web.RedirectURIs, "the public URL and the app's own host")
}

func TestDeployUsesTheRegistrationTheOperatorNames(t *testing.T) {
	tfPath := terraformOrSkip(t)
	f := newFixture(t)
	own := f.graph.Add(graphtest.Application{DisplayName: "responders", SignInAudience: "AzureADMyOrg", IdentifierURIs: []string{},
		Web: &graphtest.Web{RedirectURIs: []string{"http://localhost:7071/.auth/login/aad/callback"}}})
	require.NoError(t, os.WriteFile(f.varFile, []byte(`name = "func-vigiltest"
responder_login = { client_id = "`+own.AppID+`" }
`), 0o644))
	o := f.options(tfPath)
	o.Yes = true
	require.NoError(t, Run(context.Background(), o), f.out.String())
	_, made := f.graph.App("vigil-func-vigiltest-responders")
	require.False(t, made, "no registration of its own")
	require.Equal(t, own.AppID, stateOutput(t, f.dir, "responder_login").(map[string]any)["client_id"])
	var got graphtest.Application
	f.graph.Edit(own.AppID, func(a *graphtest.Application) { got = *a })
	require.Equal(t, []string{"http://localhost:7071/.auth/login/aad/callback", "https://func-vigiltest.azurewebsites.net/.auth/login/aad/callback"},
		got.Web.RedirectURIs, "the operator's own redirect URIs stay")
	require.Equal(t, []string{"api://" + own.AppID}, got.IdentifierURIs)
	require.True(t, f.graph.HasServicePrincipal(own.AppID))
}

func TestDeployCanLeaveEntraIDAlone(t *testing.T) {
	tfPath := terraformOrSkip(t)
	f := newFixture(t)
	require.NoError(t, os.WriteFile(f.varFile, []byte(`name = "func-vigiltest"
responder_login = { client_id = "33333333-3333-3333-3333-333333333333" }
`), 0o644))
	o := f.options(tfPath)
	o.Yes = true
	o.AppRegistration = SkipAppRegistration
	require.NoError(t, Run(context.Background(), o), f.out.String())
	require.Empty(t, f.graph.Requests())
	require.Equal(t, "33333333-3333-3333-3333-333333333333", stateOutput(t, f.dir, "responder_login").(map[string]any)["client_id"])
}

func TestDeployRefusesAConfigurationWithoutResponderLogin(t *testing.T) {
	tfPath := terraformOrSkip(t)
	f := newFixture(t)
	src, err := os.ReadFile(filepath.Join(f.dir, "terraform.tf"))
	require.NoError(t, err)
	mod := strings.Replace(string(src), `variable "responder_login"`, `variable "responder_client_id"`, 1)
	mod = strings.ReplaceAll(mod, "var.responder_login", "var.responder_client_id")
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "terraform.tf"), []byte(mod), 0o644))
	err = Run(context.Background(), f.options(tfPath))
	require.ErrorContains(t, err, "declares no variable responder_login")
	require.ErrorContains(t, err, "--app-registration=skip")
	require.Empty(t, graphtest.Writes(f.graph.Requests()))
}

func TestDeployPlanOnlyChangesNothing(t *testing.T) {
	tfPath := terraformOrSkip(t)
	f := newFixture(t)
	o := f.options(tfPath)
	o.PlanOnly = true
	require.NoError(t, Run(context.Background(), o), f.out.String())
	require.Contains(t, f.out.String(), "Plan: 2 to add")
	require.Contains(t, f.out.String(), "plan only: nothing was changed")
	require.NoFileExists(t, filepath.Join(f.dir, "terraform.tfstate"))
	require.Zero(t, f.kudu.count())
	require.Contains(t, f.out.String(), "app registration vigil-func-vigiltest-responders would be created")
	require.Empty(t, graphtest.Writes(f.graph.Requests()), "nothing made in Entra ID either")
}

func TestDeployAppliesNothingUnlessConfirmed(t *testing.T) {
	tfPath := terraformOrSkip(t)
	for _, answer := range []string{"no\n", "y\n", ""} {
		f := newFixture(t)
		o := f.options(tfPath)
		o.In = strings.NewReader(answer)
		err := Run(context.Background(), o)
		require.ErrorContains(t, err, "not applied", "answer %q", answer)
		require.NoFileExists(t, filepath.Join(f.dir, "terraform.tfstate"))
		require.Zero(t, f.kudu.count())
	}
}

func TestDeployWithYesDoesNotAsk(t *testing.T) {
	tfPath := terraformOrSkip(t)
	f := newFixture(t)
	o := f.options(tfPath)
	o.Yes = true
	require.NoError(t, Run(context.Background(), o), f.out.String())
	require.NotContains(t, f.out.String(), "Apply this plan?")
	require.Equal(t, 1, f.kudu.count())
}

func TestDeployWithoutTerraformSaysHowToGetIt(t *testing.T) {
	f := newFixture(t)
	t.Setenv("PATH", t.TempDir())
	t.Setenv("VIGIL_TERRAFORM", "")
	err := Run(context.Background(), f.options(""))
	require.ErrorContains(t, err, "no terraform on PATH")
	require.ErrorContains(t, err, "install Terraform")
	require.Zero(t, f.kudu.count())
}

func TestDeployWithoutCredentialsStopsBeforeTerraform(t *testing.T) {
	tfPath := terraformOrSkip(t)
	f := newFixture(t)
	o := f.options(tfPath)
	o.Yes = true
	o.Credential = staticToken{err: errors.New("DefaultAzureCredential: failed to acquire a token")}
	err := Run(context.Background(), o)
	require.ErrorContains(t, err, "no usable Azure credentials")
	require.ErrorContains(t, err, "az login")
	require.NoDirExists(t, filepath.Join(f.dir, ".terraform"), "terraform never ran")
	require.Zero(t, f.kudu.count())
}

func TestDeployRefusesAMissingVarFile(t *testing.T) {
	tfPath := terraformOrSkip(t)
	f := newFixture(t)
	o := f.options(tfPath)
	o.VarFiles = []string{filepath.Join(t.TempDir(), "missing.tfvars")}
	require.ErrorContains(t, Run(context.Background(), o), "-var-file")
}

func TestDeployWaitsForTheAppAndSaysWhenItDoesNotComeUp(t *testing.T) {
	tfPath := terraformOrSkip(t)
	f := newFixture(t)
	f.kudu.unhealthy = 3
	o := f.options(tfPath)
	o.Yes = true
	require.NoError(t, Run(context.Background(), o), f.out.String())
	require.Contains(t, f.out.String(), "waiting for the app to answer")

	f.kudu.unhealthy = 1 << 30
	f.out.Reset()
	o.HealthTimeout = 50 * time.Millisecond
	err := Run(context.Background(), o)
	require.ErrorContains(t, err, "did not answer")
	require.ErrorContains(t, err, "503 Service Unavailable")
	require.ErrorContains(t, err, "Key Vault reference")
}

func TestPublishReportsAFailedDeployment(t *testing.T) {
	f := newFixture(t)
	f.kudu.final = 3
	p := Publisher{HTTP: f.srv.Client(), Credential: staticToken{token: "tok-123"}, PollEvery: time.Millisecond}
	err := p.Publish(context.Background(), f.srv.URL, f.pkg)
	require.ErrorContains(t, err, "deployment d-1 failed: Function host failed to start")
	require.ErrorContains(t, err, "/api/deployments/d-1/log")

	f.kudu.final = 5
	err = p.Publish(context.Background(), f.srv.URL, f.pkg)
	require.ErrorContains(t, err, "deployment d-1 was cancelled: Cancelled: another deployment is in progress")
}

func TestPublishWaitsForTheStorageRoleToTakeEffect(t *testing.T) {
	f := newFixture(t)
	f.kudu.refuse = 2
	var log strings.Builder
	p := Publisher{HTTP: f.srv.Client(), Credential: staticToken{token: "tok-123"}, PollEvery: time.Millisecond, Log: &log}
	restore := setUploadRetryEvery(time.Millisecond)
	defer restore()
	require.NoError(t, p.Publish(context.Background(), f.srv.URL, f.pkg))
	require.Equal(t, 1, f.kudu.count())
	require.Equal(t, 2, strings.Count(log.String(), "refused the upload"))
}

func TestPublishExplainsARefusal(t *testing.T) {
	f := newFixture(t)
	p := Publisher{HTTP: f.srv.Client(), Credential: staticToken{token: "someone-else"}, PollEvery: time.Millisecond}
	err := p.Publish(context.Background(), f.srv.URL, f.pkg)
	require.ErrorContains(t, err, "HTTP 401")
	require.ErrorContains(t, err, "Website Contributor")
	require.NotContains(t, err.Error(), "someone-else", "never the token")
}

func TestSummaryNamesWhatIsDestroyed(t *testing.T) {
	change := func(addr string, actions ...tfjson.Action) *tfjson.ResourceChange {
		return &tfjson.ResourceChange{Address: addr, Mode: tfjson.ManagedResourceMode, Change: &tfjson.Change{Actions: actions}}
	}
	s := Summarize(&tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
		change("azurerm_servicebus_queue.vigil[\"status\"]", tfjson.ActionCreate),
		change("azurerm_function_app_flex_consumption.vigil", tfjson.ActionUpdate),
		change("azurerm_cosmosdb_account.vigil", tfjson.ActionDelete, tfjson.ActionCreate),
		change("azurerm_key_vault_secret.old", tfjson.ActionDelete),
		change("azurerm_resource_group.vigil[0]", tfjson.ActionNoop),
		{Address: "data.azurerm_client_config.current", Mode: tfjson.DataResourceMode, Change: &tfjson.Change{Actions: tfjson.Actions{tfjson.ActionRead}}},
	}})
	require.Equal(t, "Plan: 1 to add, 1 to change, 1 to replace, 1 to destroy.\n"+
		"  replace  azurerm_cosmosdb_account.vigil\n"+
		"  destroy  azurerm_key_vault_secret.old\n", s.String())

	var out bytes.Buffer
	require.False(t, confirm(strings.NewReader("yes please\n"), &out, s))
	require.Contains(t, out.String(), "DESTROYS")
	require.True(t, confirm(strings.NewReader(" yes \n"), io.Discard, s))
}

func TestSCMURL(t *testing.T) {
	require.Equal(t, "https://func-vigil1.scm.azurewebsites.net", SCMURL("func-vigil1.azurewebsites.net"))
	require.Equal(t, "https://func-vigil-a1b2.scm.westeurope-01.azurewebsites.net", SCMURL("func-vigil-a1b2.westeurope-01.azurewebsites.net"))
}
