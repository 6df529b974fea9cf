package storage_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
	"github.com/mediagraph/mediagraph/storage"
	"github.com/mediagraph/mediagraph/storage/storagetest"
)

// newDisk returns a Disk behind a test server that mounts its handler the
// way the real server does.
func newDisk(t *testing.T) (*storage.Disk, string) {
	dir := t.TempDir()
	d, err := storage.NewDisk(dir, []byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(storage.BlobRoute, d)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d.SetBaseURL(srv.URL)
	return d, dir
}

func TestDisk(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) media.Blobs { d, _ := newDisk(t); return d })
}

func TestDiskRejectsPathTricks(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
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
		if _, err := d.PresignGet(ctx, key, time.Minute); err == nil {
			t.Errorf("PresignGet(%q) accepted", key)
		}
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

func TestDiskTokens(t *testing.T) {
	ctx := context.Background()
	d, _ := newDisk(t)
	if err := d.Put(ctx, "k/1", strings.NewReader("hello"), 5, ""); err != nil {
		t.Fatal(err)
	}
	get, _ := d.PresignGet(ctx, "k/1", time.Minute)
	expired, _ := d.PresignGet(ctx, "k/1", -time.Second)
	put, _ := d.PresignPut(ctx, "k/1", 5, time.Minute)
	other, err := storage.NewDisk(t.TempDir(), []byte("another secret, as long"))
	if err != nil {
		t.Fatal(err)
	}
	base, _, _ := strings.Cut(get, storage.BlobRoute)
	other.SetBaseURL(base)
	otherGet, _ := other.PresignGet(ctx, "k/1", time.Minute)
	for name, c := range map[string]struct{ method, url string }{
		"expired":         {http.MethodGet, expired},
		"tampered sig":    {http.MethodGet, get[:len(get)-1] + map[bool]string{true: "1", false: "0"}[get[len(get)-1] == '0']},
		"no sig":          {http.MethodGet, strings.Split(get, "&sig=")[0]},
		"longer expiry":   {http.MethodGet, strings.Replace(get, "expires=", "expires=9", 1)},
		"other key":       {http.MethodGet, strings.Replace(get, "k/1", "k/2", 1)},
		"PUT other size":  {http.MethodPut, strings.Replace(put, "size=5", "size=6", 1)},
		"PUT no size":     {http.MethodPut, strings.Replace(put, "size=5", "", 1)},
		"PUT other key":   {http.MethodPut, strings.Replace(put, "k/1", "k/2", 1)},
		"other secret":    {http.MethodGet, otherGet},
		"GET token, PUT":  {http.MethodPut, get},
		"PUT token, GET":  {http.MethodGet, put},
		"PUT token, HEAD": {http.MethodHead, put},
		"to another key":  {http.MethodGet, strings.Replace(get, "k/1", "k/1/../2", 1)},
		"encoded dots":    {http.MethodGet, strings.Replace(get, "k/1", "k/1/%2e%2e/2", 1)},
		"out of the root": {http.MethodGet, strings.Replace(get, "k/1", "k/../../../etc/passwd", 1)},
	} {
		req, _ := http.NewRequest(c.method, c.url, strings.NewReader("evil!"))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
		if strings.Contains(string(body), "k/1") || strings.Contains(string(body), "hello") {
			t.Errorf("%s: the answer leaks: %q", name, body)
		}
	}
	if got := readAll(t, d, "k/1"); got != "hello" {
		t.Fatalf("a refused PUT changed the object: %q", got)
	}

	// Unmounted, the handler itself refuses a path with dots.
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, strings.Replace(get, "k/1", "k/../k/1", 1), nil))
	if rec.Code != http.StatusForbidden {
		t.Errorf("dots, unmounted: %d", rec.Code)
	}

	// HEAD with a GET token, and ranges.
	res := do(t, http.MethodHead, get, nil, nil)
	if res.StatusCode != 200 || res.ContentLength != 5 {
		t.Errorf("HEAD: %d, %d bytes", res.StatusCode, res.ContentLength)
	}
	res = do(t, http.MethodGet, get, nil, http.Header{"Range": {"bytes=1-2"}})
	if b, _ := io.ReadAll(res.Body); res.StatusCode != http.StatusPartialContent || string(b) != "el" {
		t.Errorf("range: %d %q", res.StatusCode, b)
	}
}

func TestDiskPresignedPut(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
	d.SetMaxPutSize(10)
	if _, err := d.PresignPut(ctx, "p/1", 11, time.Minute); media.ErrorCode(err) != media.ETOOLARGE {
		t.Errorf("presigning a PUT over the limit: %v", err)
	}
	if _, err := d.PresignPut(ctx, "p/1", -1, time.Minute); err == nil {
		t.Error("presigning a negative size")
	}
	put, _ := d.PresignPut(ctx, "p/1", 10, time.Minute)

	// Too large: refused before reading.
	if res := do(t, http.MethodPut, put, strings.NewReader("0123456789a"), nil); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("too large: %d", res.StatusCode)
	}
	// No Content-Length (chunked): refused.
	req, _ := http.NewRequest(http.MethodPut, put, io.NopCloser(strings.NewReader("abc")))
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
	if res := do(t, http.MethodPut, put, strings.NewReader("012345678"), nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("shorter than signed: %d", res.StatusCode)
	}
	// A body shorter than its Content-Length: the connection breaks, nothing is stored.
	u, _ := url.Parse(put)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, "PUT "+u.RequestURI()+" HTTP/1.1\r\nHost: "+u.Host+"\r\nContent-Length: 10\r\n\r\nabc")
	_ = conn.(*net.TCPConn).CloseWrite()
	_, _ = io.ReadAll(conn)
	conn.Close()
	if _, err := d.Stat(ctx, "p/1"); !media.IsNotFound(err) {
		t.Errorf("after a short PUT: %v", err)
	}
	// Fits.
	if res := do(t, http.MethodPut, put, strings.NewReader("0123456789"), nil); res.StatusCode != 200 {
		t.Errorf("PUT: %d", res.StatusCode)
	}
	if got := readAll(t, d, "p/1"); got != "0123456789" {
		t.Errorf("after PUT: %q", got)
	}
	// No temporary files are left anywhere.
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
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
