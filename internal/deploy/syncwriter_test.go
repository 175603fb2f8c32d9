package deploy

import (
	"bytes"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// terraform-exec writes a command's stdout and stderr from two goroutines
// into the one writer Run is given: under -race, an unserialised writer fails
// here (as TestDeployPlansAsksAppliesAndPublishes did, now and then).
func TestSyncWriterSerialisesConcurrentWrites(t *testing.T) {
	var buf bytes.Buffer
	w := &syncWriter{w: &buf}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range 500 {
				_, _ = w.Write([]byte("0123456789\n"))
			}
		})
	}
	wg.Wait()
	require.Equal(t, 2*500*11, buf.Len())
}
