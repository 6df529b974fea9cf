package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mediagraph/mediagraph/media"
	"github.com/mediagraph/mediagraph/server"
)

// Config is the whole program's configuration. Every field is an
// environment variable (MEDIAGRAPH_ prefix, except DATABASE_URL and
// STORAGE_URL) and also a flag of the same name in lower case.
type Config struct {
	Addr          string
	DataDir       string
	DatabaseURL   string
	StorageURL    string
	PublicURL     string
	SigningSecret string
	Dev           string // "auto", "true" or "false"
	// MetricsAddr serves /metrics on its own listener; MetricsToken guards
	// /metrics on the main one. Without either, /metrics is served on the
	// main address only when that is a loopback one.
	MetricsAddr  string
	MetricsToken string
	Migrate      bool
	LogFormat    string
	LogLevel     string

	MaxUploadSize   int64
	MaxBodyBytes    int64
	MaxUploadMemory int64
	MaxUploadFiles  int
	MaxImagePixels  int64
	SweepInterval   time.Duration
	// CleanupAge is how old abandoned blobs and unreferenced objects must be
	// before the sweeper removes them (uploads in flight are younger).
	CleanupAge time.Duration
	// BodyIdleTimeout cuts a request whose body stops arriving.
	BodyIdleTimeout time.Duration
	LoaderWait      time.Duration
	SessionTTL      time.Duration
	// ThumbnailWorkers bounds concurrent image decodes (analysis, thumbnails, variants).
	ThumbnailWorkers int
	// FFprobe is the ffprobe binary for audio and video formats the built-in
	// parsers do not read: "" finds it on PATH, "-" turns it off.
	FFprobe string
	// EventRetention is how long file events are kept for subscribers to
	// resume from (and webhooks to redeliver).
	EventRetention time.Duration
	// WebhookAllowNetworks are CIDRs that webhooks may reach although they
	// are private, loopback or link-local (comma-separated).
	WebhookAllowNetworks string
	// WebsocketOrigins are the browser origins, besides the server's own,
	// that may open subscriptions (comma-separated host patterns).
	WebsocketOrigins string
	// TrustedProxies are the reverse proxies (comma-separated CIDRs or
	// addresses) whose X-Forwarded-For names the client that the request
	// body limits count against.
	TrustedProxies string

	// tuneMedia, if set, adjusts the service's configuration (tests shorten
	// webhook backoffs with it); tuneServer the HTTP server's.
	tuneMedia  func(*media.Config)
	tuneServer func(*server.Config)
	// spanExporter, if set, receives every span as it ends (tests), in
	// place of the OTLP exporter the environment may name.
	spanExporter sdktrace.SpanExporter
	// allowNetworks is WebhookAllowNetworks parsed, trustedProxies
	// TrustedProxies.
	allowNetworks  []netip.Prefix
	trustedProxies []netip.Prefix
	// envErrors lists environment settings that did not parse.
	envErrors []string
}

// bind registers every setting on fs, with defaults from the environment.
// A setting in the environment that does not parse is an error (see
// envErrors): the server refuses to start rather than run with a default
// the operator did not choose.
func (c *Config) bind(fs *flag.FlagSet) {
	str := func(p *string, name, env, def, usage string) {
		if v, ok := os.LookupEnv(env); ok {
			def = v
		}
		fs.StringVar(p, name, def, usage+" ("+env+")")
	}
	num := func(p any, name, env string, def any, usage string) {
		usage += " (" + env + ")"
		v, set := os.LookupEnv(env)
		set = set && strings.TrimSpace(v) != ""
		var err error
		switch p := p.(type) {
		case *int64:
			d := def.(int64)
			if set {
				d, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			}
			fs.Int64Var(p, name, d, usage)
		case *int:
			d := def.(int)
			if set {
				d, err = strconv.Atoi(strings.TrimSpace(v))
			}
			fs.IntVar(p, name, d, usage)
		case *time.Duration:
			d := def.(time.Duration)
			if set {
				d, err = time.ParseDuration(strings.TrimSpace(v))
			}
			fs.DurationVar(p, name, d, usage)
		case *bool:
			d := def.(bool)
			if set {
				d, err = strconv.ParseBool(strings.TrimSpace(v))
			}
			fs.BoolVar(p, name, d, usage)
		}
		if err != nil {
			c.envErrors = append(c.envErrors, fmt.Sprintf("%s=%q is not valid (%s)", env, v, usage))
		}
	}
	str(&c.Addr, "addr", "MEDIAGRAPH_ADDR", "127.0.0.1:8080", "listen address")
	str(&c.DataDir, "data-dir", "MEDIAGRAPH_DATA_DIR", "./data", "folder for the embedded database and blobs")
	str(&c.DatabaseURL, "database-url", "DATABASE_URL", "", "postgres://… (default: SQLite in the data folder)")
	str(&c.StorageURL, "storage-url", "STORAGE_URL", "", "s3://BUCKET?endpoint=…&region=…&path_style=true&checksum=when_required (default: the data folder)")
	str(&c.PublicURL, "public-url", "MEDIAGRAPH_PUBLIC_URL", "", "the server's external base URL, for links it signs (default: http://ADDR)")
	str(&c.SigningSecret, "signing-secret", "MEDIAGRAPH_SIGNING_SECRET", "", "secret for signed URLs; the same on every replica (default in dev: generated and kept in the data folder)")
	str(&c.Dev, "dev", "MEDIAGRAPH_DEV", "auto", "development mode: playground, introspection, a dev key (auto: on for the embedded SQLite and local folder on a loopback address)")
	str(&c.MetricsAddr, "metrics-addr", "MEDIAGRAPH_METRICS_ADDR", "", "serve /metrics on this address only (default: on the main address when it is a loopback one)")
	str(&c.MetricsToken, "metrics-token", "MEDIAGRAPH_METRICS_TOKEN", "", "serve /metrics on the main address to requests with Authorization: Bearer TOKEN")
	str(&c.LogFormat, "log-format", "MEDIAGRAPH_LOG_FORMAT", "text", "text or json")
	str(&c.LogLevel, "log-level", "MEDIAGRAPH_LOG_LEVEL", "info", "debug, info, warn or error")
	num(&c.Migrate, "migrate", "MEDIAGRAPH_MIGRATE", true, "apply migrations on start")
	num(&c.MaxUploadSize, "max-upload-size", "MEDIAGRAPH_MAX_UPLOAD_SIZE", int64(100<<20), "largest file accepted, bytes")
	num(&c.MaxBodyBytes, "max-body-bytes", "MEDIAGRAPH_MAX_BODY_BYTES", int64(16<<20), "largest JSON request body, bytes (base64 uploads)")
	num(&c.BodyIdleTimeout, "body-idle-timeout", "MEDIAGRAPH_BODY_IDLE_TIMEOUT", 15*time.Second, "a request whose body stops arriving for this long is cut")
	num(&c.MaxUploadMemory, "max-upload-memory", "MEDIAGRAPH_MAX_UPLOAD_MEMORY", int64(8<<20), "multipart requests up to this size are buffered in memory, larger ones on disk")
	num(&c.MaxImagePixels, "max-image-pixels", "MEDIAGRAPH_MAX_IMAGE_PIXELS", int64(64_000_000), "largest image accepted, in pixels")
	num(&c.SweepInterval, "sweep-interval", "MEDIAGRAPH_SWEEP_INTERVAL", 10*time.Minute, "how often the server purges expired trash and reconciles storage; 0 turns it off")
	num(&c.CleanupAge, "cleanup-age", "MEDIAGRAPH_CLEANUP_AGE", time.Hour, "how old unreferenced objects and abandoned uploads must be before the sweeper removes them")
	num(&c.LoaderWait, "loader-wait", "MEDIAGRAPH_LOADER_WAIT", time.Millisecond, "how long dataloaders collect keys before a batch query")
	num(&c.SessionTTL, "upload-session-ttl", "MEDIAGRAPH_UPLOAD_SESSION_TTL", 24*time.Hour, "how long an upload session accepts bytes")
	str(&c.FFprobe, "ffprobe", "MEDIAGRAPH_FFPROBE", "", "ffprobe binary for audio/video formats the built-in parsers miss: empty finds it on PATH, - turns it off")
	num(&c.ThumbnailWorkers, "thumbnail-workers", "MEDIAGRAPH_THUMBNAIL_WORKERS", runtime.NumCPU(), "most images decoded at once, for analysis, thumbnails and variants")
	num(&c.MaxUploadFiles, "max-upload-files", "MEDIAGRAPH_MAX_UPLOAD_FILES", 20, "most files in one multipart request")
	num(&c.EventRetention, "event-retention", "MEDIAGRAPH_EVENT_RETENTION", 24*time.Hour, "how long file events are kept for subscribers to resume from")
	str(&c.WebhookAllowNetworks, "webhook-allow-networks", "MEDIAGRAPH_WEBHOOK_ALLOW_NETWORKS", "",
		"comma-separated CIDRs webhooks may reach although private, loopback or link-local (e.g. 10.1.0.0/16)")
	str(&c.WebsocketOrigins, "websocket-origins", "MEDIAGRAPH_WEBSOCKET_ORIGINS", "",
		"comma-separated browser origins (host patterns such as app.example.com or *.example.com) that may open subscriptions besides the server's own")
	str(&c.TrustedProxies, "trusted-proxies", "MEDIAGRAPH_TRUSTED_PROXIES", "",
		"comma-separated CIDRs or addresses of reverse proxies; behind one, the client is the right-most X-Forwarded-For address that is not a trusted proxy")
}

// resolve checks the settings and fills derived defaults.
func (c *Config) resolve() error {
	if len(c.envErrors) > 0 {
		return fmt.Errorf("invalid settings: %s", strings.Join(c.envErrors, "; "))
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:" + filepath.Join(c.DataDir, "mediagraph.db")
	}
	if c.StorageURL == "" {
		c.StorageURL = filepath.Join(c.DataDir, "blobs")
	}
	if c.ThumbnailWorkers <= 0 {
		c.ThumbnailWorkers = runtime.NumCPU()
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 24 * time.Hour
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 7*24*time.Hour {
		return fmt.Errorf("MEDIAGRAPH_UPLOAD_SESSION_TTL must be between 1m and 168h (presigned URLs last at most 7 days)")
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	switch c.Dev {
	case "auto", "true", "false":
	default:
		return fmt.Errorf("MEDIAGRAPH_DEV must be auto, true or false, not %q", c.Dev)
	}
	if c.SigningSecret != "" && len(c.SigningSecret) < 32 {
		return fmt.Errorf("MEDIAGRAPH_SIGNING_SECRET must be at least 32 bytes (it keys the signatures of private URLs)")
	}
	if c.EventRetention == 0 {
		c.EventRetention = 24 * time.Hour
	}
	if c.EventRetention < time.Minute {
		return fmt.Errorf("MEDIAGRAPH_EVENT_RETENTION must be at least 1m")
	}
	c.allowNetworks = nil
	for _, n := range splitList(c.WebhookAllowNetworks) {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return fmt.Errorf("MEDIAGRAPH_WEBHOOK_ALLOW_NETWORKS: %q is not a CIDR (such as 10.1.0.0/16)", n)
		}
		c.allowNetworks = append(c.allowNetworks, p.Masked())
	}
	c.trustedProxies = nil
	for _, n := range splitList(c.TrustedProxies) {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			a, aerr := netip.ParseAddr(n)
			if aerr != nil {
				return fmt.Errorf("MEDIAGRAPH_TRUSTED_PROXIES: %q is not a CIDR (such as 10.1.0.0/16) or an address", n)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.trustedProxies = append(c.trustedProxies, p.Masked())
	}
	if c.MaxUploadSize <= 0 || c.MaxBodyBytes <= 0 || c.MaxUploadMemory < 0 || c.MaxUploadFiles <= 0 || c.MaxImagePixels <= 0 {
		return fmt.Errorf("size limits must be positive")
	}
	return nil
}

// splitList splits a comma-separated setting, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// dev reports whether development mode is on. auto turns it on only for
// a server that cannot be production: the embedded SQLite database, the
// local blob folder, and a loopback listen address.
func (c *Config) dev() bool {
	if c.Dev == "auto" {
		return !strings.HasPrefix(c.DatabaseURL, "postgres") && !strings.HasPrefix(c.StorageURL, "s3:") && loopbackAddr(c.Addr)
	}
	return c.Dev == "true"
}

// loopbackAddr reports whether a listen address (host:port) is on the
// loopback interface only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopbackHost(host)
}

// loopbackHost reports whether host (a name or an IP, without a port) is
// this machine: localhost, 127.0.0.0/8 or ::1.
func loopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
