package media

import (
	"context"
	"io"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Analysis is what the server learns from a file's content beyond its type.
// A field stays nil when the format does not have it or it could not be read.
type Analysis struct {
	// Width and Height are the display size: for images with an EXIF
	// orientation that swaps the axes, the rotated size. Videos too.
	Width, Height *int
	// Duration in seconds, for audio, video and Lottie animations.
	Duration *float64
	// Blurhash is a compact placeholder for images (https://blurha.sh).
	Blurhash *string
	// DominantColor is the image's dominant colour as "#rrggbb".
	DominantColor *string
	// PageCount is the number of pages of a PDF, when it is cheap to find.
	PageCount *int
	// Problem is set when the content claims a format it does not hold
	// (a truncated or corrupt image, say): what went wrong, for logs and
	// for buckets that refuse malformed media.
	Problem string
}

// Analyzer reads content and describes it. Package analyze implements it
// with pixel, byte and time limits on every step.
type Analyzer interface {
	// Analyze describes content of the given sniffed MIME type, reading it
	// through r (size bytes). Malformed content is not an error: the
	// Analysis says what could be read and sets Problem. An error means
	// reading r failed or ctx ended.
	Analyze(ctx context.Context, mimeType string, r io.ReaderAt, size int64) (Analysis, error)
	// Thumbnail renders an image to fit within width×height, keeping its
	// aspect ratio, never enlarging it, with its EXIF orientation applied:
	// JPEG, or PNG when the image has transparency. It returns an error with
	// code UNSUPPORTED_MEDIA_TYPE when the content is not an image it can
	// render and PAYLOAD_TOO_LARGE when it is over the pixel limit.
	Thumbnail(ctx context.Context, mimeType string, r io.ReaderAt, size int64, width, height int) (data []byte, contentType string, err error)
	// Transform renders a variant of an image (see VariantSpec.Layout),
	// with its EXIF orientation applied, encoded in v.Format. Errors are
	// those of Thumbnail.
	Transform(ctx context.Context, mimeType string, r io.ReaderAt, size int64, v VariantSpec) ([]byte, error)
}

// analyzeBlob reads a stored blob's content and records what analysis
// finds on it (dimensions with orientation applied, duration, placeholder,
// colour, pages). Content that cannot be read keeps its sniffed facts;
// a bucket with RejectMalformedMedia refuses it instead (UNSUPPORTED_MEDIA_TYPE).
func (s *Service) analyzeBlob(ctx context.Context, b *Bucket, blob *Blob) (err error) {
	if s.Analyzer == nil {
		return nil
	}
	ctx, span := s.startSpan(ctx, "upload.analyze", attribute.String("blob.mime_type", blob.MimeType))
	defer func() { endSpan(span, err) }()
	// The Analyzer has its own time limit; this one also stops the reads
	// of a decoder that cannot be interrupted.
	actx, cancel := context.WithTimeout(ctx, analysisTimeout)
	defer cancel()
	a, err := s.Analyzer.Analyze(actx, blob.MimeType, s.readerAt(actx, blob.StorageKey), blob.Size)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Storage hiccups make analysis fail, not the upload: the facts
		// analysis would add are optional.
		s.Logger.WarnContext(ctx, "analysing content failed", "blob_id", blob.ID, "err", err)
		return nil
	}
	if a.Problem != "" {
		if b.RejectMalformedMedia && analysable(blob.MimeType) {
			return Errorf(EUNSUPPORTED, "the %s content cannot be read (%s); bucket %q refuses malformed media", blob.MimeType, a.Problem, b.Name)
		}
		s.Logger.InfoContext(ctx, "content stored without analysis", "blob_id", blob.ID, "mime_type", blob.MimeType, "problem", a.Problem)
	}
	if a.Width != nil && a.Height != nil {
		blob.Width, blob.Height = a.Width, a.Height
	}
	if a.Duration != nil {
		blob.Duration = a.Duration
	}
	blob.MediaFacts = MediaFacts{Blurhash: a.Blurhash, DominantColor: a.DominantColor, PageCount: a.PageCount}
	return nil
}

// analysisTimeout bounds reading one blob for analysis or a thumbnail.
const analysisTimeout = 30 * time.Second

// analysable reports whether a type's content is decoded by analysis (so
// that a failure to read it means the content is malformed).
func analysable(mimeType string) bool {
	switch ClassifyMIME(mimeType) {
	case TypeImage, TypeAudio, TypeVideo:
		return mimeType != "image/svg+xml"
	}
	return false
}

// readerAt reads a stored object with ranged reads.
func (s *Service) readerAt(ctx context.Context, key string) io.ReaderAt {
	return blobReaderAt{ctx: ctx, blobs: s.Blobs, key: key}
}

type blobReaderAt struct {
	ctx   context.Context
	blobs Blobs
	key   string
}

func (r blobReaderAt) ReadAt(p []byte, off int64) (int, error) {
	rc, err := r.blobs.Get(r.ctx, r.key, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}
