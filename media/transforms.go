package media

import (
	"bytes"
	"context"
	"math"
	"strconv"
	"strings"
	"time"
)

// ImageFit says how a transformed image fills its box.
type ImageFit string

const (
	// FitInside scales the image to fit inside the box: no padding, so the
	// output is smaller than the box in one direction.
	FitInside ImageFit = "INSIDE"
	// FitCover scales the image to cover the box and crops the centre.
	FitCover ImageFit = "COVER"
	// FitContain scales the image to fit inside the box and centres it on
	// a canvas of exactly the box (transparent, or white for JPEG).
	FitContain ImageFit = "CONTAIN"
)

// ImageFormat is the encoding of a transformed image.
type ImageFormat string

const (
	FormatJPEG ImageFormat = "JPEG"
	FormatPNG  ImageFormat = "PNG"
	FormatWebP ImageFormat = "WEBP"
	FormatAVIF ImageFormat = "AVIF"
)

// Transform limits. Sides are rounded up to TransformStep pixels, so
// common aspect ratios stay exact (640×360, 1920×1080, 800×600) and a
// client cannot ask for every pixel count in between.
const (
	MaxTransformSide = 4096
	TransformStep    = 8
	// QualityStep: qualities are rounded to the nearest multiple.
	QualityStep = 5
	// MaxWasmPixels bounds WebP and AVIF output, whose encoders (libwebp
	// and libaom in WebAssembly) take most of a second per megapixel and
	// about 40 and 100 MiB of memory per megapixel (docs/BENCHMARKS.md).
	MaxWasmPixels = 2048 * 2048
)

// ImageTransform is what a client asks of File.url: a box, a fit, an
// encoding and its quality. Nil fields take their defaults.
type ImageTransform struct {
	Width, Height *int
	Fit           ImageFit
	Format        *ImageFormat
	Quality       *int
}

// VariantSpec is one canonical variant of an image: what is rendered and
// stored, and the last part of its URL.
type VariantSpec struct {
	// Width and Height are the box; 0 leaves a side free (INSIDE only).
	// 0×0 INSIDE is the image at its own size.
	Width, Height int
	Fit           ImageFit
	Format        ImageFormat
	// Quality is 0 for PNG, which is lossless.
	Quality int
}

var formatExt = map[ImageFormat]string{FormatJPEG: "jpg", FormatPNG: "png", FormatWebP: "webp", FormatAVIF: "avif"}

// DefaultQuality is the quality a format gets when none is asked for.
var DefaultQuality = map[ImageFormat]int{FormatJPEG: 80, FormatWebP: 80, FormatAVIF: 60}

// ContentType is the MIME type of a format.
func (f ImageFormat) ContentType() string {
	if f == FormatJPEG {
		return "image/jpeg"
	}
	return "image/" + formatExt[f]
}

// String is the variant's one spelling: "640x480-cover-q80.webp",
// "640x0-inside-q80.jpg", "0x0-inside.png".
func (v VariantSpec) String() string {
	s := strconv.Itoa(v.Width) + "x" + strconv.Itoa(v.Height) + "-" + strings.ToLower(string(v.Fit))
	if v.Quality > 0 {
		s += "-q" + strconv.Itoa(v.Quality)
	}
	return s + "." + formatExt[v.Format]
}

// parseVariantSpec reads a variant's URL spelling. Only the spelling
// String gives is accepted (no leading zeros, signs or case variants);
// whether the variant is canonical for an image is resolveVariant's say.
func parseVariantSpec(s string) (VariantSpec, bool) {
	var v VariantSpec
	body, ext, ok := strings.Cut(s, ".")
	if !ok {
		return v, false
	}
	for f, e := range formatExt {
		if e == ext {
			v.Format = f
		}
	}
	parts := strings.Split(body, "-")
	if v.Format == "" || len(parts) < 2 || len(parts) > 3 {
		return v, false
	}
	ws, hs, ok := strings.Cut(parts[0], "x")
	var err1, err2 error
	v.Width, err1 = strconv.Atoi(ws)
	v.Height, err2 = strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || v.Width < 0 || v.Height < 0 ||
		v.Width > MaxTransformSide || v.Height > MaxTransformSide {
		return v, false
	}
	v.Fit = ImageFit(strings.ToUpper(parts[1]))
	if len(parts) == 3 {
		q, ok := strings.CutPrefix(parts[2], "q")
		n, err := strconv.Atoi(q)
		if !ok || err != nil || n < 1 || n > 100 {
			return v, false
		}
		v.Quality = n
	}
	return v, v.String() == s
}

// VariantLayout is where a variant's pixels go: the image scaled to
// ScaledW×ScaledH, then placed at (X, Y) on an OutW×OutH canvas (X, Y ≤ 0
// crop the centre for COVER; ≥ 0 pad it for CONTAIN).
type VariantLayout struct {
	ScaledW, ScaledH int
	OutW, OutH       int
	X, Y             int
}

// Layout is the geometry of v for a source of sw×sh pixels (as displayed,
// the EXIF orientation applied). The image is never enlarged: INSIDE and
// COVER give less than the box when the image is smaller, CONTAIN pads.
func (v VariantSpec) Layout(sw, sh int) VariantLayout {
	fw, fh := math.Inf(1), math.Inf(1)
	if v.Width > 0 {
		fw = float64(v.Width) / float64(sw)
	}
	if v.Height > 0 {
		fh = float64(v.Height) / float64(sh)
	}
	f := min(1, fw, fh)
	if v.Fit == FitCover {
		f = min(1, max(fw, fh))
	}
	l := VariantLayout{ScaledW: max(1, int(math.Round(float64(sw)*f))), ScaledH: max(1, int(math.Round(float64(sh)*f)))}
	l.OutW, l.OutH = l.ScaledW, l.ScaledH
	switch v.Fit {
	case FitCover:
		l.OutW, l.OutH = min(v.Width, l.ScaledW), min(v.Height, l.ScaledH)
	case FitContain:
		l.OutW, l.OutH = v.Width, v.Height
	}
	l.X, l.Y = (l.OutW-l.ScaledW)/2, (l.OutH-l.ScaledH)/2
	return l
}

// roundUp rounds a side up to the transform step.
func roundUp(n int) int { return (n + TransformStep - 1) / TransformStep * TransformStep }

// resolveVariant turns a request into the canonical variant of an image of
// sw×sh pixels and type mimeType. Requests that give the same pixels get
// the same variant, so the store holds one object per distinct output:
//   - sides are rounded up to TransformStep; COVER sides larger than the
//     image are cut to it; COVER and CONTAIN with one side free are INSIDE;
//   - INSIDE keeps only the side that decides the size (the width when
//     both would), and 0×0 when the image is smaller than the box; a COVER
//     of the image's own proportions, or a CONTAIN that needs no padding,
//     is that INSIDE;
//   - the format defaults to the source's kind: JPEG for a JPEG, WebP for
//     a WebP, PNG for the others (which may have transparency); quality is
//     rounded to QualityStep, defaults per format, and PNG has none.
//
// Returns BAD_USER_INPUT (field transform…) for values out of range and
// for outputs over the pixel limits.
func (s *Service) resolveVariant(t ImageTransform, mimeType string, sw, sh int) (VariantSpec, error) {
	side := func(field string, p *int) (int, error) {
		if p == nil {
			return 0, nil
		}
		if *p < 1 || *p > MaxTransformSide {
			return 0, Invalid("transform."+field, "%s must be between 1 and %d", field, MaxTransformSide)
		}
		return roundUp(*p), nil
	}
	var v VariantSpec
	var err error
	if v.Width, err = side("width", t.Width); err != nil {
		return v, err
	}
	if v.Height, err = side("height", t.Height); err != nil {
		return v, err
	}
	switch v.Fit = t.Fit; v.Fit {
	case "":
		v.Fit = FitInside
	case FitInside, FitCover, FitContain:
	default:
		return v, Invalid("transform.fit", "fit must be COVER, CONTAIN or INSIDE")
	}
	switch {
	case t.Format != nil:
		if _, ok := formatExt[*t.Format]; !ok {
			return v, Invalid("transform.format", "format must be JPEG, PNG, WEBP or AVIF")
		}
		v.Format = *t.Format
	case mimeType == "image/jpeg":
		v.Format = FormatJPEG
	case mimeType == "image/webp":
		v.Format = FormatWebP
	default:
		v.Format = FormatPNG
	}
	if t.Quality != nil && (*t.Quality < 1 || *t.Quality > 100) {
		return v, Invalid("transform.quality", "quality must be between 1 and 100")
	}
	if q, ok := DefaultQuality[v.Format]; ok {
		if t.Quality != nil {
			q = max(QualityStep, (*t.Quality+QualityStep/2)/QualityStep*QualityStep)
		}
		v.Quality = q
	}
	v = canonicalBox(v, sw, sh)
	l := v.Layout(sw, sh)
	px := int64(l.OutW) * int64(l.OutH)
	if px > s.Config.MaxImagePixels {
		return v, Invalid("transform", "the transform gives %d×%d pixels, over the limit of %d", l.OutW, l.OutH, s.Config.MaxImagePixels)
	}
	if (v.Format == FormatWebP || v.Format == FormatAVIF) && px > MaxWasmPixels {
		return v, Invalid("transform", "%s output is at most %d pixels; this transform gives %d×%d: ask for a smaller box", v.Format, MaxWasmPixels, l.OutW, l.OutH)
	}
	return v, nil
}

// canonicalBox gives the one box (and fit) that renders what v's box
// renders from an image of sw×sh pixels.
func canonicalBox(v VariantSpec, sw, sh int) VariantSpec {
	if v.Width == 0 || v.Height == 0 {
		v.Fit = FitInside
	}
	if v.Fit == FitInside {
		return canonicalInside(v, sw, sh)
	}
	if v.Fit == FitCover {
		v.Width, v.Height = min(v.Width, sw), min(v.Height, sh)
	}
	l := v.Layout(sw, sh)
	if l.ScaledW != l.OutW || l.ScaledH != l.OutH {
		return v // a crop or padding
	}
	// Neither: the same pixels as a box with one side free, if one gives them.
	for _, c := range []VariantSpec{{Width: v.Width}, {Height: v.Height}} {
		c.Fit, c.Format, c.Quality = FitInside, v.Format, v.Quality
		if c = canonicalInside(c, sw, sh); c.Layout(sw, sh) == l {
			return c
		}
	}
	return v
}

// canonicalInside keeps the side of an INSIDE box that decides the size
// (the width when both would), or none when the image is smaller.
func canonicalInside(v VariantSpec, sw, sh int) VariantSpec {
	w, h := v.Width, v.Height
	switch {
	case (w == 0 || w >= sw) && (h == 0 || h >= sh):
		v.Width, v.Height = 0, 0 // the image's own size
	case h == 0 || (w > 0 && w*sh <= h*sw):
		v.Width, v.Height = w, 0 // the width decides
	default:
		v.Width, v.Height = 0, h
		// A height that gives a width on the grid is spelled by that width.
		l := v.Layout(sw, sh)
		if byWidth := (VariantSpec{Width: l.OutW, Fit: FitInside}); l.OutW%TransformStep == 0 && l.OutW < sw &&
			byWidth.Layout(sw, sh) == l {
			v.Width, v.Height = l.OutW, 0
		}
	}
	return v
}

// request is the transform a canonical variant's URL spelling asks for.
func (v VariantSpec) request() ImageTransform {
	t := ImageTransform{Fit: v.Fit, Format: &v.Format}
	if v.Width > 0 {
		t.Width = &v.Width
	}
	if v.Height > 0 {
		t.Height = &v.Height
	}
	if v.Quality > 0 {
		t.Quality = &v.Quality
	}
	return t
}

// transformable reports whether a file's content can be transformed: an
// image that analysis decoded (it has a blurhash), with its size known.
func transformable(mimeType string, width, height *int, facts MediaFacts) bool {
	return ClassifyMIME(mimeType) == TypeImage && mimeType != "image/svg+xml" && facts.Blurhash != nil &&
		width != nil && height != nil && *width > 0 && *height > 0
}

// transformURL returns the URL of a variant of an image:
// /files/{id}/variant/{spec}?rev=N, signed and expiring for PRIVATE files
// with a signature that grants that variant only.
// Returns BAD_USER_INPUT (field transform) when the file is not an image
// that can be transformed (not an image, SVG, content that could not be
// decoded) and for transforms out of range.
func (s *Service) transformURL(f *File, t ImageTransform, expiresIn *int) (string, error) {
	if s.Analyzer == nil || !transformable(f.MimeType, f.Width, f.Height, f.MediaFacts) {
		return "", Invalid("transform", "file %s is not an image that can be transformed", f.ID)
	}
	if int64(*f.Width)*int64(*f.Height) > s.Config.MaxImagePixels {
		return "", Invalid("transform", "the image is %d×%d pixels, over the limit of %d", *f.Width, *f.Height, s.Config.MaxImagePixels)
	}
	v, err := s.resolveVariant(t, f.MimeType, *f.Width, *f.Height)
	if err != nil {
		return "", err
	}
	spec := v.String()
	q, err := s.urlQuery(f, f.Revision, "variant:"+spec, expiresIn)
	if err != nil {
		return "", err
	}
	return s.Config.PublicURL + "/files/" + string(f.ID) + "/variant/" + spec + "?" + q.Encode(), nil
}

// VariantRequest asks for a variant (GET /files/{id}/variant/{spec}).
type VariantRequest struct {
	DownloadRequest
	Spec string
}

// Variant is a rendered variant, ready to serve: either Data, just
// rendered, or Stored, the object kept in the store.
type Variant struct {
	// Download is the revision it was made from (authorization, caching).
	Download    *Download
	ContentType string
	Data        []byte
	Stored      *Download
}

// transformTimeout bounds waiting for a worker, reading the image and
// rendering one variant (AVIF encodes of a few megapixels take seconds,
// and the first one compiles the encoder).
const transformTimeout = 2 * time.Minute

// Variant authorizes a request for a variant like a download (the
// signature of a variant URL is bound to that variant and grants nothing
// else) and returns it: from the store when it was rendered before,
// otherwise rendered now by the bounded pool of workers (concurrent
// requests for one variant wait for one render) and kept next to the
// image's bytes, as KEY.thumb-SPEC, so that it is deleted and swept with
// them.
// Returns NOT_FOUND for anything the caller may not read, for a file that
// cannot be transformed and for a spelling that is not the canonical one
// for that image; UNSUPPORTED_MEDIA_TYPE when the content cannot be
// rendered after all.
func (s *Service) Variant(ctx context.Context, req VariantRequest) (*Variant, error) {
	notFound := Errorf(ENOTFOUND, "no such variant")
	v, ok := parseVariantSpec(req.Spec)
	if !ok || s.Analyzer == nil {
		return nil, notFound
	}
	d, err := s.authorize(ctx, req.DownloadRequest, "variant:"+req.Spec)
	if err != nil {
		return nil, err
	}
	if !transformable(d.MimeType, d.width, d.height, d.facts) {
		return nil, notFound
	}
	if c, err := s.resolveVariant(v.request(), d.MimeType, *d.width, *d.height); err != nil || c != v {
		return nil, notFound
	}
	out := &Variant{Download: d, ContentType: v.Format.ContentType()}
	key := d.key + ".thumb-" + req.Spec
	if info, err := s.Blobs.Stat(ctx, key); err == nil {
		out.Stored = &Download{File: d.File, Revision: d.Revision, Immutable: d.Immutable, Size: info.Size,
			MimeType: out.ContentType, Sha256: d.Sha256, ModTime: d.ModTime, key: key}
		return out, nil
	} else if !IsNotFound(err) {
		return nil, err
	}
	ch := s.thumbs.flight.DoChan(key, func() (any, error) {
		// Not the first caller's context: others wait for this render,
		// and a render that was started is worth keeping.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), transformTimeout)
		defer cancel()
		return s.renderVariant(rctx, d, key, v)
	})
	select {
	case <-ctx.Done():
		return nil, Unavailable("rendering the variant", ctx.Err())
	case r := <-ch:
		if ErrorCode(r.Err) == ETOOLARGE {
			return nil, Errorf(EUNSUPPORTED, "file %s has no variants: it is too large to render", d.File.ID)
		}
		if r.Err != nil {
			return nil, r.Err
		}
		out.Data = r.Val.([]byte)
		return out, nil
	}
}

// renderVariant renders and stores one variant, with at most
// Config.ThumbnailWorkers renders (thumbnails and variants) at a time.
func (s *Service) renderVariant(ctx context.Context, d *Download, key string, v VariantSpec) ([]byte, error) {
	select {
	case s.thumbs.workers <- struct{}{}:
		defer func() { <-s.thumbs.workers }()
	case <-ctx.Done():
		return nil, Unavailable("rendering the variant", ctx.Err())
	}
	data, err := s.Analyzer.Transform(ctx, d.MimeType, s.readerAt(ctx, d.key), d.Size, v)
	if err != nil {
		return nil, err
	}
	if err := s.Blobs.Put(ctx, key, bytes.NewReader(data), int64(len(data)), v.Format.ContentType()); err != nil {
		// Serve it anyway; the next request renders again.
		s.Logger.WarnContext(ctx, "caching a variant", "key", key, "err", err)
	}
	return data, nil
}
