// Package analyze describes stored content for package media: image
// dimensions with the EXIF orientation applied, a blurhash and a dominant
// colour; durations of audio and video (and video dimensions); PDF page
// counts; Lottie sizes and durations; and it renders thumbnails and
// variants (resized, cropped or padded, in JPEG, PNG, WebP or AVIF).
//
// WebP and AVIF are encoded by libwebp and libavif (with libaom) compiled
// to WebAssembly and run by wazero (github.com/gen2brain/webp and
// /avif), so the build needs no cgo. Each encoder's module is compiled
// once per process, at its first use; each encode instantiates it afresh,
// with its own linear memory (the image and the encoder's state), which
// is freed when the encode ends. The encoders cannot be interrupted: a
// render that runs out of time returns, and finishes in the background
// holding its worker slot.
//
// Every step has limits: images are checked against a pixel limit from
// their header before anything is decoded, only images up to MaxImageBytes
// are decoded at all, a bounded number of decodes, renders and ffprobe runs
// happen at once, and every call ends after Timeout. Malformed content never
// fails a call: what could not be read stays nil and Analysis.Problem says
// why. An error means that reading the content failed, or that the call
// ran out of time.
//
// Content is read only through the io.ReaderAt given, which is expected to
// be backed by ranged reads from an object store: images are decoded from
// one sequential pass through a 256 KiB buffer, and the audio and video
// parsers read headers through a small cache of 64 KiB blocks, jumping over
// media data by the offsets in the headers (an MP4 whose moov box is at the
// end costs a few reads, not the file).
//
// Without ffprobe, these formats are read:
//
//   - images: JPEG, PNG (and APNG's first frame), GIF, WebP (still), BMP and
//     TIFF are decoded (size, orientation from EXIF in JPEG, TIFF, PNG eXIf
//     and WebP EXIF, blurhash, dominant colour, thumbnails); AVIF and HEIC/HEIF
//     give their size (and irot rotation) from the ispe property only;
//     animated WebP its canvas size only; SVG its root element's
//     width/height or viewBox;
//   - audio: WAV (and RF64), AIFF/AIFF-C, FLAC, MP3 (Xing/Info or VBRI
//     header, else the average bit rate of the frames in the first 64 KiB),
//     Ogg Vorbis, Opus, FLAC and Speex, M4A, and AAC in ADTS (estimated from
//     the frames of the first 64 KiB);
//   - video: MP4, MOV, 3GP (mvhd duration, or mehd for fragmented files;
//     video size from tkhd with its rotation matrix applied) and
//     WebM/Matroska (Info Duration × TimecodeScale, PixelWidth/PixelHeight,
//     found through the SeekHead when they follow the clusters);
//   - PDF page counts (the largest /Count of a /Type /Pages dictionary in the
//     first and last MiB; none when the page tree is in an object stream);
//   - Lottie width, height and (op − ip) / fr.
//
// Other audio and video formats (AVI, MPEG-TS, WMA, Ogg Theora, WebM
// without a Duration, …) need ffprobe from Debian's ffmpeg package: it is
// asked only when the built-in parsers find no duration.
package analyze

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

// Config holds the limits. Zero values get the defaults.
type Config struct {
	// MaxPixels: images with more pixels (by their header) are not decoded
	// (default 100 megapixels). Analysis reports their size and a Problem;
	// Thumbnail fails with PAYLOAD_TOO_LARGE.
	MaxPixels int64
	// MaxImageBytes: larger image files are not decoded: Analysis reports
	// their size only (default 64 MiB).
	MaxImageBytes int64
	// MaxJSONBytes: only this much of a Lottie file is parsed (default 8 MiB).
	MaxJSONBytes int64
	// Timeout bounds one call (default 10 s).
	Timeout time.Duration
	// TransformTimeout bounds one Transform (default 60 s): encoding WebP
	// and AVIF takes longer than analysis. The first use of an encoder
	// also compiles it, before this limit starts.
	TransformTimeout time.Duration
	// Workers bounds concurrent image decodes, renders and ffprobe runs
	// across the process (default: one per CPU).
	Workers int
	// FFprobe is the ffprobe binary: "" looks it up on PATH, "-" turns it off.
	FFprobe string
}

// Analyzer implements media.Analyzer.
type Analyzer struct {
	cfg     Config
	workers chan struct{}
	ffprobe string
}

var _ media.Analyzer = (*Analyzer)(nil)

// New returns an Analyzer with cfg's limits.
func New(cfg Config) *Analyzer {
	if cfg.MaxPixels <= 0 {
		cfg.MaxPixels = 100_000_000
	}
	if cfg.MaxImageBytes <= 0 {
		cfg.MaxImageBytes = 64 << 20
	}
	if cfg.MaxJSONBytes <= 0 {
		cfg.MaxJSONBytes = 8 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.TransformTimeout <= 0 {
		cfg.TransformTimeout = 60 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	a := &Analyzer{cfg: cfg, workers: make(chan struct{}, cfg.Workers)}
	switch cfg.FFprobe {
	case "-":
	case "":
		a.ffprobe, _ = exec.LookPath("ffprobe")
	default:
		a.ffprobe = cfg.FFprobe
	}
	return a
}

// FFprobe returns the ffprobe binary in use, or "".
func (a *Analyzer) FFprobe() string { return a.ffprobe }

// errMalformed marks content that does not hold what its type claims.
var errMalformed = errors.New("malformed")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
}

// Analyze implements media.Analyzer.
func (a *Analyzer) Analyze(ctx context.Context, mimeType string, r io.ReaderAt, size int64) (media.Analysis, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	src := newSource(ctx, r, size)
	type result struct {
		an  media.Analysis
		err error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			if p := recover(); p != nil {
				res = result{media.Analysis{Problem: fmt.Sprintf("the %s decoder failed on this content: %v", mimeType, p)}, nil}
			}
			done <- res
		}()
		res.an, res.err = a.analyze(ctx, mimeType, src)
	}()
	select {
	case res := <-done:
		if err := src.Err(); err != nil {
			// The store failed: no verdict on the content.
			return media.Analysis{}, err
		}
		if res.err != nil && errors.Is(res.err, errMalformed) {
			res.an.Problem, res.err = strings.TrimPrefix(res.err.Error(), errMalformed.Error()+": "), nil
		}
		if res.err != nil && ctx.Err() != nil {
			return media.Analysis{}, a.ended(parent, ctx)
		}
		return res.an, res.err
	case <-ctx.Done():
		return media.Analysis{}, a.ended(parent, ctx)
	}
}

// ended is the error of a call whose context ended: the caller's, or the
// time limit's.
func (a *Analyzer) ended(parent, ctx context.Context) error {
	return a.endedAfter(parent, ctx, a.cfg.Timeout)
}

func (a *Analyzer) endedAfter(parent, ctx context.Context, timeout time.Duration) error {
	if err := parent.Err(); err != nil {
		return err
	}
	return fmt.Errorf("analysis took over %s: %w", timeout, ctx.Err())
}

func (a *Analyzer) analyze(ctx context.Context, mimeType string, src *source) (media.Analysis, error) {
	var an media.Analysis
	switch {
	case mimeType == media.MIMELottie:
		return a.lottie(src)
	case mimeType == "application/pdf":
		release, err := a.acquire(ctx)
		if err != nil {
			return an, err
		}
		defer release()
		an.PageCount = pdfPages(ctx, src)
		return an, ctx.Err()
	case mimeType == "image/svg+xml":
		return svgSize(src), nil
	case strings.HasPrefix(mimeType, "image/"):
		return a.image(ctx, mimeType, src)
	case strings.HasPrefix(mimeType, "audio/"), strings.HasPrefix(mimeType, "video/"):
		m, err := mediaInfo(mimeType, src)
		if m.duration == nil && a.ffprobe != "" && ctx.Err() == nil && src.Err() == nil {
			if pm, perr := a.probe(ctx, src); perr == nil && pm.duration != nil {
				m, err = pm, nil
			}
		}
		an.Duration, an.Width, an.Height = m.duration, m.width, m.height
		return an, err
	}
	return an, nil
}

// acquire takes a worker slot.
func (a *Analyzer) acquire(ctx context.Context) (func(), error) {
	select {
	case a.workers <- struct{}{}:
		return func() { <-a.workers }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Thumbnail implements media.Analyzer.
func (a *Analyzer) Thumbnail(ctx context.Context, mimeType string, r io.ReaderAt, size int64, width, height int) ([]byte, string, error) {
	if !strings.HasPrefix(mimeType, "image/") || mimeType == "image/svg+xml" {
		return nil, "", media.Errorf(media.EUNSUPPORTED, "%s files have no thumbnails", mimeType)
	}
	return a.render(ctx, mimeType, r, size, a.cfg.Timeout, "rendering the thumbnail", func(ctx context.Context, src *source) ([]byte, string, error) {
		return a.thumbnail(ctx, mimeType, src, width, height)
	})
}

// Transform implements media.Analyzer.
func (a *Analyzer) Transform(ctx context.Context, mimeType string, r io.ReaderAt, size int64, v media.VariantSpec) ([]byte, error) {
	if !strings.HasPrefix(mimeType, "image/") || mimeType == "image/svg+xml" {
		return nil, media.Errorf(media.EUNSUPPORTED, "%s files cannot be transformed", mimeType)
	}
	if err := compileEncoder(ctx, v.Format); err != nil {
		return nil, err
	}
	data, _, err := a.render(ctx, mimeType, r, size, a.cfg.TransformTimeout, "rendering the variant", func(ctx context.Context, src *source) ([]byte, string, error) {
		data, err := a.transform(ctx, mimeType, src, v)
		return data, v.Format.ContentType(), err
	})
	return data, err
}

// render runs fn on the image in r within timeout. Decoders and the
// WebAssembly encoders cannot be interrupted: when time runs out the call
// returns, and the work finishes in the background, still holding its
// worker slot, so the pool stays bounded.
func (a *Analyzer) render(ctx context.Context, mimeType string, r io.ReaderAt, size int64, timeout time.Duration, what string,
	fn func(context.Context, *source) ([]byte, string, error)) ([]byte, string, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	src := newSource(ctx, r, size)
	type result struct {
		data []byte
		ct   string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			if p := recover(); p != nil {
				res = result{err: media.Errorf(media.EUNSUPPORTED, "the %s image cannot be decoded (the decoder failed)", mimeType)}
			}
			done <- res
		}()
		res.data, res.ct, res.err = fn(ctx, src)
	}()
	select {
	case res := <-done:
		if err := src.Err(); err != nil {
			return nil, "", media.Unavailable("reading the image", err)
		}
		if errors.Is(res.err, errMalformed) {
			msg := strings.TrimPrefix(res.err.Error(), errMalformed.Error()+": ")
			res.err = media.Errorf(media.EUNSUPPORTED, "%s", msg)
		}
		if res.err != nil && media.ErrorCode(res.err) == media.EINTERNAL && ctx.Err() != nil {
			return nil, "", media.Unavailable(what, a.endedAfter(parent, ctx, timeout))
		}
		return res.data, res.ct, res.err
	case <-ctx.Done():
		return nil, "", media.Unavailable(what, a.endedAfter(parent, ctx, timeout))
	}
}
