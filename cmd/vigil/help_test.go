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
		"queues":  "-peek",
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

func TestLoopbackAddresses(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7071": true,
		"127.8.9.1:7071": true,
		"[::1]:7071":     true,
		"localhost:7071": true,
		"LOCALHOST:80":   true,
		"0.0.0.0:7071":   false,
		":7071":          false,
		"[::]:7071":      false,
		"192.168.1.5:80": false,
		"vigil.lan:7071": false,
		"127.0.0.1":      false, // no port: not an address
	} {
		require.Equal(t, want, loopback(addr), addr)
	}
}
