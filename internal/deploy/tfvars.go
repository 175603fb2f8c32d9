package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// The variables vigil deploy reads before Terraform runs: the deployment's
// name (the app registration's unique name derives from it) and
// responder_login (whose client_id, if the operator gave one, names an
// existing registration). They are read as Terraform would: TF_VAR_
// variables, then terraform.tfvars, *.auto.tfvars in the root module, then
// each -var-file in order, the last definition winning.

// tfVars holds the values found, as cty values (nil: not set anywhere).
type tfVars map[string]cty.Value

func readTFVars(dir string, varFiles []string, names ...string) (tfVars, error) {
	vars := tfVars{}
	for _, n := range names {
		if env, ok := os.LookupEnv("TF_VAR_" + n); ok {
			// Terraform parses a TF_VAR_ value of a complex type as HCL, and
			// takes a string one as it is.
			expr, diags := hclsyntax.ParseExpression([]byte(env), "TF_VAR_"+n, hcl.InitialPos)
			if v, vd := exprValue(expr, diags); vd == nil && !v.Type().Equals(cty.DynamicPseudoType) && (v.Type().IsObjectType() || v.Type().IsMapType()) {
				vars[n] = v
			} else {
				vars[n] = cty.StringVal(env)
			}
		}
	}
	var files []string
	for _, f := range []string{"terraform.tfvars", "terraform.tfvars.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			files = append(files, filepath.Join(dir, f))
		}
	}
	auto, _ := filepath.Glob(filepath.Join(dir, "*.auto.tfvars"))
	autoJSON, _ := filepath.Glob(filepath.Join(dir, "*.auto.tfvars.json"))
	auto = append(auto, autoJSON...)
	sort.Strings(auto)
	files = append(files, auto...)
	files = append(files, varFiles...)

	p := hclparse.NewParser()
	for _, f := range files {
		var file *hcl.File
		var diags hcl.Diagnostics
		if strings.HasSuffix(f, ".json") {
			file, diags = p.ParseJSONFile(f)
		} else {
			file, diags = p.ParseHCLFile(f)
		}
		if diags.HasErrors() {
			return nil, fmt.Errorf("deploy: reading %s: %s", f, diags.Error())
		}
		attrs, diags := file.Body.JustAttributes()
		if diags.HasErrors() {
			return nil, fmt.Errorf("deploy: reading %s: %s", f, diags.Error())
		}
		for _, n := range names {
			a, ok := attrs[n]
			if !ok {
				continue
			}
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				return nil, fmt.Errorf("deploy: reading %s in %s: %s", n, f, diags.Error())
			}
			vars[n] = v
		}
	}
	return vars, nil
}

func exprValue(expr hclsyntax.Expression, diags hcl.Diagnostics) (cty.Value, hcl.Diagnostics) {
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	v, vd := expr.Value(nil)
	if vd.HasErrors() {
		return cty.NilVal, vd
	}
	return v, nil
}

// String is a string variable's value, or "" when unset or null.
func (v tfVars) String(name string) string {
	val, ok := v[name]
	if !ok || val.IsNull() || !val.IsKnown() || !val.Type().Equals(cty.String) {
		return ""
	}
	return val.AsString()
}

// Object is an object variable as JSON-shaped Go values (nil when unset).
func (v tfVars) Object(name string) (map[string]any, error) {
	val, ok := v[name]
	if !ok || val.IsNull() {
		return nil, nil
	}
	b, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		return nil, fmt.Errorf("deploy: %s: %w", name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("deploy: %s must be an object: %w", name, err)
	}
	return m, nil
}

// declaresVariable says whether the root module in dir declares variable name.
func declaresVariable(dir, name string) (bool, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
	p := hclparse.NewParser()
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		if diags.HasErrors() {
			return false, fmt.Errorf("deploy: reading %s: %s", f, diags.Error())
		}
		body, ok := file.Body.(*hclsyntax.Body)
		if !ok {
			continue
		}
		for _, b := range body.Blocks {
			if b.Type == "variable" && len(b.Labels) == 1 && b.Labels[0] == name {
				return true, nil
			}
		}
	}
	return false, nil
}
