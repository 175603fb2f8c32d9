package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"vigil/internal/catalog"
)

// check validates the catalog and prints every problem with its file and
// line; warnings (valid but risky, such as Teams as someone's only channel)
// are printed too, and do not fail it.
func check(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "vigil.yaml", "catalog file")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	cat, err := catalog.Load(*path)
	var problems catalog.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Fprintln(stderr, p.String())
		}
		fmt.Fprintf(stderr, "%d problem(s) in %s\n", len(problems), *path)
		return exitError(1)
	}
	if err != nil {
		return err
	}
	for _, w := range cat.Warnings() {
		fmt.Fprintln(stderr, "warning: "+w.String())
	}
	fmt.Fprintf(stdout, "%s: ok — %s: %d tenants, %d teams, %d components\n",
		*path, cat.Organisation, len(cat.Tenants), len(cat.Teams), len(cat.Components))
	return nil
}
