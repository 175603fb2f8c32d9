package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
)

// armScope is the audience of Azure Resource Manager tokens; the function
// app's deployment (SCM) endpoint accepts them too.
const armScope = "https://management.azure.com/.default"

// Options says what `vigil deploy` does.
type Options struct {
	// Dir is the Terraform root module (infra/).
	Dir string
	// VarFiles are passed to terraform plan as -var-file, in order.
	VarFiles []string
	// PlanOnly stops after showing the plan.
	PlanOnly bool
	// Yes applies without asking.
	Yes bool
	// Package builds the package published after apply, unless PackagePath
	// names one already built.
	Package     PackageOptions
	PackagePath string
	// Terraform is the terraform executable; empty means $VIGIL_TERRAFORM,
	// then terraform on PATH.
	Terraform string
	// Credential signs in to Azure; nil means DefaultAzureCredential (the
	// Azure CLI's login, a service principal's or workload identity's
	// environment, or a managed identity).
	Credential azcore.TokenCredential
	// HTTP publishes the package; nil means a client with a 10-minute timeout.
	HTTP *http.Client
	// SCMURL turns the function app's host name into the base URL of its
	// deployment endpoint; nil means https://<name>.scm.<rest>.
	SCMURL func(defaultHostname string) string
	// ARMURL is Resource Manager's base URL; empty means
	// https://management.azure.com.
	ARMURL string
	// HealthURL is where the running app answers; nil means
	// https://<host>/api/health.
	HealthURL func(defaultHostname string) string
	// AppRegistration is the unique name of the Entra ID app registration
	// responders sign in with, created or repaired through Microsoft Graph;
	// empty means vigil-<name>-responders, SkipAppRegistration leaves Entra
	// ID alone. A responder_login.client_id in the variables names an
	// existing registration instead, which is repaired but not renamed.
	AppRegistration string
	// GraphURL is Microsoft Graph's base URL; empty means GraphURL.
	GraphURL string
	// PollEvery, PublishTimeout and HealthTimeout pace the waits for the
	// deployment and for the app to answer.
	PollEvery, PublishTimeout, HealthTimeout time.Duration

	In  io.Reader
	Out io.Writer
}

// Run provisions with Terraform and publishes the package, printing progress
// to o.Out. It refuses early, before changing anything, when Terraform or
// Azure credentials are missing.
func Run(ctx context.Context, o Options) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	// terraform-exec copies a command's stdout and stderr from two
	// goroutines, both into o.Out, and the progress lines go there too.
	o.Out = &syncWriter{w: o.Out}
	if o.In == nil {
		o.In = strings.NewReader("")
	}
	step := func(format string, args ...any) { fmt.Fprintf(o.Out, "==> "+format+"\n", args...) }

	tfPath, err := findTerraform(o.Terraform)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if tfFiles, _ := filepath.Glob(filepath.Join(dir, "*.tf")); len(tfFiles) == 0 {
		return fmt.Errorf("deploy: %s holds no Terraform configuration (*.tf): pass --infra with Vigil's module (infra/) or a configuration that calls it", dir)
	}
	varFiles := make([]string, len(o.VarFiles))
	for i, f := range o.VarFiles {
		if varFiles[i], err = filepath.Abs(f); err != nil {
			return err
		}
		if _, err := os.Stat(varFiles[i]); err != nil {
			return fmt.Errorf("deploy: -var-file: %w", err)
		}
	}

	step("checking Azure credentials")
	cred := o.Credential
	if cred == nil {
		if cred, err = azidentity.NewDefaultAzureCredential(nil); err != nil {
			return credentialsError(err)
		}
	}
	tokenCtx, cancel := context.WithTimeout(ctx, 45*time.Second)
	_, err = cred.GetToken(tokenCtx, policy.TokenRequestOptions{Scopes: []string{armScope}})
	cancel()
	if err != nil {
		return credentialsError(err)
	}

	pkgPath := o.PackagePath
	if pkgPath == "" && !o.PlanOnly {
		step("building the package")
		p := o.Package
		if p.Output == "" {
			tmp, err := os.MkdirTemp("", "vigil-deploy-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			p.Output = filepath.Join(tmp, "vigil.zip")
		}
		p.Log = o.Out
		built, err := BuildPackage(ctx, p)
		if err != nil {
			return err
		}
		pkgPath = built.Path
	}

	client := o.HTTP
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
	}
	tmp, err := os.MkdirTemp("", "vigil-deploy-vars-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	graph := AppRegistrations{HTTP: client, Credential: cred, BaseURL: o.GraphURL, PollEvery: o.PollEvery, DryRun: o.PlanOnly}
	login, err := prepareLogin(ctx, o, dir, varFiles, graph, tmp)
	if err != nil {
		return err
	}

	tf, err := tfexec.NewTerraform(dir, tfPath)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	tf.SetStdout(o.Out)
	tf.SetStderr(o.Out)

	step("terraform init (%s)", dir)
	if err := tf.Init(ctx); err != nil {
		return fmt.Errorf("deploy: terraform init: %w", err)
	}

	step("terraform plan")
	planFile := filepath.Join(dir, ".vigil-deploy.tfplan")
	defer os.Remove(planFile)
	planOpts := []tfexec.PlanOption{tfexec.Out(planFile)}
	for _, f := range varFiles {
		planOpts = append(planOpts, tfexec.VarFile(f))
	}
	if login != nil && login.varFile != "" {
		planOpts = append(planOpts, tfexec.VarFile(login.varFile))
	}
	changes, err := tf.Plan(ctx, planOpts...)
	if err != nil {
		return fmt.Errorf("deploy: terraform plan: %w", err)
	}
	plan, err := tf.ShowPlanFile(ctx, planFile)
	if err != nil {
		return fmt.Errorf("deploy: reading the plan: %w", err)
	}
	summary := Summarize(plan)
	fmt.Fprintln(o.Out)
	fmt.Fprint(o.Out, summary.String())

	if o.PlanOnly {
		step("plan only: nothing was changed")
		return nil
	}
	if changes {
		if !o.Yes {
			if !confirm(o.In, o.Out, summary) {
				return errors.New("deploy: not applied (answer yes to apply, or pass --yes)")
			}
		}
		step("terraform apply")
		if err := tf.Apply(ctx, tfexec.DirOrPlan(planFile)); err != nil {
			return fmt.Errorf("deploy: terraform apply: %w", err)
		}
	} else {
		step("the infrastructure is up to date")
	}

	outputs, err := tf.Output(ctx)
	if err != nil {
		return fmt.Errorf("deploy: terraform output: %w", err)
	}
	appName, host, siteID := outputString(outputs, "function_app_name"), outputString(outputs, "function_app_default_hostname"), outputString(outputs, "function_app_id")
	if appName == "" || host == "" || siteID == "" {
		return errors.New("deploy: the Terraform outputs function_app_name, function_app_default_hostname and function_app_id are missing")
	}
	if login != nil {
		if err := login.finish(ctx, outputString(outputs, "public_url"), host); err != nil {
			return err
		}
	}
	pub := Publisher{HTTP: client, Credential: cred, PollEvery: o.PollEvery, Timeout: o.PublishTimeout, Log: o.Out}

	// Every run, not only after an apply: an apply by hand, or one that
	// failed half-way, may have left them.
	step("checking that host storage is identity-based")
	arm := o.ARMURL
	if arm == "" {
		arm = "https://management.azure.com"
	}
	removed, err := appSettings{pub: pub, base: arm}.removeKeySettings(ctx, siteID)
	if err != nil {
		return err
	}
	if len(removed) > 0 {
		fmt.Fprintf(o.Out, "    removed %s: the azurerm provider writes them with an empty account key, and the host would use them instead of the managed identity\n", strings.Join(removed, " and "))
	}

	scm := o.SCMURL
	if scm == nil {
		scm = SCMURL
	}
	step("publishing %s to %s", filepath.Base(pkgPath), appName)
	if err := pub.Publish(ctx, scm(host), pkgPath); err != nil {
		return err
	}
	health := o.HealthURL
	if health == nil {
		health = func(host string) string { return "https://" + host + "/api/health" }
	}
	step("waiting for the app to answer %s", health(host))
	if err := waitHealthy(ctx, client, health(host), o.PollEvery, o.HealthTimeout); err != nil {
		return err
	}
	step("deployed: https://%s", host)
	if ag := outputString(outputs, "action_group_id"); ag != "" {
		fmt.Fprintf(o.Out, "    point Azure Monitor alert rules at the action group %s\n", ag)
	}
	return nil
}

// waitHealthy polls the app's health endpoint until it answers 200. An app
// that does not come up is most often one whose settings do not resolve (a
// Key Vault reference read before its role assignment took effect): vigil
// serve names such a setting at start-up, in the app's log.
func waitHealthy(ctx context.Context, client *http.Client, url string, every, timeout time.Duration) error {
	if every <= 0 {
		every = 5 * time.Second
	}
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		}
		if sleep(ctx, every) != nil {
			return fmt.Errorf("deploy: the app did not answer %s within %s (last: %s). Its log stream says why; "+
				"if a setting holding a Key Vault reference is named, its role assignment was not in force yet at start: "+
				"restart the app (az functionapp restart) and run deploy again", url, timeout, last)
		}
	}
}

// findTerraform returns the terraform executable to run, or says how to get one.
func findTerraform(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv("VIGIL_TERRAFORM")
	}
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("deploy: terraform at %s: %w", explicit, err)
		}
		return explicit, nil
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		return "", errors.New("deploy: no terraform on PATH: install Terraform 1.11 or later (or `eval \"$(scripts/terraform-tools.sh)\"`, which builds one), then run again")
	}
	return p, nil
}

// errNoCredentials marks a credentialsError.
var errNoCredentials = errors.New("deploy: no usable Azure credentials")

func credentialsError(err error) error {
	return fmt.Errorf("%w: sign in with `az login` (Terraform uses the same login), "+
		"or set AZURE_TENANT_ID, AZURE_CLIENT_ID and a secret, certificate or federated token for a service principal.\n%w", errNoCredentials, err)
}

func confirm(in io.Reader, out io.Writer, s PlanSummary) bool {
	if len(s.Destroy) > 0 || len(s.Replace) > 0 {
		fmt.Fprintln(out, "\nThis plan DESTROYS resources listed above; their data is lost unless backed up.")
	}
	fmt.Fprint(out, "\nApply this plan? Only 'yes' applies: ")
	line, _ := bufio.NewReader(in).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}

func outputString(outputs map[string]tfexec.OutputMeta, name string) string {
	var s string
	if m, ok := outputs[name]; ok {
		_ = json.Unmarshal(m.Value, &s)
	}
	return s
}

// PlanSummary counts what a plan changes, and names what it destroys.
type PlanSummary struct {
	Add, Change, Destroy, Replace []string
}

// Summarize reads a plan's resource changes.
func Summarize(p *tfjson.Plan) PlanSummary {
	var s PlanSummary
	if p == nil {
		return s
	}
	for _, rc := range p.ResourceChanges {
		if rc.Change == nil || rc.Mode == tfjson.DataResourceMode {
			continue
		}
		a := rc.Change.Actions
		switch {
		case a.Replace():
			s.Replace = append(s.Replace, rc.Address)
		case a.Create():
			s.Add = append(s.Add, rc.Address)
		case a.Update():
			s.Change = append(s.Change, rc.Address)
		case a.Delete():
			s.Destroy = append(s.Destroy, rc.Address)
		}
	}
	for _, l := range [][]string{s.Add, s.Change, s.Destroy, s.Replace} {
		sort.Strings(l)
	}
	return s
}

// String is the short summary shown before asking to apply: counts, then
// every resource to be destroyed or replaced by name (those lose data).
func (s PlanSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan: %d to add, %d to change, %d to replace, %d to destroy.\n",
		len(s.Add), len(s.Change), len(s.Replace), len(s.Destroy))
	for _, a := range s.Replace {
		fmt.Fprintf(&b, "  replace  %s\n", a)
	}
	for _, a := range s.Destroy {
		fmt.Fprintf(&b, "  destroy  %s\n", a)
	}
	return b.String()
}

// SCMURL returns the deployment (SCM) endpoint of a function app from its
// default host name: <name>.azurewebsites.net becomes
// https://<name>.scm.azurewebsites.net, and a regional host name
// <name>-<hash>.<region>-01.azurewebsites.net gets scm after its first label too.
func SCMURL(defaultHostname string) string {
	first, rest, ok := strings.Cut(defaultHostname, ".")
	if !ok {
		return "https://" + defaultHostname
	}
	return "https://" + first + ".scm." + rest
}

// syncWriter serialises writes from several goroutines to one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
