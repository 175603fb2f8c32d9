package localbus

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// crashChildEnv names the database a re-executed test binary writes to until
// it is killed.
const crashChildEnv = "LOCALBUS_CRASH_CHILD_DB"

// TestCrashDurability SIGKILLs a process in the middle of a stream of Sends
// and checks that every Send that had returned nil is in the database exactly
// once, and that messages it held locked come back after their lock expires.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), FileName)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	sent := map[string]int{}
	var locked []string
	lines := bufio.NewScanner(out)
	killed := false
	deadline := time.Now().Add(20 * time.Second)
	for lines.Scan() {
		kind, id, ok := strings.Cut(lines.Text(), " ")
		require.True(t, ok, "child printed %q", lines.Text())
		switch kind {
		case "sent":
			sent[id]++
		case "locked":
			locked = append(locked, id)
		}
		// Kill mid-stream, with the child's senders still going; keep reading
		// what it printed before it died.
		if !killed && (len(sent) >= 3000 || time.Now().After(deadline)) {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
		}
	}
	require.NoError(t, lines.Err())
	err = cmd.Wait()
	require.True(t, killed, "child exited by itself: %v", err)
	require.Len(t, locked, 10)
	t.Logf("child confirmed %d sends before SIGKILL", len(sent))

	// Reopen two minutes on, so that the child's one-minute locks have expired.
	later := func() time.Time { return time.Now().Add(2 * time.Minute) }
	b, err := Open(path, Options{Now: later})
	require.NoError(t, err)
	defer b.Close()

	found := map[string]int{}
	redelivered := map[string]int{}
	for {
		rctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		got, err := b.Receive(rctx, "crash", 500)
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			break
		}
		for _, d := range got {
			found[d.ID]++
			if strings.HasPrefix(d.ID, "pre-") {
				redelivered[d.ID] = d.DeliveryCount
			}
			require.NoError(t, b.Complete(context.Background(), d))
		}
	}
	for id, n := range sent {
		require.Equal(t, 1, n, "child printed %s twice", id)
		require.Equal(t, 1, found[id], "confirmed message %s", id)
	}
	for id, n := range found {
		require.Equal(t, 1, n, "message %s stored more than once", id)
	}
	for _, id := range locked {
		require.Equal(t, 2, redelivered[id], "locked message %s comes back as its second delivery", id)
	}
}

// TestCrashChild is the process TestCrashDurability kills. It locks ten
// messages, then sends from 8 goroutines until killed, printing each message
// id once its Send has returned. It stops by itself after 30 s.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("run by TestCrashDurability")
	}
	b, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	if err := b.Send(ctx, "crash", msgs("pre", 10)...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	got, err := b.Receive(ctx, "crash", 10)
	if err != nil || len(got) != 10 {
		fmt.Fprintln(os.Stderr, "receive:", len(got), err)
		os.Exit(2)
	}
	for _, d := range got {
		fmt.Fprintln(os.Stdout, "locked", d.ID)
	}
	stop := time.Now().Add(30 * time.Second)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				id := fmt.Sprintf("c-%d-%d", g, i)
				if err := b.Send(ctx, "crash", msg(id)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				// One write per line: a line is either all there or not at all.
				fmt.Fprintln(os.Stdout, "sent", id)
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}
