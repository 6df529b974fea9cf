package media

import (
	"context"
	"log/slog"
	"time"
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
}

// DefaultConfig returns the limits used when nothing is configured.
func DefaultConfig() Config {
	return Config{
		MaxUploadSize:  100 * mib,
		MaxImagePixels: 64_000_000,
		CleanupAge:     time.Hour,
		PublicURL:      "http://127.0.0.1:8080",
	}
}

// Service is the domain: every rule of CONTRACT.md is enforced here, whatever
// the transport. Methods read the caller from the context (WithPrincipal).
type Service struct {
	Store  Store
	Blobs  Blobs
	Config Config
	Logger *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewService returns a Service with the default clock.
func NewService(store Store, blobs Blobs, cfg Config, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{Store: store, Blobs: blobs, Config: cfg, Logger: logger, Now: time.Now}
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
