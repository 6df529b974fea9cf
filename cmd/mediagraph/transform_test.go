package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gen2brain/avif"
	xwebp "golang.org/x/image/webp"

	"github.com/mediagraph/mediagraph/media"
)

// countingAnalyzer counts variant renders.
type countingAnalyzer struct {
	media.Analyzer
	renders *atomic.Int64
}

func (c countingAnalyzer) Transform(ctx context.Context, mimeType string, r io.ReaderAt, size int64, v media.VariantSpec) ([]byte, error) {
	c.renders.Add(1)
	return c.Analyzer.Transform(ctx, mimeType, r, size, v)
}

const transformQuery = `query($id: ID!, $t: ImageTransform, $exp: Int) { file(id: $id) { url(transform: $t, expiresIn: $exp) } }`

// transform asks for the URL of a variant.
func (e *env) transform(key string, id any, t map[string]any) *resp {
	e.t.Helper()
	return e.do(key, transformQuery, map[string]any{"id": id, "t": t})
}

// variantURL returns the URL of a variant, which must be given.
func (e *env) variantURL(key string, id any, t map[string]any) string {
	e.t.Helper()
	r := e.transform(key, id, t)
	if len(r.Errors) > 0 {
		e.t.Fatalf("url(transform: %v): %s", t, r.raw)
	}
	return str(r.Data["file"].(map[string]any)["url"])
}

// variants counts the stored variants and thumbnails.
func (e *env) variants() int {
	n := 0
	for _, o := range e.objects() {
		if strings.Contains(o.Key, ".thumb-") {
			n++
		}
	}
	return n
}

// decodeVariant decodes a variant with its format's own decoder.
func decodeVariant(t *testing.T, contentType string, data []byte) image.Image {
	t.Helper()
	var img image.Image
	var err error
	switch contentType {
	case "image/jpeg":
		img, err = jpeg.Decode(bytes.NewReader(data))
	case "image/png":
		img, err = png.Decode(bytes.NewReader(data))
	case "image/webp":
		img, err = xwebp.Decode(bytes.NewReader(data))
	case "image/avif":
		img, err = avif.Decode(bytes.NewReader(data))
	default:
		t.Fatalf("variant served as %q", contentType)
	}
	if err != nil {
		t.Fatalf("variant (%s) does not decode: %v", contentType, err)
	}
	return img
}

// exifOriented inserts an EXIF segment with an orientation after a JPEG's SOI.
func exifOriented(j []byte, o uint16) []byte {
	le := binary.LittleEndian
	tiff := []byte("II*\x00\x08\x00\x00\x00\x01\x00")
	tiff = le.AppendUint16(tiff, 0x112)
	tiff = le.AppendUint16(tiff, 3)
	tiff = le.AppendUint32(tiff, 1)
	tiff = le.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
	return append(out, j[2:]...)
}

func TestImageTransforms(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		var renders atomic.Int64
		analyzer := e.m.Service.Analyzer
		e.m.Service.Analyzer = countingAnalyzer{analyzer, &renders}
		t.Cleanup(func() { e.m.Service.Analyzer = analyzer })
		e.createBucket(e.owner, map[string]any{"name": "pub", "defaultVisibility": "PUBLIC"})
		e.createBucket(e.owner, map[string]any{"name": "priv"})

		// 400×300 stored, turned to 300×400 by its EXIF orientation; the
		// stored top-left corner (white) shows top right.
		marked := image.NewRGBA(image.Rect(0, 0, 400, 300))
		for y := 0; y < 300; y++ {
			for x := 0; x < 400; x++ {
				c := color.RGBA{0, 0, 255, 255}
				if x < 40 && y < 40 {
					c = color.RGBA{255, 255, 255, 255}
				}
				marked.Set(x, y, c)
			}
		}
		var buf bytes.Buffer
		_ = jpeg.Encode(&buf, marked, &jpeg.Options{Quality: 90})
		f := e.analysed(e.owner, "pub", upload{"turned.jpg", "", exifOriented(buf.Bytes(), 6)})
		if f["width"].(float64) != 300 || f["height"].(float64) != 400 {
			t.Fatalf("oriented photo: %v", f)
		}
		// Every fit in every format: the URL names the variant as rendered.
		for _, c := range []struct {
			t          map[string]any
			spec       string
			ct         string
			outW, outH int
		}{
			{map[string]any{"width": 200, "height": 200}, "0x200-inside-q80.jpg", "image/jpeg", 150, 200},
			{map[string]any{"width": 200, "height": 200, "fit": "COVER", "format": "PNG"}, "200x200-cover.png", "image/png", 200, 200},
			{map[string]any{"width": 200, "height": 200, "fit": "CONTAIN", "format": "WEBP", "quality": 62}, "200x200-contain-q60.webp", "image/webp", 200, 200},
			{map[string]any{"width": 200, "height": 200, "fit": "INSIDE", "format": "AVIF"}, "0x200-inside-q60.avif", "image/avif", 150, 200},
			{map[string]any{"width": 120, "height": 90, "fit": "COVER", "format": "AVIF", "quality": 100}, "120x96-cover-q100.avif", "image/avif", 120, 96},
			{map[string]any{"width": 200, "height": 200, "fit": "CONTAIN", "format": "JPEG"}, "200x200-contain-q80.jpg", "image/jpeg", 200, 200},
			{map[string]any{"width": 160, "fit": "COVER", "format": "WEBP"}, "160x0-inside-q80.webp", "image/webp", 160, 213},
			// Never enlarged: a box larger than the image gives the image.
			{map[string]any{"width": 4096, "height": 4096, "format": "PNG"}, "0x0-inside.png", "image/png", 300, 400},
			{map[string]any{"width": 1000, "height": 1000, "fit": "COVER"}, "0x0-inside-q80.jpg", "image/jpeg", 300, 400},
		} {
			u := e.variantURL(e.owner, f["id"], c.t)
			if !strings.Contains(u, "/files/"+str(f["id"])+"/variant/"+c.spec+"?rev=1") {
				t.Errorf("%v: %s, want %s", c.t, u, c.spec)
				continue
			}
			code, h, body := get(t, u, nil)
			if code != 200 || h.Get("Content-Type") != c.ct || h.Get("X-Content-Type-Options") != "nosniff" ||
				h.Get("ETag") == "" || !strings.Contains(h.Get("Cache-Control"), "immutable") {
				t.Fatalf("%s: %d %v %s", c.spec, code, h, body)
			}
			img := decodeVariant(t, c.ct, body)
			if b := img.Bounds(); b.Dx() != c.outW || b.Dy() != c.outH {
				t.Errorf("%s is %d×%d, want %d×%d", c.spec, b.Dx(), b.Dy(), c.outW, c.outH)
			}
			if strings.Contains(c.spec, "inside") {
				if r, g, _, _ := img.At(c.outW-3, 2).RGBA(); r < 0xc000 || g < 0xc000 {
					t.Errorf("%s: the orientation was not applied (top right is %v)", c.spec, img.At(c.outW-3, 2))
				}
			}
			if c.spec == "200x200-contain-q60.webp" {
				if _, _, _, a := img.At(2, 100).RGBA(); a != 0 {
					t.Errorf("CONTAIN padding in WebP is not transparent")
				}
			}
			if c.spec == "200x200-contain-q80.jpg" {
				if r, g, b, _ := img.At(2, 100).RGBA(); r < 0xf000 || g < 0xf000 || b < 0xf000 {
					t.Errorf("CONTAIN padding in JPEG is not white: %v", img.At(2, 100))
				}
			}
		}

		// Sizes round up to 8 px; only the canonical spelling is served,
		// and aliases store nothing.
		big := e.analysed(e.owner, "pub", upload{"big.jpg", "", solidJPEG(2000, 1500, color.RGBA{0, 128, 0, 255})})
		u := e.variantURL(e.owner, big["id"], map[string]any{"width": 641, "height": 2000})
		if !strings.Contains(u, "/variant/648x0-inside-q80.jpg?") {
			t.Fatalf("641 px: %s", u)
		}
		before, rendered := e.variants(), renders.Load()
		for _, alias := range []string{"641x0-inside-q80.jpg", "0648x0-inside-q80.jpg", "648x0-INSIDE-q80.jpg", "648x0-inside-q81.jpg",
			"648x0-inside.jpg", "648x486-inside-q80.jpg", "0x486-inside-q80.jpg", "648x0-inside-q80.jpeg", "648x0-inside-q80.png",
			"648x0-cover-q80.jpg", "4096x0-inside-q80.jpg", "8192x0-inside-q80.jpg", "+648x0-inside-q80.jpg", "648x0-inside-q80",
			"648x0-inside-q80.jpg.jpg", "648x0-inside-q080.jpg", "648x0-stretch-q80.jpg", "..%2F..%2Fx"} {
			if code, _, _ := get(t, strings.Replace(u, "648x0-inside-q80.jpg", alias, 1), nil); code != 404 {
				t.Errorf("alias %s: %d", alias, code)
			}
		}
		if e.variants() != before || renders.Load() != rendered {
			t.Fatalf("aliases stored %d variants, rendered %d", e.variants()-before, renders.Load()-rendered)
		}

		// Rendered once, however many ask at once; then read back.
		var wg sync.WaitGroup
		bodies := make([][]byte, 6)
		for i := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code, _, b := get(t, u, nil); code == 200 {
					bodies[i] = b
				}
			}()
		}
		wg.Wait()
		if code, h, again := get(t, u, map[string]string{"Range": "bytes=0-1"}); code != 206 || h.Get("Content-Type") != "image/jpeg" || len(again) != 2 {
			t.Fatalf("cached variant, ranged: %d %v", code, h)
		}
		code, h, again := get(t, u, nil)
		if code != 200 || renders.Load() != rendered+1 || e.variants() != before+1 {
			t.Fatalf("renders %d, stored %d", renders.Load()-rendered, e.variants()-before)
		}
		for _, b := range bodies {
			if !bytes.Equal(b, again) {
				t.Fatal("concurrent requests got different bytes")
			}
		}
		if code, _, _ := get(t, u, map[string]string{"If-None-Match": h.Get("ETag")}); code != 304 {
			t.Errorf("If-None-Match: %d", code)
		}
		if cfg, _ := jpeg.DecodeConfig(bytes.NewReader(again)); cfg.Width != 648 || cfg.Height != 486 {
			t.Errorf("648 px variant: %v", cfg)
		}

		// PRIVATE: signed, and the signature is bound to the variant.
		p := e.analysed(e.owner, "priv", upload{"secret.png", "", pngBytes(300, 200)})
		pu := e.variantURL(e.owner, p["id"], map[string]any{"width": 96, "height": 96, "fit": "COVER"})
		parsed, _ := url.Parse(pu)
		if !strings.HasSuffix(parsed.Path, "/variant/96x96-cover.png") || parsed.Query().Get("sig") == "" || parsed.Query().Get("exp") == "" {
			t.Fatalf("private variant URL: %s", pu)
		}
		code, h, body := get(t, pu, nil)
		if code != 200 || !strings.HasPrefix(h.Get("Cache-Control"), "private") {
			t.Fatalf("signed private variant: %d %v", code, h)
		}
		if img := decodeVariant(t, "image/png", body); img.Bounds().Dx() != 96 || img.Bounds().Dy() != 96 {
			t.Fatalf("private variant: %v", img.Bounds())
		}
		query := parsed.RawQuery
		base := e.url + "/files/" + str(p["id"])
		for what, other := range map[string]string{
			"unsigned":         base + "/variant/96x96-cover.png",
			"another variant":  base + "/variant/104x104-cover.png?" + query,
			"another format":   base + "/variant/96x96-cover-q80.jpg?" + query,
			"the original":     base + "/secret.png?" + query,
			"a thumbnail":      base + "/thumbnail/128x128?" + query,
			"another revision": strings.Replace(pu, "rev=1", "rev=2", 1),
		} {
			if code, _, _ := get(t, other, nil); code != 404 {
				t.Errorf("%s with the variant's signature: %d", what, code)
			}
		}
		// A key of the organization needs no signature; another's gets nothing.
		if code, _, _ := get(t, base+"/variant/96x96-cover.png", map[string]string{"Authorization": "Bearer " + e.owner}); code != 200 {
			t.Errorf("owner's key: %d", code)
		}
		globex := e.otherOrg()
		if code, _, _ := get(t, base+"/variant/96x96-cover.png", map[string]string{"Authorization": "Bearer " + globex}); code != 404 {
			t.Errorf("another organization's key: %d", code)
		}
		e.fails("NOT_FOUND", globex, transformQuery, map[string]any{"id": p["id"], "t": map[string]any{"width": 100}})

		// RESTRICTED: only those who can see the file.
		e.createBucket(e.owner, map[string]any{"name": "restricted", "access": "RESTRICTED"})
		rf := e.analysed(e.owner, "restricted", upload{"r.png", "", pngBytes(64, 64)})
		memberKey := e.newKey([]string{"media:read"}, e.member("m@acme.test", media.RoleMember))
		e.fails("NOT_FOUND", memberKey, transformQuery, map[string]any{"id": rf["id"], "t": map[string]any{"width": 32}})
		ru := e.variantURL(e.owner, rf["id"], map[string]any{"width": 32})
		unsigned := strings.SplitN(ru, "?", 2)[0]
		if code, _, _ := get(t, unsigned, map[string]string{"Authorization": "Bearer " + memberKey}); code != 404 {
			t.Errorf("restricted variant for a member who cannot see it: %d", code)
		}
		if code, _, _ := get(t, unsigned, map[string]string{"Authorization": "Bearer " + e.owner}); code != 200 {
			t.Errorf("restricted variant for the owner: %d", code)
		}

		// Not images that can be transformed: BAD_USER_INPUT on transform,
		// and the route has no variants of them.
		txt := e.mustUpload(e.owner, "pub", upload{"notes.txt", "text/plain", []byte("hello")}, nil)
		svg := e.analysed(e.owner, "pub", upload{"x.svg", "", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`)})
		cut := e.analysed(e.owner, "pub", upload{"cut.jpg", "", solidJPEG(64, 48, color.White)[:300]})
		for _, id := range []any{txt["id"], svg["id"], cut["id"]} {
			r := e.fails("BAD_USER_INPUT", e.owner, transformQuery, map[string]any{"id": id, "t": map[string]any{"width": 32}})
			if r.Errors[0].Extensions["field"] != "transform" {
				t.Errorf("%v: %s", id, r.raw)
			}
			if code, _, _ := get(t, e.url+"/files/"+str(id)+"/variant/0x0-inside.png?rev=1", nil); code != 404 {
				t.Errorf("variant of %v: %d", id, code)
			}
		}
		// Hostile transforms.
		for _, c := range []struct {
			t     map[string]any
			field string
		}{
			{map[string]any{"width": 100_000}, "transform.width"},
			{map[string]any{"width": 4097}, "transform.width"},
			{map[string]any{"width": 1e12}, "transform.width"},
			{map[string]any{"height": 0}, "transform.height"},
			{map[string]any{"height": -5}, "transform.height"},
			{map[string]any{"quality": 0}, "transform.quality"},
			{map[string]any{"quality": 101}, "transform.quality"},
		} {
			r := e.fails("BAD_USER_INPUT", e.owner, transformQuery, map[string]any{"id": big["id"], "t": c.t})
			if r.Errors[0].Extensions["field"] != c.field {
				t.Errorf("%v: %s", c.t, r.raw)
			}
		}
		// Values the schema does not know are refused by GraphQL validation,
		// before any resolver; the error's path names the field.
		for _, bad := range []map[string]any{{"format": "GIF"}, {"fit": "STRETCH"}, {"width": "wide"}, {"width": 1.5}} {
			r := e.transform(e.owner, big["id"], bad)
			if r.code() != "BAD_USER_INPUT" || len(r.Errors[0].Path) != 3 || r.Errors[0].Path[2] == "" {
				t.Errorf("%v: %s", bad, r.raw)
			}
		}
		if r := e.transform(e.owner, big["id"], map[string]any{"format": "GIF"}); r.Errors[0].Path[2] != "format" {
			t.Errorf("unknown format: %s", r.raw)
		}

		// Deleting a file deletes its variants (and the invariants check
		// that nothing is left without its blob).
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": p["id"]})
		if code, _, _ := get(t, pu, nil); code != 404 {
			t.Errorf("variant of a deleted file: %d", code)
		}
		for _, o := range e.objects() {
			if strings.Contains(o.Key, ".thumb-96x96-cover.png") {
				t.Errorf("variant %s outlived its file", o.Key)
			}
		}
	})
}

// TestImageTransformLimits: outputs over the pixel limit are refused, and
// so are transforms of an image over it (a limit lowered since upload).
func TestImageTransformLimits(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := start(t, b, func(c *Config) { c.MaxImagePixels = 300_000 })
			t.Cleanup(e.checkInvariants)
			e.createBucket(e.owner, map[string]any{"name": "pub", "defaultVisibility": "PUBLIC"})
			f := e.analysed(e.owner, "pub", upload{"p.jpg", "", solidJPEG(600, 400, color.White)})
			r := e.fails("BAD_USER_INPUT", e.owner, transformQuery, map[string]any{"id": f["id"], "t": map[string]any{"width": 640, "height": 640, "fit": "CONTAIN"}})
			if r.Errors[0].Extensions["field"] != "transform" || !strings.Contains(r.Errors[0].Message, "limit") {
				t.Errorf("output over the pixel limit: %s", r.raw)
			}
			u := e.variantURL(e.owner, f["id"], map[string]any{"width": 320, "height": 320, "fit": "CONTAIN"})
			if code, _, _ := get(t, u, nil); code != 200 {
				t.Fatalf("within the limit: %d", code)
			}
			if code, _, _ := get(t, strings.Replace(u, "320x320", "640x640", 1), nil); code != 404 {
				t.Errorf("a variant over the pixel limit by URL: %d", code)
			}
			e.m.Service.Config.MaxImagePixels = 100_000
			t.Cleanup(func() { e.m.Service.Config.MaxImagePixels = 300_000 })
			e.fails("BAD_USER_INPUT", e.owner, transformQuery, map[string]any{"id": f["id"], "t": map[string]any{"width": 64}})
		})
	}
}
