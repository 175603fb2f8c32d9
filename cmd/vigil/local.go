package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vigil/internal/app"
	"vigil/internal/catalog"
	"vigil/internal/clock"
	"vigil/internal/funchost"
	"vigil/internal/localbus"
)

// local runs the whole function app on this machine: the embedded queue, the local
// Functions host, and `vigil serve` as its custom handler, exactly as in Azure.
func local(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7071", "address to serve the app on")
	data := fs.String("data", ".vigil", "data directory (embedded store and queue)")
	config := fs.String("config", "vigil.yaml", "catalog file")
	appDir := fs.String("app", ".", "app directory holding host.json and functions/")
	expose := fs.Bool("expose", false, "allow an --addr other machines reach; the local identity header and /dev pages are then off")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if !*expose && !loopback(*addr) {
		return fmt.Errorf("--addr %s is not a loopback address: vigil local trusts the X-MS-CLIENT-PRINCIPAL-NAME a caller sends and serves /dev/outbox, with live acknowledge links, to whoever reaches it; "+
			"use 127.0.0.1, or pass --expose to serve there with both turned off", *addr)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	dirs, err := absAll(*data, *config, *appDir)
	if err != nil {
		return err
	}
	dataDir, configPath, appPath := dirs[0], dirs[1], dirs[2]
	if _, err := os.Stat(filepath.Join(appPath, "host.json")); err != nil {
		return fmt.Errorf("no host.json in %s: run from the Vigil checkout or pass --app", appPath)
	}
	// Fail on a bad catalog here, with its problems, rather than in the child.
	if _, err := catalog.Load(configPath); err != nil {
		return fmt.Errorf("%s:\n%w", configPath, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	key, err := localSigningKey(dataDir)
	if err != nil {
		return err
	}

	// One clock for the host, the queue and the handler: the wall clock, or
	// the test clock that end-to-end tests fast-forward.
	clk, err := clock.FromEnv(ctx)
	if err != nil {
		return err
	}
	b, err := localbus.Open(filepath.Join(dataDir, localbus.FileName), localbus.Options{Now: clk.Now, Jumped: clk.Jumped})
	if err != nil {
		return err
	}
	defer b.Close()
	for _, e := range app.Entities {
		err := b.DeclareQueue(e.Name, localbus.EntityOptions{
			LockDuration: e.LockDuration, MaxDeliveryCount: e.MaxDeliveryCount, DuplicateWindow: e.DuplicateWindow,
		})
		if err != nil {
			return fmt.Errorf("declaring queue %s: %w", e.Name, err)
		}
	}
	token := randomToken()
	busLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	busSrv := &http.Server{Handler: localbus.NewHTTPHandler(b, token), ReadHeaderTimeout: 5 * time.Second}
	go busSrv.Serve(busLn)
	defer busSrv.Close()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	env := []string{
		envDataDir + "=" + dataDir,
		envBusURL + "=http://" + busLn.Addr().String(),
		envBusToken + "=" + token,
		envSigningKey + "=" + key,
		envConfig + "=" + configPath,
		envPublicURL + "=http://" + *addr,
		clock.SettingPath + "=" + os.Getenv(clock.SettingPath),
	}
	if *expose {
		env = append(env, envDev+"=") // not even from the caller's environment
	} else {
		env = append(env, envDev+"=1")
	}
	host, err := funchost.New(funchost.Options{
		AppDir:        appPath,
		Addr:          *addr,
		Bus:           b,
		Command:       exe,
		Args:          []string{"serve"},
		Env:           env,
		LocalIdentity: !*expose,
		DevPages:      !*expose,
		Logger:        log,
		Now:           clk.Now,
		After:         clk.After,
	})
	if err != nil {
		return err
	}
	if err := entitiesDeclared(host.Functions()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Vigil local: http://%s  (data in %s, catalog %s)\n", *addr, dataDir, configPath)
	host.Describe(stdout)
	if *expose {
		fmt.Fprintln(stdout, "Exposed (--expose): the X-MS-CLIENT-PRINCIPAL-NAME header is stripped, so responder calls answer 401, and /dev pages are off.")
	} else {
		fmt.Fprintln(stdout, "Responders: send X-MS-CLIENT-PRINCIPAL-NAME yourself (local stand-in for the Entra ID login).")
	}
	err = host.Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// loopback reports whether addr listens on this machine only: a loopback IP
// or "localhost" (an empty host, ":7071", is every interface).
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localSigningKey keeps one random link-signing key per data directory, so that
// case links stay valid across restarts of a local run.
func localSigningKey(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "signing.key")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	text := base64.StdEncoding.EncodeToString(key)
	if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return text, nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func absAll(paths ...string) ([]string, error) {
	out := make([]string, len(paths))
	for i, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// entitiesDeclared refuses to start when a function binds to a queue that
// app.Entities does not list: Terraform would not create it either.
func entitiesDeclared(fns []funchost.Function) error {
	known := make(map[string]bool, len(app.Entities))
	for _, e := range app.Entities {
		known[e.Name] = true
	}
	var errs []error
	for _, f := range fns {
		if f.Entity != "" && !known[f.Entity] {
			errs = append(errs, fmt.Errorf("function %s binds to Service Bus entity %q, which is not in app.Entities (so neither vigil local nor Terraform creates it)", f.Name, f.Entity))
		}
	}
	return errors.Join(errs...)
}
