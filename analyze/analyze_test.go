package analyze

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

func analyzeBytes(t *testing.T, a *Analyzer, mimeType string, b []byte) media.Analysis {
	t.Helper()
	an, err := a.Analyze(context.Background(), mimeType, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", mimeType, err)
	}
	return an
}

func solid(w, h int, c color.Color) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		r, g, b, a := c.RGBA()
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(r>>8), uint8(g>>8), uint8(b>>8), uint8(a>>8)
	}
	return img
}

func jpegOf(img image.Image) []byte {
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	return b.Bytes()
}

func pngOf(img image.Image) []byte {
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// withOrientation inserts an EXIF APP1 segment with the orientation tag
// after a JPEG's SOI marker (big-endian TIFF when be is true).
func withOrientation(j []byte, o uint16, be bool) []byte {
	var t bytes.Buffer
	var order binary.ByteOrder = binary.LittleEndian
	t.WriteString("II")
	if be {
		order = binary.BigEndian
		t.Reset()
		t.WriteString("MM")
	}
	binary.Write(&t, order, uint16(42))
	binary.Write(&t, order, uint32(8))
	binary.Write(&t, order, uint16(1))     // one entry
	binary.Write(&t, order, uint16(0x112)) // orientation
	binary.Write(&t, order, uint16(3))     // SHORT
	binary.Write(&t, order, uint32(1))
	binary.Write(&t, order, o)
	binary.Write(&t, order, uint16(0))
	binary.Write(&t, order, uint32(0)) // no next IFD
	seg := append([]byte("Exif\x00\x00"), t.Bytes()...)
	app1 := []byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}
	out := append([]byte{}, j[:2]...)
	out = append(out, app1...)
	out = append(out, seg...)
	return append(out, j[2:]...)
}

func TestImages(t *testing.T) {
	a := New(Config{})
	red := jpegOf(solid(400, 300, color.RGBA{255, 0, 0, 255}))
	an := analyzeBytes(t, a, "image/jpeg", red)
	if *an.Width != 400 || *an.Height != 300 || an.Blurhash == nil || an.Problem != "" {
		t.Fatalf("jpeg: %+v", an)
	}
	if c := *an.DominantColor; !strings.HasPrefix(c, "#f") || c[3:5] > "10" || c[5:7] > "10" {
		t.Fatalf("dominant colour of red: %s", c)
	}
	// Orientations 5–8 swap the axes, for both byte orders; others do not.
	for _, c := range []struct {
		o    uint16
		be   bool
		w, h int
	}{{6, false, 300, 400}, {8, true, 300, 400}, {3, false, 400, 300}, {1, true, 400, 300}} {
		an := analyzeBytes(t, a, "image/jpeg", withOrientation(red, c.o, c.be))
		if *an.Width != c.w || *an.Height != c.h {
			t.Errorf("orientation %d: %d×%d", c.o, *an.Width, *an.Height)
		}
	}
	// Orientation 6 turns the image clockwise: the top-left corner ends top-right.
	marked := solid(40, 20, color.RGBA{0, 0, 255, 255})
	for y := 0; y < 10; y++ {
		for x := 0; x < 10; x++ {
			marked.Set(x, y, color.RGBA{255, 255, 255, 255})
		}
	}
	data, ct, err := a.Thumbnail(context.Background(), "image/jpeg", bytes.NewReader(withOrientation(jpegOf(marked), 6, false)), int64(len(withOrientation(jpegOf(marked), 6, false))), 64, 64)
	if err != nil || ct != "image/jpeg" {
		t.Fatal(err, ct)
	}
	th, _, _ := image.Decode(bytes.NewReader(data))
	if b := th.Bounds(); b.Dx() != 20 || b.Dy() != 40 {
		t.Fatalf("rotated thumbnail is %v", b)
	}
	if r, _, _, _ := th.At(18, 1).RGBA(); r < 0xc000 {
		t.Errorf("the marked corner did not move to the top right")
	}
	// Transparency gives a PNG; a box never enlarges.
	clear := solid(50, 50, color.RGBA{0, 0, 0, 0})
	data, ct, err = a.Thumbnail(context.Background(), "image/png", bytes.NewReader(pngOf(clear)), int64(len(pngOf(clear))), 128, 0)
	if err != nil || ct != "image/png" {
		t.Fatal(err, ct)
	}
	if cfg, _, _ := image.DecodeConfig(bytes.NewReader(data)); cfg.Width != 50 {
		t.Fatalf("enlarged to %d", cfg.Width)
	}
	// SVG: size from the root element, no thumbnail.
	svg := []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 80"><script>alert(1)</script></svg>`)
	if an := analyzeBytes(t, a, "image/svg+xml", svg); an.Width == nil || *an.Width != 120 || *an.Height != 80 || an.Blurhash != nil {
		t.Fatalf("svg: %+v", an)
	}
	if _, _, err := a.Thumbnail(context.Background(), "image/svg+xml", bytes.NewReader(svg), int64(len(svg)), 64, 64); media.ErrorCode(err) != media.EUNSUPPORTED {
		t.Fatalf("svg thumbnail: %v", err)
	}
}

// bombPNG is a PNG header claiming w×h pixels with almost no data.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.Write([]byte("\x89PNG\r\n\x1a\n"))
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.WriteString("IHDR")
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...)))
	return b.Bytes()
}

type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("storage is down") }

// blockingReader blocks every read until release is closed.
type blockingReader struct {
	r       io.ReaderAt
	release chan struct{}
}

func (s blockingReader) ReadAt(p []byte, off int64) (int, error) {
	<-s.release
	return s.r.ReadAt(p, off)
}

func TestHostileMedia(t *testing.T) {
	a := New(Config{MaxPixels: 40_000_000, Timeout: 200 * time.Millisecond, FFprobe: "-"})
	ctx := context.Background()
	noise := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range noise.Pix {
		noise.Pix[i] = byte(i * 131 % 251)
	}
	good := jpegOf(noise)

	// A decompression bomb is refused from its header, without allocating.
	bomb := bombPNG(60000, 60000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	an := analyzeBytes(t, a, "image/png", bomb)
	_, _, err := a.Thumbnail(ctx, "image/png", bytes.NewReader(bomb), int64(len(bomb)), 64, 64)
	runtime.ReadMemStats(&after)
	if an.Problem == "" || an.Blurhash != nil || *an.Width != 60000 || media.ErrorCode(err) != media.ETOOLARGE {
		t.Fatalf("bomb: %+v %v", an, err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("the bomb allocated %d MiB", grew>>20)
	}
	// Truncated: the header's size, no placeholder, a problem; no thumbnail.
	cut := good[:len(good)*3/4]
	an = analyzeBytes(t, a, "image/jpeg", cut)
	if an.Problem == "" || an.Blurhash != nil || an.Width == nil || *an.Width != 64 {
		t.Fatalf("truncated: %+v", an)
	}
	if _, _, err := a.Thumbnail(ctx, "image/jpeg", bytes.NewReader(cut), int64(len(cut)), 64, 64); media.ErrorCode(err) != media.EUNSUPPORTED {
		t.Fatalf("truncated thumbnail: %v", err)
	}
	// A polyglot: a GIF header followed by HTML.
	poly := append([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00"), "<html><script>alert(1)</script></html>"...)
	if an := analyzeBytes(t, a, "image/gif", poly); an.Problem == "" || an.Blurhash != nil {
		t.Fatalf("polyglot: %+v", an)
	}
	// Zero bytes, and a type that lies about the content.
	if an := analyzeBytes(t, a, "image/png", nil); an.Problem == "" {
		t.Fatalf("empty: %+v", an)
	}
	if an := analyzeBytes(t, a, "audio/wav", good); an.Duration != nil {
		t.Fatalf("a JPEG as WAV: %+v", an)
	}
	// A failing store is an error, not a verdict on the content.
	if _, err := a.Analyze(ctx, "image/jpeg", failingReader{}, 1000); err == nil {
		t.Fatal("a failing reader was not reported")
	}
	// A store that hangs: the call ends at the timeout, with an error (it
	// says nothing about the content).
	slow := blockingReader{bytes.NewReader(good), make(chan struct{})}
	defer close(slow.release)
	for _, mt := range []string{"image/jpeg", "video/mp4", "audio/mpeg", "application/pdf", media.MIMELottie, "image/svg+xml"} {
		t0 := time.Now()
		an, err = a.Analyze(ctx, mt, slow, int64(len(good)))
		if !errors.Is(err, context.DeadlineExceeded) || an.Problem != "" || time.Since(t0) > 5*time.Second {
			t.Fatalf("%s from a hanging store: %+v %v after %s", mt, an, err, time.Since(t0))
		}
	}
	t0 := time.Now()
	if _, _, err := a.Thumbnail(ctx, "image/jpeg", slow, int64(len(good)), 64, 64); media.ErrorCode(err) != media.EUNAVAILABLE || time.Since(t0) > 5*time.Second {
		t.Fatalf("thumbnail from a hanging store: %v after %s", err, time.Since(t0))
	}
	// A caller that gives up gets its own context's error.
	cctx, cancelCall := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancelCall() }()
	if _, err := New(Config{Timeout: time.Minute}).Analyze(cctx, "image/jpeg", slow, int64(len(good))); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	// Random bytes under every type: no panic, no error (ffprobe is not
	// asked here: it is slow to start 200 times).
	a = New(Config{MaxPixels: 40_000_000, Timeout: 2 * time.Second, FFprobe: "-"})
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mt := range fuzzTypes {
		for i := range 200 {
			b := make([]byte, rng.IntN(4096))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			if i%2 == 0 { // a plausible start
				copy(b, fuzzPrefixes[i/2%len(fuzzPrefixes)])
			}
			if _, err := a.Analyze(ctx, mt, bytes.NewReader(b), int64(len(b))); err != nil {
				t.Fatalf("%s: %v", mt, err)
			}
			if _, _, err := a.Thumbnail(ctx, mt, bytes.NewReader(b), int64(len(b)), 64, 64); err != nil && media.ErrorCode(err) != media.EUNSUPPORTED && media.ErrorCode(err) != media.ETOOLARGE {
				t.Fatalf("%s thumbnail: %v", mt, err)
			}
		}
	}
}

func le16(v int) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
func le32(v int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }
func be32(v int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func box(typ string, payload ...[]byte) []byte {
	p := cat(payload...)
	return cat(be32(8+len(p)), []byte(typ), p)
}

// ebml encodes an element with a 1-byte size (payload < 127 bytes) or an 8-byte one.
func ebml(id []byte, payload ...[]byte) []byte {
	p := cat(payload...)
	if len(p) < 127 {
		return cat(id, []byte{0x80 | byte(len(p))}, p)
	}
	return cat(id, []byte{0x01}, binary.BigEndian.AppendUint64(nil, uint64(len(p)))[1:], p)
}

func TestDurations(t *testing.T) {
	a := New(Config{FFprobe: "-"})
	check := func(name, mimeType string, b []byte, want float64, w, h int) {
		t.Helper()
		an := analyzeBytes(t, a, mimeType, b)
		if an.Duration == nil || *an.Duration < want-0.01 || *an.Duration > want+0.01 {
			t.Errorf("%s: duration %v, want %v (%s)", name, deref(an.Duration), want, an.Problem)
		}
		if w > 0 && (an.Width == nil || *an.Width != w || *an.Height != h) {
			t.Errorf("%s: size %v×%v, want %d×%d", name, an.Width, an.Height, w, h)
		}
	}
	// WAV: 16 kHz mono 16-bit, 2.5 s, with an extra chunk before data.
	pcm := make([]byte, 16000*2*5/2)
	check("wav", "audio/wav", cat([]byte("RIFF"), le32(0), []byte("WAVEfmt "), le32(16), le16(1), le16(1), le32(16000), le32(32000), le16(2), le16(16),
		[]byte("LIST"), le32(3), []byte("abc\x00"), []byte("data"), le32(len(pcm)), pcm), 2.5, 0, 0)
	// FLAC: STREAMINFO with 44.1 kHz and 132,300 samples = 3 s.
	si := make([]byte, 34)
	rate, total := 44100, 132300
	si[10], si[11], si[12] = byte(rate>>12), byte(rate>>4), byte(rate<<4)|0x02
	binary.BigEndian.PutUint32(si[14:], uint32(total))
	check("flac", "audio/flac", cat([]byte("fLaC"), []byte{0x80, 0, 0, 34}, si), 3, 0, 0)
	// Ogg Vorbis: identification header at 48 kHz, last granule 96,000 = 2 s.
	page := func(granule uint64, body []byte) []byte {
		return cat([]byte("OggS\x00\x02"), binary.LittleEndian.AppendUint64(nil, granule), make([]byte, 12), []byte{1, byte(len(body))}, body)
	}
	vorbis := cat([]byte{1}, []byte("vorbis"), le32(0), []byte{2}, le32(48000), make([]byte, 13))
	check("ogg vorbis", "audio/ogg", cat(page(0, vorbis), page(96000, []byte("audio"))), 2, 0, 0)
	opus := cat([]byte("OpusHead"), []byte{1, 2}, le16(312), le32(48000), make([]byte, 3))
	check("ogg opus", "audio/ogg", cat(page(0, opus), page(48000*4+312, []byte("audio"))), 4, 0, 0)
	// MP3: MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, 417-byte frames without
	// padding: the bytes over the frames' bit rate, 400 frames of 1152 samples.
	frame := cat([]byte{0xFF, 0xFB, 0x90, 0x00}, make([]byte, 413))
	check("mp3 cbr", "audio/mpeg", bytes.Repeat(frame, 400), 400*1152/44100.0, 0, 0)
	// With a Xing header: 100 frames of 1152 samples at 44.1 kHz.
	xing := cat([]byte{0xFF, 0xFB, 0x90, 0x00}, make([]byte, 32), []byte("Xing"), be32(1), be32(100), make([]byte, 369))
	check("mp3 xing", "audio/mpeg", cat([]byte("ID3\x04\x00\x00\x00\x00\x00\x0a"), make([]byte, 10), xing, bytes.Repeat(frame, 3)), 100*1152.0/44100, 0, 0)
	// MP4 with the moov after mdat: mvhd 1000 units/s × 12,500 = 12.5 s; a 1280×720 video track.
	mvhd := box("mvhd", []byte{0, 0, 0, 0}, make([]byte, 8), be32(1000), be32(12500), make([]byte, 80))
	tkhd := box("tkhd", []byte{0, 0, 0, 7}, make([]byte, 72), be32(1280<<16), be32(720<<16))
	trak := box("trak", tkhd, box("mdia", box("hdlr", make([]byte, 8), []byte("vide"), make([]byte, 12))))
	check("mp4", "video/mp4", cat(box("ftyp", []byte("isom"), be32(0)), box("mdat", make([]byte, 5000)), box("moov", mvhd, trak)), 12.5, 1280, 720)
	// WebM: TimecodeScale 1 ms, Duration 3500.0 (float64), a 640×360 video track, then a cluster.
	dur := binary.BigEndian.AppendUint64(nil, 0x40AB580000000000) // 3500.0
	seg := cat(
		ebml([]byte{0x15, 0x49, 0xA9, 0x66}, ebml([]byte{0x2A, 0xD7, 0xB1}, []byte{0x0F, 0x42, 0x40}), ebml([]byte{0x44, 0x89}, dur)),
		ebml([]byte{0x16, 0x54, 0xAE, 0x6B}, ebml([]byte{0xAE}, ebml([]byte{0xE0}, ebml([]byte{0xB0}, le16r(640)), ebml([]byte{0xBA}, le16r(360))))),
		ebml([]byte{0x1F, 0x43, 0xB6, 0x75}, make([]byte, 300)),
	)
	check("webm", "video/webm", cat(ebml([]byte{0x1A, 0x45, 0xDF, 0xA3}, []byte{0x42, 0x82, 0x84}, []byte("webm")), ebml([]byte{0x18, 0x53, 0x80, 0x67}, seg)), 3.5, 640, 360)
}

func le16r(v int) []byte { return []byte{byte(v >> 8), byte(v)} }

func TestDocumentsAndLottie(t *testing.T) {
	a := New(Config{})
	pdf := []byte("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Count 3 /Kids [3 0 R 4 0 R 5 0 R] /Type /Pages >> endobj\n" +
		"3 0 obj << /Type /Page /Parent 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	if an := analyzeBytes(t, a, "application/pdf", pdf); an.PageCount == nil || *an.PageCount != 3 {
		t.Fatalf("pdf: %+v", an)
	}
	if an := analyzeBytes(t, a, "application/pdf", []byte("%PDF-1.5\n stream compressed ... %%EOF")); an.PageCount != nil {
		t.Fatalf("pdf without a readable page tree: %+v", an)
	}
	// A MiB of /Count entries inside one dictionary: linear work (the
	// analyzer's time limit is the bound; the quadratic scan took hours).
	hostile := append([]byte("%PDF-1.7\n1 0 obj << /Type /Pages /Count 7 >> endobj\n2 0 obj << /Type /Pages "),
		bytes.Repeat([]byte("/Count 9 "), 115_000)...)
	hostile = append(hostile, ">> endobj\n%%EOF\n"...)
	bounded := New(Config{Timeout: 10 * time.Second})
	if an := analyzeBytes(t, bounded, "application/pdf", hostile); an.PageCount == nil || *an.PageCount != 7 {
		t.Fatalf("hostile pdf: %+v", an)
	}
	lottie := []byte(`{"v":"5.7.4","fr":25,"ip":0,"op":50,"w":512,"h":256,"layers":[]}`)
	an := analyzeBytes(t, a, media.MIMELottie, lottie)
	if *an.Width != 512 || *an.Height != 256 || *an.Duration != 2 {
		t.Fatalf("lottie: %+v", an)
	}
	if an := analyzeBytes(t, a, media.MIMELottie, []byte(`{"w":`)); an.Problem == "" {
		t.Fatalf("broken lottie: %+v", an)
	}
}

// BenchmarkThumbnail12MP renders a 320 px thumbnail of a 4000×3000 JPEG.
func BenchmarkThumbnail12MP(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 31 / 7)
	}
	data := jpegOf(img)
	a := New(Config{})
	b.ResetTimer()
	for range b.N {
		if _, _, err := a.Thumbnail(context.Background(), "image/jpeg", bytes.NewReader(data), int64(len(data)), 320, 320); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFFprobeFallback: formats the built-in parsers do not read go to
// ffprobe when one is configured (a stand-in script here; Debian's ffmpeg
// package provides the real one), and its absence changes nothing else.
func TestFFprobeFallback(t *testing.T) {
	script := t.TempDir() + "/ffprobe"
	body := "#!/bin/sh\ncat >/dev/null\necho '{\"format\":{\"duration\":\"61.25\"},\"streams\":[{\"codec_type\":\"video\",\"width\":320,\"height\":240}]}'\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	adts := bytes.Repeat([]byte{0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC}, 100)
	an := analyzeBytes(t, New(Config{FFprobe: script}), "video/x-msvideo", adts)
	if an.Duration == nil || *an.Duration != 61.25 || *an.Width != 320 {
		t.Fatalf("through ffprobe: %+v", an)
	}
	if an := analyzeBytes(t, New(Config{FFprobe: "-"}), "video/x-msvideo", adts); an.Duration != nil {
		t.Fatalf("without ffprobe: %+v", an)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func fmtSscanf(s string, r, g, b *int) (int, error) { return fmt.Sscanf(s, "#%02x%02x%02x", r, g, b) }
