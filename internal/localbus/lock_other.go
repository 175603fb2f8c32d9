//go:build !unix

package localbus

// fileLock is a no-op where flock(2) is unavailable: there, keeping one writer
// per file is up to the caller.
type fileLock struct{}

func lockFile(string) (*fileLock, error) { return &fileLock{}, nil }

func (*fileLock) release() {}
