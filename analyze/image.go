package analyze

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/buckket/go-blurhash"
	xdraw "golang.org/x/image/draw"

	"github.com/mediagraph/mediagraph/media"
)

// decodable are the image types that have a decoder here: for them, a
// header that cannot be read means malformed content. Other image types
// (AVIF, HEIC, icons, …) are described as far as their headers allow.
var decodable = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/apng": true, "image/gif": true,
	"image/webp": true, "image/bmp": true, "image/x-ms-bmp": true, "image/tiff": true,
}

// errNotDecoded: the image is valid as far as was read but is not decoded
// here (over MaxImageBytes, animated WebP, an unimplemented feature).
type errNotDecoded struct{ msg string }

func (e errNotDecoded) Error() string { return e.msg }

// imageHeader is what an image's leading bytes tell.
type imageHeader struct {
	format string
	// width and height as stored, before the orientation.
	width, height int
	// orientation is the EXIF orientation, 1–8.
	orientation int
	// decode decodes the image (see media.ImageCodecFor).
	decode func(io.Reader) (image.Image, error)
}

// displaySize is the size once oriented.
func (h imageHeader) displaySize() (int, int) {
	if h.orientation >= 5 {
		return h.height, h.width
	}
	return h.width, h.height
}

// header reads an image's header from the first bufferSize bytes of br
// (which stay buffered for the decoder).
func (a *Analyzer) header(mimeType string, src *source, br *bufio.Reader) (imageHeader, error) {
	h := imageHeader{orientation: 1}
	if src.size == 0 {
		return h, malformed("the file is empty")
	}
	head, _ := br.Peek(int(min(src.size, bufferSize)))
	if err := src.Err(); err != nil {
		return h, err
	}
	codec, known := media.ImageCodecFor(head)
	var cfg image.Config
	err := image.ErrFormat
	if known {
		cfg, err = codec.DecodeConfig(bytes.NewReader(head))
		if err != nil && int64(len(head)) < src.size {
			// Metadata longer than the buffer: read the header from the stream.
			cfg, err = codec.DecodeConfig(src.reader(0))
		}
	}
	format := codec.Format
	if err != nil {
		if w, hh, rot, ok := heifSize(head); ok {
			h.format, h.width, h.height = "heif", w, hh
			if rot {
				h.orientation = 6
			}
			return h, errNotDecoded{"HEIF and AVIF images are not decoded"}
		}
		if decodable[mimeType] || !errors.Is(err, image.ErrFormat) {
			return h, malformed("the image header cannot be read: %v", err)
		}
		return h, errNotDecoded{fmt.Sprintf("%s images are not decoded", mimeType)}
	}
	h.format, h.width, h.height, h.decode = format, cfg.Width, cfg.Height, codec.Decode
	h.orientation = orientation(format, head)
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return h, malformed("the image is %d×%d pixels", cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > a.cfg.MaxPixels {
		w, hh := h.displaySize()
		return h, media.Errorf(media.ETOOLARGE, "the image is %d×%d pixels, over the limit of %d", w, hh, a.cfg.MaxPixels)
	}
	if format == "webp" && webpAnimated(head) {
		return h, errNotDecoded{"animated WebP images are not decoded"}
	}
	if src.size > a.cfg.MaxImageBytes {
		return h, errNotDecoded{fmt.Sprintf("the image file is over %d bytes", a.cfg.MaxImageBytes)}
	}
	return h, nil
}

// decode reads the header, then decodes the image within the limits. The
// orientation is returned, to be applied to what is made of the image (after
// scaling, which is much cheaper). The caller holds a worker slot.
func (a *Analyzer) decode(mimeType string, src *source) (image.Image, imageHeader, error) {
	br := src.reader(0)
	h, err := a.header(mimeType, src, br)
	if err != nil {
		return nil, h, err
	}
	img, err := h.decode(br)
	if err != nil {
		if src.Err() != nil || src.ctx.Err() != nil {
			return nil, h, err
		}
		var ju jpeg.UnsupportedError
		var pu png.UnsupportedError
		if errors.As(err, &ju) || errors.As(err, &pu) {
			return nil, h, errNotDecoded{err.Error()}
		}
		return nil, h, malformed("the %s image cannot be decoded: %v", h.format, err)
	}
	if b := img.Bounds(); b.Dx() != h.width || b.Dy() != h.height {
		// A frame smaller than the canvas (GIF) is fine; anything else is not.
		if b.Dx() > h.width || b.Dy() > h.height || b.Empty() {
			return nil, h, malformed("the %s image is %v, its header says %d×%d", h.format, b, h.width, h.height)
		}
	}
	return img, h, nil
}

// fit scales img (stored with orientation o) to fit w×h once oriented,
// then orients the small result.
func fit(img image.Image, o, w, h int) *image.RGBA {
	if o >= 5 {
		w, h = h, w
	}
	return orient(scale(img, w, h), o)
}

func (a *Analyzer) image(ctx context.Context, mimeType string, src *source) (media.Analysis, error) {
	var an media.Analysis
	release, err := a.acquire(ctx)
	if err != nil {
		return an, err
	}
	defer release()
	img, h, err := a.decode(mimeType, src)
	if w, hh := h.displaySize(); w > 0 && hh > 0 {
		an.Width, an.Height = &w, &hh
	}
	var nd errNotDecoded
	switch {
	case errors.As(err, &nd):
		return an, nil
	case media.ErrorCode(err) == media.ETOOLARGE:
		an.Problem = media.ErrorMessage(err)
		return an, nil
	case err != nil:
		return an, err
	}
	small := fit(img, h.orientation, 32, 32)
	xc, yc := 4, 3
	if small.Bounds().Dy() > small.Bounds().Dx() {
		xc, yc = 3, 4
	}
	if hash, err := blurhash.Encode(xc, yc, small); err == nil {
		an.Blurhash = &hash
	}
	an.DominantColor = dominant(small)
	return an, nil
}

func (a *Analyzer) thumbnail(ctx context.Context, mimeType string, src *source, width, height int) ([]byte, string, error) {
	release, err := a.acquire(ctx)
	if err != nil {
		return nil, "", err
	}
	defer release()
	img, h, err := a.decode(mimeType, src)
	var nd errNotDecoded
	if errors.As(err, &nd) {
		if src.size > a.cfg.MaxImageBytes {
			return nil, "", media.Errorf(media.ETOOLARGE, "%s", nd.msg)
		}
		return nil, "", media.Errorf(media.EUNSUPPORTED, "%s", nd.msg)
	}
	if err != nil {
		return nil, "", err
	}
	out := fit(img, h.orientation, max(width, 0), max(height, 0))
	var buf bytes.Buffer
	if opaque(out) {
		err = jpeg.Encode(&buf, out, &jpeg.Options{Quality: 80})
		return buf.Bytes(), "image/jpeg", err
	}
	err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, out)
	return buf.Bytes(), "image/png", err
}

// scale fits img in w×h (0: free side), keeping the aspect ratio, never
// enlarging. Large reductions first average blocks of k×k pixels (fast, and
// no aliasing) down to at least twice the target, then finish with
// Catmull-Rom on the small image.
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
	return scaleTo(img, max(1, int(float64(sw)*f+0.5)), max(1, int(float64(sh)*f+0.5)))
}

// scaleTo scales img to exactly dw×dh (the caller keeps the aspect ratio).
func scaleTo(img image.Image, dw, dh int) *image.RGBA {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	if dw == sw && dh == sh {
		draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
		return dst
	}
	src := img
	if k := min(sw/dw, sh/dh) / 2; k >= 2 {
		src = boxShrink(img, k)
	}
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	return dst
}

// boxShrink averages blocks of k×k pixels (the last partial row and column
// of blocks are dropped). YCbCr images (JPEG) are averaged in YCbCr, which
// skips converting every pixel; others are converted a strip at a time.
func boxShrink(img image.Image, k int) *image.RGBA {
	if y, ok := img.(*image.YCbCr); ok {
		if out := boxShrinkYCbCr(y, k); out != nil {
			return out
		}
	}
	b := img.Bounds()
	w, h := b.Dx()/k, b.Dy()/k
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	strip := image.NewRGBA(image.Rect(0, 0, b.Dx(), k))
	sums := make([]uint32, w*4)
	n := uint32(k * k)
	for y := 0; y < h; y++ {
		draw.Draw(strip, strip.Bounds(), img, image.Pt(b.Min.X, b.Min.Y+y*k), draw.Src)
		clear(sums)
		for yy := 0; yy < k; yy++ {
			row := strip.Pix[yy*strip.Stride:]
			for x := 0; x < w; x++ {
				p := row[x*k*4 : (x+1)*k*4]
				s := sums[x*4 : x*4+4]
				for i := 0; i < len(p); i += 4 {
					s[0] += uint32(p[i])
					s[1] += uint32(p[i+1])
					s[2] += uint32(p[i+2])
					s[3] += uint32(p[i+3])
				}
			}
		}
		o := out.Pix[y*out.Stride:]
		for i, s := range sums {
			o[i] = uint8(s / n)
		}
	}
	return out
}

func boxShrinkYCbCr(img *image.YCbCr, k int) *image.RGBA {
	var sx, sy int
	switch img.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		sx, sy = 1, 1
	case image.YCbCrSubsampleRatio422:
		sx, sy = 2, 1
	case image.YCbCrSubsampleRatio420:
		sx, sy = 2, 2
	case image.YCbCrSubsampleRatio440:
		sx, sy = 1, 2
	case image.YCbCrSubsampleRatio411:
		sx, sy = 4, 1
	case image.YCbCrSubsampleRatio410:
		sx, sy = 4, 2
	default:
		return nil
	}
	b := img.Bounds()
	if b.Min.X%sx != 0 || b.Min.Y%sy != 0 {
		return nil
	}
	w, h := b.Dx()/k, b.Dy()/k
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	ys := make([]uint32, w)
	for y := 0; y < h; y++ {
		clear(ys)
		for yy := 0; yy < k; yy++ {
			row := img.Y[(y*k+yy)*img.YStride:]
			for x := 0; x < w; x++ {
				var s uint32
				for _, v := range row[x*k : x*k+k] {
					s += uint32(v)
				}
				ys[x] += s
			}
		}
		// Chroma rows and columns covering the block.
		cy0, cy1 := (y*k)/sy, max((y*k)/sy+1, (y*k+k)/sy)
		o := out.Pix[y*out.Stride:]
		for x := 0; x < w; x++ {
			cx0, cx1 := (x*k)/sx, max((x*k)/sx+1, (x*k+k)/sx)
			var cb, cr, cn uint32
			for cy := cy0; cy < cy1; cy++ {
				base := cy * img.CStride
				for cx := cx0; cx < cx1; cx++ {
					cb += uint32(img.Cb[base+cx])
					cr += uint32(img.Cr[base+cx])
					cn++
				}
			}
			r, g, bl := color.YCbCrToRGB(uint8(ys[x]/uint32(k*k)), uint8(cb/cn), uint8(cr/cn))
			o[x*4], o[x*4+1], o[x*4+2], o[x*4+3] = r, g, bl, 255
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

// dominant returns the most common colour of a small image: pixels are put
// in buckets of 32 levels per channel, and the fullest bucket's average is
// the answer (ties go to the darker bucket). Mostly transparent pixels are
// left out; an image of nothing but has none (nil).
func dominant(img *image.RGBA) *string {
	var n, r, g, b [512]int
	best := -1
	for i := 0; i+3 < len(img.Pix); i += 4 {
		p := img.Pix[i : i+4]
		if p[3] < 128 {
			continue
		}
		// Undo the premultiplication.
		pr, pg, pb := int(p[0])*255/int(p[3]), int(p[1])*255/int(p[3]), int(p[2])*255/int(p[3])
		k := pr>>5<<6 | pg>>5<<3 | pb>>5
		n[k]++
		r[k], g[k], b[k] = r[k]+pr, g[k]+pg, b[k]+pb
		if best < 0 || n[k] > n[best] || (n[k] == n[best] && k < best) {
			best = k
		}
	}
	if best < 0 {
		return nil
	}
	c := fmt.Sprintf("#%02x%02x%02x", r[best]/n[best], g[best]/n[best], b[best]/n[best])
	return &c
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
			i := img.PixOffset(b.Min.X+x, b.Min.Y+y)
			copy(out.Pix[dy*out.Stride+dx*4:dy*out.Stride+dx*4+4], img.Pix[i:i+4])
		}
	}
	return out
}
