//go:build unix

package localbus

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"vigil/internal/fault"
)

// fileLock keeps a second process from opening the queue for writing: the
// writer keeps sequence numbers and entity state in memory, so two writers on
// one file would hand out the same sequence numbers.
type fileLock struct{ f *os.File }

func lockFile(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localbus: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fault.New(fault.Conflict, "localbus: %s is open for writing by another process (use OpenReadOnly)", path)
		}
		return nil, fmt.Errorf("localbus: lock %s: %w", path, err)
	}
	return &fileLock{f: f}, nil
}

// release drops the lock; the kernel also drops it when the process dies.
func (l *fileLock) release() { l.f.Close() }
