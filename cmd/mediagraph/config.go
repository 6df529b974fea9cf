package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
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
	Migrate       bool
	LogFormat     string
	LogLevel      string

	MaxUploadSize   int64
	MaxBodyBytes    int64
	MaxUploadMemory int64
	MaxUploadFiles  int
	MaxImagePixels  int64
	SweepInterval   time.Duration
	LoaderWait      time.Duration
	SessionTTL      time.Duration
	// ThumbnailWorkers bounds concurrent image decodes (analysis and thumbnails).
	ThumbnailWorkers int
	// FFprobe is the ffprobe binary for audio and video formats the built-in
	// parsers do not read: "" finds it on PATH, "-" turns it off.
	FFprobe string
}

// bind registers every setting on fs, with defaults from the environment.
func (c *Config) bind(fs *flag.FlagSet) {
	str := func(p *string, name, env, def, usage string) {
		if v, ok := os.LookupEnv(env); ok {
			def = v
		}
		fs.StringVar(p, name, def, usage+" ("+env+")")
	}
	i64 := func(p *int64, name, env string, def int64, usage string) {
		if v, err := strconv.ParseInt(os.Getenv(env), 10, 64); err == nil {
			def = v
		}
		fs.Int64Var(p, name, def, usage+" ("+env+")")
	}
	str(&c.Addr, "addr", "MEDIAGRAPH_ADDR", "127.0.0.1:8080", "listen address")
	str(&c.DataDir, "data-dir", "MEDIAGRAPH_DATA_DIR", "./data", "folder for the embedded database and blobs")
	str(&c.DatabaseURL, "database-url", "DATABASE_URL", "", "postgres://… (default: SQLite in the data folder)")
	str(&c.StorageURL, "storage-url", "STORAGE_URL", "", "s3://BUCKET?endpoint=…&region=…&path_style=true&checksum=when_required (default: the data folder)")
	str(&c.PublicURL, "public-url", "MEDIAGRAPH_PUBLIC_URL", "", "the server's external base URL, for links it signs (default: http://ADDR)")
	str(&c.SigningSecret, "signing-secret", "MEDIAGRAPH_SIGNING_SECRET", "", "secret for signed URLs; the same on every replica (default in dev: generated and kept in the data folder)")
	str(&c.Dev, "dev", "MEDIAGRAPH_DEV", "auto", "development mode: playground, introspection, a dev key (auto: on when DATABASE_URL is unset)")
	str(&c.LogFormat, "log-format", "MEDIAGRAPH_LOG_FORMAT", "text", "text or json")
	str(&c.LogLevel, "log-level", "MEDIAGRAPH_LOG_LEVEL", "info", "debug, info, warn or error")
	migrate := os.Getenv("MEDIAGRAPH_MIGRATE") != "false"
	fs.BoolVar(&c.Migrate, "migrate", migrate, "apply migrations on start (MEDIAGRAPH_MIGRATE)")
	i64(&c.MaxUploadSize, "max-upload-size", "MEDIAGRAPH_MAX_UPLOAD_SIZE", 100<<20, "largest file accepted, bytes")
	i64(&c.MaxBodyBytes, "max-body-bytes", "MEDIAGRAPH_MAX_BODY_BYTES", 32<<20, "largest JSON request body, bytes (base64 uploads)")
	i64(&c.MaxUploadMemory, "max-upload-memory", "MEDIAGRAPH_MAX_UPLOAD_MEMORY", 8<<20, "multipart requests up to this size are buffered in memory, larger ones on disk")
	i64(&c.MaxImagePixels, "max-image-pixels", "MEDIAGRAPH_MAX_IMAGE_PIXELS", 64_000_000, "largest image accepted, in pixels")
	sweep := 10 * time.Minute
	if v, err := time.ParseDuration(os.Getenv("MEDIAGRAPH_SWEEP_INTERVAL")); err == nil {
		sweep = v
	}
	fs.DurationVar(&c.SweepInterval, "sweep-interval", sweep, "how often the server purges expired trash and reconciles storage; 0 turns it off (MEDIAGRAPH_SWEEP_INTERVAL)")
	loaderWait := time.Millisecond
	if v, err := time.ParseDuration(os.Getenv("MEDIAGRAPH_LOADER_WAIT")); err == nil {
		loaderWait = v
	}
	fs.DurationVar(&c.LoaderWait, "loader-wait", loaderWait, "how long dataloaders collect keys before a batch query (MEDIAGRAPH_LOADER_WAIT)")
	ttl := 24 * time.Hour
	if v, err := time.ParseDuration(os.Getenv("MEDIAGRAPH_UPLOAD_SESSION_TTL")); err == nil {
		ttl = v
	}
	fs.DurationVar(&c.SessionTTL, "upload-session-ttl", ttl, "how long an upload session accepts bytes (MEDIAGRAPH_UPLOAD_SESSION_TTL)")
	str(&c.FFprobe, "ffprobe", "MEDIAGRAPH_FFPROBE", "", "ffprobe binary for audio/video formats the built-in parsers miss: empty finds it on PATH, - turns it off")
	workers := runtime.NumCPU()
	if v, err := strconv.Atoi(os.Getenv("MEDIAGRAPH_THUMBNAIL_WORKERS")); err == nil {
		workers = v
	}
	fs.IntVar(&c.ThumbnailWorkers, "thumbnail-workers", workers, "most images decoded at once, for analysis and thumbnails (MEDIAGRAPH_THUMBNAIL_WORKERS)")
	files := 20
	if v, err := strconv.Atoi(os.Getenv("MEDIAGRAPH_MAX_UPLOAD_FILES")); err == nil {
		files = v
	}
	fs.IntVar(&c.MaxUploadFiles, "max-upload-files", files, "most files in one multipart request (MEDIAGRAPH_MAX_UPLOAD_FILES)")
}

// resolve fills derived defaults.
func (c *Config) resolve() error {
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
	if c.MaxUploadSize <= 0 || c.MaxBodyBytes <= 0 || c.MaxUploadMemory < 0 || c.MaxUploadFiles <= 0 || c.MaxImagePixels <= 0 {
		return fmt.Errorf("size limits must be positive")
	}
	return nil
}

// dev reports whether development mode is on.
func (c *Config) dev() bool {
	if c.Dev == "auto" {
		return !strings.HasPrefix(c.DatabaseURL, "postgres")
	}
	return c.Dev == "true"
}
