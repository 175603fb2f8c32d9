package main

import (
	"context"
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

	"vigil/handlers"
	"vigil/internal/app"
	"vigil/internal/catalog"
	"vigil/internal/localbus"
	"vigil/internal/signedlink"
	"vigil/internal/sqlitestore"
)

// Settings the handler reads. In Azure they are app settings (set by Terraform);
// under `vigil local` the local host sets them for its child.
const (
	envPort       = "FUNCTIONS_CUSTOMHANDLER_PORT"
	envAppRoot    = "FUNCTIONS_APP_ROOT_PATH"
	envConfig     = "VIGIL_CONFIG"
	envDataDir    = "VIGIL_DATA_DIR"
	envBusURL     = "VIGIL_LOCAL_BUS_URL"
	envBusToken   = "VIGIL_LOCAL_BUS_TOKEN"
	envSigningKey = "VIGIL_SIGNING_KEY"
	envPublicURL  = "VIGIL_PUBLIC_URL"
	envDev        = "VIGIL_DEV"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	port := os.Getenv(envPort)
	if port == "" {
		return fmt.Errorf("%s is not set: `vigil serve` is started by the Functions host (or `vigil local`)", envPort)
	}
	svc, outbox, closeAll, err := serviceFromEnv(log)
	if err != nil {
		return err
	}
	defer closeAll()

	srv := &handlers.Server{App: svc, Now: time.Now, Log: log}
	if os.Getenv(envDev) == "1" && outbox != nil {
		srv.Dev = handlers.DevPages(outbox)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", port, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("vigil serve listening", "addr", ln.Addr().String(), "version", version)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serviceFromEnv builds the application from settings, naming any setting that is
// missing or wrong.
func serviceFromEnv(log *slog.Logger) (*app.Service, handlers.OutboxLister, func(), error) {
	cfgPath := os.Getenv(envConfig)
	if cfgPath == "" {
		cfgPath = "vigil.yaml"
	}
	if !filepath.IsAbs(cfgPath) {
		if root := os.Getenv(envAppRoot); root != "" {
			cfgPath = filepath.Join(root, cfgPath)
		}
	}
	cat, err := catalog.Load(cfgPath)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("catalog %s:\n%w", cfgPath, err)
	}
	keyText := os.Getenv(envSigningKey)
	if keyText == "" {
		return nil, nil, nil, fmt.Errorf("%s is not set: a base64 secret of at least 32 bytes (in Azure, a Key Vault reference)", envSigningKey)
	}
	key, err := signedlink.ParseKey(keyText)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", envSigningKey, err)
	}
	signer, err := signedlink.New(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", envSigningKey, err)
	}

	dataDir := os.Getenv(envDataDir)
	if dataDir == "" {
		return nil, nil, nil, fmt.Errorf("no store configured: set %s to use the embedded store", envDataDir)
	}
	store, err := sqlitestore.Open(filepath.Join(dataDir, "store.db"))
	if err != nil {
		return nil, nil, nil, err
	}
	busURL := os.Getenv(envBusURL)
	if busURL == "" {
		store.Close()
		return nil, nil, nil, fmt.Errorf("no queue configured: set %s (and %s) to use the embedded queue", envBusURL, envBusToken)
	}
	queue := &localbus.Client{URL: busURL, Token: os.Getenv(envBusToken)}

	public := strings.TrimSuffix(os.Getenv(envPublicURL), "/")
	if public == "" {
		public = "http://127.0.0.1:7071"
	}
	// The embedded store's outbox is the notification channel of local runs.
	svc := &app.Service{Store: store, Queue: queue, Notifier: store, Catalog: cat, Links: signer, PublicURL: public, Log: log}
	return svc, store, func() { store.Close() }, nil
}
