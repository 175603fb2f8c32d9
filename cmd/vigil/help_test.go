package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSubcommandHelpExitsZero: --help (and -h) is a question, not a mistake:
// the usage goes to stdout and the status is 0; a bad flag is status 2.
func TestSubcommandHelpExitsZero(t *testing.T) {
	for cmd, flag := range map[string]string{
		"local":   "-addr",
		"check":   "-config",
		"package": "-root",
		"deploy":  "-plan-only",
	} {
		for _, help := range []string{"--help", "-h"} {
			var out, errb bytes.Buffer
			err := run(context.Background(), []string{cmd, help}, &out, &errb)
			require.Equal(t, exitError(0), err, "%s %s", cmd, help)
			require.Contains(t, out.String(), "Usage of "+cmd, cmd)
			require.Contains(t, out.String(), flag, cmd)
			require.Empty(t, errb.String(), cmd)
		}
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{cmd, "--no-such-flag"}, &out, &errb)
		require.Equal(t, exitError(2), err, cmd)
		require.Contains(t, errb.String(), "flag provided but not defined: -no-such-flag", cmd)
		require.Contains(t, errb.String(), "Usage of "+cmd, cmd)
	}
	var errb bytes.Buffer
	require.Equal(t, exitError(0), run(context.Background(), []string{"serve", "--help"}, &bytes.Buffer{}, &errb))
	require.Contains(t, errb.String(), "Usage of serve", "serve has only stderr: the host reads its stdout")
}
