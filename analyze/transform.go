package analyze

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/webp"

	"github.com/mediagraph/mediagraph/media"
)

// transform renders a variant: decode (pixel limit first), scale to the
// layout's size in the stored orientation, orient the small result, then
// crop (COVER) or pad (CONTAIN) and encode. The caller's goroutine holds
// no slot; this takes one for the decode and the encode together.
func (a *Analyzer) transform(ctx context.Context, mimeType string, src *source, v media.VariantSpec) ([]byte, error) {
	release, err := a.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	img, h, err := a.decode(mimeType, src)
	var nd errNotDecoded
	if errors.As(err, &nd) {
		if src.size > a.cfg.MaxImageBytes {
			return nil, media.Errorf(media.ETOOLARGE, "%s", nd.msg)
		}
		return nil, media.Errorf(media.EUNSUPPORTED, "%s", nd.msg)
	}
	if err != nil {
		return nil, err
	}
	sw, sh := h.displaySize()
	l := v.Layout(sw, sh)
	if int64(l.OutW)*int64(l.OutH) > a.cfg.MaxPixels {
		return nil, media.Errorf(media.ETOOLARGE, "the variant would be %d×%d pixels, over the limit of %d", l.OutW, l.OutH, a.cfg.MaxPixels)
	}
	dw, dh := l.ScaledW, l.ScaledH
	if h.orientation >= 5 {
		dw, dh = dh, dw
	}
	out := orient(scaleTo(img, dw, dh), h.orientation)
	if l.OutW != l.ScaledW || l.OutH != l.ScaledH {
		canvas := image.NewRGBA(image.Rect(0, 0, l.OutW, l.OutH))
		if v.Format == media.FormatJPEG {
			draw.Draw(canvas, canvas.Bounds(), image.White, image.Point{}, draw.Src)
		}
		// X, Y < 0 crop the centre (COVER), > 0 centre the image on the
		// canvas (CONTAIN).
		draw.Draw(canvas, image.Rect(l.X, l.Y, l.X+l.ScaledW, l.Y+l.ScaledH), out, image.Point{}, draw.Over)
		out = canvas
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return encode(out, v)
}

// encoderCompilers compile the WebAssembly encoders (each once per
// process; later calls return at once).
var encoderCompilers = map[media.ImageFormat]func(){media.FormatWebP: webp.Init, media.FormatAVIF: avif.InitEncoder}

// compileEncoder makes sure the encoder of format f is compiled, waiting
// for it within ctx: the first use pays for the compilation (seconds for
// AVIF), outside the render's time limit and worker slot.
func compileEncoder(ctx context.Context, f media.ImageFormat) error {
	compile, ok := encoderCompilers[f]
	if !ok {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		compile()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return media.Unavailable("compiling the "+string(f)+" encoder", ctx.Err())
	}
}

// encode writes img (premultiplied RGBA, origin at 0,0) in v's format.
// JPEG has no transparency: transparent pixels become white.
func encode(img *image.RGBA, v media.VariantSpec) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch v.Format {
	case media.FormatJPEG:
		if !opaque(img) {
			flat := image.NewRGBA(img.Bounds())
			draw.Draw(flat, flat.Bounds(), image.White, image.Point{}, draw.Src)
			draw.Draw(flat, flat.Bounds(), img, image.Point{}, draw.Over)
			img = flat
		}
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: v.Quality})
	case media.FormatPNG:
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	case media.FormatWebP:
		// libwebp takes straight (not premultiplied) alpha.
		var m image.Image = img
		if !opaque(img) {
			n := image.NewNRGBA(img.Bounds())
			draw.Draw(n, n.Bounds(), img, image.Point{}, draw.Src)
			m = n
		}
		err = webp.Encode(&buf, m, webp.Options{Quality: v.Quality, Method: webp.DefaultMethod})
	case media.FormatAVIF:
		// The encoder is told its RGBA input is premultiplied, as ours is.
		err = avif.Encode(&buf, img, avif.Options{Quality: v.Quality, QualityAlpha: v.Quality,
			Speed: avif.DefaultSpeed, ChromaSubsampling: image.YCbCrSubsampleRatio420})
	default:
		return nil, fmt.Errorf("no encoder for %q", v.Format)
	}
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", v.Format, err)
	}
	return buf.Bytes(), nil
}
