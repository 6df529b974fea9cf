// Package analyze describes stored content for package media: image
// dimensions with the EXIF orientation applied, a blurhash and a dominant
// colour; durations of audio and video (and video dimensions); PDF page
// counts; Lottie sizes and durations; and it renders thumbnails.
//
// Every step has limits: images are checked against a pixel limit from
// their header before anything is decoded, only images up to MaxImageBytes
// are decoded at all, a bounded number of decodes run at once, and every
// call ends after Timeout. Malformed content never fails a call: what could
// not be read stays nil and Analysis.Problem says why.
//
// Built-in parsers read WAV, FLAC, MP3 (Xing/Info/VBRI headers, else the
// first frame's bit rate), Ogg Vorbis and Opus, MP4/M4A/MOV and
// WebM/Matroska. Other audio and video formats (AAC in ADTS, AVI, MPEG-TS,
// …) need ffprobe from Debian's ffmpeg package, used when it is on PATH.
package analyze

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/draw"
	_ "image/gif" // decoders
	"image/jpeg"
	"image/png"
	"io"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/buckket/go-blurhash"
	xdraw "golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"github.com/mediagraph/mediagraph/media"
)

// Config holds the limits. Zero values get the defaults.
type Config struct {
	// MaxPixels: larger images are not decoded (default 100 megapixels).
	MaxPixels int64
	// MaxImageBytes: larger image files are not decoded (default 64 MiB).
	MaxImageBytes int64
	// MaxJSONBytes: larger Lottie files are not parsed (default 8 MiB).
	MaxJSONBytes int64
	// Timeout bounds one call (default 10 s).
	Timeout time.Duration
	// Workers bounds concurrent image decodes (default: one per CPU).
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
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	type result struct {
		an  media.Analysis
		err error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			if p := recover(); p != nil {
				res = result{media.Analysis{Problem: fmt.Sprintf("the decoder failed: %v", p)}, nil}
			}
			done <- res
		}()
		res.an, res.err = a.analyze(ctx, mimeType, r, size)
	}()
	select {
	case res := <-done:
		if res.err != nil && errors.Is(res.err, errMalformed) {
			res.an.Problem, res.err = res.err.Error(), nil
		}
		return res.an, res.err
	case <-ctx.Done():
		return media.Analysis{Problem: "analysis timed out"}, nil
	}
}

func (a *Analyzer) analyze(ctx context.Context, mimeType string, r io.ReaderAt, size int64) (media.Analysis, error) {
	var an media.Analysis
	switch {
	case mimeType == media.MIMELottie:
		return a.lottie(r, size)
	case mimeType == "application/pdf":
		an.PageCount = pdfPages(r, size)
		return an, nil
	case mimeType == "image/svg+xml":
		return svgSize(r, size), nil
	case strings.HasPrefix(mimeType, "image/"):
		return a.image(ctx, r, size)
	case strings.HasPrefix(mimeType, "audio/"), strings.HasPrefix(mimeType, "video/"):
		m, err := mediaInfo(mimeType, r, size)
		if (err != nil || m.duration == nil) && a.ffprobe != "" && ctx.Err() == nil {
			if pm, perr := a.probe(ctx, r, size); perr == nil {
				m, err = pm, nil
			}
		}
		an.Duration, an.Width, an.Height = m.duration, m.width, m.height
		return an, err
	}
	return an, nil
}

// reader reads r sequentially through a 256 KiB buffer.
func reader(r io.ReaderAt, off, size int64) *bufio.Reader {
	return bufio.NewReaderSize(io.NewSectionReader(r, off, size-off), 256<<10)
}

// acquire takes a decode slot.
func (a *Analyzer) acquire(ctx context.Context) (func(), error) {
	select {
	case a.workers <- struct{}{}:
		return func() { <-a.workers }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// decode decodes an image within the limits and returns its EXIF
// orientation, to be applied to whatever is made of it (after scaling,
// which is much cheaper).
func (a *Analyzer) decode(ctx context.Context, r io.ReaderAt, size int64) (image.Image, image.Config, int, error) {
	head := make([]byte, min(size, 512<<10))
	if n, err := r.ReadAt(head, 0); n < len(head) && err != nil && err != io.EOF {
		return nil, image.Config{}, 1, err
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(head))
	if err != nil {
		return nil, cfg, 1, malformed("the image header cannot be read: %v", err)
	}
	o := 1
	if format == "jpeg" {
		o = jpegOrientation(head)
	}
	if o >= 5 {
		cfg.Width, cfg.Height = cfg.Height, cfg.Width
	}
	if int64(cfg.Width)*int64(cfg.Height) > a.cfg.MaxPixels || cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, cfg, o, media.Errorf(media.ETOOLARGE, "the image is %d×%d pixels; over the limit of %d", cfg.Width, cfg.Height, a.cfg.MaxPixels)
	}
	if size > a.cfg.MaxImageBytes {
		return nil, cfg, o, media.Errorf(media.ETOOLARGE, "the image file is over %d bytes", a.cfg.MaxImageBytes)
	}
	release, err := a.acquire(ctx)
	if err != nil {
		return nil, cfg, o, err
	}
	defer release()
	img, _, err := image.Decode(reader(r, 0, size))
	if err != nil {
		return nil, cfg, o, malformed("the %s image cannot be decoded: %v", format, err)
	}
	return img, cfg, o, nil
}

// fit scales img (stored with orientation o) to fit w×h once oriented,
// then orients the small result.
func fit(img image.Image, o, w, h int) *image.RGBA {
	if o >= 5 {
		w, h = h, w
	}
	return orient(scale(img, w, h), o)
}

func (a *Analyzer) image(ctx context.Context, r io.ReaderAt, size int64) (media.Analysis, error) {
	var an media.Analysis
	img, cfg, o, err := a.decode(ctx, r, size)
	if cfg.Width > 0 && cfg.Height > 0 {
		w, h := cfg.Width, cfg.Height
		an.Width, an.Height = &w, &h
	}
	if err != nil {
		if media.ErrorCode(err) == media.ETOOLARGE {
			an.Problem = media.ErrorMessage(err)
			return an, nil
		}
		return an, err
	}
	small := fit(img, o, 32, 32)
	if hash, err := blurhash.Encode(4, 3, small); err == nil {
		an.Blurhash = &hash
	}
	c := dominant(small)
	an.DominantColor = &c
	return an, nil
}

// Thumbnail implements media.Analyzer.
func (a *Analyzer) Thumbnail(ctx context.Context, mimeType string, r io.ReaderAt, size int64, width, height int) ([]byte, string, error) {
	if !strings.HasPrefix(mimeType, "image/") || mimeType == "image/svg+xml" {
		return nil, "", media.Errorf(media.EUNSUPPORTED, "%s files have no thumbnails", mimeType)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
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
				res = result{err: media.Errorf(media.EUNSUPPORTED, "the image cannot be decoded")}
			}
			done <- res
		}()
		res.data, res.ct, res.err = a.thumbnail(ctx, r, size, width, height)
	}()
	select {
	case res := <-done:
		if errors.Is(res.err, errMalformed) {
			res.err = media.Errorf(media.EUNSUPPORTED, "%s", res.err.Error())
		}
		return res.data, res.ct, res.err
	case <-ctx.Done():
		return nil, "", media.Unavailable("rendering the thumbnail", ctx.Err())
	}
}

func (a *Analyzer) thumbnail(ctx context.Context, r io.ReaderAt, size int64, width, height int) ([]byte, string, error) {
	img, _, o, err := a.decode(ctx, r, size)
	if err != nil {
		return nil, "", err
	}
	out := fit(img, o, width, height)
	var buf bytes.Buffer
	if opaque(out) {
		err = jpeg.Encode(&buf, out, &jpeg.Options{Quality: 80})
		return buf.Bytes(), "image/jpeg", err
	}
	err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, out)
	return buf.Bytes(), "image/png", err
}

// scale fits img in w×h (0: free side), keeping the aspect ratio, never
// enlarging. Large reductions first average whole blocks of pixels (fast,
// and no aliasing), then finish with Catmull-Rom.
func scale(img image.Image, w, h int) *image.RGBA {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	f := 1.0
	if w > 0 {
		f = min(f, float64(w)/float64(sw))
	}
	if h > 0 {
		f = min(f, float64(h)/float64(sh))
	}
	dw, dh := max(1, int(float64(sw)*f+0.5)), max(1, int(float64(sh)*f+0.5))
	src := img
	if k := min(sw/dw, sh/dh) / 2; k >= 2 {
		src = boxShrink(img, k)
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	return dst
}

// boxShrink averages k×k blocks.
func boxShrink(img image.Image, k int) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx()/k, b.Dy()/k
	rgba, ok := img.(*image.RGBA)
	if !ok {
		rgba = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	n := uint32(k * k)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var r, g, bl, al uint32
			for yy := 0; yy < k; yy++ {
				row := rgba.Pix[(y*k+yy)*rgba.Stride+x*k*4:]
				for xx := 0; xx < k; xx++ {
					p := row[xx*4 : xx*4+4]
					r, g, bl, al = r+uint32(p[0]), g+uint32(p[1]), bl+uint32(p[2]), al+uint32(p[3])
				}
			}
			o := out.Pix[y*out.Stride+x*4:]
			o[0], o[1], o[2], o[3] = uint8(r/n), uint8(g/n), uint8(bl/n), uint8(al/n)
		}
	}
	return out
}

func opaque(img *image.RGBA) bool {
	for i := 3; i < len(img.Pix); i += 4 {
		if img.Pix[i] != 255 {
			return false
		}
	}
	return true
}

// dominant returns the most common colour of a small image, in buckets of
// 32 levels per channel, as the average of that bucket's pixels.
func dominant(img *image.RGBA) string {
	type sum struct{ n, r, g, b int }
	buckets := map[int]*sum{}
	best := -1
	for i := 0; i+3 < len(img.Pix); i += 4 {
		p := img.Pix[i : i+4]
		if p[3] < 128 {
			continue
		}
		k := int(p[0]>>5)<<6 | int(p[1]>>5)<<3 | int(p[2]>>5)
		s := buckets[k]
		if s == nil {
			s = &sum{}
			buckets[k] = s
		}
		s.n, s.r, s.g, s.b = s.n+1, s.r+int(p[0]), s.g+int(p[1]), s.b+int(p[2])
		if best < 0 || s.n > buckets[best].n || (s.n == buckets[best].n && k < best) {
			best = k
		}
	}
	if best < 0 {
		return "#000000"
	}
	s := buckets[best]
	return fmt.Sprintf("#%02x%02x%02x", s.r/s.n, s.g/s.n, s.b/s.n)
}

// orient applies an EXIF orientation (1–8) to a (small) image.
func orient(img *image.RGBA, o int) *image.RGBA {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			copy(out.Pix[dy*out.Stride+dx*4:dy*out.Stride+dx*4+4], img.Pix[img.PixOffset(b.Min.X+x, b.Min.Y+y):])
		}
	}
	return out
}

// jpegOrientation finds the EXIF orientation tag in a JPEG's APP1 segment.
func jpegOrientation(b []byte) int {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 1
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return 1
		}
		marker := b[i+1]
		if marker == 0xDA || marker == 0xD9 { // start of scan: no EXIF before it
			return 1
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 || i+2+n > len(b) {
			return 1
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && len(seg) > 14 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var u16 func([]byte) int
	var u32 func([]byte) int
	switch string(t[:2]) {
	case "II":
		u16 = func(p []byte) int { return int(p[0]) | int(p[1])<<8 }
		u32 = func(p []byte) int { return int(p[0]) | int(p[1])<<8 | int(p[2])<<16 | int(p[3])<<24 }
	case "MM":
		u16 = func(p []byte) int { return int(p[1]) | int(p[0])<<8 }
		u32 = func(p []byte) int { return int(p[3]) | int(p[2])<<8 | int(p[1])<<16 | int(p[0])<<24 }
	default:
		return 1
	}
	ifd := u32(t[4:8])
	if ifd < 8 || ifd+2 > len(t) {
		return 1
	}
	count := u16(t[ifd:])
	for i := 0; i < count; i++ {
		e := ifd + 2 + i*12
		if e+12 > len(t) {
			return 1
		}
		if u16(t[e:]) == 0x0112 {
			if o := u16(t[e+8:]); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
	}
	return 1
}

// svgSize reads width and height (or the viewBox) of an SVG's root element.
func svgSize(r io.ReaderAt, size int64) media.Analysis {
	var an media.Analysis
	head := make([]byte, min(size, 64<<10))
	n, _ := r.ReadAt(head, 0)
	s := string(head[:n])
	i := strings.Index(s, "<svg")
	if i < 0 {
		return an
	}
	tag := s[i:]
	if j := strings.IndexByte(tag, '>'); j > 0 {
		tag = tag[:j]
	}
	attr := func(name string) string {
		k := strings.Index(tag, " "+name+"=")
		if k < 0 {
			return ""
		}
		v := tag[k+len(name)+2:]
		if len(v) == 0 || (v[0] != '"' && v[0] != '\'') {
			return ""
		}
		q := v[0]
		if e := strings.IndexByte(v[1:], q); e >= 0 {
			return v[1 : e+1]
		}
		return ""
	}
	num := func(v string) (int, bool) {
		v = strings.TrimSuffix(strings.TrimSpace(v), "px")
		var f float64
		if _, err := fmt.Sscanf(v, "%g", &f); err != nil || f <= 0 || f > 1e6 || strings.ContainsAny(v, "%em") {
			return 0, false
		}
		return int(f + 0.5), true
	}
	w, okw := num(attr("width"))
	h, okh := num(attr("height"))
	if !okw || !okh {
		var x, y, vw, vh float64
		if _, err := fmt.Sscanf(strings.ReplaceAll(attr("viewBox"), ",", " "), "%g %g %g %g", &x, &y, &vw, &vh); err != nil || vw <= 0 || vh <= 0 || vw > 1e6 || vh > 1e6 {
			return an
		}
		w, h = int(vw+0.5), int(vh+0.5)
	}
	an.Width, an.Height = &w, &h
	return an
}

// lottie reads w, h, fr, ip and op from a Lottie animation.
func (a *Analyzer) lottie(r io.ReaderAt, size int64) (media.Analysis, error) {
	var an media.Analysis
	if size > a.cfg.MaxJSONBytes {
		return an, nil
	}
	var l struct {
		W, H       *float64
		Fr, Ip, Op *float64
	}
	if err := json.NewDecoder(reader(r, 0, size)).Decode(&l); err != nil {
		return an, malformed("the Lottie JSON cannot be read: %v", err)
	}
	if l.W != nil && l.H != nil && *l.W > 0 && *l.H > 0 && *l.W < 1e6 && *l.H < 1e6 {
		w, h := int(*l.W), int(*l.H)
		an.Width, an.Height = &w, &h
	}
	if l.Fr != nil && l.Ip != nil && l.Op != nil && *l.Fr > 0 && *l.Op >= *l.Ip {
		d := (*l.Op - *l.Ip) / *l.Fr
		an.Duration = &d
	}
	return an, nil
}

// pdfPages finds the largest /Count of a /Type /Pages dictionary in the
// first and last MiB (nil when the page tree is in a compressed stream).
func pdfPages(r io.ReaderAt, size int64) *int {
	best := -1
	scan := func(off, n int64) {
		b := make([]byte, n)
		m, _ := r.ReadAt(b, off)
		s := string(b[:m])
		for i := strings.Index(s, "/Count"); i >= 0; {
			start := strings.LastIndex(s[:i], "<<")
			end := strings.Index(s[i:], ">>")
			if start >= 0 && end >= 0 && pagesType.MatchString(s[start:i+end]) {
				var v int
				if _, err := fmt.Sscanf(strings.TrimLeft(s[i+6:], " \r\n\t"), "%d", &v); err == nil && v > best {
					best = v
				}
			}
			next := strings.Index(s[i+6:], "/Count")
			if next < 0 {
				break
			}
			i += 6 + next
		}
	}
	const window = 1 << 20
	scan(0, min(size, window))
	if size > window {
		scan(max(window, size-window), min(window, size-window))
	}
	if best < 0 || best > 1_000_000 {
		return nil
	}
	return &best
}

var pagesType = regexp.MustCompile(`/Type\s*/Pages\b`)
