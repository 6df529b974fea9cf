package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/internal/testenv"
	"github.com/mediagraph/mediagraph/media"
)

// rawPart is one part of a multipart body written by hand.
type rawPart struct {
	name, filename, contentType string
	data                        []byte
}

// rawMultipart writes a multipart body by hand, so a test can frame it as
// clients may: with a preamble, an epilogue, no CRLF after the closing
// delimiter, parts in any order.
func rawMultipart(boundary, preamble, epilogue string, parts ...rawPart) []byte {
	var b bytes.Buffer
	b.WriteString(preamble)
	for i, p := range parts {
		if i > 0 || preamble != "" {
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=%q", boundary, p.name)
		if p.filename != "" {
			fmt.Fprintf(&b, "; filename=%q", p.filename)
		}
		b.WriteString("\r\n")
		if p.contentType != "" {
			fmt.Fprintf(&b, "Content-Type: %s\r\n", p.contentType)
		}
		b.WriteString("\r\n")
		b.Write(p.data)
	}
	fmt.Fprintf(&b, "\r\n--%s--%s", boundary, epilogue)
	return b.Bytes()
}

// ops is an operations part.
func ops(query string, vars map[string]any) rawPart {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return rawPart{name: "operations", data: b}
}

func fileMap(m map[string][]string) rawPart {
	b, _ := json.Marshal(m)
	return rawPart{name: "map", data: b}
}

func (e *env) postRaw(boundary string, body []byte) *resp {
	e.t.Helper()
	return e.post(e.owner, "multipart/form-data; boundary="+boundary, bytes.NewReader(body), http.Header{"Apollo-Require-Preflight": {"true"}})
}

// noise is n bytes that neither compress nor dedupe.
func noise(n int, seed uint64) []byte {
	b := make([]byte, n)
	fillPattern(b, seed, 0)
	return b
}

// noisyJPEG is a JPEG of w×h random pixels (large for its size).
func noisyJPEG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32())
	}
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	return buf.Bytes()
}

// blobRows counts the blob rows of every state.
func (e *env) blobRows() int {
	e.t.Helper()
	n, err := e.m.DB.Bun().NewSelect().Table("blobs").Count(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return int(n)
}

// nothingStored checks that no file, blob row or object is left once the
// server has finished with every request body.
func (e *env) nothingStored(what string) {
	e.t.Helper()
	e.waitMetric("mediagraph_request_bodies", func(v float64) bool { return v == 0 }, what)
	deadline := time.Now().Add(10 * time.Second)
	for len(e.objects()) > 0 || e.blobRows() > 0 {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: left %d objects and %d blob rows", what, len(e.objects()), e.blobRows())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := e.ok(e.owner, `{ files { totalCount } }`, nil); d["files"].(map[string]any)["totalCount"] != float64(0) {
		e.t.Fatalf("%s: files were created: %v", what, d)
	}
}

// TestStreamedUploads: multipart files reach storage as the request
// arrives, byte for byte whatever their size, and with no temporary file.
func TestStreamedUploads(t *testing.T) {
	testenv.VersityGW(t) // started before TMPDIR changes: it outlives this test
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "mem"})
		for i, size := range []int64{1, 1000, media.SniffLimit, media.SniffLimit + 1, 5<<20 - 1, 5 << 20, 12<<20 + 3, 40 << 20} {
			data := noise(int(size), uint64(i+1))
			r := e.streamUpload(fmt.Sprintf("f%d.bin", i), size, func(w io.Writer) { _, _ = w.Write(data) })
			if len(r.Errors) > 0 {
				t.Fatalf("%d bytes: %s", size, r.raw)
			}
			f := r.Data["uploadFile"].(map[string]any)
			if f["size"] != float64(size) {
				t.Fatalf("%d bytes: size %v", size, f["size"])
			}
			if status, got := e.download(e.owner, f["id"], 0); status != 200 || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes: download %d, %d bytes, same: %v", size, status, len(got), bytes.Equal(got, data))
			}
			d := e.ok(e.owner, `query($id: ID!) { file(id: $id) { checksumSha256 } }`, map[string]any{"id": f["id"]})
			if d["file"].(map[string]any)["checksumSha256"] != sha(data) {
				t.Fatalf("%d bytes: checksum %v", size, d)
			}
		}
		if n := dirSize(tmp); n != 0 {
			t.Errorf("temporary files: %d bytes", n)
		}
		// Identical content streamed again is stored once (dedupe after
		// the bytes are stored: the second object is deleted).
		data := noise(6<<20, 99)
		for _, name := range []string{"a.bin", "b.bin"} {
			if r := e.streamUpload(name, int64(len(data)), func(w io.Writer) { _, _ = w.Write(data) }); len(r.Errors) > 0 {
				t.Fatal(string(r.raw))
			}
		}
		var same int
		for _, o := range e.objects() {
			if o.Size == int64(len(data)) {
				same++
			}
		}
		if same != 1 {
			t.Fatalf("identical content stored %d times", same)
		}
	})
}

// TestStreamedUploadFraming: however a client frames its multipart body
// (preamble, epilogue, no CRLF at the end, files in any order, a file used
// twice), the stored bytes are the file's; a malformed body stores nothing.
func TestStreamedUploadFraming(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		const boundary = "----mediagraph-test-boundary"
		one := `mutation($f: Upload!) { uploadFile(input: {bucket: "b", file: $f}) { id size } }`
		big := noise(7<<20+11, 1)
		for i, c := range []struct{ name, preamble, epilogue string }{
			{"usual", "", "\r\n"},
			{"no CRLF at the end", "", ""},
			{"an epilogue", "", "\r\nthe end of the request\r\n"},
			{"a long epilogue", "", "\r\n" + strings.Repeat("x", 100_000)},
			{"a preamble", "this is a preamble", "\r\n"},
		} {
			data := append(big, byte(i)) // a new file each time: no dedupe
			body := rawMultipart(boundary, c.preamble, c.epilogue, ops(one, map[string]any{"f": nil}),
				fileMap(map[string][]string{"0": {"variables.f"}}), rawPart{"0", fmt.Sprintf("big%d.bin", i), "application/octet-stream", data})
			r := e.postRaw(boundary, body)
			if len(r.Errors) > 0 {
				t.Fatalf("%s: %s", c.name, r.raw)
			}
			if got := e.stored(str(r.Data["uploadFile"].(map[string]any)["id"])); !bytes.Equal(got, data) {
				t.Fatalf("%s: stored %d bytes of %d, same: %v", c.name, len(got), len(data), bytes.Equal(got, data))
			}
		}

		// uploadFiles with the parts in another order than the inputs:
		// the ones sent first are set aside until their turn, in
		// temporary files or (a request under 8 MiB) in memory.
		many := `mutation($in: [UploadFileInput!]!) { uploadFiles(inputs: $in) { name size } }`
		in := []any{map[string]any{"bucket": "b", "file": nil}, map[string]any{"bucket": "b", "file": nil}, map[string]any{"bucket": "b", "file": nil}}
		for _, files := range [][][]byte{
			{noise(9<<20, 2), noise(300<<10, 3), noise(6<<20, 4)},
			{noise(2<<20, 5), noise(300<<10, 6), noise(1<<20, 7)},
		} {
			body := rawMultipart(boundary, "", "\r\n", ops(many, map[string]any{"in": in}),
				fileMap(map[string][]string{"x": {"variables.in.0.file"}, "y": {"variables.in.1.file"}, "z": {"variables.in.2.file"}}),
				rawPart{"z", "z.bin", "", files[2]}, rawPart{"x", "x.bin", "", files[0]}, rawPart{"y", "y.bin", "", files[1]})
			r := e.postRaw(boundary, body)
			if len(r.Errors) > 0 {
				t.Fatal(string(r.raw))
			}
			for i, f := range r.Data["uploadFiles"].([]any) {
				f := f.(map[string]any)
				if f["name"] != string(rune('x'+i))+".bin" || f["size"] != float64(len(files[i])) {
					t.Fatalf("file %d: %v", i, f)
				}
			}
			for i, name := range []string{"x.bin", "y.bin", "z.bin"} {
				d := e.ok(e.owner, `query($n: String) { files(bucket: "b", filter: {nameContains: $n}) { nodes { id } } }`, map[string]any{"n": name})
				if !bytes.Equal(e.stored(str(d["files"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["id"])), files[i]) {
					t.Fatalf("%s: bytes differ", name)
				}
				e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": d["files"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["id"]})
			}
		}

		// The same file in two inputs is read ahead (as before streaming).
		twice := rawMultipart(boundary, "", "\r\n", ops(many, map[string]any{"in": []any{
			map[string]any{"bucket": "b", "name": "t1.bin", "file": nil}, map[string]any{"bucket": "b", "name": "t2.bin", "file": nil}}}),
			fileMap(map[string][]string{"0": {"variables.in.0.file", "variables.in.1.file"}}), rawPart{"0", "t.bin", "", noise(300<<10, 8)})
		if r := e.postRaw(boundary, twice); len(r.Errors) > 0 || len(r.Data["uploadFiles"].([]any)) != 2 {
			t.Fatalf("a file used twice: %s", r.raw)
		}
	})
}

// TestStreamedUploadsLeaveNothing: whatever stops a streamed upload — a
// malformed body, a file over the limit, a later file refused, a type that
// lies, a client that goes away mid-file — nothing is stored.
func TestStreamedUploadsLeaveNothing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "small", "maxFileSize": 1 << 20})
		e.createBucket(e.owner, map[string]any{"name": "imgs", "allowedMimeTypes": []string{"image/*"}})
		e.createBucket(e.owner, map[string]any{"name": "any"})
		const boundary = "----mediagraph-test-boundary"
		one := `mutation($f: Upload!) { uploadFile(input: {bucket: "any", file: $f}) { id } }`
		m := fileMap(map[string][]string{"0": {"variables.f"}})
		file := rawPart{"0", "a.bin", "", noise(6<<20, 1)}
		for _, c := range []struct {
			name   string
			body   []byte
			status int
			code   string
		}{
			{"a part not in the map after the file",
				rawMultipart(boundary, "", "\r\n", ops(one, map[string]any{"f": nil}), m, file, rawPart{"1", "b.bin", "", []byte("more")}), 422, media.EINVALID},
			{"the file sent twice",
				rawMultipart(boundary, "", "\r\n", ops(one, map[string]any{"f": nil}), m, file, file), 422, media.EINVALID},
			{"the body cut inside the file",
				rawMultipart(boundary, "", "", ops(one, map[string]any{"f": nil}), m, file)[:5<<20], 422, media.EINVALID},
			{"the file never sent",
				rawMultipart(boundary, "", "\r\n", ops(one, map[string]any{"f": nil}), m), 422, media.EINVALID},
			{"a map path past the end of a list",
				rawMultipart(boundary, "", "\r\n", ops(`mutation($in: [UploadFileInput!]!) { uploadFiles(inputs: $in) { id } }`,
					map[string]any{"in": []any{map[string]any{"bucket": "any", "file": nil}}}),
					fileMap(map[string][]string{"0": {"variables.in.3.file"}}), file), 422, media.EINVALID},
		} {
			r := e.postRaw(boundary, c.body)
			if r.Status != c.status || r.code() != c.code {
				t.Errorf("%s: want %d %s, got %d %s", c.name, c.status, c.code, r.Status, r.raw)
			}
			e.nothingStored(c.name)
		}

		// Over the bucket's limit: refused as the bytes arrive.
		big := noise(5<<20, 2)
		req := streamingUpload(e.url, e.owner, "small", "big.bin", int64(len(big)), func(w io.Writer) { _, _ = w.Write(big) })
		if r := e.send(req); r.code() != media.ETOOLARGE {
			t.Fatalf("over the limit: %d %s", r.Status, r.raw)
		}
		e.nothingStored("over the limit")

		// uploadFiles whose third file is refused: the first two, stored
		// already, go too.
		many := `mutation($in: [UploadFileInput!]!) { uploadFiles(inputs: $in) { id } }`
		in := []any{map[string]any{"bucket": "imgs", "file": nil}, map[string]any{"bucket": "imgs", "file": nil}, map[string]any{"bucket": "imgs", "file": nil}}
		body := rawMultipart(boundary, "", "\r\n", ops(many, map[string]any{"in": in}),
			fileMap(map[string][]string{"0": {"variables.in.0.file"}, "1": {"variables.in.1.file"}, "2": {"variables.in.2.file"}}),
			rawPart{"0", "a.jpg", "", noisyJPEG(900, 700)}, rawPart{"1", "b.png", "", pngBytes(40, 40)}, rawPart{"2", "c.pdf", "", pdfBytes()})
		if r := e.postRaw(boundary, body); r.code() != media.EUNSUPPORTED || !strings.Contains(string(r.raw), "file 3") {
			t.Fatalf("a refused third file: %d %s", r.Status, r.raw)
		}
		e.nothingStored("a refused third file")

		// A type that lies: the part says PNG, the bytes are a PDF.
		lying := append(pdfBytes(), noise(2<<20, 3)...)
		body = rawMultipart(boundary, "", "\r\n", ops(one, map[string]any{"f": nil}), m, rawPart{"0", "a.png", "image/png", lying})
		if r := e.postRaw(boundary, body); r.code() != media.EUNSUPPORTED {
			t.Fatalf("a lying type: %d %s", r.Status, r.raw)
		}
		e.nothingStored("a lying type")

		// A client that goes away mid-file.
		head := rawMultipart(boundary, "", "", ops(one, map[string]any{"f": nil}), m, rawPart{"0", "a.bin", "", nil})
		head = head[:len(head)-len("\r\n--"+boundary+"--")]
		c := e.dialFrom(loopback(1))
		fmt.Fprintf(c, "POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nApollo-Require-Preflight: true\r\n"+
			"Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n", e.owner, boundary, len(head)+20<<20+100)
		_, _ = c.Write(head)
		_, _ = c.Write(noise(8<<20, 4))
		time.Sleep(100 * time.Millisecond)
		c.Close()
		e.nothingStored("a client that went away")
	})
}

// TestStreamedJPEGLosesItsLocation: a JPEG larger than the sniffed head,
// streamed into a bucket that strips location data, is stored without it.
func TestStreamedJPEGLosesItsLocation(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.ok(e.owner, `mutation { createBucket(input: {name: "strip", stripGpsMetadata: true}) { id } }`, nil)
		photo := jpegWithGPS(noisyJPEG(1200, 900), 0)
		if len(photo) <= media.SniffLimit {
			t.Fatalf("the photo is only %d bytes", len(photo))
		}
		r := e.send(streamingUpload(e.url, e.owner, "strip", "p.jpg", int64(len(photo)), func(w io.Writer) { _, _ = w.Write(photo) }))
		if len(r.Errors) > 0 {
			t.Fatal(string(r.raw))
		}
		got := e.stored(str(r.Data["uploadFile"].(map[string]any)["id"]))
		if bytes.Contains(got, gpsMarker) || bytes.Contains(got, []byte("GPSLatitude")) || len(got) != len(photo) {
			t.Fatalf("location kept, or the size changed (%d → %d)", len(photo), len(got))
		}
		if _, _, err := image.Decode(bytes.NewReader(got)); err != nil {
			t.Fatalf("no longer a JPEG: %v", err)
		}
	})
}
