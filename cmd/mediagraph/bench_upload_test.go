package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mediagraph/mediagraph/internal/testenv"
	"github.com/mediagraph/mediagraph/media"
)

// procServer is a mediagraph process of its own (so its RSS is its own),
// on PostgreSQL and versitygw.
type procServer struct {
	url, key, bucket string
	// dbURL and storageURL are the server's database and object store.
	dbURL, storageURL string
	cmd               *exec.Cmd
	s3                *s3.Client
}

func startServer(t *testing.T, env ...string) *procServer {
	t.Helper()
	return startServerOn(t, backends[1], env...)
}

// startServerOn is startServer on backend b.
func startServerOn(t *testing.T, b backend, env ...string) *procServer {
	t.Helper()
	ctx := context.Background()
	var cfg Config
	cfg.bind(flag.NewFlagSet("bench", flag.ContinueOnError))
	b.setup(t, &cfg)
	cfg.DataDir = t.TempDir()
	cfg.SigningSecret = "bench-secret-bench-secret-bench-secret"
	cfg.Dev = "false"
	if err := cfg.resolve(); err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, Stdout: io.Discard, Stderr: io.Discard}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	s := &procServer{bucket: strings.TrimPrefix(strings.SplitN(cfg.StorageURL, "?", 2)[0], "s3://"), dbURL: cfg.DatabaseURL, storageURL: cfg.StorageURL}
	if st, ok := m.Blobs.(interface{ EnsureBucket(context.Context) error }); ok {
		if err := st.EnsureBucket(ctx); err != nil {
			t.Fatal(err)
		}
	}
	key, _, err := m.Service.Bootstrap(ctx, "bench", "bench@bench.test", media.AllScopes)
	if err != nil {
		t.Fatal(err)
	}
	s.key = key.Key
	_ = m.Close()

	bin := filepath.Join(t.TempDir(), "mediagraph")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s.url = "http://" + addr
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = append(os.Environ(), "DATABASE_URL="+cfg.DatabaseURL, "STORAGE_URL="+cfg.StorageURL,
		"MEDIAGRAPH_ADDR="+addr, "MEDIAGRAPH_SIGNING_SECRET="+cfg.SigningSecret, "MEDIAGRAPH_DEV=false",
		"MEDIAGRAPH_DATA_DIR="+cfg.DataDir, "MEDIAGRAPH_LOG_LEVEL=warn", "MEDIAGRAPH_SWEEP_INTERVAL=0")
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cmd.Process.Kill(); _ = s.cmd.Wait() })
	for i := 0; ; i++ {
		if r, err := http.Get(s.url + "/healthz"); err == nil && r.StatusCode == 200 {
			r.Body.Close()
			break
		}
		if i > 200 {
			t.Fatal("server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.s3 = testenv.S3Client(t, "when_supported")
	s.gql(t, `mutation { createBucket(input: {name: "bench"}) { id } }`, nil)
	return s
}

// rss returns the server's resident set and its peak so far, in MiB.
func (s *procServer) rss(t *testing.T) (now, peak float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			kb, _ := strconv.ParseFloat(f[1], 64)
			if f[0] == "VmRSS:" {
				now = kb / 1024
			} else {
				peak = kb / 1024
			}
		}
	}
	return now, peak
}

// sampleRSS records the server's RSS every 10 ms until stop is called and
// returns the highest sample.
func (s *procServer) sampleRSS(t *testing.T) (stop func() float64) {
	done := make(chan struct{})
	var peak atomic.Uint64
	go func() {
		for {
			now, _ := s.rss(t)
			if uint64(now*1024) > peak.Load() {
				peak.Store(uint64(now * 1024))
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() float64 { close(done); return float64(peak.Load()) / 1024 }
}

func (s *procServer) gql(t *testing.T, query string, vars map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.key)
	return s.send(t, req)
}

func (s *procServer) send(t *testing.T, req *http.Request) map[string]any {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Errors) > 0 {
		t.Fatalf("request failed (%d): %s", res.StatusCode, raw)
	}
	return out.Data
}

// uploadMultipart sends one multipart GraphQL upload of size bytes made by
// fill, streaming the body (the client holds no copy of the file).
func (s *procServer) uploadMultipart(t *testing.T, name string, size int64, fill func(w io.Writer)) {
	t.Helper()
	s.send(t, streamingUpload(s.url, s.key, "bench", name, size, fill))
}

func mibps(bytes int64, d time.Duration) float64 { return float64(bytes) / (1 << 20) / d.Seconds() }

// uploadSequential uploads n files of size bytes one after the other and
// returns the time they took; with direct, it also PUTs as many bytes
// straight to the store after each upload and returns that time too, so
// both are measured under the same load.
func (s *procServer) uploadSequential(t *testing.T, n int, size int64, seed uint64, direct bool) (viaAPI, viaPut time.Duration) {
	ctx := context.Background()
	data := make([]byte, size)
	for i := range n {
		fillPattern(data, seed+uint64(i), 0)
		t0 := time.Now()
		s.uploadMultipart(t, fmt.Sprintf("seq-%d-%d.bin", seed, i), size, func(w io.Writer) { _, _ = w.Write(data) })
		viaAPI += time.Since(t0)
		if !direct {
			continue
		}
		fillPattern(data, seed+uint64(i)+1<<20, 0)
		t0 = time.Now()
		if _, err := s.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(fmt.Sprintf("direct/%d-%d", seed, i)),
			Body: bytes.NewReader(data), ContentLength: aws.Int64(size)}); err != nil {
			t.Fatal(err)
		}
		viaPut += time.Since(t0)
	}
	return viaAPI, viaPut
}

// uploadConcurrent uploads n files of size bytes, conc at a time, each
// request streamed by the client, and returns the time they all took.
func (s *procServer) uploadConcurrent(t *testing.T, n, conc int, size int64, seed uint64) time.Duration {
	jobs := make(chan int)
	var wg sync.WaitGroup
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				s.uploadMultipart(t, fmt.Sprintf("conc-%d-%d.bin", seed, i), size, func(w io.Writer) { pattern(w, size, seed+uint64(i)) })
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return time.Since(t0)
}

// benchConcurrent logs the two concurrent upload loads of issue 13.
func benchConcurrent(t *testing.T, s *procServer, backend string) {
	for _, c := range []struct {
		n    int
		size int64
	}{{200, 1 << 20}, {20, 50 << 20}} {
		d := s.uploadConcurrent(t, c.n, 4, c.size, uint64(c.size))
		t.Logf("%s: %d × %d MiB multipart uploads, 4 at a time: %.0f MiB/s (%.1f files/s)", backend,
			c.n, c.size>>20, mibps(int64(c.n)*c.size, d), float64(c.n)/d.Seconds())
	}
}

// TestBenchUploads measures multipart GraphQL uploads against direct S3
// PUTs of the same bytes, the server's memory under concurrent large
// uploads, concurrent loads of small and large files, and a 2 GiB upload
// session against the same multipart upload done with the SDK.
func TestBenchUploads(t *testing.T) {
	benchOnly(t)
	ctx := context.Background()
	s := startServer(t)
	idle, _ := s.rss(t)
	t.Logf("server RSS idle: %.1f MiB (GOMAXPROCS of this process %d)", idle, runtime.GOMAXPROCS(0))

	// One at a time: multipart GraphQL vs PutObject, alternating.
	for _, c := range []struct {
		n    int
		size int64
	}{{20, 10 << 20}, {5, 100 << 20}} {
		viaAPI, direct := s.uploadSequential(t, c.n, c.size, uint64(c.size), true)
		a, d := mibps(int64(c.n)*c.size, viaAPI), mibps(int64(c.n)*c.size, direct)
		t.Logf("%d MiB files ×%d, sequential: multipart GraphQL %.0f MiB/s, direct PutObject %.0f MiB/s (%.0f%%)", c.size>>20, c.n, a, d, 100*a/d)
	}

	// 8 concurrent 50 MiB uploads, twice: the server's peak RSS.
	stop := s.sampleRSS(t)
	for round := range 2 {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.uploadMultipart(t, fmt.Sprintf("fifty-%d-%d.bin", round, i), 50<<20, func(w io.Writer) { pattern(w, 50<<20, uint64(100+round*8+i)) })
			}()
		}
		wg.Wait()
	}
	peak := stop()
	_, hwm := s.rss(t)
	t.Logf("8 concurrent 50 MiB multipart uploads ×2: server peak RSS %.1f MiB sampled, %.1f MiB VmHWM (target ≤ 128)", peak, hwm)

	benchConcurrent(t, s, "postgres+s3")

	// 2 GiB through an upload session vs the same multipart upload with the SDK.
	const big, workers = int64(2 << 30), 4
	before, _ := s.rss(t)
	stop = s.sampleRSS(t)
	t0 := time.Now()
	ses := s.gql(t, `mutation($i: CreateUploadSessionInput!) { createUploadSession(input: $i) { id partSize partCount parts(first: 1000) { number size url } } }`,
		map[string]any{"i": map[string]any{"bucket": "bench", "name": "two.bin", "size": big, "mimeType": "application/octet-stream"}})["createUploadSession"].(map[string]any)
	var parts []partJob
	for _, p := range ses["parts"].([]any) {
		p := p.(map[string]any)
		parts = append(parts, partJob{number: int(p["number"].(float64)), size: int64(p["size"].(float64)), url: p["url"].(string)})
	}
	partSize := int64(ses["partSize"].(float64))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	runParts(t, parts, workers, partSize, func(buf []byte, p partJob) {
		req, _ := http.NewRequest(http.MethodPut, p.url, bytes.NewReader(buf))
		res, err := client.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Errorf("part %d: %v %v", p.number, err, res)
			return
		}
		res.Body.Close()
	})
	uploaded := time.Since(t0)
	s.gql(t, `mutation($id: ID!) { completeUploadSession(id: $id) { id size } }`, map[string]any{"id": ses["id"]})
	session := time.Since(t0)
	peak = stop()
	after, _ := s.rss(t)

	t0 = time.Now()
	up, err := s.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String("direct/two")})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var done []types.CompletedPart
	runParts(t, parts, workers, partSize, func(buf []byte, p partJob) {
		out, err := s.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(s.bucket), Key: aws.String("direct/two"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(p.number)), Body: bytes.NewReader(buf), ContentLength: aws.Int64(int64(len(buf)))})
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(p.number)), ETag: out.ETag})
		mu.Unlock()
	})
	slices.SortFunc(done, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	if _, err := s.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String("direct/two"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
	sdk := time.Since(t0)
	t.Logf("2 GiB, %d parts of %d MiB, %d at a time: upload session %.0f MiB/s end to end (%s: parts %s, complete %s), SDK multipart %.0f MiB/s (%s) = %.0f%%; server RSS %.1f → %.1f MiB, peak %.1f (rise %.1f MiB)",
		len(parts), partSize>>20, workers, mibps(big, session), session.Round(time.Millisecond), uploaded.Round(time.Millisecond),
		(session - uploaded).Round(time.Millisecond), mibps(big, sdk), sdk.Round(time.Millisecond),
		100*sdk.Seconds()/session.Seconds(), before, after, peak, peak-before)
}

// TestBenchUploadsDisk measures multipart GraphQL uploads on SQLite and
// the disk backend: one at a time, and the concurrent loads.
func TestBenchUploadsDisk(t *testing.T) {
	benchOnly(t)
	s := startServerOn(t, backends[0])
	for _, c := range []struct {
		n    int
		size int64
	}{{20, 10 << 20}, {5, 100 << 20}} {
		viaAPI, _ := s.uploadSequential(t, c.n, c.size, uint64(c.size), false)
		t.Logf("sqlite+disk: %d MiB files ×%d, sequential: multipart GraphQL %.0f MiB/s", c.size>>20, c.n, mibps(int64(c.n)*c.size, viaAPI))
	}
	benchConcurrent(t, s, "sqlite+disk")
}

type partJob struct {
	number int
	size   int64
	url    string
}

// runParts runs fn for every part on workers goroutines, each with its own
// buffer filled with the part's bytes.
func runParts(t *testing.T, parts []partJob, workers int, partSize int64, fn func(buf []byte, p partJob)) {
	jobs := make(chan partJob)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, partSize)
			for p := range jobs {
				b := buf[:p.size]
				fillPattern(b, 7, uint64(p.number))
				fn(b, p)
			}
		}()
	}
	for _, p := range parts {
		jobs <- p
	}
	close(jobs)
	wg.Wait()
}

// TestBenchThumbnails measures the first and the cached request for a
// 320 px thumbnail of 12-megapixel JPEGs.
func TestBenchThumbnails(t *testing.T) {
	benchOnly(t)
	s := startServer(t)
	const images = 6
	var first, cached []time.Duration
	for i := range images {
		img := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
		for y := 0; y < 3000; y++ {
			for x := 0; x < 4000; x++ {
				img.Set(x, y, color.RGBA{uint8(x * (i + 1)), uint8(y), uint8(x ^ y), 255})
			}
		}
		var buf bytes.Buffer
		_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
		name := fmt.Sprintf("photo-%d.jpg", i)
		s.uploadMultipart(t, name, int64(buf.Len()), func(w io.Writer) { _, _ = w.Write(buf.Bytes()) })
		d := s.gql(t, `query($n: String) { files(bucket: "bench", filter: {nameContains: $n}) { nodes { thumbnailUrl(width: 320) } } }`, map[string]any{"n": name})
		u := d["files"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["thumbnailUrl"].(string)
		for j := range 21 {
			t0 := time.Now()
			res, err := http.Get(u)
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("thumbnail: %v %v", err, res)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if j == 0 {
				first = append(first, time.Since(t0))
			} else {
				cached = append(cached, time.Since(t0))
			}
		}
	}
	p50 := func(ds []time.Duration) time.Duration { slices.Sort(ds); return ds[len(ds)/2] }
	t.Logf("320 px thumbnail of a 12-megapixel JPEG (%d images): first request p50 %s, cached p50 %s (%d requests)",
		images, p50(first).Round(time.Millisecond), p50(cached).Round(10*time.Microsecond), len(cached))
}

// cpu returns the CPU time the server process has used so far.
func (s *procServer) cpu(t *testing.T) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command (which may hold spaces) in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
