package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The hostile corpus (testdata/hostile) is checked in: files (bombs,
// polyglots, truncated and looping media) and raw requests (broken
// multipart, hostile JSON and GraphQL). TestHostileCorpus replays all of
// it against both backends: every answer is coded, none is a 5xx, and
// nothing is left behind (the harness checks storage after each test).
// MEDIAGRAPH_WRITE_CORPUS=1 go test -run TestWriteHostileCorpus rewrites
// the files from the recipes below.

const corpusDir = "testdata/hostile"

// corpusRequest is one raw request of requests.json. {{KEY}} in a header
// or the body is replaced by an OWNER key; body64, if set, is the body in
// base64 (for bytes JSON strings cannot carry).
type corpusRequest struct {
	Name    string            `json:"name"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Body64  string            `json:"body64,omitempty"`
}

func TestWriteHostileCorpus(t *testing.T) {
	if os.Getenv("MEDIAGRAPH_WRITE_CORPUS") == "" {
		t.Skip("set MEDIAGRAPH_WRITE_CORPUS=1 to rewrite testdata/hostile")
	}
	files := map[string][]byte{}
	files["bomb-60000x60000.png"] = bombPNG(60000, 60000)
	j := solidJPEG(64, 48, color.RGBA{200, 10, 10, 255})
	files["truncated.jpg"] = j[:len(j)/2]
	files["gps-after-fill-bytes.jpg"] = jpegWithGPS(j, 5)
	files["polyglot.gif"] = append([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), []byte("<html><script>alert(1)</script></html>")...)
	files["script.svg"] = []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(1)"><script>alert(2)</script></svg>`)
	files["exe-named.png"] = append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"), make([]byte, 200)...)
	files["empty.bin"] = nil
	files["gif-65535-square.gif"] = []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\xff\xff\xff\xff\x00\x02\x02D\x01\x00;")
	files["webp-huge-canvas.webp"] = append([]byte("RIFF\x1e\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\xff\x3f\x00\xff\x3f\x00"), make([]byte, 16)...)
	// A WAV whose data chunk claims 4 GiB, and one whose fmt chunk is cut.
	files["wav-huge-chunk.wav"] = []byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x44\xac\x00\x00\x10\xb1\x02\x00\x04\x00\x10\x00data\xff\xff\xff\xff")
	files["wav-cut-fmt.wav"] = []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00")
	// MP4 boxes: one of size 1 with a 64-bit size of 2^62, and boxes
	// nested 2,000 deep.
	mp4 := append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isom"), []byte("\x00\x00\x00\x01moov\x40\x00\x00\x00\x00\x00\x00\x00")...)
	files["mp4-huge-box.mp4"] = mp4
	var deep []byte
	for range 2000 {
		deep = append(deep, []byte("\x00\x00\x00\x00trak")...)
	}
	files["mp4-deep-boxes.mp4"] = append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isom\x00\x00\x00\x00moov"), deep...)
	// Matroska with maximal vints.
	files["webm-max-vints.webm"] = append([]byte("\x1a\x45\xdf\xa3\x01\xff\xff\xff\xff\xff\xff\xff\x42\x82\x84webm\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff"),
		bytes.Repeat([]byte("\x1f\x43\xb6\x75\x01\xff\xff\xff\xff\xff\xff\xff"), 200)...)
	files["flac-cut.flac"] = []byte("fLaC\x00\x00\x00\x22\x10\x00")
	files["ogg-bad-pages.ogg"] = bytes.Repeat([]byte("OggS\x00\x02\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff"), 100)
	files["mp3-bad-frames.mp3"] = append([]byte("ID3\x04\x00\x00\x7f\x7f\x7f\x7f"), bytes.Repeat([]byte("\xff\xfb\x90\x00"), 500)...)
	// A PDF of /Count entries (the page count used to be quadratic).
	files["pdf-count-flood.pdf"] = append([]byte("%PDF-1.7\n1 0 obj << /Type /Pages "), append(bytes.Repeat([]byte("/Count 9 "), 12000), []byte(">> endobj\n%%EOF\n")...)...)
	// A Lottie-looking JSON nested 20,000 deep.
	files["lottie-deep.json"] = []byte(`{"v":"5","fr":30,"ip":0,"op":60,"w":10,"h":10,"layers":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}")
	// EXIF whose first directory points at itself.
	exif := []byte("Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x69\x87\x04\x00\x01\x00\x00\x00\x08\x00\x00\x00\x08\x00\x00\x00")
	loop := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, byte((len(exif) + 2) >> 8), byte(len(exif) + 2)}, exif...)
	files["exif-loop.jpg"] = append(loop, j[2:]...)
	files["utf16-bom.txt"] = append([]byte("\xff\xfe"), []byte("h\x00i\x00")...)
	files["zip-claims-4gib.zip"] = append([]byte("PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00\x00a"), make([]byte, 64)...)
	dir := filepath.Join(corpusDir, "files")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ops := `{"query":"mutation($f: Upload!) { uploadFile(input: {bucket: \"b\", file: $f}) { id } }","variables":{"f":null}}`
	part := func(name, body string) string {
		return "--B\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + body + "\r\n"
	}
	filePart := "--B\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n"
	mp := map[string]string{"Content-Type": "multipart/form-data; boundary=B", "Apollo-Require-Preflight": "1", "Authorization": "Bearer {{KEY}}"}
	js := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer {{KEY}}"}
	var frags strings.Builder
	frags.WriteString("query { ...F30 } fragment F0 on Query { viewer { role } }")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&frags, " fragment F%d on Query { ...F%d ...F%d }", i, i-1, i-1)
	}
	gql := func(q string) string { b, _ := json.Marshal(map[string]any{"query": q}); return string(b) }
	reqs := []corpusRequest{
		{Name: "multipart without a boundary", Method: "POST", Path: "/graphql", Headers: map[string]string{"Content-Type": "multipart/form-data", "Apollo-Require-Preflight": "1"}, Body: "x"},
		{Name: "multipart map before operations", Method: "POST", Path: "/graphql", Headers: mp, Body: part("map", `{"0":["variables.f"]}`) + part("operations", ops) + filePart + "--B--\r\n"},
		{Name: "multipart map outside variables", Method: "POST", Path: "/graphql", Headers: mp, Body: part("operations", ops) + part("map", `{"0":["query"]}`) + filePart + "--B--\r\n"},
		{Name: "multipart file never sent", Method: "POST", Path: "/graphql", Headers: mp, Body: part("operations", ops) + part("map", `{"0":["variables.f"]}`) + "--B--\r\n"},
		{Name: "multipart unterminated", Method: "POST", Path: "/graphql", Headers: mp, Body: part("operations", ops) + part("map", `{"0":["variables.f"]}`) + filePart},
		{Name: "multipart operations not JSON", Method: "POST", Path: "/graphql", Headers: mp, Body: part("operations", `{"query": `) + part("map", `{}`) + "--B--\r\n"},
		{Name: "multipart map of 2,000 files", Method: "POST", Path: "/graphql", Headers: mp, Body: part("operations", ops) + part("map", "{"+strings.Repeat(`"x":["variables.f"],`, 2000)+`"0":["variables.f"]}`) + "--B--\r\n"},
		{Name: "multipart without preflight", Method: "POST", Path: "/graphql", Headers: map[string]string{"Content-Type": "multipart/form-data; boundary=B"}, Body: part("operations", ops) + "--B--\r\n"},
		{Name: "JSON with invalid UTF-8", Method: "POST", Path: "/graphql", Headers: js, Body64: base64.StdEncoding.EncodeToString([]byte(`{"query":"{ viewer { role } }","variables":{"x":"` + "\xff\xfe" + `"}}`))},
		{Name: "JSON nested 20,000 deep", Method: "POST", Path: "/graphql", Headers: js, Body: `{"query":"{ viewer { role } }","variables":{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}}"},
		{Name: "JSON batch array", Method: "POST", Path: "/graphql", Headers: js, Body: `[` + gql("{ viewer { role } }") + `,` + gql("{ viewer { role } }") + `]`},
		{Name: "exponential fragments without a key", Method: "POST", Path: "/graphql", Headers: map[string]string{"Content-Type": "application/json"}, Body: gql(frags.String())},
		{Name: "fragment cycle", Method: "POST", Path: "/graphql", Headers: js, Body: gql("query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }")},
		{Name: "6,000 aliases", Method: "POST", Path: "/graphql", Headers: js, Body: gql("{" + strings.Repeat(" viewer { role }", 6000) + " }")},
		{Name: "nested pages", Method: "POST", Path: "/graphql", Headers: js, Body: gql("{ files(first: 100) { nodes { bucket { files(first: 100) { nodes { bucket { files(first: 100) { nodes { id } } } } } } } } }")},
		{Name: "mutation over GET", Method: "GET", Path: `/graphql?query=mutation%7BdeleteBucket(name:%22b%22)%7D`, Headers: map[string]string{"Authorization": "Bearer {{KEY}}"}},
		{Name: "base64 with bad padding", Method: "POST", Path: "/graphql", Headers: js, Body: gql(`mutation { uploadFileBase64(input: {bucket: "b", name: "a.png", mimeType: "image/png", data: "iVBORw0KGgo=="}) { id } }`)},
		{Name: "base64 data URL that lies", Method: "POST", Path: "/graphql", Headers: js, Body: gql(`mutation { uploadFileBase64(input: {bucket: "b", name: "a.png", data: "data:image/png;base64,R0lGODlhAQABAAAAACw="}) { id } }`)},
		{Name: "text/plain body", Method: "POST", Path: "/graphql", Headers: map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer {{KEY}}"}, Body: "{ viewer { role } }"},
		{Name: "name with NUL and path", Method: "POST", Path: "/graphql", Headers: js, Body: gql(`mutation { uploadFileBase64(input: {bucket: "b", name: "../\u0000x.png", mimeType: "image/png", data: "iVBORw0KGgo="}) { id } }`)},
		{Name: "thumbnail box alias", Method: "GET", Path: "/files/file_0000000000000000000000000z/thumbnail/0256x256"},
		{Name: "download of another path", Method: "GET", Path: "/files/..%2f..%2fetc%2fpasswd/x"},
		{Name: "blob route without an upload", Method: "PUT", Path: "/_blob/org/k", Body: "x"},
	}
	b, _ := json.MarshalIndent(reqs, "", "  ")
	if err := os.WriteFile(filepath.Join(corpusDir, "requests.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHostileCorpus(t *testing.T) {
	dir := filepath.Join(corpusDir, "files")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(corpusDir, "requests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var reqs []corpusRequest
	if err := json.Unmarshal(raw, &reqs); err != nil {
		t.Fatal(err)
	}
	if len(entries) < 20 || len(reqs) < 20 {
		t.Fatalf("the corpus has %d files and %d requests", len(entries), len(reqs))
	}
	names := make([]string, 0, len(entries))
	for _, d := range entries {
		names = append(names, d.Name())
	}
	sort.Strings(names)
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		e.ok(e.owner, `mutation { createBucket(input: {name: "strict", rejectMalformedMedia: true, stripGpsMetadata: true}) { id } }`, nil)
		for _, name := range names {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, bucket := range []string{"b", "strict"} {
				r := e.upload(e.owner, bucket, upload{name, "", data}, nil)
				if r.Status >= 500 || (r.Status == 200 && len(r.Errors) == 0 && r.Data["uploadFile"] == nil) {
					t.Errorf("%s into %s: %d %.300s", name, bucket, r.Status, r.raw)
				}
				if len(r.Errors) == 0 {
					id := r.Data["uploadFile"].(map[string]any)["id"]
					// Whatever it is, it reads back byte for byte, and its
					// thumbnail answers with a status, not a crash.
					if status, got := e.download(e.owner, id, 0); status != 200 || (bucket == "b" && !bytes.Equal(got, data)) {
						t.Errorf("%s: download %d", name, status)
					}
					if u, ok := e.thumbnailURL(e.owner, id, "").(string); ok {
						if code, _, _ := get(t, u, nil); code >= 500 {
							t.Errorf("%s: thumbnail %d", name, code)
						}
					}
				}
			}
		}
		for _, c := range reqs {
			status, body := e.raw(c)
			t.Logf("%s: %d", c.Name, status)
			if status >= 500 || status == 0 {
				t.Errorf("%s: %d %.300s", c.Name, status, body)
				continue
			}
			if status >= 400 && strings.HasPrefix(strings.TrimSpace(body), "{") {
				var out struct {
					Errors []gqlError `json:"errors"`
				}
				if json.Unmarshal([]byte(body), &out) != nil || len(out.Errors) == 0 || out.Errors[0].Extensions["code"] == nil {
					t.Errorf("%s: %d without a coded error: %.300s", c.Name, status, body)
				}
			}
		}
		// Nothing the requests sent was kept: only the corpus files.
		d := e.ok(e.owner, `{ files(first: 100) { totalCount } }`, nil)
		if n := d["files"].(map[string]any)["totalCount"].(float64); n > float64(2*len(names)) {
			t.Errorf("%v files after the corpus", n)
		}
	})
}

// raw sends a corpus request over its own connection, exactly as written,
// and returns the status (0 if the server closed the connection without an
// answer) and body.
func (e *env) raw(c corpusRequest) (int, string) {
	e.t.Helper()
	body := []byte(strings.ReplaceAll(c.Body, "{{KEY}}", e.owner))
	if c.Body64 != "" {
		body, _ = base64.StdEncoding.DecodeString(c.Body64)
	}
	conn, err := net.Dial("tcp", e.m.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", c.Method, c.Path, e.m.Listener.Addr())
	keys := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\r\n", k, strings.ReplaceAll(c.Headers[k], "{{KEY}}", e.owner))
	}
	if c.Method != "GET" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		return 0, err.Error()
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out)
}
