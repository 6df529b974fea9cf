package storage

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/mediagraph/mediagraph/media"
)

// Option configures a store Open makes.
type Option func(*options)

type options struct {
	tracerProvider trace.TracerProvider
}

// WithTracerProvider records a span for every call an S3 store makes to
// the S3 API (the disk store has no calls of its own to trace; Instrument
// traces both at the level of media.Blobs).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// Open returns the store a STORAGE_URL names: s3://… is S3 (see OpenS3);
// file:///path or a plain path is a Disk (its folder created if missing)
// whose presigned URLs are signed with diskSecret. Call SetBaseURL on a
// Disk and mount it at BlobRoute.
func Open(ctx context.Context, rawURL string, diskSecret []byte, opts ...Option) (media.Blobs, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	switch {
	case !ok:
		return NewDisk(rawURL, diskSecret)
	case scheme == "s3":
		return OpenS3(ctx, rawURL, opts...)
	case scheme == "file" && strings.HasPrefix(rest, "/"):
		return NewDisk(rest, diskSecret)
	default:
		return nil, fmt.Errorf("storage: the storage URL must be s3://BUCKET?…, file:///ABSOLUTE/PATH or a path, not %s://…", scheme)
	}
}
