// Command mediagraph is the GraphQL media API server and its CLI:
//
//	mediagraph serve                      run the server (the default)
//	mediagraph migrate                    apply database migrations
//	mediagraph keys create --org NAME --scopes a,b [--user EMAIL]
//	mediagraph orgs list
//	mediagraph users add --org NAME --email EMAIL --role ROLE
//	mediagraph sweep                      purge expired trash and reconcile storage once
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mediagraph/mediagraph/analyze"
	"github.com/mediagraph/mediagraph/database"
	"github.com/mediagraph/mediagraph/media"
	"github.com/mediagraph/mediagraph/playground"
	"github.com/mediagraph/mediagraph/server"
	"github.com/mediagraph/mediagraph/storage"
)

// devOrg is the organization made on a development server's first start.
const devOrg = "dev"

func main() {
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mediagraph:", err)
		os.Exit(1)
	}
}

// Garbage collector defaults, unless GOGC or GOMEMLIMIT are set: the
// server's live heap is small (tens of MiB) and each request allocates
// much of its size again, so the default GOGC=100 collects very often. At
// 400 a listing costs about a quarter less CPU (docs/BENCHMARKS.md); the
// soft memory limit makes the collector work harder again before the heap
// grows past it (decoding a very large image, say).
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 768 << 20
)

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "keys" || cmd == "orgs" || cmd == "users" {
		if len(args) == 0 {
			return fmt.Errorf("usage: mediagraph %s <command>", cmd)
		}
		cmd, args = cmd+" "+args[0], args[1:]
	}
	m := &Main{Stdout: stdout, Stderr: stderr}
	fs := flag.NewFlagSet("mediagraph "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	m.Config.bind(fs)
	var org, scopes, user, role string
	switch cmd {
	case "keys create":
		fs.StringVar(&org, "org", "", "organization name (created with an OWNER if new)")
		fs.StringVar(&scopes, "scopes", strings.Join(media.AllScopes, ","), "comma-separated scopes")
		fs.StringVar(&user, "user", "", "e-mail of the key's user (default: the organization's owner)")
	case "users add":
		fs.StringVar(&org, "org", "", "organization name")
		fs.StringVar(&user, "email", "", "the user's e-mail")
		fs.StringVar(&role, "role", "MEMBER", "OWNER, ADMIN or MEMBER")
	case "serve", "migrate", "orgs list", "sweep":
	default:
		return fmt.Errorf("unknown command %q; commands: serve, migrate, keys create, orgs list, users add, sweep", cmd)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := m.Config.resolve(); err != nil {
		return err
	}
	if cmd == "serve" {
		return m.Run(ctx)
	}
	m.Config.Dev = "false" // the CLI never bootstraps a dev organization
	if err := m.Open(ctx); err != nil {
		return err
	}
	defer m.Close()
	switch cmd {
	case "migrate":
		return nil // Open migrated
	case "keys create":
		if org == "" {
			return errors.New("--org is required")
		}
		key, _, err := m.Service.Bootstrap(ctx, org, user, strings.Split(scopes, ","))
		if err != nil {
			return errors.New(media.ErrorMessage(err))
		}
		fmt.Fprintln(stdout, key.Key)
		fmt.Fprintf(stderr, "created key %s (%s) for %s; it is not shown again\n", key.APIKey.ID, strings.Join(key.APIKey.Scopes, ","), org)
	case "orgs list":
		orgs, err := m.Service.Organizations(ctx)
		if err != nil {
			return err
		}
		for _, o := range orgs {
			fmt.Fprintf(stdout, "%s\t%s\n", o.ID, o.Name)
		}
	case "users add":
		u, err := m.Service.BootstrapUser(ctx, org, user, media.Role(strings.ToUpper(role)))
		if err != nil {
			return errors.New(media.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", u.ID, u.Email, u.Role)
	case "sweep":
		r, err := m.Service.Sweep(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "purged %d files, removed %d abandoned blobs and %d orphan objects, expired %d upload sessions, aborted %d stray multipart uploads; %d blobs missing their bytes; skipped: %v\n",
			r.Purged, r.Abandoned, r.Orphans, r.ExpiredSessions, r.StrayUploads, len(r.Missing), r.Skipped)
	}
	return nil
}

// Main is the running program: its configuration and the parts it wired.
// End-to-end tests start it on 127.0.0.1:0.
type Main struct {
	Config Config
	Stdout io.Writer
	Stderr io.Writer

	Logger *slog.Logger
	DB     *database.DB
	// Blobs is the object store itself; the Service writes through it
	// instrumented (storage.Instrument).
	Blobs   media.Blobs
	Service *media.Service
	// Registry holds the metrics /metrics serves.
	Registry *prometheus.Registry
	// Tracing is the tracer provider, nil when tracing is off.
	Tracing  *sdktrace.TracerProvider
	Listener net.Listener
	HTTP     *http.Server
	// MetricsListener serves /metrics when MetricsAddr is set.
	MetricsListener net.Listener
	// DevKey is the development key, when the server runs in dev mode and knows it.
	DevKey string

	// server is the HTTP handler; stopBackground ends the event hub and
	// webhook delivery that Listen started, and background waits for them
	// (an attempt in flight is recorded before the database closes).
	server         *server.Server
	stopBackground context.CancelFunc
	background     sync.WaitGroup

	sweepMetrics struct {
		purged, orphans, abandoned, expired, stray prometheus.Counter
		missing, lastRun                           prometheus.Gauge
		sweeps                                     *prometheus.CounterVec
		duration                                   prometheus.Histogram
	}
}

// Open connects the database (migrating it), the object store and the service.
func (m *Main) Open(ctx context.Context) error {
	m.Logger = newLogger(m.Config, m.Stderr)
	if err := m.openTracing(ctx); err != nil {
		return err
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil && m.needsDataDir() {
		return fmt.Errorf("data folder: %w", err)
	}
	db, err := database.Open(ctx, m.Config.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	m.DB = db
	if m.Tracing != nil {
		db.Trace(m.Tracing)
	}
	if m.Config.Migrate {
		applied, err := db.Migrate(ctx)
		if err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		for _, v := range applied {
			m.Logger.Info("applied migration", "version", v)
		}
	}
	secret, err := m.signingSecret()
	if err != nil {
		return err
	}
	var storageOpts []storage.Option
	if m.Tracing != nil {
		storageOpts = append(storageOpts, storage.WithTracerProvider(m.Tracing))
	}
	blobs, err := storage.Open(ctx, m.Config.StorageURL, secret, storageOpts...)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if d, ok := blobs.(*storage.Disk); ok {
		d.SetBaseURL(m.Config.PublicURL)
	}
	m.Blobs = blobs
	cfg := media.DefaultConfig()
	cfg.MaxUploadSize, cfg.MaxImagePixels = m.Config.MaxUploadSize, m.Config.MaxImagePixels
	cfg.PublicURL, cfg.SigningSecret = m.Config.PublicURL, secret
	cfg.SessionTTL, cfg.ThumbnailWorkers = m.Config.SessionTTL, m.Config.ThumbnailWorkers
	if m.Config.CleanupAge > 0 {
		cfg.CleanupAge = m.Config.CleanupAge
	}
	cfg.EventRetention = m.Config.EventRetention
	cfg.Webhooks.AllowNetworks = m.Config.allowNetworks
	if m.Config.tuneMedia != nil {
		m.Config.tuneMedia(&cfg)
	}
	m.Registry = m.metrics()
	var storageTracer trace.Tracer
	if m.Tracing != nil {
		storageTracer = m.Tracing.Tracer("github.com/mediagraph/mediagraph/storage")
	}
	m.Service = media.NewService(db, storage.Instrument(blobs, m.Registry, storageTracer), cfg, m.Logger)
	if m.Tracing != nil {
		m.Service.Tracer = m.Tracing.Tracer("github.com/mediagraph/mediagraph/media")
	}
	m.Service.Analyzer = analyze.New(analyze.Config{MaxPixels: m.Config.MaxImagePixels, FFprobe: m.Config.FFprobe,
		Workers: m.Config.ThumbnailWorkers})

	return nil
}

func (m *Main) needsDataDir() bool {
	return !strings.HasPrefix(m.Config.DatabaseURL, "postgres") || !strings.HasPrefix(m.Config.StorageURL, "s3:")
}

// signingSecret returns the configured secret; in dev mode one is generated
// once and kept in the data folder.
func (m *Main) signingSecret() ([]byte, error) {
	if m.Config.SigningSecret != "" {
		return []byte(m.Config.SigningSecret), nil
	}
	path := filepath.Join(m.Config.DataDir, "signing-secret")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := []byte(hex.EncodeToString(b[:]))
	if !m.Config.dev() {
		m.Logger.Warn("MEDIAGRAPH_SIGNING_SECRET is not set: signed URLs work on this process only; set it to the same value on every replica")
		return secret, nil
	}
	return secret, os.WriteFile(path, secret, 0o600)
}

// Run opens everything, listens and serves until ctx ends.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Open(ctx); err != nil {
		return err
	}
	defer m.Close()
	if m.Config.dev() {
		if err := m.devKey(ctx); err != nil {
			return err
		}
	}
	if err := m.Listen(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- m.Serve() }()
	if m.Config.SweepInterval > 0 {
		go m.sweepLoop(ctx, m.Config.SweepInterval)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.HTTP.Shutdown(shutdown)
}

// Listen opens the listener and builds the HTTP server.
func (m *Main) Listen() error {
	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return err
	}
	m.Listener = ln
	if strings.HasSuffix(m.Config.PublicURL, ":0") { // a test server on a free port
		m.Config.PublicURL = "http://" + ln.Addr().String()
		m.Service.Config.PublicURL = m.Config.PublicURL
		if d, ok := m.Blobs.(*storage.Disk); ok {
			d.SetBaseURL(m.Config.PublicURL)
		}
	}
	scfg := server.DefaultConfig()
	scfg.Dev = m.Config.dev()
	scfg.MaxBodyBytes, scfg.MaxUploadMemory, scfg.MaxUploadFiles = m.Config.MaxBodyBytes, m.Config.MaxUploadMemory, m.Config.MaxUploadFiles
	scfg.MaxUploadBytes = m.Config.MaxUploadSize + 10<<20 // room for the other parts
	if m.Config.LoaderWait > 0 {
		scfg.LoaderWait = m.Config.LoaderWait
	}
	if m.Config.BodyIdleTimeout > 0 {
		scfg.BodyIdleTimeout = m.Config.BodyIdleTimeout
	}
	reg := m.Registry
	switch {
	case m.Config.MetricsAddr != "":
		if err := m.listenMetrics(reg); err != nil {
			return err
		}
	case m.Config.MetricsToken != "":
		scfg.MetricsToken = m.Config.MetricsToken
	case loopbackAddr(m.Config.Addr):
		scfg.MetricsPublic = true
	default:
		m.Logger.Warn("/metrics is not served: the listen address is not a loopback one; set MEDIAGRAPH_METRICS_ADDR or MEDIAGRAPH_METRICS_TOKEN")
	}
	opts := server.Options{Registry: reg}
	if m.Tracing != nil {
		opts.TracerProvider = m.Tracing
	}
	if h, ok := m.Blobs.(http.Handler); ok {
		opts.Blobs = h
	}
	if scfg.Dev {
		opts.Playground = devPlayground(m.DevKey)
	}
	scfg.WebsocketOrigins = splitList(m.Config.WebsocketOrigins)
	scfg.TrustedProxies = m.Config.trustedProxies
	if m.Config.tuneServer != nil {
		m.Config.tuneServer(&scfg)
	}
	m.server = server.New(m.Service, scfg, m.Logger, opts)
	m.HTTP = &http.Server{
		Handler:           m.server,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	// Events reach this process's subscribers, and webhooks are
	// delivered, until Close.
	bg, stop := context.WithCancel(context.Background())
	m.stopBackground = stop
	m.background.Go(func() { m.Service.RunEvents(bg) })
	m.background.Go(func() { m.Service.RunWebhooks(bg) })
	m.HTTP.RegisterOnShutdown(m.server.CloseWebsockets)
	m.Logger.Info("listening", "addr", "http://"+ln.Addr().String(), "dev", scfg.Dev, "playground", scfg.Dev)
	return nil
}

// devPlayground is the playground of a development server, pre-filled with
// the dev key only for pages loaded under a loopback host name: a page
// reached under any other Host (a LAN address, or a DNS-rebinding attack
// from a web page) gets the playground without the key.
func devPlayground(key string) http.Handler {
	// Altair sends no CSRF preflight header of its own; without this one
	// the server would refuse its multipart uploads.
	opts := playground.Options{Endpoint: "/graphql", SubscriptionsEndpoint: "/graphql", Title: "mediagraph",
		Headers: map[string]string{"Apollo-Require-Preflight": "true"}}
	public := playground.Handler(opts)
	if key == "" {
		return public
	}
	opts.Headers = map[string]string{"Apollo-Require-Preflight": "true", "Authorization": "Bearer " + key}
	opts.SubscriptionsPayload = map[string]string{"authorization": "Bearer " + key}
	keyed := playground.Handler(opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if loopbackHost(host) {
			keyed.ServeHTTP(w, r)
			return
		}
		public.ServeHTTP(w, r)
	})
}

// listenMetrics serves /metrics alone on MetricsAddr.
func (m *Main) listenMetrics(reg *prometheus.Registry) error {
	ln, err := net.Listen("tcp", m.Config.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics address: %w", err)
	}
	m.MetricsListener = ln
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Profiles for operators, on the metrics address only.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	m.Logger.Info("metrics", "addr", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// Serve serves on the listener until the server shuts down.
func (m *Main) Serve() error {
	if err := m.HTTP.Serve(m.Listener); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// metrics returns the registry /metrics serves: the Go runtime, the
// process, the database's connection pool (go_sql_*) and the sweeper's
// work. The server adds its own (HTTP, uploads, downloads) and the
// instrumented store its calls.
func (m *Main) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(m.DB.SQL(), m.DB.Dialect()))
	sm := &m.sweepMetrics
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	sm.purged = counter("mediagraph_sweep_purged_files_total", "Trashed files purged by the sweeper.")
	sm.orphans = counter("mediagraph_sweep_orphan_objects_total", "Stored objects no row referenced, deleted by the sweeper.")
	sm.abandoned = counter("mediagraph_sweep_abandoned_blobs_total", "Blobs left PENDING by uploads or deletes that died midway, removed by the sweeper.")
	sm.expired = counter("mediagraph_sweep_expired_sessions_total", "Upload sessions past their expiry, aborted by the sweeper.")
	sm.stray = counter("mediagraph_sweep_stray_uploads_total", "Multipart uploads no session knew, aborted by the sweeper.")
	sm.missing = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mediagraph_blobs_missing", Help: "Blobs whose bytes were missing from storage at the last sweep."})
	sm.lastRun = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mediagraph_sweep_last_run_timestamp_seconds",
		Help: "When this process last completed a sweep (Unix time; 0 if it has not)."})
	sm.sweeps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mediagraph_sweeps_total",
		Help: "Sweeps by outcome: ran, skipped (another replica held the lock) or failed."}, []string{"outcome"})
	sm.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mediagraph_sweep_duration_seconds",
		Help: "How long sweeps that ran took.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)})
	reg.MustRegister(sm.purged, sm.orphans, sm.abandoned, sm.expired, sm.stray, sm.missing, sm.lastRun, sm.sweeps, sm.duration)
	return reg
}

// sweepLoop runs Service.Sweep every interval until ctx ends. Several
// replicas may run it: the sweep lock lets one at a time do the work.
func (m *Main) sweepLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.sweep(ctx)
	}
}

// sweep runs one sweep and records what it did.
func (m *Main) sweep(ctx context.Context) {
	if m.Tracing != nil {
		var span trace.Span
		ctx, span = m.Tracing.Tracer("github.com/mediagraph/mediagraph").Start(ctx, "sweep")
		defer span.End()
	}
	sm := &m.sweepMetrics
	start := time.Now()
	r, err := m.Service.Sweep(ctx)
	if err != nil {
		sm.sweeps.WithLabelValues("failed").Inc()
		m.Logger.ErrorContext(ctx, "sweep", "err", err)
		return
	}
	if r.Skipped {
		sm.sweeps.WithLabelValues("skipped").Inc()
		return
	}
	sm.sweeps.WithLabelValues("ran").Inc()
	sm.duration.Observe(time.Since(start).Seconds())
	sm.lastRun.SetToCurrentTime()
	sm.purged.Add(float64(r.Purged))
	sm.orphans.Add(float64(r.Orphans))
	sm.abandoned.Add(float64(r.Abandoned))
	sm.expired.Add(float64(r.ExpiredSessions))
	sm.stray.Add(float64(r.StrayUploads))
	sm.missing.Set(float64(len(r.Missing)))
	if r.Purged+r.Abandoned+r.Orphans+r.ExpiredSessions+r.StrayUploads+len(r.Missing) > 0 {
		m.Logger.InfoContext(ctx, "sweep", "purged", r.Purged, "abandoned", r.Abandoned, "orphans", r.Orphans,
			"expired_sessions", r.ExpiredSessions, "stray_uploads", r.StrayUploads, "missing", len(r.Missing))
	}
}

// devKey makes the development organization and its OWNER key on the first
// start and prints the key once; it is kept in the data folder so the
// playground can be pre-filled with it on later starts.
func (m *Main) devKey(ctx context.Context) error {
	path := filepath.Join(m.Config.DataDir, "dev-key")
	if b, err := os.ReadFile(path); err == nil {
		m.DevKey = strings.TrimSpace(string(b))
		fmt.Fprintf(m.Stdout, "dev API key: kept in %s (the playground is pre-filled with it)\n", path)
		return nil
	}
	if _, err := m.DB.OrganizationByName(ctx, devOrg); err == nil {
		return nil // made earlier, key file deleted: nothing to show
	}
	key, _, err := m.Service.Bootstrap(ctx, devOrg, "dev@localhost", media.AllScopes)
	if err != nil {
		return err
	}
	m.DevKey = key.Key
	if err := os.WriteFile(path, []byte(key.Key+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "dev API key (OWNER of organization %q, all scopes; shown once, kept in %s):\n%s\n", devOrg, path, key.Key)
	return nil
}

// Close releases everything Open (and Listen) acquired.
func (m *Main) Close() error {
	if m.stopBackground != nil {
		m.stopBackground()
		m.background.Wait()
	}
	if m.server != nil {
		m.server.CloseWebsockets()
	}
	if m.MetricsListener != nil {
		_ = m.MetricsListener.Close()
	}
	m.closeTracing()
	if m.DB != nil {
		return m.DB.Close()
	}
	return nil
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	// Lines logged for a request carry its request_id (and trace_id).
	return slog.New(server.LogHandler(h))
}
