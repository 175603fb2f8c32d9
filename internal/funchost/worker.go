package funchost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Worker supervision timings.
const (
	defaultReadyTimeout = 30 * time.Second // the host's custom-handler initialization timeout
	stopGrace           = 3 * time.Second  // SIGTERM, then SIGKILL
	restartBackoffMin   = 200 * time.Millisecond
	restartBackoffMax   = 10 * time.Second
	stableRun           = 10 * time.Second // a worker up this long resets the back-off
	stderrTailBytes     = 4 << 10
)

var errWorkerStopped = errors.New("worker stopped")

// supervisor runs the custom handler process the way the Functions host does:
// a free port in FUNCTIONS_CUSTOMHANDLER_PORT, ready once GET / answers
// anything, restarted with back-off when it dies. With a fixed URL (tests) it
// only waits for readiness.
type supervisor struct {
	log          *slog.Logger
	out          io.Writer
	outMu        sync.Mutex // one line at a time from stdout and stderr
	path         string
	args         []string
	dir          string
	env          []string
	appDir       string
	fixedURL     string
	readyTimeout time.Duration
	transport    *http.Transport
	probe        *http.Client

	mu      sync.Mutex
	base    string        // ready worker's URL; "" while none is ready
	readyCh chan struct{} // closed when base is set
	proc    *workerProc   // newest process, ready or not

	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{} // closed when supervise returns
}

type workerProc struct {
	cmd     *exec.Cmd
	base    string
	started time.Time
	tail    *tailBuffer
	exited  chan struct{}
	err     error // Wait's result, set before exited closes
}

func newSupervisor(s *supervisor) *supervisor {
	s.readyCh = make(chan struct{})
	s.stopCh = make(chan struct{})
	s.done = make(chan struct{})
	s.probe = &http.Client{Transport: s.transport, Timeout: 2 * time.Second}
	return s
}

// start brings up the first worker and waits until it is ready.
func (s *supervisor) start(ctx context.Context) error {
	if s.fixedURL != "" {
		if err := s.waitReady(ctx, s.fixedURL, nil, nil); err != nil {
			return err
		}
		s.markUp(s.fixedURL)
		return nil
	}
	p, err := s.spawn()
	if err != nil {
		return err
	}
	if err := s.waitReady(ctx, p.base, p, nil); err != nil {
		p.terminate()
		return err
	}
	s.markUp(p.base)
	s.log.Info("worker ready", "pid", p.cmd.Process.Pid, "url", p.base, "after", time.Since(p.started).Round(time.Millisecond))
	return nil
}

// supervise restarts the worker whenever it exits, until stop.
func (s *supervisor) supervise() {
	defer close(s.done)
	if s.fixedURL != "" {
		<-s.stopCh
		return
	}
	backoff := restartBackoffMin
	for {
		s.mu.Lock()
		p := s.proc
		s.mu.Unlock()
		select {
		case <-p.exited:
		case <-s.stopCh:
			return
		}
		s.markDown()
		// Connections to the dead process are useless; drop them now rather
		// than on first use.
		s.transport.CloseIdleConnections()
		if time.Since(p.started) > stableRun {
			backoff = restartBackoffMin
		}
		s.log.Error("worker exited unexpectedly; in-flight invocations fail, restarting",
			"err", exitText(p.err), "ran", time.Since(p.started).Round(time.Millisecond), "restartIn", backoff)
		for {
			select {
			case <-time.After(backoff):
			case <-s.stopCh:
				return
			}
			backoff = min(backoff*2, restartBackoffMax)
			np, err := s.spawn()
			if err == nil {
				if err = s.waitReady(context.Background(), np.base, np, s.stopCh); err != nil {
					np.terminate()
				}
			}
			if errors.Is(err, errWorkerStopped) {
				return
			}
			if err != nil {
				s.log.Error("worker restart failed", "err", err, "retryIn", backoff)
				continue
			}
			s.markUp(np.base)
			s.log.Info("worker restarted", "pid", np.cmd.Process.Pid, "url", np.base)
			break
		}
	}
}

// stop ends supervision and the worker: SIGTERM, then SIGKILL after a grace period.
func (s *supervisor) stop() {
	s.stopOnce.Do(func() { close(s.stopCh) })
	<-s.done
	s.mu.Lock()
	p := s.proc
	s.base = ""
	s.mu.Unlock()
	if p != nil {
		p.terminate()
	}
}

func (s *supervisor) markUp(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base = base
	close(s.readyCh)
}

func (s *supervisor) markDown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base = ""
	s.readyCh = make(chan struct{})
}

// endpoint returns the ready worker's base URL, waiting while it restarts: the
// real host also holds invocations until a worker channel is available.
func (s *supervisor) endpoint(ctx context.Context) (string, error) {
	for {
		s.mu.Lock()
		base, ready := s.base, s.readyCh
		s.mu.Unlock()
		if base != "" {
			return base, nil
		}
		select {
		case <-ready:
		case <-s.stopCh:
			return "", errWorkerStopped
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// spawn starts a worker process on a fresh port.
func (s *supervisor) spawn() (*workerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("funchost: pick a worker port: %w", err)
	}
	p := &workerProc{
		base:   "http://127.0.0.1:" + strconv.Itoa(port),
		tail:   &tailBuffer{max: stderrTailBytes},
		exited: make(chan struct{}),
	}
	cmd := exec.Command(s.path, s.args...)
	cmd.Dir = s.dir
	// Later entries win in exec: host-controlled variables go last.
	cmd.Env = append(append([]string(nil), s.env...),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port),
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+newUUID(),
		"FUNCTIONS_APP_ROOT_PATH="+s.appDir,
	)
	stdout := &lineWriter{s: s, prefix: "[worker] "}
	stderr := &lineWriter{s: s, prefix: "[worker] ", tail: p.tail}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = workerSysProcAttr()
	// A grandchild holding the pipes open must not keep Wait from returning.
	cmd.WaitDelay = time.Second
	p.cmd = cmd

	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the *thread* that started the child exits, not
		// the process; the Go runtime may retire an idle thread only if a
		// goroutine exits while locked to it, so keep this goroutine locked
		// to its thread for as long as the child lives.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.started = time.Now()
		started <- nil
		p.err = cmd.Wait()
		stdout.flush()
		stderr.flush()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("funchost: start worker %s: %w", s.path, err)
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return p, nil
}

// waitReady polls GET base/ until anything answers, as the host does. p, when
// set, is the process being waited for: its exit ends the wait at once.
func (s *supervisor) waitReady(ctx context.Context, base string, p *workerProc, cancel <-chan struct{}) error {
	deadline := time.Now().Add(s.readyTimeout)
	delay := 2 * time.Millisecond
	var exited chan struct{}
	if p != nil {
		exited = p.exited
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
		if resp, err := s.probe.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("funchost: worker did not answer GET %s/ within %s; it must listen on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT", base, s.readyTimeout)
			if p != nil {
				msg += "; stderr tail:\n" + p.tail.String()
			}
			return errors.New(msg)
		}
		select {
		case <-exited:
			return fmt.Errorf("funchost: worker exited before it was ready (%s); stderr tail:\n%s", exitText(p.err), p.tail.String())
		case <-cancel:
			return errWorkerStopped
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// terminate asks the process to stop, then kills it.
func (p *workerProc) terminate() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// freePort asks the kernel for an unused loopback port, as the host does.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lineWriter passes worker output through to the host's output one prefixed
// line at a time, keeping stderr's tail for start-up errors.
type lineWriter struct {
	s      *supervisor
	prefix string
	tail   *tailBuffer
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	if w.tail != nil {
		w.tail.Write(p)
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a runaway line without newline
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
	if len(w.buf) == 0 {
		w.buf = nil
	}
	return len(p), nil
}

func (w *lineWriter) emit(line []byte) {
	w.s.outMu.Lock()
	defer w.s.outMu.Unlock()
	out := make([]byte, 0, len(w.prefix)+len(line)+1)
	out = append(append(append(out, w.prefix...), bytes.TrimSuffix(line, []byte("\r"))...), '\n')
	_, _ = w.s.out.Write(out)
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}

// defaultOutput is where worker output goes when Options.Output is nil.
var defaultOutput io.Writer = os.Stderr
