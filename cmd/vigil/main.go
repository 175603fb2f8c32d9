// Command vigil is Vigil's one binary: the custom handler the Azure Functions host
// starts (`vigil serve`), the whole app on one machine (`vigil local`), and the
// operator's tools (`vigil check`, `vigil queues`, `vigil package`, `vigil deploy`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

const usage = `vigil: incident management for SaaS vendors on Azure.

Usage:
  vigil local  [--addr 127.0.0.1:7071] [--data ./.vigil] [--config vigil.yaml] [--expose]
               run the whole function app on this machine (embedded store and queue)
  vigil serve  the custom handler the Azure Functions host starts (reads its settings from the environment)
  vigil check  [--config vigil.yaml]   validate the catalog
  vigil queues [--data ./.vigil]       queue depths, dead letters and parked messages of a local run
  vigil package [-o vigil.zip]         build the zip the Functions host runs (linux/amd64)
  vigil deploy [--plan-only] [--yes] [-var-file f.tfvars]... [--infra infra] [--app-registration name|skip]
               ensure the responders' Entra ID app registration, provision with Terraform (infra/),
               then publish the package to the function app
  vigil version
`

// version is set at build time by the packaging step.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer cpuProfile(os.Getenv("VIGIL_CPUPROFILE"))()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		fmt.Fprintln(os.Stderr, "vigil:", err)
		os.Exit(1)
	}
}

// parseFlags parses a subcommand's flags. --help (-h) prints the usage on
// stdout and ends with status 0; a bad flag prints the error and the usage on
// stderr and ends with status 2.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case err == nil:
		fs.SetOutput(stderr)
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return exitError(0)
	}
	fs.SetOutput(stderr)
	fmt.Fprintln(stderr, err)
	fs.Usage()
	return exitError(2)
}

// exitError ends the program with a status and no further message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError(2)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "local":
		return local(ctx, args[1:], stdout, stderr)
	case "check":
		return check(args[1:], stdout, stderr)
	case "queues":
		return queues(ctx, args[1:], stdout, stderr)
	case "package":
		return pkg(ctx, args[1:], stdout, stderr)
	case "deploy":
		return deployCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "vigil", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "vigil: unknown command %q\n\n%s", args[0], usage)
	return exitError(2)
}

// cpuProfile writes a CPU profile of this process to prefix.<pid>.pprof when
// prefix is set (VIGIL_CPUPROFILE, for benchmark investigations; the child
// `vigil serve` inherits it and writes its own). It returns the stop function.
func cpuProfile(prefix string) func() {
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s.%d.pprof", prefix, os.Getpid()))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil: cpu profile:", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
