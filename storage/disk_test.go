package storage_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediagraph/mediagraph/media"
	"github.com/mediagraph/mediagraph/storage"
	"github.com/mediagraph/mediagraph/storage/storagetest"
)

// testSecret is the secret the Disks of newDisk sign with.
var testSecret = []byte("0123456789abcdef0123")

// newDisk returns a Disk behind a test server that mounts its handler the
// way the real server does.
func newDisk(t *testing.T) (*storage.Disk, string) {
	d, dir, _ := newDiskServer(t)
	return d, dir
}

// newDiskServer is newDisk that also returns the server's base URL.
func newDiskServer(t *testing.T) (d *storage.Disk, dir, base string) {
	dir = t.TempDir()
	d, err := storage.NewDisk(dir, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(storage.BlobRoute, d)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d.SetBaseURL(srv.URL)
	return d, dir, srv.URL
}

// hmacSig signs the way Disk signs its URLs: the hex HMAC-SHA256 of the
// URL's kind and fields, each field after a NUL. Tests use it to make URLs
// no Disk method would (for bad keys, with other secrets, of the object
// URL kinds Disk no longer serves); TestDiskBlobRoute checks that a part
// URL made with it is accepted, so refusals of the others are meaningful.
func hmacSig(secret []byte, kind string, fields ...string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(kind))
	for _, f := range fields {
		m.Write([]byte{0})
		m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// blobURL is base + BlobRoute + the escaped key + "?" + q.
func blobURL(base, key string, q url.Values) string {
	return base + storage.BlobRoute + (&url.URL{Path: key}).EscapedPath() + "?" + q.Encode()
}

// craftPartURL returns a URL for a PUT of part n of the upload id of key,
// size bytes, valid for a minute, signed with secret as Disk signs part URLs.
func craftPartURL(base string, secret []byte, key, id string, n int, size int64) string {
	exp := strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)
	num, sz := strconv.Itoa(n), strconv.FormatInt(size, 10)
	return blobURL(base, key, url.Values{"upload": {id}, "part": {num}, "size": {sz}, "expires": {exp},
		"sig": {hmacSig(secret, "part", http.MethodPut, key, id, num, sz, exp)}})
}

// craftObjectURLs returns URLs of the kinds Disk served before it served
// part PUTs only, signed with its secret: an object GET URL of key and an
// object PUT URL of key for size bytes.
func craftObjectURLs(base, key string, size int64) (get, put string) {
	exp := strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)
	sz := strconv.FormatInt(size, 10)
	get = blobURL(base, key, url.Values{"expires": {exp}, "sig": {hmacSig(testSecret, "blob", http.MethodGet, key, exp)}})
	put = blobURL(base, key, url.Values{"size": {sz}, "expires": {exp}, "sig": {hmacSig(testSecret, "put", http.MethodPut, key, sz, exp)}})
	return get, put
}

// tree lists the files and folders under dir with their sizes.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s:%d", filepath.ToSlash(rel), map[bool]int64{true: -1, false: fi.Size()}[e.IsDir()]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, ",")
}

func TestDisk(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) media.Blobs { d, _ := newDisk(t); return d })
}

// The metrics decorator passes the same suite, and keeps the disk's seekable files.
func TestInstrumentedDisk(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) media.Blobs {
		d, _ := newDisk(t)
		b := storage.Instrument(d, prometheus.NewRegistry(), nil)
		if _, ok := b.(media.Seeker); !ok {
			t.Fatal("the instrumented disk is not a media.Seeker")
		}
		return b
	})
}

func TestDiskRejectsPathTricks(t *testing.T) {
	ctx := context.Background()
	d, dir, base := newDiskServer(t)
	id, err := d.CreateMultipart(ctx, "ok/1", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../x", "/abs", "a/../../b", "a/./b", `a\b`, "a//b", "a/", "", "a/.tmp-x", "a/\x00", ".multipart", ".multipart/x", ".MultiPart/x/upload"} {
		if err := d.Put(ctx, key, strings.NewReader("x"), 1, ""); err == nil {
			t.Errorf("Put(%q) accepted", key)
		}
		if _, err := d.Get(ctx, key, 0, -1); err == nil {
			t.Errorf("Get(%q) accepted", key)
		}
		if err := d.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) accepted", key)
		}
		if _, err := d.CreateMultipart(ctx, key, ""); err == nil {
			t.Errorf("CreateMultipart(%q) accepted", key)
		}
		if _, err := d.PresignPart(ctx, key, id, 1, 1, time.Minute); err == nil {
			t.Errorf("PresignPart(%q) accepted", key)
		}
		// A part URL signed for the key, as no Disk would sign it: the
		// handler refuses the path itself (403), and through the server
		// (which may redirect a path with dots first) nothing is stored.
		u := craftPartURL(base, testSecret, key, id, 1, 1)
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, strings.TrimPrefix(u, base), strings.NewReader("x")))
		if rec.Code != http.StatusForbidden {
			t.Errorf("a signed part PUT to %q, unmounted: %d", key, rec.Code)
		}
		if res := do(t, http.MethodPut, u, strings.NewReader("x"), nil); res.StatusCode < 400 || res.StatusCode > 499 {
			t.Errorf("a signed part PUT to %q: %d", key, res.StatusCode)
		}
	}
	if parts, err := d.ListParts(ctx, "ok/1", id); err != nil || len(parts) != 0 {
		t.Errorf("a part PUT to a bad key stored a part: %+v %v", parts, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "x")); err == nil {
		t.Error("a file was written outside the root")
	}
	// A folder that holds other keys is not an object.
	if err := d.Put(ctx, "f/g/h", strings.NewReader("x"), 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, "f/g"); !media.IsNotFound(err) {
		t.Errorf("Stat(folder): %v", err)
	}
	if _, err := d.Get(ctx, "f/g", 0, -1); !media.IsNotFound(err) {
		t.Errorf("Get(folder): %v", err)
	}
	if _, err := d.Stat(ctx, "f/g/h/i"); !media.IsNotFound(err) {
		t.Errorf("Stat(under a file): %v", err)
	}
	if err := d.Delete(ctx, "f/g"); err != nil {
		t.Errorf("Delete(folder): %v", err)
	}
	if _, err := d.Stat(ctx, "f/g/h"); err != nil {
		t.Errorf("Delete(folder) removed its contents: %v", err)
	}
	for _, prefix := range []string{"../", "/", "f//", "nope/", "f/g/h/"} {
		if err := d.List(ctx, prefix, func(i media.BlobInfo) error { t.Errorf("List(%q): %s", prefix, i.Key); return nil }); err != nil {
			t.Errorf("List(%q): %v", prefix, err)
		}
	}
}

// TestDiskBlobRoute: the /_blob/ route serves part PUTs and nothing else.
// A request without a part URL's fields — bare, or with those of the
// object GET and PUT URLs Disk once made, correctly signed — is refused
// (403, or 405 for another method than PUT), and so is a part URL bent to
// another path or signed with another secret. None leaks anything or
// stores anything.
func TestDiskBlobRoute(t *testing.T) {
	ctx := context.Background()
	d, dir, base := newDiskServer(t)
	if err := d.Put(ctx, "k/1", strings.NewReader("hello"), 5, ""); err != nil {
		t.Fatal(err)
	}
	id, err := d.CreateMultipart(ctx, "k/1", "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := d.PresignPart(ctx, "k/1", id, 1, 5, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	get, put := craftObjectURLs(base, "k/1", 5)
	_, putNew := craftObjectURLs(base, "k/new", 5)
	bare := base + storage.BlobRoute + "k/1"
	before := tree(t, dir)
	const any4xx = 0
	for _, c := range []struct {
		name, method, url string
		want              int
	}{
		{"GET", http.MethodGet, bare, 405},
		{"HEAD", http.MethodHead, bare, 405},
		{"PUT", http.MethodPut, bare, 403},
		{"PUT of a new key", http.MethodPut, base + storage.BlobRoute + "k/new", 403},
		{"POST", http.MethodPost, bare, 405},
		{"DELETE", http.MethodDelete, bare, 405},
		{"object GET URL", http.MethodGet, get, 405},
		{"object GET URL, HEAD", http.MethodHead, get, 405},
		{"object GET URL, PUT", http.MethodPut, get, 403},
		{"object PUT URL", http.MethodPut, put, 403},
		{"object PUT URL of a new key", http.MethodPut, putNew, 403},
		{"object PUT URL, GET", http.MethodGet, put, 405},
		{"part URL, DELETE", http.MethodDelete, u, 405},
		{"part URL, other secret", http.MethodPut, craftPartURL(base, []byte("another secret, as long"), "k/1", id, 1, 5), 403},
		// The server redirects a path with dots to its clean form (as a
		// GET): refused either way.
		{"part URL, dots to another key", http.MethodPut, strings.Replace(u, "k/1", "k/1/../2", 1), any4xx},
		{"part URL, encoded dots", http.MethodPut, strings.Replace(u, "k/1", "k/1/%2e%2e/2", 1), any4xx},
		{"part URL, out of the root", http.MethodPut, strings.Replace(u, "k/1", "k/../../../etc/passwd", 1), any4xx},
		{"part URL, encoded, out of the root", http.MethodPut, strings.Replace(u, "k/1", "%2e%2e/%2e%2e/x", 1), any4xx},
	} {
		var body io.Reader
		if c.method != http.MethodGet && c.method != http.MethodHead {
			body = strings.NewReader("evil!") // 5 bytes, the signed size
		}
		res := do(t, c.method, c.url, body, nil)
		b, _ := io.ReadAll(res.Body)
		if c.want == any4xx && (res.StatusCode < 400 || res.StatusCode > 499) || c.want != any4xx && res.StatusCode != c.want {
			t.Errorf("%s: %d", c.name, res.StatusCode)
		}
		if c.want == 405 && res.StatusCode == 405 && res.Header.Get("Allow") != http.MethodPut {
			t.Errorf("%s: Allow %q", c.name, res.Header.Get("Allow"))
		}
		for _, leak := range []string{"hello", "k/1", id} {
			if strings.Contains(string(b), leak) {
				t.Errorf("%s: the answer leaks %q: %q", c.name, leak, b)
			}
		}
	}
	if after := tree(t, dir); after != before {
		t.Fatalf("refused requests changed the files:\n%s\n%s", before, after)
	}
	if parts, err := d.ListParts(ctx, "k/1", id); err != nil || len(parts) != 0 {
		t.Fatalf("a refused request stored a part: %+v %v", parts, err)
	}

	// Unmounted, the handler itself refuses a path with dots, encoded or not.
	path := strings.TrimPrefix(u, base)
	for _, bent := range []string{strings.Replace(path, "k/1", "k/../k/1", 1), strings.Replace(path, "k/1", "k/%2e%2e/k/1", 1)} {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, bent, strings.NewReader("evil!")))
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s, unmounted: %d", bent, rec.Code)
		}
	}

	// A part URL signed the way hmacSig signs is accepted (so the refusals
	// above are the kinds' and the secret's doing), and so is the URL
	// PresignPart made.
	if res := do(t, http.MethodPut, craftPartURL(base, testSecret, "k/1", id, 2, 5), strings.NewReader("world"), nil); res.StatusCode != 200 {
		t.Fatalf("a part URL signed like Disk's: %d", res.StatusCode)
	}
	if res := do(t, http.MethodPut, u, strings.NewReader("hello"), nil); res.StatusCode != 200 {
		t.Fatalf("the part URL: %d", res.StatusCode)
	}
	if got := readAll(t, d, "k/1"); got != "hello" {
		t.Fatalf("the object changed: %q", got)
	}
	if _, err := d.Stat(ctx, "k/new"); !media.IsNotFound(err) {
		t.Fatalf("k/new: %v", err)
	}
}

// TestDiskPartPutLimits: a part PUT needs a Content-Length, within the
// SetMaxPutSize limit and equal to the signed size, and a body that holds
// it; otherwise nothing is stored and no temporary file is left.
func TestDiskPartPutLimits(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
	d.SetMaxPutSize(10)
	id, err := d.CreateMultipart(ctx, "p/1", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.PresignPart(ctx, "p/1", id, 1, 11, time.Minute); media.ErrorCode(err) != media.ETOOLARGE {
		t.Errorf("presigning a part over the limit: %v", err)
	}
	if _, err := d.PresignPart(ctx, "p/1", id, 1, -1, time.Minute); media.ErrorCode(err) != media.EINVALID {
		t.Errorf("presigning a negative size: %v", err)
	}
	u, _ := d.PresignPart(ctx, "p/1", id, 1, 10, time.Minute)

	// Too large: refused before reading.
	if res := do(t, http.MethodPut, u, strings.NewReader("0123456789a"), nil); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("too large: %d", res.StatusCode)
	}
	// The limit applies when the PUT comes, not only when the URL is signed.
	d.SetMaxPutSize(9)
	if res := do(t, http.MethodPut, u, strings.NewReader("0123456789"), nil); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("over a limit lowered since signing: %d", res.StatusCode)
	}
	d.SetMaxPutSize(10)
	// No Content-Length (chunked): refused.
	req, _ := http.NewRequest(http.MethodPut, u, io.NopCloser(strings.NewReader("abc")))
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusLengthRequired {
		t.Errorf("chunked: %d", res.StatusCode)
	}
	// Another length than signed: refused before reading.
	if res := do(t, http.MethodPut, u, strings.NewReader("012345678"), nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("shorter than signed: %d", res.StatusCode)
	}
	// A body shorter than its Content-Length: the connection breaks, nothing is stored.
	pu, _ := url.Parse(u)
	conn, err := net.Dial("tcp", pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, "PUT "+pu.RequestURI()+" HTTP/1.1\r\nHost: "+pu.Host+"\r\nContent-Length: 10\r\n\r\nabc")
	_ = conn.(*net.TCPConn).CloseWrite()
	_, _ = io.ReadAll(conn)
	conn.Close()
	if parts, err := d.ListParts(ctx, "p/1", id); err != nil || len(parts) != 0 {
		t.Fatalf("refused PUTs stored a part: %+v %v", parts, err)
	}
	// No temporary file is left by them.
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
	// Fits.
	res = do(t, http.MethodPut, u, strings.NewReader("0123456789"), nil)
	if res.StatusCode != 200 {
		t.Fatalf("PUT: %d", res.StatusCode)
	}
	if err := d.CompleteMultipart(ctx, "p/1", id, []media.Part{{Number: 1, ETag: res.Header.Get("ETag")}}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, d, "p/1"); got != "0123456789" {
		t.Errorf("after PUT: %q", got)
	}
	assertNoUploads(t, dir)
}

func TestDiskPutCanceled(t *testing.T) {
	d, _ := newDisk(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{r: strings.NewReader(strings.Repeat("x", 1<<20)), n: 1 << 10, cancel: cancel}
	if err := d.Put(ctx, "c/1", r, 1<<20, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: %v, want context.Canceled", err)
	}
	if _, err := d.Stat(context.Background(), "c/1"); !media.IsNotFound(err) {
		t.Fatalf("after a canceled Put: %v", err)
	}
}

// do sends one request and returns the response with its body read into
// memory (and closed).
func do(t *testing.T, method, u string, body io.Reader, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(strings.NewReader(string(b)))
	return res
}

func readAll(t *testing.T, b media.Blobs, key string) string {
	t.Helper()
	rc, err := b.Get(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// cancelAfter calls cancel once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	n, err := c.r.Read(p[:min(len(p), max(c.n, 1))])
	c.n -= n
	return n, err
}
