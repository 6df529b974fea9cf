package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/loader"
	"github.com/mediagraph/mediagraph/media"
)

// The load benchmarks run with `make bench` (MEDIAGRAPH_BENCH=1), never in
// `make test`. They print their figures; docs/BENCHMARKS.md records them.

func benchOnly(t *testing.T) {
	if os.Getenv("MEDIAGRAPH_BENCH") == "" {
		t.Skip("load benchmark: run make bench")
	}
}

// benchStart is start on PostgreSQL + versitygw with production's loader
// batch window: the harness's 10 ms one suits the race detector and the
// exact query counts, but would add 10 ms to every request measured.
func benchStart(t *testing.T) *env {
	return start(t, backends[1], func(c *Config) { c.LoaderWait = loader.DefaultWait })
}

// TestBenchListing seeds 10,000 files in PostgreSQL and measures a 50-file
// page with tags and bucket at 16 concurrent connections.
func TestBenchListing(t *testing.T) {
	benchOnly(t)
	e := benchStart(t)
	e.createBucket(e.owner, map[string]any{"name": "bench"})
	seedStart := time.Now()
	bulkSeed(t, e, "bench", 10_000)
	t.Logf("seeded 10,000 files in %s", time.Since(seedStart).Round(time.Millisecond))

	if len(e.ok(e.owner, `{ files(bucket: "bench", first: 50) { nodes { id } } }`, nil)["files"].(map[string]any)["nodes"].([]any)) != 50 {
		t.Fatal("page is not 50 files")
	}
	prof, _ := os.Create(filepath.Join(benchDir(t), "list.cpu.pprof"))
	for i, c := range []struct{ name, query string }{
		{"1 file, the per-request floor", `{ files(bucket: \"bench\", first: 1) { nodes { id name size mimeType tags } } }`},
		{"50 files with tags and bucket", `{ files(bucket: \"bench\", first: 50) { nodes { id name size mimeType tags bucket { name } } pageInfo { endCursor hasNextPage } } }`},
		{"the same with totalCount and createdBy", `{ files(bucket: \"bench\", first: 50) { totalCount nodes { id name size mimeType tags bucket { name } createdBy { email } } pageInfo { endCursor hasNextPage } } }`},
	} {
		body := `{"query":"` + c.query + `"}`
		if i == 1 {
			_ = pprof.StartCPUProfile(prof)
		}
		res := load(t, e, 16, 10*time.Second, e.gqlPost(e.owner, body))
		if i == 1 {
			pprof.StopCPUProfile()
		}
		report(t, c.name+", PostgreSQL, 16 connections", res)
	}
	prof.Close()
	top, _ := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", prof.Name()).CombinedOutput()
	t.Logf("CPU profile (%s):\n%s", prof.Name(), top)

	// Keyset paging stays flat: page 1 vs page 200 (10,000 / 50).
	var after any
	var first, last time.Duration
	for page := 1; page <= 200; page++ {
		t0 := time.Now()
		c := e.ok(e.owner, `query($a: String) { files(bucket: "bench", first: 50, after: $a) { nodes { id } pageInfo { endCursor } } }`, map[string]any{"a": after})["files"].(map[string]any)
		d := time.Since(t0)
		if page == 1 {
			first = d
		}
		last = d
		after = c["pageInfo"].(map[string]any)["endCursor"]
	}
	t.Logf("keyset paging: page 1 %s, page 200 %s", first, last)
}

// TestBenchDownload measures a 100 MiB download through /files against
// reading the same object straight from the store, and the server's
// allocations while it streams.
func TestBenchDownload(t *testing.T) {
	benchOnly(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := start(t, b)
			f := seedBigFile(t, e, 100<<20)
			key := blobKey(t, e, f)
			direct := timeRead(t, func() (io.ReadCloser, error) { return e.m.Blobs.Get(context.Background(), key, 0, -1) })
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			viaHTTP := timeRead(t, func() (io.ReadCloser, error) {
				req, _ := http.NewRequest(http.MethodGet, e.url+"/files/"+string(f.ID)+"/big.bin", nil)
				req.Header.Set("Authorization", "Bearer "+e.owner)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return nil, err
				}
				if res.StatusCode != 200 {
					return nil, fmt.Errorf("status %d", res.StatusCode)
				}
				return res.Body, nil
			})
			runtime.ReadMemStats(&after)
			// The same download by curl, a client outside this process.
			if curl, err := exec.LookPath("curl"); err == nil {
				best := 0.0
				for range 3 {
					out, err := exec.Command(curl, "-s", "-o", "/dev/null", "-w", "%{speed_download}", "-H", "Authorization: Bearer "+e.owner,
						e.url+"/files/"+string(f.ID)+"/big.bin").Output()
					if err != nil {
						t.Fatal(err)
					}
					var bps float64
					_, _ = fmt.Sscan(string(out), &bps)
					best = max(best, bps/(1<<20))
				}
				t.Logf("100 MiB download (%s) by curl: %.0f MiB/s (%.0f%% of reading the store directly)", b.name, best, 100*best/direct)
			}
			t.Logf("100 MiB download (%s): direct from store %.0f MiB/s, via /files %.0f MiB/s (%.0f%%); allocated during the download %.1f MiB (client and server in one process), heap in use after %.1f MiB",
				b.name, direct, viaHTTP, 100*viaHTTP/direct, float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), float64(after.HeapInuse)/(1<<20))
		})
	}
}

// seedBigFile stores size bytes and a file row for them directly.
func seedBigFile(t testing.TB, e *env, size int64) *media.File {
	ctx := context.Background()
	e.createBucket(e.owner, map[string]any{"name": "big"})
	now := time.Now().UTC().Truncate(time.Microsecond)
	blob := &media.Blob{ID: media.NewID(media.PrefixBlob, now), OrgID: e.org.ID, State: media.BlobReady, Size: size,
		Sha256: "bench", MimeType: "application/octet-stream", CreatedAt: now}
	blob.StorageKey = string(e.org.ID) + "/" + string(blob.ID)
	if err := e.m.Blobs.Put(ctx, blob.StorageKey, io.LimitReader(zeroes{}, size), size, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.m.DB.CreateBlob(ctx, blob); err != nil {
		t.Fatal(err)
	}
	b, _ := e.m.DB.BucketByName(ctx, e.org.ID, "big")
	f := &media.File{ID: media.NewID(media.PrefixFile, now), OrgID: e.org.ID, BucketID: b.ID, Path: "/", Name: "big.bin",
		OriginalName: "big.bin", MimeType: blob.MimeType, Type: media.TypeOther, Size: size, Sha256: "bench",
		Visibility: media.VisibilityPrivate, Metadata: map[string]any{}, Revision: 1, BlobID: blob.ID, CreatedAt: now, UpdatedAt: now}
	rev := &media.Revision{ID: media.NewID(media.PrefixRevision, now), OrgID: e.org.ID, FileID: f.ID, Number: 1, BlobID: blob.ID,
		Size: size, MimeType: blob.MimeType, Sha256: "bench", CreatedAt: now}
	if err := e.m.DB.CreateFile(ctx, f, rev); err != nil {
		t.Fatal(err)
	}
	return f
}

func blobKey(t testing.TB, e *env, f *media.File) string {
	var key string
	if err := e.m.DB.Bun().NewRaw("SELECT storage_key FROM blobs WHERE id = ?", f.BlobID).Scan(context.Background(), &key); err != nil {
		t.Fatal(err)
	}
	return key
}

type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// timeRead reads a stream to the end three times and returns the best MiB/s.
func timeRead(t testing.TB, open func() (io.ReadCloser, error)) float64 {
	best := 0.0
	for range 3 {
		t0 := time.Now()
		rc, err := open()
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		best = max(best, float64(n)/(1<<20)/time.Since(t0).Seconds())
	}
	return best
}

type loadResult struct {
	requests  int
	errors    int
	elapsed   time.Duration
	latencies []time.Duration
}

// load sends requests from conns goroutines for d and collects latencies.
func load(t testing.TB, e *env, conns int, d time.Duration, newReq func() (*http.Request, error)) loadResult {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	var mu sync.Mutex
	res := loadResult{}
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lats []time.Duration
			errs := 0
			for time.Now().Before(deadline) {
				req, err := newReq()
				if err != nil {
					errs++
					continue
				}
				t0 := time.Now()
				r, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, r.Body)
					r.Body.Close()
					if r.StatusCode != 200 {
						errs++
					}
				} else {
					errs++
				}
				lats = append(lats, time.Since(t0))
			}
			mu.Lock()
			res.latencies = append(res.latencies, lats...)
			res.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.requests = len(res.latencies)
	return res
}

func report(t testing.TB, name string, r loadResult) {
	slices.Sort(r.latencies)
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
	}
	t.Logf("%s: %d requests in %s = %.0f req/s, p50 %s, p99 %s, errors %d (GOMAXPROCS %d)",
		name, r.requests, r.elapsed.Round(time.Millisecond), float64(r.requests)/r.elapsed.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), r.errors, runtime.GOMAXPROCS(0))
	if r.errors > 0 {
		t.Errorf("%d requests failed", r.errors)
	}
}

func benchDir(t testing.TB) string {
	dir := filepath.Join("..", "..", "bench", "results")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBenchExplain puts 100,000 files in PostgreSQL and checks the plans of
// folder, subtree, tag and name-ordered listings: no sequential scan of files.
func TestBenchExplain(t *testing.T) {
	benchOnly(t)
	e := start(t, backends[1])
	e.createBucket(e.owner, map[string]any{"name": "big"})
	bulkSeed(t, e, "big", 100_000)
	ctx := context.Background()
	db := e.m.DB.Bun()
	for _, c := range []struct{ name, query string }{
		{"folder, newest first", `{ files(bucket: "big", filter: {path: "/f7/"}, first: 50) { nodes { id } } }`},
		{"folder by name", `{ files(bucket: "big", filter: {path: "/f7/"}, orderBy: {field: NAME, direction: ASC}, first: 50) { nodes { id } } }`},
		{"subtree", `{ files(bucket: "big", filter: {pathPrefix: "/f7/"}, first: 50) { nodes { id } } }`},
		{"tag", `{ files(bucket: "big", filter: {tagsAny: ["t7"]}, first: 50) { nodes { id } } }`},
		{"two tags", `{ files(bucket: "big", filter: {tagsAll: ["t7", "u3"]}, first: 50) { nodes { id } } }`},
		{"bucket by size", `{ files(bucket: "big", orderBy: {field: SIZE, direction: DESC}, first: 50) { nodes { id } } }`},
	} {
		_, sql := e.queries.during(func() { e.ok(e.owner, c.query, nil) })
		var list string
		for _, q := range sql {
			if strings.Contains(q, "tag_list") {
				list = q
			}
		}
		var plan []string
		if err := db.NewRaw("EXPLAIN "+list).Scan(ctx, &plan); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		t.Logf("%s:\n%s", c.name, text)
		if strings.Contains(text, "Seq Scan on files") {
			t.Errorf("%s scans the whole files table", c.name)
		}
	}
}

// bulkSeed writes n file rows (no bytes) with PostgreSQL's generate_series:
// 100 folders, two tags per file out of 50, distinct sizes and times, all
// created by the organization's owner.
func bulkSeed(t testing.TB, e *env, bucket string, n int) {
	t.Helper()
	ctx := context.Background()
	db := e.m.DB.Bun()
	b, err := e.m.DB.BucketByName(ctx, e.org.ID, bucket)
	if err != nil {
		t.Fatal(err)
	}
	owner := e.viewerIDTB(t)
	id := func(prefix string) string { return "'" + prefix + "_' || lpad(i::text, 26, '0')" }
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO blobs (id, org_id, storage_key, state, size, sha256, mime_type, created_at)
		  SELECT ` + id("blob") + `, ?, 'seed/' || i, 'READY', i, 'x', 'image/png', now() FROM generate_series(1, ?) i`, []any{e.org.ID, n}},
		{`INSERT INTO files (id, org_id, bucket_id, path, name, original_name, mime_type, type, size, sha256, visibility, metadata,
		    revision, blob_id, created_at, updated_at, created_by, updated_by, tags_text)
		  SELECT ` + id("file") + `, ?, ?, '/f' || (i % 100) || '/', 'n' || i || '.png', 'n.png', 'image/png', 'IMAGE', i, 'x', 'PRIVATE', '{}',
		    1, ` + id("blob") + `, now() - i * interval '1 second', now(), ?, ?, 't' || (i % 50) || ' u' || (i % 7)
		  FROM generate_series(1, ?) i`, []any{e.org.ID, b.ID, owner, owner, n}},
		{`INSERT INTO file_tags (org_id, file_id, tag) SELECT ?, ` + id("file") + `, 't' || (i % 50) FROM generate_series(1, ?) i`, []any{e.org.ID, n}},
		{`INSERT INTO file_tags (org_id, file_id, tag) SELECT ?, ` + id("file") + `, 'u' || (i % 7) FROM generate_series(1, ?) i`, []any{e.org.ID, n}},
		{`ANALYZE`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { purgeSeeded(t, e) })
}

func (e *env) viewerIDTB(t testing.TB) string {
	d := e.ok(e.owner, `{ viewer { user { id } } }`, nil)
	return str(d["viewer"].(map[string]any)["user"].(map[string]any)["id"])
}

// gqlPost makes a load's requests: body posted to /graphql with key.
func (e *env) gqlPost(key, body string) func() (*http.Request, error) {
	return func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key)
		}
		return req, err
	}
}
