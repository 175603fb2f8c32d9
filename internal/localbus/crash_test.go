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
// once, and that messages it held locked come back at once, not after their
// lock duration.
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

	// Reopen at once: the child's one-minute locks died with it, so what it
	// held is available now rather than in a minute.
	b, err := Open(path, Options{})
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
	if err := b.DeclareQueue("crash", EntityOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
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

// TestOpenReleasesLocksOfTheLastProcess: what a process held locked when it
// stopped is available to the next Open at once, DeliveryCount kept; one at
// its MaxDeliveryCount is dead-lettered, as its expired lock would be; a
// scheduled message keeps its time.
func TestOpenReleasesLocksOfTheLastProcess(t *testing.T) {
	clock := newFakeClock()
	b, path := openBus(t, Options{Now: clock.Now})
	require.NoError(t, b.DeclareQueue("q", EntityOptions{MaxDeliveryCount: 2}))
	require.NoError(t, b.Send(ctx, "q", msg("held"), msg("last-try"), msg("idle")))
	_, err := b.Schedule(ctx, "q", clock.Now().Add(time.Hour), msg("later"))
	require.NoError(t, err)
	require.Equal(t, "held", receiveNow(t, b, "q", 1)[0].ID) // delivery 1, held
	lastTry := receiveNow(t, b, "q", 1)[0]
	require.NoError(t, b.Abandon(ctx, lastTry, "retry"))
	lastTry = receiveNow(t, b, "q", 1)[0] // delivery 2 of 2, held
	require.Equal(t, "last-try", lastTry.ID)
	require.Equal(t, EntityStats{Name: "q", Active: 1, Scheduled: 1, Locked: 2}, statsOf(t, b, "q"))
	require.NoError(t, b.Close())

	clock.Advance(time.Second) // well within the one-minute locks
	b2, err := Open(path, Options{Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b2.Close() })
	require.Equal(t, EntityStats{Name: "q", Active: 2, Scheduled: 1, DeadLettered: 1}, statsOf(t, b2, "q"))
	got := receiveNow(t, b2, "q", 10)
	require.Equal(t, []string{"held", "idle"}, ids(got))
	require.Equal(t, []int{2, 1}, []int{got[0].DeliveryCount, got[1].DeliveryCount})
	dead, err := b2.PeekDeadLetters(ctx, "q", 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, "last-try", dead[0].ID)
	require.Equal(t, ReasonMaxDeliveryCountExceeded, dead[0].Reason)
	require.Equal(t, 2, dead[0].DeliveryCount)
	require.Equal(t, clock.Now(), dead[0].DeadLetteredAt)
	for _, d := range got {
		require.NoError(t, b2.Complete(ctx, d))
	}
	clock.Advance(time.Hour)
	require.Equal(t, []string{"later"}, ids(receiveNow(t, b2, "q", 10)))
}
