// Package funchost plays the Azure Functions host on one machine for `vigil
// local`: it reads host.json and functions/*/function.json, starts the custom
// handler as the real host does, and drives every function through the same
// custom-handler protocol and envelopes as Azure — HTTP triggers on
// /api/..., Service Bus queue triggers on the embedded queue, timer triggers
// on their NCRONTAB schedules. It carries only what the app's function.json
// files use, and refuses the rest by name. docs/host-contract.md lists the
// host behaviour it relies on.
package funchost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"vigil/internal/localbus"
)

// Queue is what the host needs from the embedded Service Bus. Queues named
// by triggers must exist (declared with the options the infrastructure gives
// them) before Run, which refuses to start otherwise; Functions lists them.
type Queue interface {
	Receive(ctx context.Context, entity string, max int) ([]*localbus.Delivery, error)
	Complete(ctx context.Context, d *localbus.Delivery) error
	Abandon(ctx context.Context, d *localbus.Delivery, reason string) error
	RenewLock(ctx context.Context, d *localbus.Delivery) error
	Exists(entity string) (bool, error)
}

// Options configure a Host.
type Options struct {
	AppDir string // holds host.json and functions/
	Addr   string // HTTP listen address; default "127.0.0.1:7071"
	Bus    Queue  // required when any function uses Service Bus

	// Command and Args start the custom handler. They default to host.json's
	// customHandler.description (defaultExecutablePath, resolved relative to
	// AppDir, and arguments); a caller may set Command to os.Executable().
	Command string
	Args    []string
	Env     []string // extra worker environment (app settings), "KEY=value"
	// WorkerURL, when set, names a handler already listening there: no
	// process is started (tests).
	WorkerURL string

	// LocalIdentity passes the X-MS-CLIENT-PRINCIPAL* headers a caller sends
	// on to the functions: the local stand-in for a sign-in. Without it they
	// are stripped, as App Service Authentication strips a caller's copies.
	LocalIdentity bool
	// DevPages serves /dev/ from the worker (developer pages); without it
	// /dev/ is not found.
	DevPages bool

	Logger *slog.Logger     // one line per invocation; default: discard
	Output io.Writer        // worker stdout/stderr pass-through; default os.Stderr
	Now    func() time.Time // default time.Now
	// After waits d on the Now clock (timer triggers); default time.NewTimer.
	After func(d time.Duration) (fire <-chan time.Time, stop func() bool)
}

// Function describes one served function, for the start-up banner.
type Function struct {
	Name      string
	Trigger   string   // "http", "serviceBus" or "timer"
	Route     string   // http: "/api/cases/{id}"
	Methods   []string // http: upper case; empty means every method
	AuthLevel string   // http: as in function.json; not enforced locally
	Entity    string   // serviceBus: the queue
	Schedule  string   // timer: 6-field NCRONTAB
}

// Host runs one function app.
type Host struct {
	opts   Options
	cfg    hostConfig
	fns    []*function
	routes []*function // httpTriggers, most specific route first
	queue  Queue
	log    *slog.Logger
	now    func() time.Time

	transport *http.Transport
	client    *http.Client
	worker    *supervisor

	// Settable by tests in this package.
	readyTimeout time.Duration
	drainTimeout time.Duration
	// bodyLimit bounds an HTTP request body (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT).
	bodyLimit int64
	// timerAfter waits d for the named timer function; stop cancels the wait.
	timerAfter func(function string, d time.Duration) (fire <-chan time.Time, stop func() bool)

	running atomic.Bool
	ready   chan struct{}
	addr    atomic.Pointer[string]

	// workCtx is cancelled when shutdown stops waiting: invocations still
	// running then fail (and their messages are abandoned).
	workCtx    context.Context
	cancelWork context.CancelFunc
	inflight   sync.WaitGroup

	warnChunked     sync.Once
	warnMissingHTTP sync.Once
}

// Shutdown waits this long for in-flight invocations.
const defaultDrainTimeout = 5 * time.Second

// New loads and validates the app. Its errors name the function and binding
// that vigil local cannot run as Azure would.
func New(o Options) (*Host, error) {
	if o.AppDir == "" {
		return nil, errors.New("funchost: Options.AppDir is required")
	}
	appDir, err := filepath.Abs(o.AppDir)
	if err != nil {
		return nil, fmt.Errorf("funchost: %w", err)
	}
	o.AppDir = appDir
	if o.Addr == "" {
		o.Addr = "127.0.0.1:7071"
	}
	cfg, err := loadHostConfig(appDir)
	if err != nil {
		return nil, err
	}
	fns, err := loadFunctions(appDir)
	if err != nil {
		return nil, err
	}
	limit, err := bodyLimit(o.Env)
	if err != nil {
		return nil, err
	}
	for _, fn := range fns {
		if o.Bus == nil && fn.trigger == kindServiceBus {
			return nil, fmt.Errorf("funchost: function %q uses Service Bus but Options.Bus is nil", fn.name)
		}
	}

	h := &Host{
		opts:         o,
		cfg:          cfg,
		fns:          fns,
		queue:        o.Bus,
		log:          o.Logger,
		now:          o.Now,
		readyTimeout: defaultReadyTimeout,
		drainTimeout: defaultDrainTimeout,
		bodyLimit:    limit,
		timerAfter:   realTimerAfter,
		ready:        make(chan struct{}),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if o.After != nil {
		h.timerAfter = func(_ string, d time.Duration) (<-chan time.Time, func() bool) { return o.After(d) }
	}
	for _, fn := range fns {
		if fn.trigger == kindHTTP {
			h.routes = append(h.routes, fn)
		}
	}
	slices.SortStableFunc(h.routes, func(a, b *function) int {
		switch {
		case a.route.before(b.route):
			return -1
		case b.route.before(a.route):
			return 1
		}
		return 0
	})

	// One transport for every call to the worker: keep-alive connections are
	// what keeps the worker hop cheap on the intake path.
	h.transport = localbus.NewLoopbackTransport()
	h.client = &http.Client{
		Transport: h.transport,
		// The host does follow redirects, but a handler redirecting an
		// invocation is a bug worth seeing as the 3xx it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	sup := &supervisor{
		log:       h.log,
		out:       o.Output,
		appDir:    appDir,
		fixedURL:  strings.TrimSuffix(o.WorkerURL, "/"),
		transport: h.transport,
	}
	if sup.out == nil {
		sup.out = defaultOutput
	}
	if o.WorkerURL == "" {
		cmd := o.Command
		if cmd == "" {
			if cfg.executable == "" {
				return nil, errors.New("funchost: host.json has no customHandler.description.defaultExecutablePath and Options.Command is empty")
			}
			cmd = cfg.executable
			if !filepath.IsAbs(cmd) {
				cmd = filepath.Join(appDir, cmd)
			}
		}
		sup.path = cmd
		sup.args = o.Args
		if sup.args == nil {
			sup.args = cfg.arguments
		}
		sup.dir = appDir
		sup.env = append(os.Environ(), o.Env...)
	}
	h.worker = sup
	return h, nil
}

// Ready is closed once the host listens and the worker is ready.
func (h *Host) Ready() <-chan struct{} { return h.ready }

// Addr is the address the host listens on, once Ready (before: Options.Addr).
func (h *Host) Addr() string {
	if a := h.addr.Load(); a != nil {
		return *a
	}
	return h.opts.Addr
}

// Run starts the worker, waits until it is ready, then serves HTTP triggers,
// pumps Service Bus triggers and runs timers until ctx ends. Shutdown is
// graceful: no new work is taken, in-flight invocations get a few seconds to
// finish (the rest fail, their messages abandoned), then the worker is stopped.
func (h *Host) Run(ctx context.Context) error {
	if !h.running.CompareAndSwap(false, true) {
		return errors.New("funchost: Run called twice")
	}
	if err := h.checkTriggerEntities(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", h.opts.Addr)
	if err != nil {
		return fmt.Errorf("funchost: listen on %s: %w", h.opts.Addr, err)
	}
	addr := ln.Addr().String()
	h.addr.Store(&addr)

	h.worker.readyTimeout = h.readyTimeout
	h.worker = newSupervisor(h.worker)
	if err := h.worker.start(ctx); err != nil {
		ln.Close()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	go h.worker.supervise()
	defer h.worker.stop()

	h.workCtx, h.cancelWork = context.WithCancel(context.WithoutCancel(ctx))
	defer h.cancelWork()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()

	srv := &http.Server{
		Handler:           http.HandlerFunc(h.serveHTTP),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	var loops sync.WaitGroup
	for _, fn := range h.fns {
		switch fn.trigger {
		case kindServiceBus:
			loops.Go(func() { h.pump(runCtx, fn) })
		case kindTimer:
			loops.Go(func() { h.runTimer(runCtx, fn) })
		}
	}
	if h.anyKeyedFunction() {
		h.log.Info("function keys (authLevel function/admin) are not enforced locally, as with the Core Tools")
	}
	close(h.ready)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
		runErr = fmt.Errorf("funchost: serve: %w", runErr)
	}
	stopRun()

	// Drain: stop taking requests and messages, give in-flight work a few
	// seconds, then fail what is left.
	drain, cancelDrain := context.WithTimeout(context.WithoutCancel(ctx), h.drainTimeout)
	defer cancelDrain()
	var shut sync.WaitGroup
	shut.Go(func() {
		if srv.Shutdown(drain) != nil {
			srv.Close()
		}
	})
	loops.Wait()
	idle := make(chan struct{})
	go func() { h.inflight.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-drain.Done():
		h.log.Warn("shutdown: in-flight invocations did not finish in time; failing them", "waited", h.drainTimeout)
		h.cancelWork()
		<-idle
	}
	shut.Wait()
	return runErr
}

// checkTriggerEntities refuses to run a serviceBusTrigger whose queue the
// embedded queue does not have: Azure would not start such a
// function either, and its pump would only log receive errors. (New does not
// check: callers may declare entities after New, from Functions.)
func (h *Host) checkTriggerEntities() error {
	var errs []error
	for _, fn := range h.fns {
		if fn.trigger != kindServiceBus {
			continue
		}
		ok, err := h.queue.Exists(fn.entity)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("funchost: function %q: checking its trigger's entity %q: %w", fn.name, fn.entity, err))
		case !ok:
			errs = append(errs, fmt.Errorf("funchost: function %q is triggered by Service Bus queue %q, which is not declared on the embedded queue (declare it before Run)", fn.name, fn.entity))
		}
	}
	return errors.Join(errs...)
}

// invocationContext bounds an invocation by functionTimeout.
func (h *Host) invocationContext(parent context.Context) (context.Context, context.CancelFunc) {
	if h.cfg.functionTimeout > 0 {
		return context.WithTimeout(parent, h.cfg.functionTimeout)
	}
	return context.WithCancel(parent)
}

func (h *Host) anyKeyedFunction() bool {
	for _, fn := range h.fns {
		if fn.trigger == kindHTTP && fn.authLevel != "" && fn.authLevel != "anonymous" {
			return true
		}
	}
	return false
}

// Functions lists what the host serves, sorted by name.
func (h *Host) Functions() []Function {
	out := make([]Function, 0, len(h.fns))
	for _, fn := range h.fns {
		f := Function{Name: fn.name}
		switch fn.trigger {
		case kindHTTP:
			f.Trigger = "http"
			f.Route = h.routePath(fn)
			f.Methods = slices.Clone(fn.methods)
			f.AuthLevel = fn.authLevel
		case kindServiceBus:
			f.Trigger = "serviceBus"
			f.Entity = fn.entity
		case kindTimer:
			f.Trigger = "timer"
			f.Schedule = fn.scheduleExpr
		}
		out = append(out, f)
	}
	return out
}

func (h *Host) routePath(fn *function) string {
	if h.cfg.routePrefix == "" {
		return "/" + fn.route.template
	}
	return "/" + h.cfg.routePrefix + "/" + fn.route.template
}

// Describe prints the start-up banner: every function with its route, queue
// or schedule, and the note that function keys are not enforced locally.
func (h *Host) Describe(w io.Writer) {
	base := "http://" + h.Addr()
	fmt.Fprintf(w, "Functions in %s:\n", h.opts.AppDir)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	keyed := false
	for _, f := range h.Functions() {
		var what, where string
		switch f.Trigger {
		case "http":
			what = "ANY"
			if len(f.Methods) > 0 {
				what = strings.Join(f.Methods, ",")
			}
			where = base + f.Route
			if f.AuthLevel != "" && f.AuthLevel != "anonymous" {
				where += "  (authLevel " + f.AuthLevel + ")"
				keyed = true
			}
		case "serviceBus":
			what, where = "queue", f.Entity
		case "timer":
			what, where = "schedule", f.Schedule+" (UTC)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.Name, f.Trigger, what, where)
	}
	tw.Flush()
	if keyed {
		fmt.Fprintln(w, "Function keys are not enforced locally (as with the Core Tools); in Azure these routes need ?code= or x-functions-key.")
	}
}
