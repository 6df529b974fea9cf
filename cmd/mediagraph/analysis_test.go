package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"net/url"
	"strings"
	"testing"

	_ "image/png"

	"github.com/mediagraph/mediagraph/media"
)

const analysisFields = `id mimeType type width height duration blurhash dominantColor pageCount visibility`

func solidJPEG(w, h int, c color.Color) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// wavBytes is a PCM WAV of the given length: 8 kHz, mono, 8 bits.
func wavBytes(seconds int) []byte {
	const rate = 8000
	n := rate * seconds
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+n))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(rate), uint16(1), uint16(8)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(n))
	b.Write(bytes.Repeat([]byte{128}, n))
	return b.Bytes()
}

func (e *env) analysed(key, bucket string, f upload) map[string]any {
	e.t.Helper()
	r := e.multipart(key, `mutation($input: UploadFileInput!) { uploadFile(input: $input) { `+analysisFields+` } }`,
		map[string]any{"input": map[string]any{"bucket": bucket, "file": nil}},
		map[string]upload{"0": f}, map[string][]string{"0": {"variables.input.file"}})
	if len(r.Errors) > 0 {
		e.t.Fatalf("upload %s: %s", f.name, r.raw)
	}
	return r.Data["uploadFile"].(map[string]any)
}

func (e *env) thumbnailURL(key string, id any, args string) any {
	e.t.Helper()
	d := e.ok(key, `query($id: ID!) { file(id: $id) { thumbnailUrl`+args+` } }`, map[string]any{"id": id})
	return d["file"].(map[string]any)["thumbnailUrl"]
}

func TestImageAnalysisAndThumbnails(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "pub", "defaultVisibility": "PUBLIC"})
		e.createBucket(e.owner, map[string]any{"name": "priv"})
		f := e.analysed(e.owner, "pub", upload{"red.jpg", "", solidJPEG(400, 300, color.RGBA{255, 0, 0, 255})})
		if f["width"].(float64) != 400 || f["height"].(float64) != 300 || str(f["blurhash"]) == "" {
			t.Fatalf("analysis: %v", f)
		}
		if c := str(f["dominantColor"]); len(c) != 7 || !strings.HasPrefix(c, "#f") || c[3:5] > "10" {
			t.Fatalf("dominant colour of a red image: %v", c)
		}
		// Sizes round up to the allowed set: 100 wide → the 128 box.
		u := str(e.thumbnailURL(e.owner, f["id"], `(width: 100)`))
		if !strings.Contains(u, "/thumbnail/128x0?") {
			t.Fatalf("thumbnail URL: %s", u)
		}
		code, h, body := get(t, u, nil)
		if code != 200 || h.Get("Content-Type") != "image/jpeg" || !strings.Contains(h.Get("Cache-Control"), "immutable") {
			t.Fatalf("thumbnail: %d %v", code, h)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
		if err != nil || cfg.Width != 128 || cfg.Height != 96 {
			t.Fatalf("thumbnail is %v %v", cfg, err)
		}
		// Rendered once: the rendition is kept in the store and served again.
		thumbs := 0
		for _, o := range e.objects() {
			if strings.Contains(o.Key, ".thumb-128x0") {
				thumbs++
			}
		}
		if thumbs != 1 {
			t.Fatalf("%d cached renditions", thumbs)
		}
		if code, _, again := get(t, u, nil); code != 200 || !bytes.Equal(again, body) {
			t.Fatalf("second request: %d", code)
		}
		// Only allowed sizes exist, in one spelling each; the route cannot
		// fill the store.
		for _, box := range []string{"100x0", "0128x0", "+128x0", "128x-0", "128x+0", "128x00"} {
			if code, _, _ := get(t, strings.Replace(u, "128x0", box, 1), nil); code != 404 {
				t.Fatalf("box %s: %d", box, code)
			}
		}
		thumbs = 0
		for _, o := range e.objects() {
			if strings.Contains(o.Key, ".thumb-") {
				thumbs++
			}
		}
		if thumbs != 1 {
			t.Fatalf("%d cached renditions after requests for aliases of one", thumbs)
		}
		e.fails("BAD_USER_INPUT", e.owner, `query($id: ID!) { file(id: $id) { thumbnailUrl(width: 0) } }`, map[string]any{"id": f["id"]})
		if u := str(e.thumbnailURL(e.owner, f["id"], "")); !strings.Contains(u, "/thumbnail/256x256?") {
			t.Fatalf("default box: %s", u)
		}

		// PRIVATE: signed; the signature grants this rendition only.
		p := e.analysed(e.owner, "priv", upload{"tall.jpg", "", solidJPEG(100, 400, color.RGBA{0, 0, 255, 255})})
		pu := str(e.thumbnailURL(e.owner, p["id"], `(width: 64, height: 64)`))
		code, h, body = get(t, pu, nil)
		if code != 200 || !strings.HasPrefix(h.Get("Cache-Control"), "private") {
			t.Fatalf("private thumbnail: %d %v", code, h)
		}
		if cfg, _, _ := image.DecodeConfig(bytes.NewReader(body)); cfg.Width != 16 || cfg.Height != 64 {
			t.Fatalf("fit in 64×64: %v", cfg)
		}
		parsed, _ := url.Parse(pu)
		q := parsed.Query()
		unsigned := strings.SplitN(pu, "?", 2)[0]
		if code, _, _ := get(t, unsigned, nil); code != 404 {
			t.Fatalf("unsigned private thumbnail: %d", code)
		}
		if code, _, _ := get(t, strings.Replace(pu, "64x64", "128x128", 1), nil); code != 404 {
			t.Fatalf("signature reused for another size: %d", code)
		}
		dl := e.url + "/files/" + str(p["id"]) + "/tall.jpg?" + q.Encode()
		if code, _, _ := get(t, dl, nil); code != 404 {
			t.Fatalf("a thumbnail signature opened the file: %d", code)
		}
		// Deleting the file deletes its renditions (checked by the invariants).
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": p["id"]})
		if code, _, _ := get(t, pu, nil); code != 404 {
			t.Fatalf("thumbnail of a deleted file: %d", code)
		}
	})
}

func TestHostileMedia(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "any"})
		e.createBucket(e.owner, map[string]any{"name": "strict", "rejectMalformedMedia": true})
		good := solidJPEG(64, 48, color.RGBA{0, 200, 0, 255})
		truncated := good[:len(good)/2]

		// A truncated JPEG is still a file: its header gives the size, the
		// rest of the analysis stays empty, and it has no thumbnail.
		f := e.analysed(e.owner, "any", upload{"cut.jpg", "", truncated})
		if f["mimeType"] != "image/jpeg" || f["blurhash"] != nil || e.thumbnailURL(e.owner, f["id"], "") != nil {
			t.Fatalf("truncated JPEG: %v", f)
		}
		// A bucket that refuses malformed media says so.
		if r := e.upload(e.owner, "strict", upload{"cut.jpg", "", truncated}, nil); r.code() != media.EUNSUPPORTED {
			t.Fatalf("strict bucket took a truncated JPEG: %s", r.raw)
		}
		e.analysed(e.owner, "strict", upload{"whole.jpg", "", good})
		// A polyglot: a GIF header followed by HTML. It is a (broken) GIF,
		// served as one with nosniff, never as HTML.
		poly := append([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00"), []byte("<html><script>alert(1)</script></html>")...)
		f = e.analysed(e.owner, "any", upload{"poly.html", "", poly})
		if f["mimeType"] != "image/gif" || f["blurhash"] != nil {
			t.Fatalf("polyglot: %v", f)
		}
		code, h, _ := get(t, e.url+"/files/"+str(f["id"])+"/poly.html?"+e.signedQuery(f["id"]), nil)
		if code != 200 || h.Get("Content-Type") != "image/gif" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("polyglot download: %d %v", code, h)
		}
		// An SVG with script: stored, sandboxed when served, no thumbnail.
		svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`)
		f = e.analysed(e.owner, "any", upload{"x.svg", "", svg})
		if f["mimeType"] != "image/svg+xml" || e.thumbnailURL(e.owner, f["id"], "") != nil {
			t.Fatalf("svg: %v", f)
		}
		code, h, _ = get(t, e.url+"/files/"+str(f["id"])+"/x.svg?"+e.signedQuery(f["id"]), nil)
		if code != 200 || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
			t.Fatalf("svg download: %d %v", code, h)
		}
		// A file whose extension lies is typed by its content.
		f = e.analysed(e.owner, "any", upload{"photo.png", "", good})
		if f["mimeType"] != "image/jpeg" || f["width"].(float64) != 64 {
			t.Fatalf("lying extension: %v", f)
		}
		// Zero bytes and a decompression bomb are refused outright.
		if r := e.upload(e.owner, "any", upload{"empty.jpg", "", nil}, nil); r.code() != media.EINVALID {
			t.Fatalf("empty: %s", r.raw)
		}
		if r := e.upload(e.owner, "any", upload{"bomb.png", "", bombPNG(60000, 60000)}, nil); r.code() != media.ETOOLARGE {
			t.Fatalf("bomb: %s", r.raw)
		}
		// Audio: the duration is read from the header.
		f = e.analysed(e.owner, "any", upload{"tone.wav", "", wavBytes(3)})
		if f["type"] != "AUDIO" || f["duration"] == nil || f["duration"].(float64) != 3 {
			t.Fatalf("wav: %v", f)
		}
		// Lottie: size and duration from the JSON.
		lottie := []byte(`{"v":"5.7.4","fr":30,"ip":0,"op":90,"w":120,"h":80,"layers":[]}`)
		f = e.analysed(e.owner, "any", upload{"anim.json", "", lottie})
		if f["type"] != "LOTTIE" || f["width"].(float64) != 120 || f["duration"].(float64) != 3 {
			t.Fatalf("lottie: %v", f)
		}
		// PDF: the page count.
		pdf := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
			"2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n" +
			"3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n4 0 obj << /Type /Page /Parent 2 0 R >> endobj\n" +
			"trailer << /Root 1 0 R >>\n%%EOF\n")
		f = e.analysed(e.owner, "any", upload{"doc.pdf", "", pdf})
		if f["pageCount"] == nil || f["pageCount"].(float64) != 2 {
			t.Fatalf("pdf: %v", f)
		}
	})
}

// signedQuery returns the query of a file's download URL.
func (e *env) signedQuery(id any) string {
	e.t.Helper()
	u := str(e.ok(e.owner, `query($id: ID!) { file(id: $id) { url } }`, map[string]any{"id": id})["file"].(map[string]any)["url"])
	return strings.SplitN(u, "?", 2)[1]
}

// gpsMarker is the latitude the test JPEGs carry, as TIFF rationals.
var gpsMarker = bytes.Repeat([]byte{0x07, 0xCA, 0x9A, 0x3B}, 6)

// jpegWithGPS adds an EXIF segment with a GPS latitude (and an XMP packet
// with coordinates) to a JPEG, after fill fill bytes (0xFF, which may
// precede any marker).
func jpegWithGPS(j []byte, fill int) []byte {
	le := binary.LittleEndian
	var t bytes.Buffer
	t.WriteString("II")
	binary.Write(&t, le, uint16(42))
	binary.Write(&t, le, uint32(8))
	// IFD0 at 8: one entry, GPSInfo → 26.
	binary.Write(&t, le, uint16(1))
	for _, v := range []any{uint16(0x8825), uint16(4), uint32(1), uint32(26)} {
		binary.Write(&t, le, v)
	}
	binary.Write(&t, le, uint32(0))
	// GPS IFD at 26: LatitudeRef "N" inline, Latitude 3 rationals at 56.
	binary.Write(&t, le, uint16(2))
	for _, v := range []any{uint16(1), uint16(2), uint32(2), []byte("N\x00\x00\x00"), uint16(2), uint16(5), uint32(3), uint32(56)} {
		binary.Write(&t, le, v)
	}
	binary.Write(&t, le, uint32(0))
	t.Write(gpsMarker)
	exif := append([]byte("Exif\x00\x00"), t.Bytes()...)
	xmp := []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description exif:GPSLatitude=\"48,51.5N\"/></x:xmpmeta>")
	seg := func(p []byte) []byte {
		return append([]byte{0xFF, 0xE1, byte((len(p) + 2) >> 8), byte(len(p) + 2)}, p...)
	}
	out := append([]byte{}, j[:2]...)
	out = append(out, bytes.Repeat([]byte{0xFF}, fill)...)
	out = append(out, seg(exif)...)
	out = append(out, seg(xmp)...)
	return append(out, j[2:]...)
}

func TestStripGPSMetadata(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "keep"})
		e.ok(e.owner, `mutation { createBucket(input: {name: "strip", stripGpsMetadata: true}) { stripGpsMetadata } }`, nil)
		photo := jpegWithGPS(solidJPEG(80, 60, color.RGBA{10, 20, 30, 255}), 0)
		check := func(id any, wantGPS bool) {
			t.Helper()
			got := e.stored(str(id))
			if bytes.Contains(got, gpsMarker) != wantGPS || bytes.Contains(got, []byte("GPSLatitude")) != wantGPS {
				t.Fatalf("location kept: %v, want %v", !wantGPS, wantGPS)
			}
			if len(got) != len(photo) {
				t.Fatalf("size changed: %d → %d", len(photo), len(got))
			}
			if _, _, err := image.Decode(bytes.NewReader(got)); err != nil {
				t.Fatalf("no longer a JPEG: %v", err)
			}
			f := e.ok(e.owner, `query($id: ID!) { file(id: $id) { checksumSha256 size } }`, map[string]any{"id": id})["file"].(map[string]any)
			if f["checksumSha256"] != sha(got) {
				t.Fatal("the checksum is not of the stored bytes")
			}
		}
		// A multipart upload, in both kinds of bucket.
		check(e.mustUpload(e.owner, "keep", upload{"a.jpg", "", photo}, nil)["id"], true)
		check(e.mustUpload(e.owner, "strip", upload{"a.jpg", "", photo}, nil)["id"], false)
		// Fill bytes before the EXIF segment hide nothing.
		filled := jpegWithGPS(solidJPEG(80, 60, color.RGBA{10, 20, 30, 255}), 3)
		f := e.mustUpload(e.owner, "strip", upload{"filled.jpg", "", filled}, nil)
		if got := e.stored(str(f["id"])); bytes.Contains(got, gpsMarker) || bytes.Contains(got, []byte("GPSLatitude")) {
			t.Fatal("location kept in a JPEG with fill bytes")
		}
		// An upload session: the client's checksum is of what it sent.
		s := e.session(e.owner, map[string]any{"bucket": "strip", "name": "s.jpg", "size": len(photo), "mimeType": "image/jpeg", "checksumSha256": sha(photo)})
		if code, _ := put(t, str(s["uploadUrl"]), photo); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		check(e.ok(e.owner, completeSession, map[string]any{"id": s["id"]})["completeUploadSession"].(map[string]any)["id"], false)
	})
}
