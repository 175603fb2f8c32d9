// Package infra holds Vigil's Terraform. This test keeps it in step with the
// code: the queues Terraform creates are exactly those the functions bind to
// and the app sends to, with the same settings `vigil local` uses, and every
// app setting the code reads is one Terraform sets.
package infra

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"

	"vigil/internal/app"
	"vigil/internal/funchost"
	"vigil/internal/localbus"
)

const repo = ".."

// locals returns every `locals` attribute of the .tf files in this folder.
func locals(t *testing.T) map[string]*hclsyntax.Attribute {
	t.Helper()
	p := hclparse.NewParser()
	out := map[string]*hclsyntax.Attribute{}
	files, err := filepath.Glob("*.tf")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, name := range files {
		f, diags := p.ParseHCLFile(name)
		require.False(t, diags.HasErrors(), diags.Error())
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			if b.Type != "locals" {
				continue
			}
			for k, a := range b.Body.Attributes {
				require.NotContains(t, out, k, "local %s defined twice", k)
				out[k] = a
			}
		}
	}
	return out
}

type tfQueue struct {
	trigger       bool
	lock, dupe    time.Duration
	maxDeliveries int
}

func terraformQueues(t *testing.T) map[string]tfQueue {
	t.Helper()
	a, ok := locals(t)["queues"]
	require.True(t, ok, "servicebus.tf defines local.queues")
	v, diags := a.Expr.Value(nil)
	require.False(t, diags.HasErrors(), "local.queues is literal: %s", diags.Error())
	out := map[string]tfQueue{}
	for name, q := range v.AsValueMap() {
		attr := q.AsValueMap()
		n, _ := attr["max_delivery_count"].AsBigFloat().Int64()
		out[name] = tfQueue{
			trigger:       attr["trigger"].True(),
			lock:          isoDuration(t, attr["lock_duration"].AsString()),
			dupe:          isoDuration(t, attr["duplicate_detection_window"].AsString()),
			maxDeliveries: int(n),
		}
	}
	return out
}

// isoDuration reads the ISO 8601 durations Service Bus takes (PT1M, PT10M, P14D).
func isoDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	m := regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`).FindStringSubmatch(s)
	require.NotNil(t, m, "ISO 8601 duration %q", s)
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	return d
}

func TestQueuesMatchTheFunctionsAndTheApp(t *testing.T) {
	tf := terraformQueues(t)

	// The functions' bindings, as the local host reads them.
	b, err := localbus.Open(filepath.Join(t.TempDir(), localbus.FileName), localbus.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	host, err := funchost.New(funchost.Options{AppDir: repo, Bus: b, WorkerURL: "http://127.0.0.1:1"})
	require.NoError(t, err)
	triggers := map[string]bool{}
	bound := map[string]bool{}
	for _, f := range host.Functions() {
		if f.Entity != "" {
			require.NotContains(t, f.Entity, "/", "%s: topics need topic resources in servicebus.tf", f.Name)
			triggers[f.Entity] = true
			bound[f.Entity] = true
		}
	}
	require.NotEmpty(t, triggers)

	// The app's own list (what it sends to, and what `vigil local` creates).
	declared := map[string]app.Entity{}
	for _, e := range app.Entities {
		declared[e.Name] = e
	}

	for name := range bound {
		require.Contains(t, tf, name, "function.json binds to %q, which Terraform does not create", name)
	}
	require.Equal(t, sortedKeys(declared), sortedKeys(tf), "Terraform's queues are exactly app.Entities")
	for name, q := range tf {
		e := declared[name]
		require.Equal(t, e.LockDuration, q.lock, "%s: lock_duration", name)
		require.Equal(t, e.MaxDeliveryCount, q.maxDeliveries, "%s: max_delivery_count", name)
		require.Equal(t, e.DuplicateWindow, q.dupe, "%s: duplicate_detection_window", name)
		require.Equal(t, triggers[name], q.trigger, "%s: trigger (the app may receive only where a function triggers)", name)
	}
}

// Settings read by the code that Terraform does not set, and why.
var notTerraforms = map[string]string{
	"FUNCTIONS_CUSTOMHANDLER_PORT": "set by the Functions host for its custom handler",
	"FUNCTIONS_APP_ROOT_PATH":      "set by the Functions host",
	"WEBSITE_SITE_NAME":            "set by App Service on every app",
	"WEBSITE_AUTH_ENABLED":         "set by App Service while App Service Authentication is on",
	"VIGIL_DATA_DIR":               "`vigil local`'s embedded store and outbox",
	"VIGIL_LOCAL_BUS_URL":          "`vigil local`'s embedded queue",
	"VIGIL_LOCAL_BUS_TOKEN":        "`vigil local`'s embedded queue",
	"VIGIL_DEV":                    "`vigil local`'s development pages",
	"VIGIL_NOTIFY_SEND":            "`vigil local` only: in Azure every configured channel sends",
	"VIGIL_STATUSPAGE_URL":         "tests only: points Statuspage at a test server",
	"VIGIL_LOCAL_ACS_TOKEN":        "vigil local only: the bearer token for a test server standing in for ACS",
	"VIGIL_TEST_CLOCK":             "vigil local under end-to-end tests only: the file of the clock they fast-forward",
}

// Settings Terraform sets that the code does not read itself, and who does.
var readByOthers = map[string]string{
	"AzureWebJobsStorage__accountName":          "the Functions host (its storage)",
	"AzureWebJobsStorage__credential":           "the Functions host",
	"AzureWebJobsStorage__clientId":             "the Functions host",
	"ServiceBusConnection__credential":          "the Functions host's Service Bus trigger",
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "the Functions host's telemetry",
	"AZURE_CLIENT_ID":                           "azidentity's DefaultAzureCredential (Communication Services)",
	"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT":         "the Functions host's request body limit (vigil local's host reads it too)",
}

// Getenv calls with a literal that are not app settings.
var notSettings = map[string]bool{
	"VIGIL_CPUPROFILE": true, // a developer's profiling switch
	"VIGIL_TERRAFORM":  true, // which terraform `vigil deploy` runs, on the operator's machine
}

// codeSettings returns the app settings the code reads: the string constants
// named env* or Setting* in the non-test Go files, and any other literal
// passed to os.Getenv (which must be listed in notSettings).
func codeSettings(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, dir := range []string{"cmd", "handlers", "internal"} {
		err := filepath.WalkDir(filepath.Join(repo, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.Contains(p, "vigilbench") {
				return nil
			}
			f, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ValueSpec:
					for i, name := range n.Names {
						if i >= len(n.Values) || !regexp.MustCompile(`^(env|Setting)[A-Z]`).MatchString(name.Name) {
							continue
						}
						if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ := strconv.Unquote(lit.Value)
							out[v] = p + ": " + name.Name
						}
					}
				case *ast.CallExpr:
					sel, ok := n.Fun.(*ast.SelectorExpr)
					if !ok || sel.Sel.Name != "Getenv" || len(n.Args) != 1 {
						return true
					}
					if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						if !notSettings[v] {
							t.Errorf("%s: os.Getenv(%q): name the setting as a constant env*/Setting* so that Terraform's coverage is checked", fset.Position(n.Pos()), v)
						}
					}
				}
				return true
			})
			return nil
		})
		require.NoError(t, err)
	}
	return out
}

// terraformSettings returns the app setting names the module can set: the
// keys of the maps functionapp.tf merges into app_settings (the base
// settings and the Communication Services ones), and the settings the
// generated secrets fill.
func terraformSettings(t *testing.T) map[string]bool {
	t.Helper()
	l := locals(t)
	out := map[string]bool{}
	for _, name := range []string{"base_settings", "acs_settings", "alert_settings"} {
		a, ok := l[name]
		require.True(t, ok, "local.%s", name)
		hclsyntax.VisitAll(a.Expr, func(n hclsyntax.Node) hcl.Diagnostics {
			if obj, ok := n.(*hclsyntax.ObjectConsExpr); ok {
				for _, item := range obj.Items {
					if k, diags := item.KeyExpr.Value(nil); !diags.HasErrors() && k.Type() == cty.String {
						out[k.AsString()] = true
					}
				}
			}
			return nil
		})
	}
	gen, ok := l["generated_secrets"]
	require.True(t, ok, "local.generated_secrets")
	v, diags := gen.Expr.Value(nil)
	require.False(t, diags.HasErrors(), diags.Error())
	for _, setting := range v.AsValueMap() {
		out[setting.AsString()] = true
	}
	return out
}

func TestEverySettingTheCodeReadsIsSetByTerraform(t *testing.T) {
	code := codeSettings(t)
	tf := terraformSettings(t)
	require.Contains(t, code, "CosmosDB__accountEndpoint", "the scan finds the code's settings")
	require.Contains(t, tf, "CosmosDB__accountEndpoint", "the scan finds Terraform's settings")

	for name, where := range code {
		if _, ok := notTerraforms[name]; ok {
			require.NotContains(t, tf, name, "%s is listed as not set by Terraform, but Terraform sets it", name)
			continue
		}
		require.Contains(t, tf, name, "the code reads %s (%s), but Terraform never sets it", name, where)
	}
	for name := range tf {
		if _, ok := readByOthers[name]; ok {
			continue
		}
		require.Contains(t, code, name, "Terraform sets %s, which nothing reads (or list who does in readByOthers)", name)
	}
	for name := range notTerraforms {
		require.Contains(t, code, name, "notTerraforms lists %s, which the code no longer reads", name)
	}
}

func TestServiceBusConnectionsAreIdentityBased(t *testing.T) {
	tf := terraformSettings(t)
	files, err := filepath.Glob(filepath.Join(repo, "functions", "*", "function.json"))
	require.NoError(t, err)
	seen := 0
	for _, p := range files {
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		var fn struct {
			Bindings []struct {
				Type       string `json:"type"`
				Connection string `json:"connection"`
			} `json:"bindings"`
		}
		require.NoError(t, json.Unmarshal(raw, &fn), p)
		for _, b := range fn.Bindings {
			if !strings.HasPrefix(b.Type, "serviceBus") {
				continue
			}
			seen++
			require.NotEmpty(t, b.Connection, "%s: a Service Bus binding names its connection", p)
			for _, suffix := range []string{"__fullyQualifiedNamespace", "__credential", "__clientId"} {
				require.Contains(t, tf, b.Connection+suffix, "%s: connection %s needs %s%s", p, b.Connection, b.Connection, suffix)
			}
		}
	}
	require.NotZero(t, seen)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
