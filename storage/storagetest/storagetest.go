// Package storagetest is the conformance suite every media.Blobs passes.
//
//	func TestDisk(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) media.Blobs { return newDisk(t) })
//	}
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

// Run runs the suite against one fresh, empty store from newBlobs. Its
// subtests run in parallel, each on keys of its own. Presigned part URLs
// are fetched with net/http's default client.
func Run(t *testing.T, newBlobs func(t *testing.T) media.Blobs) {
	ctx := context.Background()
	b := newBlobs(t)
	start := time.Now()
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
		t.Parallel()
		put(t, "a/b/obj", data)
		if !bytes.Equal(read(t, "a/b/obj", 0, -1), data) {
			t.Fatal("bytes differ")
		}
		n := int64(len(data))
		for _, r := range [][2]int64{{10, -1}, {10, 20}, {n - 1, 1}, {n - 1, -1}, {n - 3, 10}, {0, 1}, {500, 0}, {n, -1}} {
			want := data[r[0]:] // a length past the end reads to the end
			if r[1] >= 0 && r[0]+r[1] <= n {
				want = data[r[0] : r[0]+r[1]]
			}
			if got := read(t, "a/b/obj", r[0], r[1]); !bytes.Equal(got, want) {
				t.Fatalf("range %v: %d bytes", r, len(got))
			}
		}
		info, err := b.Stat(ctx, "a/b/obj")
		if err != nil || info.Size != n || info.Key != "a/b/obj" {
			t.Fatalf("stat: %+v %v", info, err)
		}
		if d := info.Modified.Sub(start); d < -time.Minute || d > time.Hour {
			t.Errorf("stat: modified %v, the test started %v", info.Modified, start)
		}
		put(t, "a/b/obj", data[:5]) // overwrite
		if got := read(t, "a/b/obj", 0, -1); !bytes.Equal(got, data[:5]) {
			t.Fatalf("overwrite: %d bytes", len(got))
		}
		if info, err := b.Stat(ctx, "a/b/obj"); err != nil || info.Size != 5 {
			t.Fatalf("stat after overwrite: %+v %v", info, err)
		}
	})

	t.Run("empty object", func(t *testing.T) {
		t.Parallel()
		put(t, "empty/obj", nil)
		if got := read(t, "empty/obj", 0, -1); len(got) != 0 {
			t.Fatalf("%d bytes", len(got))
		}
		if info, err := b.Stat(ctx, "empty/obj"); err != nil || info.Size != 0 {
			t.Fatalf("stat: %+v %v", info, err)
		}
	})

	t.Run("missing and delete", func(t *testing.T) {
		t.Parallel()
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
		t.Parallel()
		for _, c := range []struct {
			key  string
			r    io.Reader
			size int64
		}{
			{"short/small", bytes.NewReader(data[:10]), 20},
			{"long/small", bytes.NewReader(data[:30]), 20},
			{"short/big", io.LimitReader(&generator{}, 9<<20), 20 << 20},
			{"failing/small", io.MultiReader(bytes.NewReader(data[:10]), failing{}), 20},
			{"failing/big", io.MultiReader(io.LimitReader(&generator{}, 9<<20), failing{}), 20 << 20},
			{"long/big", io.LimitReader(&generator{}, 20<<20+1), 20 << 20},
		} {
			if err := b.Put(ctx, c.key, c.r, c.size, ""); err == nil {
				t.Fatalf("%s: Put succeeded", c.key)
			}
			mustNotFound(t, c.key)
		}
		for _, prefix := range []string{"short/", "long/", "failing/"} {
			if err := b.List(ctx, prefix, func(i media.BlobInfo) error { t.Errorf("left behind: %s", i.Key); return nil }); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("large streamed put", func(t *testing.T) {
		t.Parallel()
		const size = 20 << 20
		h := sha256.New()
		src := io.TeeReader(io.LimitReader(&generator{}, size), h) // not seekable
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
		// A range across the boundary of 8 MiB parts, compared with the source.
		want6 := make([]byte, 6)
		for i := range want6 {
			want6[i] = genByte(uint64(8<<20 - 3 + i))
		}
		if got := read(t, "big/obj", 8<<20-3, 6); !bytes.Equal(got, want6) {
			t.Fatalf("range across parts: %x, want %x", got, want6)
		}
	})

	t.Run("unknown size", func(t *testing.T) {
		t.Parallel()
		// Content of a length not known in advance (size -1), with and
		// without a size hint, the hint right, too long or too short:
		// the object holds exactly the bytes the reader held.
		for _, c := range []struct {
			key        string
			size, hint int64
		}{
			{"unknown/small", 1000, -1},
			{"unknown/parts", 16 << 20, -1},
			{"unknown/parts-and-some", 17<<20 + 5, -1},
			{"unknown/hint-small", 2 << 20, 2 << 20},
			{"unknown/hint-small-long", 2 << 20, 2<<20 - 2},
			{"unknown/hint-small-far-too-long", 10 << 20, 2 << 20},
			{"unknown/hint-small-short", 2<<20 - 2, 2 << 20},
			{"unknown/hint-right", 6<<20 + 7, 6<<20 + 7},
			{"unknown/hint-long", 6 << 20, 6<<20 + 2},
			{"unknown/hint-far-too-long", 100_000, 6 << 20},
			{"unknown/hint-short", 6<<20 + 2, 6 << 20},
			{"unknown/hint-far-too-short", 14 << 20, 5 << 20},
		} {
			cctx := ctx
			if c.hint >= 0 {
				cctx = media.WithSizeHint(ctx, c.hint)
			}
			h := sha256.New()
			src := io.TeeReader(io.LimitReader(&generator{}, c.size), h) // not seekable
			if err := b.Put(cctx, c.key, struct{ io.Reader }{src}, -1, ""); err != nil {
				t.Fatalf("%s: %v", c.key, err)
			}
			rc, err := b.Get(ctx, c.key, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			h2 := sha256.New()
			n, _ := io.Copy(h2, rc)
			rc.Close()
			if n != c.size || !bytes.Equal(h2.Sum(nil), h.Sum(nil)) {
				t.Fatalf("%s: %d bytes stored of %d, same bytes: %v", c.key, n, c.size, bytes.Equal(h2.Sum(nil), h.Sum(nil)))
			}
		}
		// A reader that fails leaves nothing, with a hint or without.
		for _, hint := range []int64{-1, 2 << 20, 6 << 20, 12 << 20} {
			key := fmt.Sprintf("unknown-failing/%d", hint)
			src := io.MultiReader(io.LimitReader(&generator{}, 9<<20), failing{})
			if err := b.Put(media.WithSizeHint(ctx, hint), key, src, -1, ""); err == nil {
				t.Fatalf("%s: Put succeeded", key)
			}
			mustNotFound(t, key)
		}
	})

	t.Run("list", func(t *testing.T) {
		t.Parallel()
		for i, k := range []string{"l/1", "l/2/x", "lx/3", "l/2y"} {
			put(t, k, data[:i+1])
		}
		list := func(prefix string) string {
			var keys []string
			err := b.List(ctx, prefix, func(i media.BlobInfo) error {
				keys = append(keys, fmt.Sprintf("%s:%d", i.Key, i.Size))
				if i.Modified.IsZero() {
					t.Errorf("list: %s has no modification time", i.Key)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(keys)
			return strings.Join(keys, ",")
		}
		for prefix, want := range map[string]string{
			"l/":    "l/1:1,l/2/x:2,l/2y:4",
			"l/2":   "l/2/x:2,l/2y:4",
			"l/2/":  "l/2/x:2",
			"lx":    "lx/3:3",
			"l/nop": "",
			"nop/":  "",
		} {
			if got := list(prefix); got != want {
				t.Errorf("List(%q) = %s, want %s", prefix, got, want)
			}
		}
		stop := errors.New("stop")
		if err := b.List(ctx, "l", func(media.BlobInfo) error { return stop }); !errors.Is(err, stop) {
			t.Fatalf("list error: %v", err)
		}
	})

	t.Run("multipart", func(t *testing.T) {
		t.Parallel()
		testMultipart(t, b)
	})

	t.Run("multipart refusals", func(t *testing.T) {
		t.Parallel()
		testMultipartRefusals(t, b)
	})

	t.Run("part URL refusals", func(t *testing.T) {
		t.Parallel()
		testPartURLRefusals(t, b)
	})

	t.Run("ping", func(t *testing.T) {
		t.Parallel()
		if err := b.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// httpPut PUTs body to u with net/http's default client, no other header
// than Content-Length, and returns the status and the ETag header.
func httpPut(u string, body []byte) (int, string, error) {
	req, err := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, "", fmt.Errorf("PUT: %d: %s", res.StatusCode, out)
	}
	return res.StatusCode, res.Header.Get("ETag"), nil
}

// generator yields the same pseudo-random bytes forever, whatever the
// sizes of the reads; it cannot seek.
type generator struct{ pos uint64 }

func (g *generator) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = genByte(g.pos)
		g.pos++
	}
	return len(p), nil
}

// genByte is the generator's byte at offset i.
func genByte(i uint64) byte {
	x := (i + 1) * 0x9E3779B97F4A7C15
	x ^= x >> 31
	x *= 0xBF58476D1CE4E5B9
	return byte(x >> 40)
}

// failing fails every read.
type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, fmt.Errorf("injected read failure") }
