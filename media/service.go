package media

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"
)

// Config holds the Service's limits and defaults.
type Config struct {
	// MaxUploadSize caps every upload, whatever the bucket says.
	MaxUploadSize int64
	// MaxImagePixels refuses images with more pixels (width × height).
	MaxImagePixels int64
	// PublicURL is the server's external base URL, for the links it makes.
	PublicURL string
	// SigningSecret keys the HMAC of signed download URLs.
	SigningSecret []byte
	// CleanupAge is how old a PENDING blob must be before cleanup removes it
	// (it is probably an upload that died between its two writes).
	CleanupAge time.Duration
	// SessionTTL is how long an upload session accepts bytes.
	SessionTTL time.Duration
	// MaxSessionSize caps files uploaded through upload sessions.
	MaxSessionSize int64
	// SinglePutLimit is the largest session uploaded with one PUT; larger
	// ones are multipart uploads with parts of at least SessionPartSize.
	SinglePutLimit  int64
	SessionPartSize int64
	// ThumbnailWorkers bounds concurrent thumbnail and variant renders
	// (default: one per CPU).
	ThumbnailWorkers int
	// EventRetention is how long file events are kept for subscribers to
	// resume from (default 24 h).
	EventRetention time.Duration
	// Webhooks configures webhook delivery.
	Webhooks WebhookConfig
}

// DefaultConfig returns the limits used when nothing is configured.
func DefaultConfig() Config {
	return Config{
		MaxUploadSize:  100 * mib,
		MaxImagePixels: 64_000_000,
		CleanupAge:     time.Hour,
		SessionTTL:     24 * time.Hour,
		MaxSessionSize: MaxSessionSize,
		PublicURL:      "http://127.0.0.1:8080",
	}
}

// Service is the domain: every rule of CONTRACT.md is enforced here, whatever
// the transport. Methods read the caller from the context (WithPrincipal).
type Service struct {
	Store Store
	Blobs Blobs
	// Analyzer, if set, describes stored content (dimensions, durations,
	// placeholders) and renders thumbnails.
	Analyzer Analyzer
	Config   Config
	Logger   *slog.Logger
	// Tracer, if set, records the phases of uploads as spans (see trace.go).
	Tracer trace.Tracer
	// Now is the clock; tests replace it.
	Now func() time.Time

	thumbs *thumbnailPool
	hub    *hub
	hooks  *webhookDispatcher
	access *watches
	// pending collects the events of the transaction this Service works
	// in (see inTx); nil outside one.
	pending *[]*Event
}

// thumbnailPool bounds rendering (thumbnails and variants) and merges
// concurrent renders of one rendition.
type thumbnailPool struct {
	workers chan struct{}
	flight  singleflight.Group
}

// NewService returns a Service with the default clock.
func NewService(store Store, blobs Blobs, cfg Config, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	workers := cfg.ThumbnailWorkers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	return &Service{Store: store, Blobs: blobs, Config: cfg, Logger: logger, Now: time.Now,
		thumbs: &thumbnailPool{workers: make(chan struct{}, workers)}, hub: newHub(), hooks: newWebhookDispatcher(),
		access: &watches{all: map[*watch]struct{}{}, wake: make(chan string, 16)}}
}

// now returns the current time in UTC at the precision the databases keep.
func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// Ready checks that the database and the object store answer.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.Store.Ping(ctx); err != nil {
		return err
	}
	return s.Blobs.Ping(ctx)
}
