package analyze

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/mediagraph/mediagraph/media"
)

var fuzzTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff", "image/avif", "image/heic",
	"image/svg+xml", "audio/mpeg", "audio/wav", "audio/aiff", "audio/aac", "audio/flac", "audio/ogg", "video/mp4", "video/webm",
	"application/pdf", media.MIMELottie, "application/zip"}

var fuzzPrefixes = [][]byte{
	[]byte("RIFF\x00\x00\x00\x00WAVEfmt "), []byte("\x00\x00\x00\x18ftypmp42"), []byte("\x1A\x45\xDF\xA3"), []byte("OggS\x00\x02"),
	[]byte("fLaC\x00\x00\x00\x22"), []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), []byte("\xFF\xFB\x90\x00"), []byte("\xFF\xF1\x50\x80"),
	[]byte("FORM\x00\x00\x00\x00AIFFCOMM"), []byte("\x89PNG\r\n\x1a\n"), []byte("\xFF\xD8\xFF\xE1"), []byte("GIF89a"),
	[]byte("RIFF\x00\x00\x00\x00WEBPVP8X"), []byte("BM"), []byte("II*\x00"), []byte("\x00\x00\x00\x1cftypheic"),
	[]byte("%PDF-1.7\n<< /Type /Pages /Count "), []byte(`{"v":"5","fr":`), []byte("<svg "),
}

// FuzzAnalyze: no input makes Analyze or Thumbnail panic or fail (the
// reader never fails here). `go test -fuzz FuzzAnalyze ./analyze/` explores.
func FuzzAnalyze(f *testing.F) {
	for i, p := range fuzzPrefixes {
		f.Add(uint8(i), append(append([]byte{}, p...), make([]byte, 64)...))
	}
	a := New(Config{MaxPixels: 4_000_000, Timeout: 5 * time.Second, FFprobe: "-"})
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		mt := fuzzTypes[int(kind)%len(fuzzTypes)]
		if _, err := a.Analyze(context.Background(), mt, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatalf("%s: %v", mt, err)
		}
		_, _, err := a.Thumbnail(context.Background(), mt, bytes.NewReader(b), int64(len(b)), 32, 32)
		if c := media.ErrorCode(err); err != nil && c != media.EUNSUPPORTED && c != media.ETOOLARGE {
			t.Fatalf("%s thumbnail: %v", mt, err)
		}
	})
}

// bitWriter writes a VP8L bit stream (least significant bit first).
type bitWriter struct {
	b    []byte
	bits uint64
	n    uint
}

func (w *bitWriter) write(v uint64, n uint) {
	w.bits |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.b = append(w.b, byte(w.bits))
		w.bits >>= 8
		w.n -= 8
	}
}

func (w *bitWriter) bytes() []byte {
	if w.n > 0 {
		return append(w.b, byte(w.bits))
	}
	return w.b
}

// solidWebP is a lossless WebP of one colour: every prefix code has a
// single symbol, so the pixels take no bits.
func solidWebP(w, h int, c color.NRGBA, vp8x []byte) []byte {
	var bw bitWriter
	bw.write(0x2f, 8)
	bw.write(uint64(w-1), 14)
	bw.write(uint64(h-1), 14)
	bw.write(1, 1) // alpha used
	bw.write(0, 3) // version
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no colour cache
	bw.write(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A, 0} {
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // of 8 bits
		bw.write(uint64(sym), 8)
	}
	data := bw.bytes()
	if len(data)%2 == 1 {
		data = append(data, 0)
	}
	chunk := cat([]byte("VP8L"), le32(len(bw.bytes())), data)
	body := cat([]byte("WEBP"), vp8x, chunk)
	return cat([]byte("RIFF"), le32(len(body)), body)
}

func TestImageFormats(t *testing.T) {
	a := New(Config{})
	red := color.RGBA{255, 0, 0, 255}
	var gifBuf, bmpBuf, tiffBuf bytes.Buffer
	pal := image.NewPaletted(image.Rect(0, 0, 30, 20), color.Palette{red, color.Black})
	if err := gif.Encode(&gifBuf, pal, nil); err != nil {
		t.Fatal(err)
	}
	if err := bmp.Encode(&bmpBuf, solid(31, 17, red)); err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(&tiffBuf, solid(33, 21, red), nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mt   string
		data []byte
		w, h int
	}{
		{"image/jpeg", jpegOf(solid(40, 30, red)), 40, 30},
		{"image/png", pngOf(solid(41, 29, red)), 41, 29},
		{"image/gif", gifBuf.Bytes(), 30, 20},
		{"image/bmp", bmpBuf.Bytes(), 31, 17},
		{"image/tiff", tiffBuf.Bytes(), 33, 21},
		{"image/webp", solidWebP(45, 15, color.NRGBA{255, 0, 0, 255}, nil), 45, 15},
		// The type given does not decide the decoder: JPEG bytes as PNG.
		{"image/png", jpegOf(solid(40, 30, red)), 40, 30},
	} {
		an := analyzeBytes(t, a, c.mt, c.data)
		if an.Problem != "" || an.Width == nil || *an.Width != c.w || *an.Height != c.h {
			t.Errorf("%s: %+v", c.mt, an)
			continue
		}
		if an.Blurhash == nil || len(*an.Blurhash) < 20 {
			t.Errorf("%s: blurhash %v", c.mt, deref(an.Blurhash))
		}
		if an.DominantColor == nil || !near(*an.DominantColor, "#ff0000") {
			t.Errorf("%s: dominant colour %v", c.mt, deref(an.DominantColor))
		}
		data, ct, err := a.Thumbnail(context.Background(), c.mt, bytes.NewReader(c.data), int64(len(c.data)), 20, 20)
		if err != nil || ct != "image/jpeg" {
			t.Errorf("%s thumbnail: %v %s", c.mt, err, ct)
			continue
		}
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err != nil || max(cfg.Width, cfg.Height) != 20 {
			t.Errorf("%s thumbnail: %+v %v", c.mt, cfg, err)
		}
	}
	// The blurhash of a solid image is that colour's.
	an := analyzeBytes(t, a, "image/png", pngOf(solid(64, 48, red)))
	if *an.DominantColor != "#ff0000" || (*an.Blurhash)[2:6] != "%;Fn" && *an.Blurhash == "" {
		t.Errorf("red: %s %s", *an.DominantColor, *an.Blurhash)
	}
	// Transparent WebP: the thumbnail is a PNG. Animated WebP: size only.
	half := solidWebP(8, 8, color.NRGBA{0, 0, 255, 100}, nil)
	if _, ct, err := a.Thumbnail(context.Background(), "image/webp", bytes.NewReader(half), int64(len(half)), 4, 4); err != nil || ct != "image/png" {
		t.Errorf("transparent webp: %v %s", err, ct)
	}
	vp8x := cat([]byte("VP8X"), le32(10), []byte{0x12, 0, 0, 0}, []byte{44, 0, 0, 14, 0, 0})
	anim := solidWebP(45, 15, color.NRGBA{255, 0, 0, 255}, vp8x)
	if an := analyzeBytes(t, a, "image/webp", anim); an.Problem != "" || *an.Width != 45 || an.Blurhash != nil {
		t.Errorf("animated webp: %+v", an)
	}
	if _, _, err := a.Thumbnail(context.Background(), "image/webp", bytes.NewReader(anim), int64(len(anim)), 4, 4); media.ErrorCode(err) != media.EUNSUPPORTED {
		t.Errorf("animated webp thumbnail: %v", err)
	}
	// PNG with an eXIf chunk turning it: the axes swap.
	p := pngOf(solid(40, 20, red))
	exif := tiffWithOrientation(6)
	chunk := cat(be32(len(exif)), []byte("eXIf"), exif, be32(0))
	p = cat(p[:33], chunk, p[33:])
	if an := analyzeBytes(t, a, "image/png", p); an.Width == nil || *an.Width != 20 || *an.Height != 40 {
		t.Errorf("png with eXIf: %+v", an)
	}
	// HEIC: the size from ispe (the largest), turned by irot; nothing decoded.
	ispe := func(w, h int) []byte { return box("ispe", be32(0), be32(w), be32(h)) }
	heic := cat(box("ftyp", []byte("heic"), be32(0), []byte("mif1heic")),
		box("meta", be32(0), box("hdlr", make([]byte, 8), []byte("pict"), make([]byte, 13)),
			box("iprp", box("ipco", ispe(512, 512), ispe(4032, 3024), box("irot", []byte{1}), ispe(320, 240)))))
	if an := analyzeBytes(t, a, "image/heic", heic); an.Problem != "" || an.Width == nil || *an.Width != 3024 || *an.Height != 4032 {
		t.Errorf("heic: %+v", an)
	}
	if _, _, err := a.Thumbnail(context.Background(), "image/heic", bytes.NewReader(heic), int64(len(heic)), 4, 4); media.ErrorCode(err) != media.EUNSUPPORTED {
		t.Errorf("heic thumbnail: %v", err)
	}
	// An icon or another image type without a decoder: nothing, no problem.
	if an := analyzeBytes(t, a, "image/x-icon", []byte("\x00\x00\x01\x00\x01\x00 whatever")); an.Problem != "" || an.Width != nil {
		t.Errorf("icon: %+v", an)
	}
	// SVG sizes.
	for svg, want := range map[string][2]int{
		`<svg xmlns="http://www.w3.org/2000/svg"` + "\n\t" + `width="2in" height="72pt"/>`:      {192, 96},
		`<!DOCTYPE svg><!-- c --><svg width="100%" height="50%" viewBox="0,0,300.4,150"></svg>`: {300, 150},
		`<svg width="640" height="480"><script>alert(document.cookie)</script></svg>`:           {640, 480},
	} {
		an := analyzeBytes(t, a, "image/svg+xml", []byte(svg))
		if an.Width == nil || *an.Width != want[0] || *an.Height != want[1] || an.Problem != "" {
			t.Errorf("%s: %+v", svg, an)
		}
	}
	if an := analyzeBytes(t, a, "image/svg+xml", []byte(`<html><svg width="5" height="5"/></html>`)); an.Width != nil {
		t.Errorf("svg inside html: %+v", an)
	}
}

func near(got, want string) bool {
	var r1, g1, b1, r2, g2, b2 int
	if _, err := fmtSscanf(got, &r1, &g1, &b1); err != nil {
		return false
	}
	fmtSscanf(want, &r2, &g2, &b2)
	d := func(x, y int) bool { return x-y < 8 && y-x < 8 }
	return d(r1, r2) && d(g1, g2) && d(b1, b2)
}

func tiffWithOrientation(o uint16) []byte {
	return cat([]byte("MM\x00\x2a"), be32(8), []byte{0, 1}, []byte{0x01, 0x12, 0, 3}, be32(1), []byte{byte(o >> 8), byte(o), 0, 0}, be32(0))
}

// countingReader serves a virtual file: data at the start, zeros, then
// tail at the end, counting what is read.
type countingReader struct {
	head, tail []byte
	size       int64
	calls      atomic.Int64
	bytes      atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.calls.Add(1)
	n := 0
	for n < len(p) && off+int64(n) < c.size {
		o := off + int64(n)
		switch {
		case o < int64(len(c.head)):
			n += copy(p[n:], c.head[o:])
		case o >= c.size-int64(len(c.tail)):
			n += copy(p[n:], c.tail[o-(c.size-int64(len(c.tail))):])
		default:
			end := min(int64(len(p)-n), c.size-int64(len(c.tail))-o)
			clear(p[n : n+int(end)])
			n += int(end)
		}
	}
	c.bytes.Add(int64(n))
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestReadsLittle: the audio and video parsers read headers, not media
// data, from a 2 GiB file.
func TestReadsLittle(t *testing.T) {
	a := New(Config{FFprobe: "-"})
	const size = 2 << 30
	mvhd := box("mvhd", []byte{0, 0, 0, 0}, make([]byte, 8), be32(600), be32(600*3600), make([]byte, 80))
	moov := box("moov", mvhd, box("trak", box("tkhd", []byte{0, 0, 0, 7}, make([]byte, 72), be32(1920<<16), be32(1080<<16)),
		box("mdia", box("hdlr", make([]byte, 8), []byte("vide"), make([]byte, 12)))))
	mdatHead := cat(be32(1), []byte("mdat"), binary.BigEndian.AppendUint64(nil, uint64(size-16-len(moov))))
	opus := cat([]byte("OggS\x00\x02"), make([]byte, 8), le32(7), make([]byte, 8), []byte{1, 19}, []byte("OpusHead"), []byte{1, 2}, le16(0), le32(48000), make([]byte, 3))
	last := cat([]byte("OggS\x00\x04"), binary.LittleEndian.AppendUint64(nil, 48000*3600), le32(7), make([]byte, 8), []byte{1, 5}, []byte("audio"))
	for _, c := range []struct {
		name, mt   string
		head, tail []byte
		want       float64
	}{
		{"mp4 moov at the end", "video/mp4", cat(box("ftyp", []byte("isom"), be32(0)), mdatHead), moov, 3600},
		{"wav", "audio/wav", cat([]byte("RIFF"), le32(0), []byte("WAVEfmt "), le32(16), le16(1), le16(2), le32(48000), le32(192000), le16(4), le16(16), []byte("data"), le32(size-44)), nil, float64(size-44) / 192000},
		{"mp3", "audio/mpeg", bytes.Repeat(cat([]byte{0xFF, 0xFB, 0x90, 0x00}, make([]byte, 413)), 300), nil, 0},
		{"ogg", "audio/ogg", opus, last, 3600},
	} {
		r := &countingReader{head: c.head, tail: c.tail, size: size}
		an, err := a.Analyze(context.Background(), c.mt, r, size)
		if err != nil || an.Duration == nil || (c.want > 0 && math.Abs(*an.Duration-c.want) > 0.01) {
			t.Errorf("%s: %+v %v (%v)", c.name, an, err, deref(an.Duration))
		}
		if r.bytes.Load() > 1<<20 || r.calls.Load() > 8 {
			t.Errorf("%s: read %d bytes in %d calls", c.name, r.bytes.Load(), r.calls.Load())
		}
	}
}

func TestMoreAV(t *testing.T) {
	a := New(Config{FFprobe: "-"})
	check := func(name, mimeType string, b []byte, want float64, w, h int) {
		t.Helper()
		an := analyzeBytes(t, a, mimeType, b)
		if an.Duration == nil || math.Abs(*an.Duration-want) > 0.01 {
			t.Errorf("%s: duration %v, want %v (%s)", name, deref(an.Duration), want, an.Problem)
		}
		if w > 0 && (an.Width == nil || *an.Width != w || *an.Height != h) {
			t.Errorf("%s: size %v×%v, want %d×%d", name, deref(an.Width), deref(an.Height), w, h)
		}
	}
	// AIFF: 44.1 kHz (80-bit extended 0x400EAC44…), 88,200 frames = 2 s.
	comm := cat([]byte{0, 2}, be32(88200), []byte{0, 16}, []byte{0x40, 0x0E, 0xAC, 0x44, 0, 0, 0, 0, 0, 0})
	check("aiff", "audio/aiff", cat([]byte("FORM"), be32(0), []byte("AIFFCOMM"), be32(18), comm, []byte("SSND"), be32(8), make([]byte, 8)), 2, 0, 0)
	// MP4 turned by 90° (a phone video): 1920×1080 stored, 1080×1920 shown;
	// fragmented, with the duration in mehd.
	matrix := cat(be32(0), be32(1<<16), be32(0), be32(-1<<16&0xFFFFFFFF), be32(0), be32(0), be32(0), be32(0), be32(1<<30))
	tkhd := box("tkhd", []byte{0, 0, 0, 7}, make([]byte, 36), matrix, be32(1920<<16), be32(1080<<16))
	mvhd := box("mvhd", []byte{0, 0, 0, 0}, make([]byte, 8), be32(90000), be32(0), make([]byte, 80))
	mvex := box("mvex", box("mehd", []byte{0, 0, 0, 0}, be32(90000*7)))
	trak := box("trak", tkhd, box("mdia", box("hdlr", make([]byte, 8), []byte("vide"), make([]byte, 12))))
	check("mp4 rotated, fragmented", "video/mp4", cat(box("ftyp", []byte("iso6"), be32(0)), box("moov", mvhd, mvex, trak), box("moof"), box("mdat", make([]byte, 100))), 7, 1080, 1920)
	// M4A: audio only, version-1 mvhd.
	mvhd1 := box("mvhd", []byte{1, 0, 0, 0}, make([]byte, 16), be32(44100), binary.BigEndian.AppendUint64(nil, 44100*95/10), make([]byte, 80))
	strak := box("trak", box("tkhd", []byte{0, 0, 0, 7}, make([]byte, 80)), box("mdia", box("hdlr", make([]byte, 8), []byte("soun"), make([]byte, 12))))
	an := analyzeBytes(t, a, "audio/mp4", cat(box("ftyp", []byte("M4A "), be32(0)), box("moov", mvhd1, strak)))
	if an.Duration == nil || *an.Duration != 9.5 || an.Width != nil {
		t.Errorf("m4a: %+v", an)
	}
	// Ogg FLAC at 32 kHz: granule 64,000 = 2 s.
	si := make([]byte, 34)
	rate := 32000
	si[10], si[11], si[12] = byte(rate>>12), byte(rate>>4), byte(rate<<4)
	oflac := cat([]byte("\x7FFLAC\x01\x00\x00\x01fLaC"), []byte{0, 0, 0, 34}, si)
	page := func(granule uint64, body []byte) []byte {
		return cat([]byte("OggS\x00\x02"), binary.LittleEndian.AppendUint64(nil, granule), le32(1), make([]byte, 8), []byte{1, byte(len(body))}, body)
	}
	other := cat([]byte("OggS\x00\x00"), binary.LittleEndian.AppendUint64(nil, 1<<40), le32(2), make([]byte, 8), []byte{1, 1}, []byte("x"))
	check("ogg flac, then another stream's page", "audio/ogg", cat(page(0, oflac), page(64000, []byte("audio")), other), 2, 0, 0)
	// Matroska whose Info and Tracks come after the first cluster: found
	// through the SeekHead.
	dur := binary.BigEndian.AppendUint64(nil, math.Float64bits(4250))
	info := ebml([]byte{0x15, 0x49, 0xA9, 0x66}, ebml([]byte{0x44, 0x89}, dur))
	tracks := ebml([]byte{0x16, 0x54, 0xAE, 0x6B}, ebml([]byte{0xAE}, ebml([]byte{0xE0}, ebml([]byte{0xB0}, le16r(320)), ebml([]byte{0xBA}, le16r(240)))))
	cluster := ebml([]byte{0x1F, 0x43, 0xB6, 0x75}, make([]byte, 200))
	seekEntry := func(id []byte, pos int) []byte {
		return ebml([]byte{0x4D, 0xBB}, ebml([]byte{0x53, 0xAB}, id), ebml([]byte{0x53, 0xAC}, be32(pos)))
	}
	seekLen := len(ebml([]byte{0x11, 0x4D, 0x9B, 0x74}, seekEntry([]byte{0x15, 0x49, 0xA9, 0x66}, 0), seekEntry([]byte{0x16, 0x54, 0xAE, 0x6B}, 0)))
	seek := ebml([]byte{0x11, 0x4D, 0x9B, 0x74}, seekEntry([]byte{0x15, 0x49, 0xA9, 0x66}, seekLen+len(cluster)),
		seekEntry([]byte{0x16, 0x54, 0xAE, 0x6B}, seekLen+len(cluster)+len(info)))
	mkv := cat(ebml([]byte{0x1A, 0x45, 0xDF, 0xA3}, []byte{0x42, 0x82, 0x88}, []byte("matroska")), ebml([]byte{0x18, 0x53, 0x80, 0x67}, seek, cluster, info, tracks))
	check("matroska with a seek head", "video/x-matroska", mkv, 4.25, 320, 240)
	// ADTS AAC: 44.1 kHz frames of 200 bytes, 1024 samples each.
	frame := make([]byte, 200)
	copy(frame, []byte{0xFF, 0xF1, 0x50, 0x80, byte(200 >> 3 & 0xFF), byte(200&7)<<5 | 0x1F, 0xFC})
	frame[3] |= byte(200 >> 11)
	check("adts", "audio/aac", bytes.Repeat(frame, 431), 431*1024/44100.0, 0, 0)
	// Not the format claimed: no duration, a problem, no panic.
	for _, mt := range []string{"audio/wav", "video/mp4", "audio/mpeg", "audio/flac"} {
		if an := analyzeBytes(t, a, mt, []byte("definitely not media, just some text that is long enough")); an.Duration != nil {
			t.Errorf("%s: %+v", mt, an)
		}
	}
}

func TestLottieLarge(t *testing.T) {
	// The keys come first: a file over MaxJSONBytes is still read.
	a := New(Config{MaxJSONBytes: 1 << 10})
	big := cat([]byte(`{"v":"5.7.4","fr":30,"ip":15,"op":105,"w":1080,"h":1920,"nm":"x","layers":[`), bytes.Repeat([]byte(`{"ty":4,"ks":{}},`), 5000), []byte(`{}]}`))
	an := analyzeBytes(t, a, media.MIMELottie, big)
	if an.Width == nil || *an.Width != 1080 || *an.Height != 1920 || an.Duration == nil || *an.Duration != 3 {
		t.Fatalf("lottie: %+v", an)
	}
	// Keys after the limit are not found; that is not a problem of the file's.
	late := cat([]byte(`{"layers":[`), bytes.Repeat([]byte(`{"ty":4},`), 500), []byte(`{}],"w":5,"h":5,"fr":1,"ip":0,"op":1}`))
	if an := analyzeBytes(t, a, media.MIMELottie, late); an.Width != nil {
		t.Errorf("late keys: %+v", an)
	}
	if an := analyzeBytes(t, a, media.MIMELottie, []byte(`[1,2]`)); an.Problem == "" {
		t.Errorf("not an object: %+v", an)
	}
}

// TestWorkers: decodes wait for a free worker; a call that cannot get one
// in time ends at its timeout.
func TestWorkers(t *testing.T) {
	a := New(Config{Workers: 1, Timeout: 300 * time.Millisecond})
	img := jpegOf(solid(64, 64, color.RGBA{0, 255, 0, 255}))
	// The first call holds the only worker while its reader blocks.
	gate := &gatedReader{data: img, after: 0, release: make(chan struct{})}
	defer close(gate.release)
	var wg sync.WaitGroup
	wg.Go(func() { a.Analyze(context.Background(), "image/jpeg", gate, int64(len(img))) })
	for gate.calls.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	if _, err := a.Analyze(context.Background(), "image/jpeg", bytes.NewReader(img), int64(len(img))); err == nil {
		t.Error("a second decode ran alongside the first one")
	}
	wg.Wait()
	// Once the slot is free again, all is well.
	time.Sleep(10 * time.Millisecond)
	if an, err := New(Config{Workers: 1}).Analyze(context.Background(), "image/jpeg", bytes.NewReader(img), int64(len(img))); err != nil || an.Blurhash == nil {
		t.Errorf("%+v %v", an, err)
	}
}

// gatedReader serves data, blocking reads after the first `after` ones.
type gatedReader struct {
	data    []byte
	after   int64
	calls   atomic.Int64
	release chan struct{}
}

func (g *gatedReader) ReadAt(p []byte, off int64) (int, error) {
	if g.calls.Add(1) > g.after {
		<-g.release
	}
	return bytes.NewReader(g.data).ReadAt(p, off)
}

// TestFFprobeReal runs Debian's ffprobe on files ffmpeg makes in formats
// the built-in parsers do not read. It is skipped without them.
func TestFFprobeReal(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	a := New(Config{})
	if a.FFprobe() == "" {
		t.Skip("no ffprobe")
	}
	dir := t.TempDir()
	for _, c := range []struct {
		file, mt string
		args     []string
		w, h     int
	}{
		{"v.ts", "video/mp2t", []string{"-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=3", "-c:v", "mpeg2video"}, 160, 120},
		{"v.avi", "video/x-msvideo", []string{"-f", "lavfi", "-i", "testsrc=size=176x144:rate=10:duration=2.5", "-c:v", "mjpeg"}, 176, 144},
	} {
		path := filepath.Join(dir, c.file)
		cmd := exec.Command(ffmpeg, append(append([]string{"-v", "error", "-y"}, c.args...), path)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v %s", err, out)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		an := analyzeBytes(t, a, c.mt, data)
		if an.Duration == nil || *an.Duration < 2 || *an.Duration > 3.2 || an.Width == nil || *an.Width != c.w || *an.Height != c.h {
			t.Errorf("%s: %+v (%v)", c.file, an, deref(an.Duration))
		}
		if an := analyzeBytes(t, New(Config{FFprobe: "-"}), c.mt, data); an.Duration != nil {
			t.Errorf("%s without ffprobe: %+v", c.file, an)
		}
	}
}

// TestFFprobeOpensNothingElse: a playlist pointing elsewhere is not
// followed (only audio and video demuxers, only the content's URL).
func TestFFprobeOpensNothingElse(t *testing.T) {
	a := New(Config{})
	if a.FFprobe() == "" {
		t.Skip("no ffprobe")
	}
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	for _, mt := range []string{"audio/x-mpegurl", "video/mp2t", "audio/mpeg"} {
		m3u := []byte("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n" + srv.URL + "/secret.ts\n#EXT-X-ENDLIST\n")
		if an := analyzeBytes(t, a, mt, m3u); an.Duration != nil {
			t.Errorf("%s: %+v", mt, an)
		}
		ffconcat := []byte("ffconcat version 1.0\nfile '" + srv.URL + "/secret.ts'\n")
		analyzeBytes(t, a, mt, ffconcat)
	}
	if hits.Load() != 0 {
		t.Fatalf("ffprobe fetched %d URLs", hits.Load())
	}
}
