package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

// get fetches a URL with optional headers and returns status, headers, body.
func get(t *testing.T, rawURL string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

func TestDownloads(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "pub", "defaultVisibility": "PUBLIC"})
		e.createBucket(e.owner, map[string]any{"name": "priv"})
		img := pngBytes(300, 200)
		pub := e.mustUpload(e.owner, "pub", upload{"Ünïcode name.png", "", img}, nil)
		priv := e.mustUpload(e.owner, "priv", upload{"secret.png", "", img}, nil)
		svg := e.mustUpload(e.owner, "pub", upload{"x.svg", "", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)}, nil)
		urlOf := func(id any, expires any) string {
			d := e.ok(e.owner, `query($id: ID!, $e: Int) { file(id: $id) { url(expiresIn: $e) } }`, map[string]any{"id": id, "e": expires})
			return d["file"].(map[string]any)["url"].(string)
		}

		// PUBLIC: a stable URL, long immutable caching, ETag from the content hash.
		pu := urlOf(pub["id"], nil)
		if pu != urlOf(pub["id"], nil) || strings.Contains(pu, "sig=") {
			t.Fatalf("public URL not stable: %s", pu)
		}
		status, h, body := get(t, pu, nil)
		if status != 200 || !bytes.Equal(body, img) {
			t.Fatalf("public download: %d, %d bytes", status, len(body))
		}
		if h.Get("ETag") != `"`+sha(img)+`"` || h.Get("Content-Type") != "image/png" || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(h.Get("Cache-Control"), "immutable") || h.Get("Last-Modified") == "" ||
			!strings.Contains(h.Get("Content-Disposition"), "inline") || !strings.Contains(h.Get("Content-Disposition"), "filename*=UTF-8''%C3%9Cn%C3%AFcode%20name.png") {
			t.Fatalf("public headers: %v", h)
		}
		// Conditional requests.
		if s, _, b := get(t, pu, map[string]string{"If-None-Match": h.Get("ETag")}); s != 304 || len(b) != 0 {
			t.Fatalf("If-None-Match: %d", s)
		}
		if s, _, _ := get(t, pu, map[string]string{"If-Modified-Since": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}); s != 304 {
			t.Fatalf("If-Modified-Since: %d", s)
		}
		// Ranges: a slice, a suffix, an open end, past the end, and several.
		n := len(img)
		for _, c := range []struct {
			rng    string
			status int
			want   []byte
		}{
			{"bytes=0-9", 206, img[:10]},
			{"bytes=10-19", 206, img[10:20]},
			{"bytes=-5", 206, img[n-5:]},
			{"bytes=100-", 206, img[100:]},
			{"bytes=5-100000000", 206, img[5:]},
			{"bytes=100000000-", 416, nil},
			{"bytes=oops", 416, nil},
		} {
			s, rh, b := get(t, pu, map[string]string{"Range": c.rng})
			if s != c.status || (c.want != nil && !bytes.Equal(b, c.want)) {
				t.Errorf("Range %s: %d (%s), %d bytes", c.rng, s, rh.Get("Content-Range"), len(b))
			}
		}
		if s, rh, _ := get(t, pu, map[string]string{"Range": "bytes=0-1,5-6"}); s != 206 || !strings.HasPrefix(rh.Get("Content-Type"), "multipart/byteranges") {
			t.Errorf("multiple ranges: %d %s", s, rh.Get("Content-Type"))
		}

		// PRIVATE: a signed, expiring URL; anything else is a 404.
		su := urlOf(priv["id"], 60)
		status, h, body = get(t, su, nil)
		if status != 200 || !bytes.Equal(body, img) || !strings.HasPrefix(h.Get("Cache-Control"), "private") {
			t.Fatalf("signed download: %d %v", status, h)
		}
		u, _ := url.Parse(su)
		q := u.Query()
		plain := *u
		plain.RawQuery = "rev=1"
		tampered := *u
		q2 := url.Values{"rev": {"1"}, "exp": {q.Get("exp")}, "sig": {strings.Repeat("0", len(q.Get("sig")))}}
		tampered.RawQuery = q2.Encode()
		later := *u
		q3 := url.Values{"rev": {"1"}, "exp": {"99999999999"}, "sig": {q.Get("sig")}}
		later.RawQuery = q3.Encode()
		otherFile := strings.Replace(su, str(priv["id"]), str(pub["id"]), 1)
		_ = otherFile
		for name, bad := range map[string]string{"no token": plain.String(), "tampered": tampered.String(), "extended expiry": later.String(),
			"unknown id": e.url + "/files/file_0000000000000000000000000z/x.png"} {
			if s, _, _ := get(t, bad, nil); s != 404 {
				t.Errorf("%s: %d, want 404", name, s)
			}
		}
		// A key of the organization reads it too; a bad key is like none.
		if s, _, _ := get(t, plain.String(), map[string]string{"Authorization": "Bearer " + e.owner}); s != 200 {
			t.Errorf("with key: %d", s)
		}
		if s, _, _ := get(t, plain.String(), map[string]string{"Authorization": "Bearer sk_bad"}); s != 404 {
			t.Errorf("with bad key: %d", s)
		}
		other := e.otherOrg()
		if s, _, _ := get(t, plain.String(), map[string]string{"Authorization": "Bearer " + other}); s != 404 {
			t.Errorf("other org's key: %d", s)
		}
		// Expired tokens stop working.
		e.clock.set(time.Now().Add(2 * time.Minute))
		if s, _, _ := get(t, su, nil); s != 404 {
			t.Errorf("expired: %d", s)
		}
		e.clock.reset()
		e.fails("BAD_USER_INPUT", e.owner, `query($id: ID!) { file(id: $id) { url(expiresIn: 0) } }`, map[string]any{"id": priv["id"]})

		// SVG is sandboxed.
		_, h, _ = get(t, urlOf(svg["id"], nil), nil)
		if h.Get("Content-Type") != "image/svg+xml" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
			t.Fatalf("svg headers: %v", h)
		}
	})
}

// brokenStore fails FileAnyOrg (the first read of a download) with err.
// TestDownloadErrorStatuses: one table maps error codes to HTTP statuses;
// a bug is 500 with a request id, not 503 "retry", and an unreachable
// database is 503.
func TestDownloadErrorStatuses(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		f := e.mustUpload(e.owner, "b", upload{"a.png", "", pngBytes(2, 2)}, nil)
		for _, c := range []struct {
			err    error
			status int
			code   string
		}{
			{errors.New("a bug"), http.StatusInternalServerError, media.EINTERNAL},
			{media.Unavailable("database", errors.New("connection refused")), http.StatusServiceUnavailable, media.EUNAVAILABLE},
		} {
			e.faults.set(nil, c.err)
			status, body := e.download(e.owner, f["id"], 0)
			if status != c.status || !strings.Contains(string(body), `"code":"`+c.code+`"`) || strings.Contains(string(body), "a bug") {
				t.Errorf("%v: %d %s", c.err, status, body)
			}
			if c.code == media.EINTERNAL && !strings.Contains(string(body), "requestId") {
				t.Errorf("no request id: %s", body)
			}
		}
		e.faults.set(nil, nil)
		if status, body := e.download(e.owner, "file_0000000000000000000000000z", 0); status != http.StatusNotFound || !strings.Contains(string(body), media.ENOTFOUND) {
			t.Errorf("missing file: %d %s", status, body)
		}
	})
}

// countingBlobs counts reads of the store.
type countingBlobs struct {
	media.Blobs
	gets *atomic.Int64
}

func (c countingBlobs) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Blobs.Get(ctx, key, off, n)
}

// TestManyRangesAreCoalesced (finding 8 of issue 11): a Range header with
// thousands of ranges costs a bounded number of reads of the store.
func TestManyRangesAreCoalesced(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		data := randomBytes(4<<20, 9)
		f := e.mustUpload(e.owner, "b", upload{"r.bin", "", data}, nil)
		blobs := e.m.Service.Blobs
		t.Cleanup(func() { e.m.Service.Blobs = blobs })
		var gets atomic.Int64
		e.m.Service.Blobs = countingBlobs{blobs, &gets} // hides the disk's seekable files too
		fetch := func(ranges []string) (int, http.Header, []byte) {
			gets.Store(0)
			return get(t, e.url+"/files/"+str(f["id"])+"/r.bin", map[string]string{"Authorization": "Bearer " + e.owner,
				"Range": "bytes=" + strings.Join(ranges, ",")})
		}
		// 2,000 small ranges close together: one range, one read.
		var close []string
		for i := range 2000 {
			close = append(close, fmt.Sprintf("%d-%d", 1000+i*250, 1000+i*250+9))
		}
		code, _, body := fetch(close)
		if code != http.StatusPartialContent || !bytes.Equal(body, data[1000:1000+1999*250+10]) || gets.Load() > 1 {
			t.Fatalf("2,000 close ranges: %d, %d bytes, %d reads", code, len(body), gets.Load())
		}
		// A few far apart: one read each.
		var few []string
		for i := range 5 {
			few = append(few, fmt.Sprintf("%d-%d", i*600_000, i*600_000+99))
		}
		code, h, _ := fetch(few)
		if code != http.StatusPartialContent || !strings.HasPrefix(h.Get("Content-Type"), "multipart/byteranges") || gets.Load() > 5 {
			t.Fatalf("5 ranges: %d %s, %d reads", code, h.Get("Content-Type"), gets.Load())
		}
		// Too many far apart: the whole file, one read.
		var many []string
		for i := range 40 {
			many = append(many, fmt.Sprintf("%d-%d", i*100_000, i*100_000+9))
		}
		code, _, body = fetch(many)
		if code != http.StatusOK || !bytes.Equal(body, data) || gets.Load() > 1 {
			t.Fatalf("40 ranges: %d, %d bytes, %d reads", code, len(body), gets.Load())
		}
	})
}
