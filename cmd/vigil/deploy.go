package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"vigil/internal/deploy"
)

// pkg is `vigil package`: the zip the Functions host runs.
func pkg(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("package", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "vigil.zip", "the zip to write")
	root := fs.String("root", ".", "the project root (host.json, functions/, cmd/vigil)")
	config := fs.String("config", deploy.ConfigName, "the catalog to ship, relative to --root")
	ver := fs.String("version", "", "the version stamped into the binary (default: git describe)")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	p, err := deploy.BuildPackage(ctx, deploy.PackageOptions{
		Root: *root, Config: *config, Output: *out, Version: versionOf(*root, *ver), Log: stdout,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d bytes, %d functions, executable %s\n", p.Path, p.Size, len(p.Functions), p.Binary)
	return nil
}

// deployCmd is `vigil deploy`: Terraform, then the package.
func deployCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	planOnly := fs.Bool("plan-only", false, "show what would change, change nothing")
	yes := fs.Bool("yes", false, "apply without asking")
	var varFiles multiFlag
	fs.Var(&varFiles, "var-file", "a Terraform variables file (repeatable)")
	infra := fs.String("infra", "infra", "the Terraform configuration: Vigil's module, or one that calls it")
	root := fs.String("root", ".", "the project root the package is built from")
	config := fs.String("config", deploy.ConfigName, "the catalog to ship, relative to --root")
	prebuilt := fs.String("package", "", "publish this zip (from `vigil package`) instead of building one")
	appReg := fs.String("app-registration", "", "the unique name of the responders' Entra ID app registration vigil deploy creates or repairs (default vigil-<name>-responders); \"skip\" leaves Entra ID alone")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	return deploy.Run(ctx, deploy.Options{
		Dir: *infra, VarFiles: varFiles, PlanOnly: *planOnly, Yes: *yes,
		Package:     deploy.PackageOptions{Root: *root, Config: *config, Version: versionOf(*root, "")},
		PackagePath: *prebuilt, AppRegistration: *appReg,
		In: stdin, Out: stdout,
	})
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// versionOf is the version to stamp: the one given, else `git describe`, else "dev".
func versionOf(root, given string) string {
	if given != "" {
		return given
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty", "--tags")
	cmd.Dir = root
	cmd.Stderr = nil
	if out, err := cmd.Output(); err == nil {
		if v := strings.TrimSpace(string(out)); v != "" {
			return v
		}
	}
	return "dev"
}
