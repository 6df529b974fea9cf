// Package storagetest is the conformance suite every media.Blobs passes.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

// Run runs the suite against a fresh store from newBlobs.
func Run(t *testing.T, newBlobs func(t *testing.T) media.Blobs) {
	ctx := context.Background()
	b := newBlobs(t)
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	put := func(t *testing.T, key string, d []byte) {
		t.Helper()
		if err := b.Put(ctx, key, bytes.NewReader(d), int64(len(d)), "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	read := func(t *testing.T, key string, off, n int64) []byte {
		t.Helper()
		rc, err := b.Get(ctx, key, off, n)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		out, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	mustNotFound := func(t *testing.T, key string) {
		t.Helper()
		if _, err := b.Stat(ctx, key); !media.IsNotFound(err) {
			t.Fatalf("Stat(%s): %v, want NOT_FOUND", key, err)
		}
		if _, err := b.Get(ctx, key, 0, -1); !media.IsNotFound(err) {
			t.Fatalf("Get(%s): %v, want NOT_FOUND", key, err)
		}
	}

	t.Run("round trip and ranges", func(t *testing.T) {
		put(t, "a/b/obj", data)
		if !bytes.Equal(read(t, "a/b/obj", 0, -1), data) {
			t.Fatal("bytes differ")
		}
		for _, r := range [][2]int64{{10, -1}, {10, 20}, {int64(len(data) - 1), 1}, {0, 1}, {500, 0}} {
			want := data[r[0]:]
			if r[1] >= 0 {
				want = data[r[0] : r[0]+r[1]]
			}
			if got := read(t, "a/b/obj", r[0], r[1]); !bytes.Equal(got, want) {
				t.Fatalf("range %v: %d bytes", r, len(got))
			}
		}
		info, err := b.Stat(ctx, "a/b/obj")
		if err != nil || info.Size != int64(len(data)) {
			t.Fatalf("stat: %+v %v", info, err)
		}
		put(t, "a/b/obj", data[:5]) // overwrite
		if got := read(t, "a/b/obj", 0, -1); !bytes.Equal(got, data[:5]) {
			t.Fatalf("overwrite: %d bytes", len(got))
		}
	})

	t.Run("missing and delete", func(t *testing.T) {
		mustNotFound(t, "nope/x")
		put(t, "del/x", data[:10])
		if err := b.Delete(ctx, "del/x"); err != nil {
			t.Fatal(err)
		}
		mustNotFound(t, "del/x")
		if err := b.Delete(ctx, "del/x"); err != nil {
			t.Fatalf("deleting a missing object: %v", err)
		}
	})

	t.Run("wrong size leaves nothing", func(t *testing.T) {
		for _, c := range []struct {
			key  string
			r    io.Reader
			size int64
		}{
			{"short/small", bytes.NewReader(data[:10]), 20},
			{"long/small", bytes.NewReader(data[:30]), 20},
			{"short/big", io.LimitReader(generator{}, 9<<20), 20 << 20},
			{"failing/big", io.MultiReader(io.LimitReader(generator{}, 9<<20), failing{}), 20 << 20},
		} {
			if err := b.Put(ctx, c.key, c.r, c.size, ""); err == nil {
				t.Fatalf("%s: Put succeeded", c.key)
			}
			mustNotFound(t, c.key)
		}
		_ = b.List(ctx, "short/", func(i media.BlobInfo) error { t.Errorf("left behind: %s", i.Key); return nil })
		_ = b.List(ctx, "failing/", func(i media.BlobInfo) error { t.Errorf("left behind: %s", i.Key); return nil })
	})

	t.Run("large streamed put", func(t *testing.T) {
		const size = 20 << 20
		h := sha256.New()
		src := io.TeeReader(io.LimitReader(generator{}, size), h) // not seekable
		if err := b.Put(ctx, "big/obj", struct{ io.Reader }{src}, size, ""); err != nil {
			t.Fatal(err)
		}
		want := h.Sum(nil)
		rc, err := b.Get(ctx, "big/obj", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		h2 := sha256.New()
		n, _ := io.Copy(h2, rc)
		rc.Close()
		if n != size || !bytes.Equal(h2.Sum(nil), want) {
			t.Fatalf("big object: %d bytes, hash differs: %v", n, !bytes.Equal(h2.Sum(nil), want))
		}
		if got := read(t, "big/obj", 9<<20-3, 6); len(got) != 6 {
			t.Fatalf("range across parts: %d", len(got))
		}
	})

	t.Run("list", func(t *testing.T) {
		for _, k := range []string{"l/1", "l/2/x", "lx/3"} {
			put(t, k, data[:3])
		}
		var keys []string
		if err := b.List(ctx, "l/", func(i media.BlobInfo) error { keys = append(keys, i.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		if strings.Join(keys, ",") != "l/1,l/2/x" {
			t.Fatalf("list: %v", keys)
		}
		stop := errors.New("stop")
		if err := b.List(ctx, "l", func(media.BlobInfo) error { return stop }); !errors.Is(err, stop) {
			t.Fatalf("list error: %v", err)
		}
	})

	t.Run("presign", func(t *testing.T) {
		put(t, "p/get", data[:1000])
		u, err := b.PresignGet(ctx, "p/get", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if got := httpDo(t, http.MethodGet, u, nil, 200); !bytes.Equal(got, data[:1000]) {
			t.Fatal("presigned GET bytes differ")
		}
		httpDo(t, http.MethodGet, strings.Replace(u, "p/get", "p/gex", 1), nil, 403)
		pu, err := b.PresignPut(ctx, "p/put", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		httpDo(t, http.MethodPut, pu, data[:777], 200)
		if got := read(t, "p/put", 0, -1); !bytes.Equal(got, data[:777]) {
			t.Fatal("presigned PUT bytes differ")
		}
	})

	t.Run("ping", func(t *testing.T) {
		if err := b.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func httpDo(t *testing.T, method, u string, body []byte, want int) []byte {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != want && !(want == 403 && res.StatusCode >= 400) {
		t.Fatalf("%s: %d, want %d: %s", method, res.StatusCode, want, out)
	}
	return out
}

// generator yields pseudo-random bytes forever.
type generator struct{}

func (generator) Read(p []byte) (int, error) {
	r := rand.New(rand.NewPCG(uint64(len(p)), 7))
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return len(p), nil
}

// failing fails every read.
type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, fmt.Errorf("injected read failure") }
