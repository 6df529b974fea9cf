package storage_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

// TestDiskPartTokens: a part URL is refused (403) once any of its fields
// is changed, and with another method (405); so is an object PUT URL
// signed the way Disk once signed them, with a part's fields added. A
// refused PUT stores nothing.
func TestDiskPartTokens(t *testing.T) {
	ctx := context.Background()
	d, _, base := newDiskServer(t)
	id, err := d.CreateMultipart(ctx, "k/1", "")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := d.CreateMultipart(ctx, "k/1", "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := d.PresignPart(ctx, "k/1", id, 2, 5, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := d.PresignPart(ctx, "k/1", id, 2, 5, -time.Second)
	_, put := craftObjectURLs(base, "k/1", 5)
	for _, want := range []string{"upload=" + id, "part=2", "size=5", "expires=", "sig="} {
		if !strings.Contains(u, want) {
			t.Fatalf("%s lacks %s", u, want)
		}
	}
	for name, c := range map[string]struct {
		method, url string
		want        int
	}{
		"expired":       {http.MethodPut, expired, 403},
		"other upload":  {http.MethodPut, strings.Replace(u, id, id2, 1), 403},
		"other part":    {http.MethodPut, strings.Replace(u, "part=2", "part=3", 1), 403},
		"padded part":   {http.MethodPut, strings.Replace(u, "part=2", "part=02", 1), 403},
		"other size":    {http.MethodPut, strings.Replace(u, "size=5", "size=6", 1), 403},
		"no size":       {http.MethodPut, editQuery(t, u, func(q url.Values) { q.Del("size") }), 403},
		"longer expiry": {http.MethodPut, strings.Replace(u, "expires=", "expires=9", 1), 403},
		"other key":     {http.MethodPut, strings.Replace(u, "k/1", "k/2", 1), 403},
		"tampered sig": {http.MethodPut, editQuery(t, u, func(q url.Values) {
			sig := q.Get("sig")
			q.Set("sig", sig[:len(sig)-1]+map[bool]string{true: "1", false: "0"}[strings.HasSuffix(sig, "0")])
		}), 403},
		"no sig":         {http.MethodPut, editQuery(t, u, func(q url.Values) { q.Del("sig") }), 403},
		"no upload":      {http.MethodPut, strings.Replace(u, "upload="+id, "", 1), 403},
		"as GET":         {http.MethodGet, u, 405},
		"as HEAD":        {http.MethodHead, u, 405},
		"as POST":        {http.MethodPost, u, 405},
		"PUT URL + part": {http.MethodPut, put + "&upload=" + id + "&part=2", 403},
		"path in upload": {http.MethodPut, strings.Replace(u, "upload="+id, "upload=..%2F..%2Fx", 1), 403},
	} {
		if c.method == http.MethodPut && c.url == u {
			t.Fatalf("%s: the URL is unchanged", name)
		}
		res := do(t, c.method, c.url, strings.NewReader("evil!"), nil)
		if res.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", name, res.StatusCode, c.want)
		}
	}
	for _, up := range []string{id, id2} {
		if parts, err := d.ListParts(ctx, "k/1", up); err != nil || len(parts) != 0 {
			t.Fatalf("a refused PUT stored a part: %v %v", parts, err)
		}
	}
	// The genuine URL works, and answers the part's MD5 as its ETag.
	res := do(t, http.MethodPut, u, strings.NewReader("hello"), nil)
	sum := md5.Sum([]byte("hello"))
	if want := `"` + hex.EncodeToString(sum[:]) + `"`; res.StatusCode != 200 || res.Header.Get("ETag") != want {
		t.Fatalf("PUT: %d, ETag %q, want %s", res.StatusCode, res.Header.Get("ETag"), want)
	}
}

// TestDiskPartPut: Content-Length checks, a short body, and concurrent
// retries of one part.
func TestDiskPartPut(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
	d.SetMaxPutSize(1 << 20)
	id, err := d.CreateMultipart(ctx, "p/1", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.PresignPart(ctx, "p/1", id, 1, 1<<20+1, time.Minute); media.ErrorCode(err) != media.ETOOLARGE {
		t.Errorf("presigning a part over the limit: %v", err)
	}
	for _, n := range []int{0, -1, 10_001} {
		if _, err := d.PresignPart(ctx, "p/1", id, n, 1, time.Minute); media.ErrorCode(err) != media.EINVALID {
			t.Errorf("presigning part %d: %v", n, err)
		}
	}
	for _, bad := range []string{"", "x", "../" + id, strings.ToUpper(id), id + "0"} {
		if _, err := d.PresignPart(ctx, "p/1", bad, 1, 1, time.Minute); !media.IsNotFound(err) {
			t.Errorf("presigning for upload %q: %v", bad, err)
		}
		if _, err := d.ListParts(ctx, "p/1", bad); !media.IsNotFound(err) {
			t.Errorf("ListParts(%q): %v", bad, err)
		}
		if err := d.CompleteMultipart(ctx, "p/1", bad, []media.Part{{Number: 1}}); !media.IsNotFound(err) {
			t.Errorf("CompleteMultipart(%q): %v", bad, err)
		}
		if err := d.AbortMultipart(ctx, "p/1", bad); err != nil {
			t.Errorf("AbortMultipart(%q): %v", bad, err)
		}
	}
	if _, err := d.PresignPart(ctx, "p/2", id, 1, 1, time.Minute); !media.IsNotFound(err) {
		t.Errorf("presigning for the upload of another key: %v", err)
	}
	if err := d.AbortMultipart(ctx, "p/2", id); err != nil {
		t.Errorf("aborting for another key: %v", err)
	}

	u, _ := d.PresignPart(ctx, "p/1", id, 1, 10, time.Minute)
	if res := do(t, http.MethodPut, u, strings.NewReader("012345678"), nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("shorter than signed: %d", res.StatusCode)
	}
	if res := do(t, http.MethodPut, u, strings.NewReader("0123456789a"), nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("longer than signed: %d", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPut, u, io.NopCloser(strings.NewReader("0123456789")))
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusLengthRequired {
		t.Errorf("chunked: %d", res.StatusCode)
	}
	if parts, err := d.ListParts(ctx, "p/1", id); err != nil || len(parts) != 0 {
		t.Fatalf("refused PUTs stored a part: %v %v", parts, err)
	}

	// Concurrent PUTs of the same part: one of them wins, whole.
	big, _ := d.PresignPart(ctx, "p/1", id, 1, 256<<10, time.Minute)
	etags := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			body := bytes.Repeat([]byte{byte(i)}, 256<<10)
			req, _ := http.NewRequest(http.MethodPut, big, bytes.NewReader(body))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			mu.Lock()
			etags[res.Header.Get("ETag")] = true
			mu.Unlock()
			if res.StatusCode != 200 {
				t.Errorf("PUT %d: %d", i, res.StatusCode)
			}
		})
	}
	wg.Wait()
	parts, err := d.ListParts(ctx, "p/1", id)
	if err != nil || len(parts) != 1 || parts[0].Number != 1 || parts[0].Size != 256<<10 || !etags[parts[0].ETag] {
		t.Fatalf("after concurrent PUTs: %+v %v", parts, err)
	}
	if err := d.CompleteMultipart(ctx, "p/1", id, parts); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, d, "p/1")
	if len(got) != 256<<10 || strings.Count(got, got[:1]) != len(got) {
		t.Fatalf("completed: %d bytes of mixed parts", len(got))
	}
	// Nothing is left of the upload.
	assertNoUploads(t, dir)
}

// assertNoUploads checks that no upload folder or temporary file is left.
func assertNoUploads(t *testing.T, dir string) {
	t.Helper()
	if entries, err := os.ReadDir(filepath.Join(dir, ".multipart")); err != nil || len(entries) != 0 {
		t.Errorf("uploads left: %v %v", entries, err)
	}
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// TestDiskUploadsHidden: uploads in progress are no objects, and no key
// reaches them.
func TestDiskUploadsHidden(t *testing.T) {
	ctx := context.Background()
	d, dir, base := newDiskServer(t)
	id, err := d.CreateMultipart(ctx, "h/1", "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := d.PresignPart(ctx, "h/1", id, 1, 5, time.Minute)
	if res := do(t, http.MethodPut, u, strings.NewReader("hello"), nil); res.StatusCode != 200 {
		t.Fatalf("PUT: %d", res.StatusCode)
	}
	if err := d.Put(ctx, "h/2", strings.NewReader("x"), 1, ""); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"", ".", ".multipart", ".multipart/", ".multipart/" + id + "/", "h/"} {
		var keys []string
		if err := d.List(ctx, prefix, func(i media.BlobInfo) error { keys = append(keys, i.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		want := ""
		if prefix == "" || prefix == "h/" {
			want = "h/2"
		}
		if strings.Join(keys, ",") != want {
			t.Errorf("List(%q) = %v", prefix, keys)
		}
	}
	for _, key := range []string{".multipart/" + id + "/upload", ".multipart/" + id + "/part-00001", ".Multipart/" + id + "/upload"} {
		if _, err := d.Stat(ctx, key); err == nil {
			t.Errorf("Stat(%s) succeeded", key)
		}
		if _, err := d.PresignPart(ctx, key, id, 1, 5, time.Minute); err == nil {
			t.Errorf("PresignPart(%s) succeeded", key)
		}
		if err := d.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%s) succeeded", key)
		}
		if _, err := d.CreateMultipart(ctx, key, ""); err == nil {
			t.Errorf("CreateMultipart(%s) succeeded", key)
		}
	}
	// No URL reaches the upload's files, with any method: neither the part
	// URL bent to them, nor one signed for them (as no Disk would sign).
	before := tree(t, dir)
	for _, path := range []string{
		".multipart/" + id + "/upload", ".multipart/" + id + "/part-00001", ".MULTIPART/" + id + "/upload",
		"h/../.multipart/" + id + "/upload", "h/%2e%2e/.multipart/" + id + "/part-00001",
	} {
		bent := strings.Replace(u, "/h/1?", "/"+path+"?", 1)
		if bent == u {
			t.Fatalf("the key is not where expected in %s", u)
		}
		targets := []string{bent}
		if !strings.Contains(path, "%") {
			signed := craftPartURL(base, testSecret, path, id, 1, 5)
			targets = append(targets, signed)
			rec := httptest.NewRecorder()
			d.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, strings.TrimPrefix(signed, base), strings.NewReader("evil!")))
			if rec.Code != http.StatusForbidden {
				t.Errorf("a PUT signed for %s, unmounted: %d", path, rec.Code)
			}
		}
		for _, target := range targets {
			for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut} {
				var body io.Reader
				if method == http.MethodPut {
					body = strings.NewReader("evil!")
				}
				res := do(t, method, target, body, nil)
				b, _ := io.ReadAll(res.Body)
				if res.StatusCode < 400 || res.StatusCode > 499 {
					t.Errorf("%s %s: %d", method, target, res.StatusCode)
				}
				if strings.Contains(string(b), "hello") || strings.Contains(string(b), "h/1") {
					t.Errorf("%s %s: the answer leaks: %q", method, target, b)
				}
			}
		}
	}
	if after := tree(t, dir); after != before {
		t.Fatalf("refused requests changed the files:\n%s\n%s", before, after)
	}
	sum := md5.Sum([]byte("hello"))
	if parts, err := d.ListParts(ctx, "h/1", id); err != nil || len(parts) != 1 || parts[0].Size != 5 || parts[0].ETag != `"`+hex.EncodeToString(sum[:])+`"` {
		t.Fatalf("the upload changed: %+v %v", parts, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".multipart", id, "part-00001")); err != nil {
		t.Fatalf("the part is not where expected: %v", err)
	}
	if err := d.AbortMultipart(ctx, "h/1", id); err != nil {
		t.Fatal(err)
	}
	assertNoUploads(t, dir)

	// ListMultipart removes temporary folders a crash left, once a day old.
	old, fresh := filepath.Join(dir, ".multipart", ".tmp-old"), filepath.Join(dir, ".multipart", ".tmp-fresh")
	for _, p := range []string{old, fresh} {
		if err := os.MkdirAll(filepath.Join(p, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, time.Now().Add(-25*time.Hour), time.Now().Add(-25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := d.ListMultipart(ctx, "", func(u media.MultipartInfo) error { t.Errorf("listed %+v", u); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("a stale folder stays: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh folder went: %v", err)
	}
}

// TestDiskCompleteIsStreamed: joining 15 MiB of parts allocates far less
// than the object.
func TestDiskCompleteIsStreamed(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
	id, err := d.CreateMultipart(ctx, "s/1", "")
	if err != nil {
		t.Fatal(err)
	}
	var parts []media.Part
	body := make([]byte, media.MinPartSize)
	for n := 1; n <= 3; n++ {
		body[0] = byte(n)
		u, _ := d.PresignPart(ctx, "s/1", id, n, int64(len(body)), time.Minute)
		res := do(t, http.MethodPut, u, bytes.NewReader(body), nil)
		if res.StatusCode != 200 {
			t.Fatalf("PUT %d: %d", n, res.StatusCode)
		}
		parts = append(parts, media.Part{Number: n, ETag: res.Header.Get("ETag")})
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := d.CompleteMultipart(ctx, "s/1", id, parts); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Errorf("completing 15 MiB allocated %d KiB", alloc>>10)
	}
	info, err := d.Stat(ctx, "s/1")
	if err != nil || info.Size != 3*media.MinPartSize {
		t.Fatalf("stat: %+v %v", info, err)
	}
	rc, _ := d.Get(ctx, "s/1", media.MinPartSize, 1)
	b, _ := io.ReadAll(rc)
	rc.Close()
	if fmt.Sprint(b) != "[2]" {
		t.Fatalf("the second part starts with %v", b)
	}
	assertNoUploads(t, dir)
}

// editQuery returns u with its query changed by edit.
func editQuery(t *testing.T, u string, edit func(url.Values)) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	edit(q)
	pu.RawQuery = q.Encode()
	return pu.String()
}
