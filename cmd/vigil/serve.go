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
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"vigil/handlers"
	"vigil/internal/app"
	"vigil/internal/catalog"
	"vigil/internal/clock"
	"vigil/internal/cosmos"
	"vigil/internal/localbus"
	"vigil/internal/notify"
	"vigil/internal/servicebus"
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
	// App Service sets these: the site's name, and "True" while App Service
	// Authentication is enabled.
	envSiteName    = "WEBSITE_SITE_NAME"
	envAuthEnabled = "WEBSITE_AUTH_ENABLED"
	envNotifySend  = "VIGIL_NOTIFY_SEND"
	// envAlertSignIn, "1", makes the Azure Monitor intake require an Entra ID
	// token (Terraform sets it with the secure webhook).
	envAlertSignIn = "VIGIL_ALERT_REQUIRE_SIGNIN"
	// envStatuspageURL replaces Statuspage's API base URL (a test server).
	envStatuspageURL = "VIGIL_STATUSPAGE_URL"
	// envLocalACSToken, under vigil local only, is the bearer token sent to
	// ACS_ENDPOINT (a test server) instead of an Entra ID sign-in.
	envLocalACSToken = "VIGIL_LOCAL_ACS_TOKEN"

	// Cosmos DB, named the way Functions apps name identity-based connections.
	envCosmosEndpoint = "CosmosDB__accountEndpoint"
	envCosmosClientID = "CosmosDB__clientId"
	envCosmosDatabase = "CosmosDB__databaseName"
)

// signInFromEnv says which sign-in names responders. Under `vigil local`
// (its embedded queue, on loopback) a developer names themselves; in App
// Service, Easy Auth when the platform says it is enabled; else none, since
// identity headers are only stripped from clients while Easy Auth is on.
// App Service's own settings (WEBSITE_SITE_NAME) rule out the local one.
func signInFromEnv(getenv func(string) string) handlers.SignIn {
	switch {
	case getenv(envBusURL) != "" && getenv(envDev) == "1" && getenv(envSiteName) == "":
		return handlers.SignInLocal
	case strings.EqualFold(getenv(envAuthEnabled), "true"):
		return handlers.SignInEasyAuth
	}
	return handlers.SignInNone
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args, stderr, stderr); err != nil {
		return err
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

	// A test clock is honoured under vigil local only (its embedded queue).
	clk := clock.Wall
	if os.Getenv(envBusURL) != "" {
		if clk, err = clock.FromEnv(ctx); err != nil {
			return err
		}
	}
	srv := &handlers.Server{App: svc, Now: clk.Now, Log: log, RequireAlertSignIn: os.Getenv(envAlertSignIn) == "1", SignIn: signInFromEnv(os.Getenv)}
	if srv.SignIn == handlers.SignInNone {
		log.Warn("responder routes are refused: App Service Authentication is not enabled (" + envAuthEnabled + " is not true)")
	}
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
func serviceFromEnv(log *slog.Logger) (*app.App, handlers.OutboxLister, func(), error) {
	if names := unresolvedKeyVaultRefs(os.Environ()); len(names) > 0 {
		return nil, nil, nil, fmt.Errorf("%s still hold Key Vault references the platform did not resolve: "+
			"the app's identity needs Key Vault Secrets User on the vault, and the secret must exist; "+
			"once it has, restart the app (a new role assignment can take minutes to be in force)", strings.Join(names, ", "))
	}
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

	// The embedded store: the whole store of local runs, and the outbox (the
	// notification channel until real ones are configured) wherever it is set.
	var local *sqlitestore.Store
	if dataDir := os.Getenv(envDataDir); dataDir != "" {
		if local, err = sqlitestore.Open(filepath.Join(dataDir, "store.db")); err != nil {
			return nil, nil, nil, err
		}
	}
	closeAll := func() {
		if local != nil {
			local.Close()
		}
	}
	var store app.Store
	switch {
	case os.Getenv(envCosmosEndpoint) != "":
		if store, err = cosmosFromEnv(log); err != nil {
			closeAll()
			return nil, nil, nil, err
		}
	case local != nil:
		store = local
	default:
		return nil, nil, nil, fmt.Errorf("no store configured: set %s (Cosmos DB) or %s (embedded store)", envCosmosEndpoint, envDataDir)
	}
	var queue app.Sender
	sb, ok, err := servicebus.FromSettings(os.Getenv)
	switch {
	case err != nil:
		closeAll()
		return nil, nil, nil, err
	case ok:
		queue = sb
		prev := closeAll
		closeAll = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = sb.Close(ctx)
			prev()
		}
	case os.Getenv(envBusURL) != "":
		queue = &localbus.Client{URL: os.Getenv(envBusURL), Token: os.Getenv(envBusToken)}
	default:
		closeAll()
		return nil, nil, nil, fmt.Errorf("no queue configured: set %s (Service Bus) or %s and %s (the embedded queue)",
			servicebus.SettingNamespace, envBusURL, envBusToken)
	}

	public := strings.TrimSuffix(os.Getenv(envPublicURL), "/")
	if public == "" {
		public = "http://127.0.0.1:7071"
	}
	cfg := app.Config{Store: store, Queue: queue, Catalog: cat, Signer: signer, PublicURL: public, Log: log, RetryAfter: notify.RetryAfter}
	router, channels, err := notifierFromEnv(local)
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	cfg.Notifier = router
	if cfg.Publishers, err = publishersFromEnv(cat, local != nil); err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	throttle, err := notify.NewThrottle(nil)
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	cfg.Throttle = throttle
	log.Info("notification channels", "channels", channels, "outbox", local != nil, "statusPublishers", len(cfg.Publishers))
	svc := app.New(cfg)
	var outbox handlers.OutboxLister
	if local != nil {
		outbox = local
	}
	return svc, outbox, closeAll, nil
}

// notifierFromEnv builds the notification router. Under `vigil local` every
// notification is recorded in the outbox and, only when VIGIL_NOTIFY_SEND=1,
// also sent on the configured channels: a developer's run never pages real
// people by accident. E-mail and SMS sign in to Azure Communication Services
// with the app's managed identity (AZURE_CLIENT_ID picks a user-assigned one).
func notifierFromEnv(local *sqlitestore.Store) (*notify.Router, []string, error) {
	var opts []notify.Option
	var cred azcore.TokenCredential
	if local != nil {
		if os.Getenv(envNotifySend) != "1" {
			return notify.NewRouter(notify.OutboxOnly(local)), []string{"outbox"}, nil
		}
		// A developer's run may send to test servers on this machine
		// (plain HTTP), and sign in to them with a fixed token.
		opts = append(opts, notify.OutboxCopy(local), notify.WithChannelOptions(notify.WithInsecureHTTP()))
		if tok := os.Getenv(envLocalACSToken); tok != "" {
			cred = fixedToken(tok)
		}
	}
	if os.Getenv(notify.SettingACSEndpoint) != "" && cred == nil {
		c, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, nil, fmt.Errorf("Azure Communication Services credential: %w", err)
		}
		cred = c
	}
	return notify.FromSettings(os.Getenv, cred, opts...)
}

// fixedToken is a credential that always gives one bearer token: under `vigil
// local` only, for a test server standing in for Azure Communication Services.
type fixedToken string

func (t fixedToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// unresolvedKeyVaultRefs lists the settings whose value is still a Key Vault
// reference: App Service replaces a reference by the secret when it can read
// it, and leaves the reference text when it cannot.
func unresolvedKeyVaultRefs(environ []string) []string {
	var names []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(strings.TrimSpace(value), "@Microsoft.KeyVault(") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// publishersFromEnv builds the status publishers vigil.yaml configures, their
// secrets read from the settings the catalog names (Key Vault references in
// Azure): a status webhook's URL in its urlSetting, its own signing key in
// the same name followed by _SIGNING_KEY. A configured publisher whose
// setting is missing stops start-up:
// updates would otherwise silently go nowhere. Under `vigil local` they are
// built only with VIGIL_NOTIFY_SEND=1 (updates still reach linked cases);
// VIGIL_STATUSPAGE_URL points Statuspage at a test server.
func publishersFromEnv(cat *catalog.Catalog, local bool) (map[string]app.StatusPublisher, error) {
	if local && os.Getenv(envNotifySend) != "1" {
		return nil, nil
	}
	get := func(name string) string { return strings.TrimSpace(os.Getenv(name)) }
	var opts []notify.ChannelOption
	if base := get(envStatuspageURL); base != "" {
		opts = append(opts, notify.WithBaseURL(base))
		if local {
			opts = append(opts, notify.WithInsecureHTTP())
		}
	}
	out := map[string]app.StatusPublisher{}
	cfg := cat.StatusPublishing
	if sp := cfg.Statuspage; sp != nil {
		key := get(sp.APIKeySetting)
		if key == "" {
			return nil, fmt.Errorf("%s is not set: vigil.yaml publishes to Statuspage page %s with the API key it holds", sp.APIKeySetting, sp.PageID)
		}
		p, err := notify.NewStatuspage(sp.PageID, key, sp.Components, opts...)
		if err != nil {
			return nil, fmt.Errorf("statusPublishing.statuspage: %w", err)
		}
		out["statuspage"] = p
	}
	for _, w := range cfg.Webhooks {
		u := get(w.URLSetting)
		if u == "" {
			return nil, fmt.Errorf("%s is not set: it holds the URL of status webhook %s", w.URLSetting, w.ID)
		}
		keySetting := notify.WebhookKeySetting(w.URLSetting)
		text := get(keySetting)
		if text == "" {
			return nil, fmt.Errorf("%s is not set: it holds the signing key of status webhook %s (each receiver has its own)", keySetting, w.ID)
		}
		keys, err := notify.ParseWebhookKeys(text)
		if err != nil {
			return nil, fmt.Errorf("%s %w", keySetting, err)
		}
		var hookOpts []notify.ChannelOption
		if local {
			hookOpts = append(hookOpts, notify.WithInsecureHTTP())
		}
		h, err := notify.NewStatusHook(u, keys, hookOpts...)
		if err != nil {
			return nil, fmt.Errorf("statusPublishing.webhooks %s (%s): %w", w.ID, w.URLSetting, err)
		}
		out[w.ID] = h
	}
	return out, nil
}

// cosmosFromEnv opens the Cosmos DB store named by the app settings, signed in
// with the app's managed identity (CosmosDB__clientId picks a user-assigned
// one), or DefaultAzureCredential off Azure. There is no account key setting:
// the account has local authentication disabled.
func cosmosFromEnv(log *slog.Logger) (*cosmos.Store, error) {
	endpoint := os.Getenv(envCosmosEndpoint)
	var cred azcore.TokenCredential
	var err error
	if id := os.Getenv(envCosmosClientID); id != "" {
		cred, err = azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(id)})
	} else {
		cred, err = azidentity.NewDefaultAzureCredential(nil)
	}
	if err != nil {
		return nil, fmt.Errorf("Cosmos DB credential: %w", err)
	}
	client, err := azcosmos.NewClient(endpoint, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envCosmosEndpoint, err)
	}
	db := os.Getenv(envCosmosDatabase)
	if db == "" {
		db = "vigil"
	}
	return cosmos.New(client, db, log)
}
