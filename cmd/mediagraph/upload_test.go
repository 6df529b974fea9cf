package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// stored reads back the bytes of a file through the storage backend.
func (e *env) stored(fileID string) []byte {
	e.t.Helper()
	f, err := e.m.DB.File(context.Background(), e.org.ID, media.ID(fileID))
	if err != nil {
		e.t.Fatal(err)
	}
	var key string
	if err := e.m.DB.Bun().NewRaw("SELECT storage_key FROM blobs WHERE id = ?", f.BlobID).Scan(context.Background(), &key); err != nil {
		e.t.Fatal(err)
	}
	rc, err := e.m.Blobs.Get(context.Background(), key, 0, -1)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

func TestUploadMultipart(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "photos", "defaultVisibility": "PUBLIC"})
		img := pngBytes(64, 48)
		f := e.mustUpload(e.owner, "photos", upload{"Holiday Photo.png", "image/png", img}, map[string]any{
			"path": "/events/2026", "tags": []string{"Beach", "summer", "beach"}, "altText": "sea",
			"metadata": map[string]any{"camera": "x100", "iso": 200}})
		if f["name"] != "Holiday Photo.png" || f["path"] != "/events/2026/" || f["mimeType"] != "image/png" || f["type"] != "IMAGE" ||
			f["size"] != float64(len(img)) || f["checksumSha256"] != sha(img) || f["width"] != float64(64) || f["height"] != float64(48) ||
			f["visibility"] != "PUBLIC" || f["revision"] != float64(1) || f["altText"] != "sea" ||
			f["bucket"].(map[string]any)["name"] != "photos" || f["createdBy"].(map[string]any)["email"] != "owner@acme.test" {
			t.Fatalf("uploaded file: %v", f)
		}
		if tags := f["tags"].([]any); len(tags) != 2 {
			t.Fatalf("tags not normalized: %v", tags)
		}
		if f["metadata"].(map[string]any)["camera"] != "x100" {
			t.Fatalf("metadata: %v", f["metadata"])
		}
		if !strings.HasPrefix(str(f["id"]), "file_") {
			t.Fatalf("id: %v", f["id"])
		}
		// The bytes are stored under a generated key, never the client's name.
		objs := e.objects()
		if len(objs) != 1 || strings.Contains(objs[0].Key, "Holiday") || strings.Contains(objs[0].Key, ".png") {
			t.Fatalf("objects: %v", objs)
		}
		if !bytes.Equal(e.stored(str(f["id"])), img) {
			t.Fatal("stored bytes differ")
		}

		// The same name in the same folder conflicts; another folder is fine.
		if r := e.upload(e.owner, "photos", upload{"Holiday Photo.png", "", img}, map[string]any{"path": "/events/2026/"}); r.code() != media.ECONFLICT {
			t.Fatalf("name conflict: %s", r.raw)
		}
		e.mustUpload(e.owner, "photos", upload{"Holiday Photo.png", "", img}, map[string]any{"path": "/events/"})
		// With replace, the same name gets a new revision of the same file.
		r := e.upload(e.owner, "photos", upload{"Holiday Photo.png", "", pngBytes(8, 8)}, map[string]any{"path": "/events/2026/", "replace": true})
		if len(r.Errors) > 0 || r.Data["uploadFile"].(map[string]any)["id"] != f["id"] || r.Data["uploadFile"].(map[string]any)["revision"] != float64(2) {
			t.Fatalf("replace: %s", r.raw)
		}
		// The name comes from the input when given, else from the part.
		g := e.mustUpload(e.owner, "photos", upload{"part-name.png", "", img}, map[string]any{"name": "chosen.png"})
		if g["name"] != "chosen.png" || g["visibility"] != "PUBLIC" {
			t.Fatalf("name from input: %v", g)
		}
		if r := e.upload(e.owner, "nope", upload{"a.png", "", img}, nil); r.code() != media.ENOTFOUND {
			t.Fatalf("unknown bucket: %s", r.raw)
		}
	})
}

func TestUploadFilesBatch(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "imgs", "allowedMimeTypes": []string{"image/*"}})
		q := `mutation($inputs: [UploadFileInput!]!) { uploadFiles(inputs: $inputs) { name size } }`
		inputs := []any{map[string]any{"bucket": "imgs", "file": nil}, map[string]any{"bucket": "imgs", "file": nil}}
		r := e.multipart(e.owner, q, map[string]any{"inputs": inputs},
			map[string]upload{"0": {"a.png", "", pngBytes(2, 2)}, "1": {"b.jpg", "", jpegBytes(4, 4)}},
			map[string][]string{"0": {"variables.inputs.0.file"}, "1": {"variables.inputs.1.file"}})
		if len(r.Errors) > 0 || len(r.Data["uploadFiles"].([]any)) != 2 {
			t.Fatalf("batch: %s", r.raw)
		}
		// All or nothing: the PDF is refused, so c.png is not kept either.
		r = e.multipart(e.owner, q, map[string]any{"inputs": inputs},
			map[string]upload{"0": {"c.png", "", pngBytes(3, 3)}, "1": {"d.pdf", "", pdfBytes()}},
			map[string][]string{"0": {"variables.inputs.0.file"}, "1": {"variables.inputs.1.file"}})
		if r.code() != media.EUNSUPPORTED {
			t.Fatalf("batch with a refused file: %s", r.raw)
		}
		d := e.ok(e.owner, `{ files(bucket: "imgs") { totalCount } }`, nil)
		if d["files"].(map[string]any)["totalCount"] != float64(2) {
			t.Fatalf("batch not undone: %v", d)
		}
		if len(e.objects()) != 2 {
			t.Fatalf("batch left bytes: %v", e.objects())
		}
	})
}

func TestUploadBase64(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "docs"})
		q := `mutation($i: UploadFileBase64Input!) { uploadFileBase64(input: $i) { name mimeType type size checksumSha256 } }`
		pdf := pdfBytes()
		d := e.ok(e.owner, q, map[string]any{"i": map[string]any{"bucket": "docs", "name": "a.pdf", "mimeType": "application/pdf",
			"data": base64.StdEncoding.EncodeToString(pdf)}})
		f := d["uploadFileBase64"].(map[string]any)
		if f["mimeType"] != "application/pdf" || f["type"] != "DOCUMENT" || f["size"] != float64(len(pdf)) || f["checksumSha256"] != sha(pdf) {
			t.Fatalf("base64 upload: %v", f)
		}
		// A data: URL prefix is accepted.
		img := pngBytes(5, 5)
		e.ok(e.owner, q, map[string]any{"i": map[string]any{"bucket": "docs", "name": "b.png", "mimeType": "image/png",
			"data": "data:image/png;base64," + base64.StdEncoding.EncodeToString(img)}})
		for _, bad := range []string{"not base64!", "abc", "YQ===", base64.StdEncoding.EncodeToString(img)[:10] + "*" + "AAA="} {
			r := e.fails(media.EINVALID, e.owner, q, map[string]any{"i": map[string]any{"bucket": "docs", "name": "c.png", "mimeType": "image/png", "data": bad}})
			if r.Errors[0].Extensions["field"] != "data" {
				t.Fatalf("field: %s", r.raw)
			}
		}
		// The declared type must agree with the content.
		e.fails(media.EUNSUPPORTED, e.owner, q, map[string]any{"i": map[string]any{"bucket": "docs", "name": "fake.png", "mimeType": "image/png",
			"data": base64.StdEncoding.EncodeToString([]byte("just some text, not an image"))}})
		e.fails(media.EUNSUPPORTED, e.owner, q, map[string]any{"i": map[string]any{"bucket": "docs", "name": "x.pdf", "mimeType": "image/jpeg",
			"data": base64.StdEncoding.EncodeToString(pdf)}})
		if len(e.objects()) != 2 {
			t.Fatalf("objects: %d", len(e.objects()))
		}
	})
}

func TestContentPolicy(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "imgs", "allowedMimeTypes": []string{"image/png", "image/jpeg"}})
		e.createBucket(e.owner, map[string]any{"name": "tiny", "maxFileSize": 200})
		e.createBucket(e.owner, map[string]any{"name": "typed", "typeLimits": []map[string]any{{"type": "IMAGE", "maxSize": 300}}})
		e.createBucket(e.owner, map[string]any{"name": "any"})

		// Allow-list on the sniffed type, not the name or the declared type.
		if r := e.upload(e.owner, "imgs", upload{"doc.png", "image/png", pdfBytes()}, nil); r.code() != media.EUNSUPPORTED {
			t.Fatalf("pdf named .png: %s", r.raw)
		}
		if r := e.upload(e.owner, "imgs", upload{"doc.png", "", pdfBytes()}, nil); r.code() != media.EUNSUPPORTED {
			t.Fatalf("pdf in an image bucket: %s", r.raw)
		}
		e.mustUpload(e.owner, "imgs", upload{"ok.bin", "", pngBytes(3, 3)}, nil)
		// Size limits: the bucket's, and per type.
		if r := e.upload(e.owner, "tiny", upload{"big.png", "", pngBytes(32, 32)}, nil); r.code() != media.ETOOLARGE {
			t.Fatalf("over bucket max: %s", r.raw)
		}
		if r := e.upload(e.owner, "typed", upload{"big.png", "", pngBytes(32, 32)}, nil); r.code() != media.ETOOLARGE {
			t.Fatalf("over type max: %s", r.raw)
		}
		e.mustUpload(e.owner, "typed", upload{"doc.pdf", "", pdfBytes()}, nil)
		// Decompression bombs are refused from the header, before any decode.
		if r := e.upload(e.owner, "any", upload{"bomb.png", "", bombPNG(60000, 60000)}, nil); r.code() != media.ETOOLARGE ||
			!strings.Contains(r.Errors[0].Message, "60000×60000") {
			t.Fatalf("bomb: %s", r.raw)
		}
		if r := e.upload(e.owner, "any", upload{"empty.txt", "", nil}, nil); r.code() != media.EINVALID {
			t.Fatalf("empty file: %s", r.raw)
		}
		// Text is a document; unknown binary is OTHER.
		f := e.mustUpload(e.owner, "any", upload{"notes.txt", "text/plain", []byte("hello\n")}, nil)
		if f["type"] != "DOCUMENT" || f["mimeType"] != "text/plain" {
			t.Fatalf("text: %v", f)
		}
		f = e.mustUpload(e.owner, "any", upload{"blob.bin", "", []byte{0, 1, 2, 3, 0xff, 0xfe, 0, 0}}, nil)
		if f["type"] != "OTHER" || f["mimeType"] != "application/octet-stream" {
			t.Fatalf("binary: %v", f)
		}
		lottie := []byte(`{"v":"5.7.4","fr":30,"ip":0,"op":60,"w":100,"h":100,"layers":[]}`)
		f = e.mustUpload(e.owner, "any", upload{"anim.json", "application/json", lottie}, nil)
		if f["type"] != "LOTTIE" {
			t.Fatalf("lottie: %v", f)
		}
	})
}

func TestNamesAreSanitized(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		img := pngBytes(2, 2)
		for _, c := range []struct{ in, want string }{
			{"../../etc/passwd.png", "passwd.png"},
			{`C:\Users\me\photo.png`, "photo.png"},
			{"evil\u202egnp.exe", "evilgnp.exe"},
			{"tab\tand\nnewline.png", "tabandnewline.png"},
			{"  spaced.png. ", "spaced.png"},
			{strings.Repeat("é", 200) + ".png", strings.Repeat("é", 125) + ".png"},
		} {
			f := e.mustUpload(e.owner, "b", upload{"x", "", img}, map[string]any{"name": c.in})
			if f["name"] != c.want {
				t.Errorf("name %q → %q, want %q", c.in, f["name"], c.want)
			}
		}
		for _, bad := range []string{"..", "/", "\u202e", " . "} {
			if r := e.upload(e.owner, "b", upload{"x", "", img}, map[string]any{"name": bad}); r.code() != media.EINVALID {
				t.Errorf("name %q: %s", bad, r.raw)
			}
		}
		for _, bad := range []string{"/a/../b", "/a/./b", `a\b`, "/a\x00/"} {
			if r := e.upload(e.owner, "b", upload{"p.png", "", img}, map[string]any{"path": bad}); r.code() != media.EINVALID {
				t.Errorf("path %q: %s", bad, r.raw)
			}
		}
	})
}
