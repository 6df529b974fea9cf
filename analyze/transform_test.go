package analyze

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/webp"
	xwebp "golang.org/x/image/webp"

	"github.com/mediagraph/mediagraph/media"
)

func transformBytes(t *testing.T, a *Analyzer, mimeType string, b []byte, v media.VariantSpec) []byte {
	t.Helper()
	data, err := a.Transform(context.Background(), mimeType, bytes.NewReader(b), int64(len(b)), v)
	if err != nil {
		t.Fatalf("%s of %s: %v", v, mimeType, err)
	}
	return data
}

// decodeAs decodes a variant with the decoder of the format it must be in.
func decodeAs(t *testing.T, f media.ImageFormat, data []byte) image.Image {
	t.Helper()
	var img image.Image
	var err error
	switch f {
	case media.FormatJPEG:
		img, err = jpeg.Decode(bytes.NewReader(data))
	case media.FormatPNG:
		img, err = png.Decode(bytes.NewReader(data))
	case media.FormatWebP:
		img, err = xwebp.Decode(bytes.NewReader(data))
	case media.FormatAVIF:
		if w, h, _, ok := heifSize(data); !ok || w == 0 || h == 0 {
			t.Fatalf("not an AVIF: % x", data[:min(16, len(data))])
		}
		img, err = avif.Decode(bytes.NewReader(data))
	}
	if err != nil {
		t.Fatalf("the %s variant does not decode as %s: %v", f, f, err)
	}
	return img
}

func TestTransform(t *testing.T) {
	a := New(Config{})
	// 400×300 stored, turned by EXIF orientation 6 to 300×400; the stored
	// top-left corner (white) ends top-right.
	marked := solid(400, 300, color.RGBA{0, 0, 255, 255})
	for y := 0; y < 40; y++ {
		for x := 0; x < 40; x++ {
			marked.Set(x, y, color.White)
		}
	}
	src := withOrientation(jpegOf(marked), 6, false)
	for _, f := range []media.ImageFormat{media.FormatJPEG, media.FormatPNG, media.FormatWebP, media.FormatAVIF} {
		for _, c := range []struct {
			fit        media.ImageFit
			w, h       int
			outW, outH int
		}{
			{media.FitInside, 150, 0, 150, 200},
			{media.FitInside, 600, 600, 300, 400}, // never enlarged
			{media.FitCover, 200, 100, 200, 100},
			{media.FitCover, 600, 200, 300, 200}, // cut to the image, not enlarged
			{media.FitContain, 200, 200, 200, 200},
		} {
			v := media.VariantSpec{Width: c.w, Height: c.h, Fit: c.fit, Format: f, Quality: media.DefaultQuality[f]}
			img := decodeAs(t, f, transformBytes(t, a, "image/jpeg", src, v))
			if b := img.Bounds(); b.Dx() != c.outW || b.Dy() != c.outH {
				t.Errorf("%s: %d×%d, want %d×%d", v, b.Dx(), b.Dy(), c.outW, c.outH)
				continue
			}
			r, g, bl, al := img.At(c.outW-3, 2).RGBA()
			switch c.fit {
			case media.FitInside:
				if r < 0xc000 || g < 0xc000 || bl < 0xc000 {
					t.Errorf("%s: the marked corner is not top right: %v", v, img.At(c.outW-3, 2))
				}
			case media.FitContain:
				// 150×200 centred on 200×200: the corners are padding.
				if f == media.FormatJPEG && (r < 0xf000 || g < 0xf000 || bl < 0xf000) {
					t.Errorf("%s: JPEG padding is not white: %v", v, img.At(c.outW-3, 2))
				}
				if f != media.FormatJPEG && al != 0 {
					t.Errorf("%s: padding is not transparent: %v", v, img.At(c.outW-3, 2))
				}
			case media.FitCover:
				// The centre of a blue image.
				if r, g, bl, _ := img.At(c.outW/2, c.outH/2).RGBA(); bl < 0xc000 || r > 0x4000 || g > 0x4000 {
					t.Errorf("%s: centre is %v", v, img.At(c.outW/2, c.outH/2))
				}
			}
		}
	}
	// Transparency survives in WebP and AVIF, and JPEG flattens it on white.
	half := solid(64, 64, color.NRGBA{255, 0, 0, 255})
	for y := 0; y < 64; y++ {
		for x := 32; x < 64; x++ {
			half.Set(x, y, color.Transparent)
		}
	}
	for f, want := range map[media.ImageFormat]uint32{media.FormatWebP: 0, media.FormatAVIF: 0, media.FormatPNG: 0, media.FormatJPEG: 0xffff} {
		img := decodeAs(t, f, transformBytes(t, a, "image/png", pngOf(half), media.VariantSpec{Fit: media.FitInside, Format: f, Quality: media.DefaultQuality[f]}))
		if _, _, _, al := img.At(60, 30).RGBA(); al != want {
			t.Errorf("%s: alpha %x of a transparent pixel, want %x", f, al, want)
		}
		if r, g, _, _ := img.At(4, 30).RGBA(); r < 0xc000 || g > 0x4000 {
			t.Errorf("%s: the red half is %v", f, img.At(4, 30))
		}
	}

	// The pixel limit holds for the source and for the output.
	strict := New(Config{MaxPixels: 100_000})
	v := media.VariantSpec{Width: 64, Fit: media.FitInside, Format: media.FormatPNG}
	if _, err := strict.Transform(context.Background(), "image/jpeg", bytes.NewReader(src), int64(len(src)), v); media.ErrorCode(err) != media.ETOOLARGE {
		t.Errorf("a source over the pixel limit: %v", err)
	}
	small := jpegOf(solid(100, 100, color.White))
	v = media.VariantSpec{Width: 1000, Height: 1000, Fit: media.FitContain, Format: media.FormatPNG}
	if _, err := strict.Transform(context.Background(), "image/jpeg", bytes.NewReader(small), int64(len(small)), v); media.ErrorCode(err) != media.ETOOLARGE {
		t.Errorf("an output over the pixel limit: %v", err)
	}
	// Not images, SVG and broken images are refused.
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`)
	if _, err := a.Transform(context.Background(), "image/svg+xml", bytes.NewReader(svg), int64(len(svg)), v); media.ErrorCode(err) != media.EUNSUPPORTED {
		t.Errorf("svg: %v", err)
	}
	cut := small[:len(small)/2]
	if _, err := a.Transform(context.Background(), "image/jpeg", bytes.NewReader(cut), int64(len(cut)), v); media.ErrorCode(err) != media.EUNSUPPORTED {
		t.Errorf("truncated jpeg: %v", err)
	}
	// The WebAssembly decoders linked for encoding are never used on
	// uploads: AVIF stays described by its header only, WebP is read by
	// golang.org/x/image.
	var av bytes.Buffer
	if err := avif.Encode(&av, solid(48, 32, color.White)); err != nil {
		t.Fatal(err)
	}
	if an := analyzeBytes(t, a, "image/avif", av.Bytes()); an.Width == nil || *an.Width != 48 || an.Blurhash != nil {
		t.Errorf("AVIF analysis: %+v", an)
	}
	if c, ok := media.ImageCodecFor(av.Bytes()); ok {
		t.Errorf("AVIF has a codec: %s", c.Format)
	}
}

// photo is a synthetic photograph: smooth gradients with sensor-like
// noise, so encoders work about as hard as on a real one (a flat image is
// too easy, pure noise too hard).
func photo(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	clamp := func(f float64) uint8 { return uint8(max(0, min(255, f))) }
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			v := 0.5 + 0.25*math.Sin(fx*23+math.Cos(fy*17)*3) + 0.2*math.Cos(fy*31*fx)
			n := float64(r.IntN(9) - 4)
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = clamp(v*220+n+30*fx), clamp(v*180+n+40*fy), clamp((1-v)*200+n), 255
		}
	}
	return img
}

var encoderInit = sync.OnceValue(func() map[media.ImageFormat]time.Duration {
	t := time.Now()
	webp.Init()
	w := time.Since(t)
	t = time.Now()
	avif.InitEncoder()
	return map[media.ImageFormat]time.Duration{media.FormatWebP: w, media.FormatAVIF: time.Since(t)}
})

// BenchmarkTransform12MP renders variants of a 4000×3000 JPEG photo: a
// 2048×1536 and a 640×480 image in each format, decode, scale and encode
// included. The WebAssembly encoders are compiled once per process, before
// the timer starts; that cost is reported as compile-ms.
func BenchmarkTransform12MP(b *testing.B) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, photo(4000, 3000), &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	compile := encoderInit()
	a := New(Config{})
	for _, f := range []media.ImageFormat{media.FormatJPEG, media.FormatPNG, media.FormatWebP, media.FormatAVIF} {
		for _, width := range []int{2048, 640} {
			v := media.VariantSpec{Width: width, Fit: media.FitInside, Format: f, Quality: media.DefaultQuality[f]}
			b.Run(v.String(), func(b *testing.B) {
				b.ReportAllocs()
				var out []byte
				runtime.GC()
				peak := heapPeak()
				cpu0 := cpuTime()
				for b.Loop() {
					var err error
					if out, err = a.Transform(context.Background(), "image/jpeg", bytes.NewReader(data), int64(len(data)), v); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
				b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(len(out))/1024, "KiB")
				if c, ok := compile[f]; ok {
					b.ReportMetric(float64(c.Milliseconds()), "compile-ms")
				}
			})
		}
	}
}

// cpuTime is the process's user and system CPU time: on a shared machine
// it varies less than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapPeak samples the live heap every millisecond until the returned
// function is called, which reports the peak above the heap at the start
// (the decoded image, the scaled one and the encoder's memory: the
// WebAssembly encoders' linear memory is Go heap).
func heapPeak() func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base, top := read(), uint64(0)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				top = max(top, read())
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return max(top, base) - base
	}
}

// BenchmarkEncode encodes a 2048×1536 and a 640×480 photo in each format,
// nothing else: the encoders' own time, and their peak memory (for WebP
// and AVIF, the WebAssembly instance's linear memory).
func BenchmarkEncode(b *testing.B) {
	encoderInit()
	for _, f := range []media.ImageFormat{media.FormatJPEG, media.FormatPNG, media.FormatWebP, media.FormatAVIF} {
		for _, size := range [][2]int{{2048, 1536}, {640, 480}} {
			img := photo(size[0], size[1])
			v := media.VariantSpec{Width: size[0], Height: size[1], Fit: media.FitInside, Format: f, Quality: media.DefaultQuality[f]}
			b.Run(v.String(), func(b *testing.B) {
				b.ReportAllocs()
				runtime.GC()
				peak := heapPeak()
				cpu0 := cpuTime()
				for b.Loop() {
					if _, err := encode(img, v); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
				b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
			})
		}
	}
}
