package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mediagraph/mediagraph/database"
	"github.com/mediagraph/mediagraph/internal/testenv"
	"github.com/mediagraph/mediagraph/media"
	"github.com/mediagraph/mediagraph/storage"
)

// TestSoak is `make soak`: two mediagraph processes on one PostgreSQL
// database and one S3 server (versitygw) under 200 concurrent clients of
// a realistic mix, then the same load while PostgreSQL restarts and while
// the S3 server is killed and restarted, then kill -9 of a replica during
// uploads and sessions, restart and a sweep. It checks that every answer
// is coded, that nothing is lost, that the store and database agree, and
// reports latencies, memory and recovery times (bench/results/soak.json;
// docs/BENCHMARKS.md has the figures).
//
// It restarts the machine's PostgreSQL cluster (pg_ctlcluster), so it is
// not part of `make test`. MEDIAGRAPH_SOAK_SECONDS sets the steady phase.
func TestSoak(t *testing.T) {
	if os.Getenv("MEDIAGRAPH_SOAK") == "" {
		t.Skip("set MEDIAGRAPH_SOAK=1 (make soak) to run the load, fault and replica suite")
	}
	steady := 60 * time.Second
	if v, err := strconv.Atoi(os.Getenv("MEDIAGRAPH_SOAK_SECONDS")); err == nil && v > 0 {
		steady = time.Duration(v) * time.Second
	}
	ctx := context.Background()
	w := newSoakWorld(t)
	report := map[string]any{"clients": soakClients, "steady_seconds": steady.Seconds(), "go": goVersion()}

	// Idle baselines.
	time.Sleep(2 * time.Second)
	idle := map[string]soakProcStats{}
	for _, r := range w.replicas {
		idle[r.name] = r.stats(t)
	}
	report["idle"] = idle

	// 1. Steady load.
	res := w.load(t, steady, nil)
	report["steady"] = res.summary()
	if res.uncoded.Load() > 0 || res.fiveXX.Load() > 0 || res.internal.Load() > 0 {
		t.Errorf("steady load: %d uncoded answers, %d 5xx, %d INTERNAL (examples: %v)", res.uncoded.Load(), res.fiveXX.Load(), res.internal.Load(), res.examples())
	}
	peaks := map[string]float64{}
	for _, r := range w.replicas {
		peaks[r.name] = r.peakRSS()
	}
	report["rss_peak_mib"] = peaks
	// Idle connections keep a goroutine each on the server: close ours.
	w.client.CloseIdleConnections()
	time.Sleep(5 * time.Second)
	after := map[string]soakProcStats{}
	for _, r := range w.replicas {
		s := r.stats(t)
		after[r.name] = s
		if s.Goroutines > idle[r.name].Goroutines+20 {
			t.Errorf("%s: %d goroutines after the load, %d before", r.name, s.Goroutines, idle[r.name].Goroutines)
		}
		if s.HeapInuse > idle[r.name].HeapInuse+64<<20 {
			t.Errorf("%s: heap in use %.0f MiB after the load, %.0f before", r.name, float64(s.HeapInuse)/(1<<20), float64(idle[r.name].HeapInuse)/(1<<20))
		}
		if peaks[r.name] > 512 {
			t.Errorf("%s: RSS peaked at %.0f MiB", r.name, peaks[r.name])
		}
	}
	report["after_steady"] = after

	// 2. PostgreSQL stops for 5 s during the load.
	var pgDown, pgBack time.Time
	var readyz503 atomic.Bool
	var recovered time.Duration
	res = w.load(t, 25*time.Second, func(stop <-chan struct{}) {
		time.Sleep(5 * time.Second)
		pgDown = time.Now()
		w.pg(t, "stop")
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if w.replicas[0].readyz() == http.StatusServiceUnavailable {
				readyz503.Store(true)
			}
			time.Sleep(200 * time.Millisecond)
		}
		w.pg(t, "start")
		pgBack = w.waitPG(t)
		recovered = w.waitReady(t, pgBack) // under the load
	})
	report["postgres_restart"] = map[string]any{"load": res.summary(), "down_seconds": pgBack.Sub(pgDown).Seconds(),
		"readyz_503_while_down": readyz503.Load(), "ready_again_after_seconds": recovered.Seconds()}
	if !readyz503.Load() {
		t.Error("/readyz did not answer 503 while PostgreSQL was down")
	}
	if recovered > 5*time.Second {
		t.Errorf("ready %.1f s after PostgreSQL came back; the bound is 5 s", recovered.Seconds())
	}
	if res.uncoded.Load() > 0 || res.internal.Load() > 0 {
		t.Errorf("PostgreSQL restart: %d uncoded answers, %d INTERNAL (examples: %v)", res.uncoded.Load(), res.internal.Load(), res.examples())
	}

	// 3. The S3 server is killed and restarted during the load.
	res = w.load(t, 20*time.Second, func(stop <-chan struct{}) {
		time.Sleep(5 * time.Second)
		w.gw.kill()
		time.Sleep(3 * time.Second)
		w.gw.start(t)
		recovered = w.waitReady(t, time.Now()) // under the load
	})
	report["s3_restart"] = map[string]any{"load": res.summary(), "ready_again_after_seconds": recovered.Seconds()}
	if res.uncoded.Load() > 0 || res.internal.Load() > 0 {
		t.Errorf("S3 restart: %d uncoded answers, %d INTERNAL (examples: %v)", res.uncoded.Load(), res.internal.Load(), res.examples())
	}
	if recovered > 5*time.Second {
		t.Errorf("ready %.1f s after the S3 server came back", recovered.Seconds())
	}

	// 4. kill -9 of a replica during 20 uploads and 5 upload sessions.
	victim := w.replicas[1]
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.upload(victim.url, 1<<20+i*300_000, nil)
		}()
	}
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.sessionUpload(victim.url, 12<<20)
		}()
	}
	time.Sleep(700 * time.Millisecond)
	victim.kill9()
	wg.Wait()
	victim.start(t)
	time.Sleep(w.cleanupAge + time.Second)
	cmd := exec.Command(w.bin, "sweep")
	cmd.Env = victim.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mediagraph sweep: %v\n%s", err, out)
	}
	report["sweep_after_kill"] = strings.TrimSpace(string(out))
	db, err := database.Open(ctx, w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	violations := storeViolations(ctx, t, db.Bun(), w.blobs, time.Now().Add(-w.cleanupAge))
	report["store_violations"] = violations
	for _, v := range violations {
		t.Errorf("after kill -9 and a sweep: %s", v)
	}
	lost := w.verifyAcknowledged(t)
	report["acknowledged_uploads"] = w.acked.len()
	report["acknowledged_lost_or_changed"] = lost
	if lost > 0 {
		t.Errorf("%d acknowledged uploads are missing or changed", lost)
	}

	// 5. Replicas: signed URLs of one verify on the other; sweeps took turns.
	w.crossSigned(t)
	sweeps := map[string]map[string]float64{}
	for _, r := range w.replicas {
		sweeps[r.name] = r.metricsBy(t, "mediagraph_sweeps_total", "outcome")
	}
	report["sweeps"] = sweeps

	b, _ := json.MarshalIndent(report, "", "  ")
	t.Logf("soak report:\n%s", b)
	if dir := benchDir(t); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "soak.json"), b, 0o644)
	}
}

func goVersion() string {
	out, _ := exec.Command("go", "version").Output()
	return strings.TrimSpace(string(out))
}

const soakClients = 200

// soakWorld is the soak's servers, processes and bookkeeping.
type soakWorld struct {
	bin, dbURL, key string
	gw              *soakGW
	blobs           media.Blobs
	replicas        []*soakReplica
	cleanupAge      time.Duration
	ids             idSet
	acked           ackSet
	private         string
	client          *http.Client
}

type idSet struct {
	mu  sync.Mutex
	ids []string
}

func (s *idSet) add(id string) { s.mu.Lock(); s.ids = append(s.ids, id); s.mu.Unlock() }
func (s *idSet) pick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ids) == 0 {
		return "file_0000000000000000000000000z"
	}
	return s.ids[mrand.IntN(len(s.ids))]
}

// ackSet remembers every upload a client saw succeed: id → SHA-256.
type ackSet struct {
	mu sync.Mutex
	m  map[string]string
}

func (a *ackSet) add(id, sum string) {
	a.mu.Lock()
	if a.m == nil {
		a.m = map[string]string{}
	}
	a.m[id] = sum
	a.mu.Unlock()
}
func (a *ackSet) len() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.m) }

func newSoakWorld(t *testing.T) *soakWorld {
	t.Helper()
	ctx := context.Background()
	w := &soakWorld{cleanupAge: 10 * time.Second,
		client: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * soakClients, MaxConnsPerHost: 0}}}
	w.dbURL = testenv.Postgres(t)
	gwBin, err := testenv.VersityGWBinary()
	if err != nil {
		t.Fatal(err)
	}
	w.gw = &soakGW{bin: gwBin, dir: t.TempDir(), addr: freeAddr(t)}
	w.gw.start(t)
	t.Cleanup(w.gw.kill)
	bucket := testenv.BucketName()
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + w.gw.addr), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testenv.AccessKey, testenv.SecretKey, "")})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	storageURL := fmt.Sprintf("s3://%s?endpoint=http://%s&region=us-east-1&path_style=true", bucket, w.gw.addr)
	w.blobs = storage.NewS3(client, bucket)

	w.bin = filepath.Join(t.TempDir(), "mediagraph")
	if out, err := exec.Command("go", "build", "-o", w.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	base := append(os.Environ(), "DATABASE_URL="+w.dbURL, "STORAGE_URL="+storageURL,
		"AWS_ACCESS_KEY_ID="+testenv.AccessKey, "AWS_SECRET_ACCESS_KEY="+testenv.SecretKey, "AWS_REGION=us-east-1",
		"MEDIAGRAPH_SIGNING_SECRET=soak-secret-soak-secret-soak-secret", "MEDIAGRAPH_DEV=false",
		"MEDIAGRAPH_LOG_LEVEL=error", "MEDIAGRAPH_SWEEP_INTERVAL=2s", "MEDIAGRAPH_CLEANUP_AGE="+w.cleanupAge.String(),
		"MEDIAGRAPH_MAX_UPLOAD_SIZE=16777216")
	cmd := exec.Command(w.bin, "keys", "create", "--org", "soak", "--scopes", strings.Join(media.AllScopes, ","))
	cmd.Env = append(slices.Clone(base), "MEDIAGRAPH_DATA_DIR="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	w.key = strings.TrimSpace(string(out))
	for _, name := range []string{"a", "b"} {
		addr := freeAddr(t)
		r := &soakReplica{name: name, url: "http://" + addr, bin: w.bin,
			env: append(slices.Clone(base), "MEDIAGRAPH_ADDR="+addr, "MEDIAGRAPH_DATA_DIR="+t.TempDir())}
		r.start(t)
		t.Cleanup(r.kill9)
		w.replicas = append(w.replicas, r)
	}
	w.gql(t, w.replicas[0].url, `mutation { createBucket(input: {name: "soak", defaultVisibility: PUBLIC}) { id } }`, nil)
	// A corpus to list: 200 small files, tagged.
	for i := range 200 {
		w.upload(w.replicas[i%2].url, 10_000+mrand.IntN(50_000), []string{[]string{"red", "green", "blue"}[i%3]})
	}
	d := w.gql(t, w.replicas[0].url, `mutation($i: UploadFileBase64Input!) { uploadFileBase64(input: $i) { id } }`, map[string]any{"i": map[string]any{
		"bucket": "soak", "name": "private.bin", "mimeType": "application/octet-stream", "visibility": "PRIVATE",
		"data": "cHJpdmF0ZSBieXRlcw=="}})
	w.private = d["uploadFileBase64"].(map[string]any)["id"].(string)
	return w
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// soakGW is a versitygw the soak can kill and start again (same port, same folder).
type soakGW struct {
	bin, dir, addr string
	cmd            *exec.Cmd
}

func (g *soakGW) start(t *testing.T) {
	g.cmd = exec.Command(g.bin, "--port", g.addr, "posix", g.dir)
	g.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+testenv.AccessKey, "ROOT_SECRET_KEY="+testenv.SecretKey)
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if res, err := http.Get("http://" + g.addr); err == nil {
			res.Body.Close()
			return
		}
		if i > 400 {
			t.Fatal("versitygw did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *soakGW) kill() {
	if g.cmd != nil && g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
		_ = g.cmd.Wait()
	}
}

// soakReplica is one mediagraph process.
type soakReplica struct {
	name, url, bin string
	env            []string
	cmd            *exec.Cmd
	peak           atomic.Uint64 // KiB, sampled
	stopSample     chan struct{}
}

func (r *soakReplica) start(t *testing.T) {
	r.cmd = exec.Command(r.bin, "serve")
	r.cmd.Env = r.env
	r.cmd.Stderr = os.Stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if res, err := http.Get(r.url + "/healthz"); err == nil && res.StatusCode == 200 {
			res.Body.Close()
			break
		}
		if i > 400 {
			t.Fatalf("replica %s did not start", r.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.stopSample = make(chan struct{})
	go func(pid int, stop chan struct{}) {
		for {
			if kb := rssKiB(pid); kb > r.peak.Load() {
				r.peak.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}(r.cmd.Process.Pid, r.stopSample)
}

func (r *soakReplica) kill9() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		_ = r.cmd.Wait()
		close(r.stopSample)
		r.cmd = nil
	}
}

func (r *soakReplica) peakRSS() float64 { return float64(r.peak.Load()) / 1024 }

func rssKiB(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			return n
		}
	}
	return 0
}

func (r *soakReplica) readyz() int {
	res, err := http.Get(r.url + "/readyz")
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// soakProcStats is what a replica's /metrics and /proc say.
type soakProcStats struct {
	Goroutines int     `json:"goroutines"`
	HeapInuse  int64   `json:"heap_inuse_bytes"`
	RSSMiB     float64 `json:"rss_mib"`
}

func (r *soakReplica) stats(t *testing.T) soakProcStats {
	m := r.metrics(t)
	return soakProcStats{Goroutines: int(m["go_goroutines"]), HeapInuse: int64(m["go_memstats_heap_inuse_bytes"]),
		RSSMiB: float64(rssKiB(r.cmd.Process.Pid)) / 1024}
}

// metrics reads the replica's unlabelled Prometheus samples.
func (r *soakReplica) metrics(t *testing.T) map[string]float64 {
	out := map[string]float64{}
	r.scanMetrics(t, func(name, labels string, v float64) {
		if labels == "" {
			out[name] = v
		}
	})
	return out
}

// metricsBy reads one metric's samples by the value of one label.
func (r *soakReplica) metricsBy(t *testing.T, metric, label string) map[string]float64 {
	out := map[string]float64{}
	r.scanMetrics(t, func(name, labels string, v float64) {
		if name == metric {
			if _, val, ok := strings.Cut(labels, label+`="`); ok {
				val, _, _ = strings.Cut(val, `"`)
				out[val] = v
			}
		}
	})
	return out
}

func (r *soakReplica) scanMetrics(t *testing.T, fn func(name, labels string, v float64)) {
	res, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		head, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(head, "{")
		fn(name, strings.TrimSuffix(labels, "}"), v)
	}
}

func (w *soakWorld) pg(t *testing.T, action string) {
	out, err := exec.Command("bash", "-c", "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -1) main "+action).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctlcluster %s: %v\n%s", action, err, out)
	}
}

// waitPG waits until PostgreSQL accepts connections and returns when.
func (w *soakWorld) waitPG(t *testing.T) time.Time {
	for i := 0; ; i++ {
		if exec.Command("pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q").Run() == nil {
			return time.Now()
		}
		if i > 600 {
			t.Fatal("PostgreSQL did not come back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReady waits until every replica's /readyz answers 200 and returns
// how long after since that took.
func (w *soakWorld) waitReady(t *testing.T, since time.Time) time.Duration {
	for i := 0; ; i++ {
		ok := true
		for _, r := range w.replicas {
			ok = ok && r.readyz() == http.StatusOK
		}
		if ok {
			return time.Since(since)
		}
		if i > 600 {
			t.Fatal("the replicas did not get ready again")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *soakWorld) gql(t *testing.T, base, query string, vars map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.key)
	res, err := w.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	if json.Unmarshal(raw, &out) != nil || len(out.Errors) > 0 {
		t.Fatalf("%s: %d %s", query, res.StatusCode, raw)
	}
	return out.Data
}

// answer is one response the load generator got.
type answer struct {
	op      string
	status  int
	codes   []string
	uncoded bool
	err     error
	took    time.Duration
}

// upload sends size random bytes as a multipart upload to base and records
// the file if the server acknowledged it.
func (w *soakWorld) upload(base string, size int, tags []string) answer {
	data := make([]byte, size)
	_, _ = rand.Read(data)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	ops, _ := json.Marshal(map[string]any{"query": `mutation($f: Upload!, $t: [String!]) { uploadFile(input: {bucket: "soak", file: $f, tags: $t}) { id } }`,
		"variables": map[string]any{"f": nil, "t": tags}})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", fmt.Sprintf("u%d.bin", mrand.Int()))
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Apollo-Require-Preflight", "true")
	req.Header.Set("Authorization", "Bearer "+w.key)
	a, out := w.do("upload", req)
	if a.err == nil && len(a.codes) == 0 {
		if f, ok := out["uploadFile"].(map[string]any); ok {
			sum := sha256.Sum256(data)
			id := f["id"].(string)
			w.acked.add(id, hex.EncodeToString(sum[:]))
			w.ids.add(id)
		}
	}
	return a
}

// sessionUpload uploads size random bytes through an upload session.
func (w *soakWorld) sessionUpload(base string, size int) {
	data := make([]byte, size)
	_, _ = rand.Read(data)
	body, _ := json.Marshal(map[string]any{"query": `mutation($i: CreateUploadSessionInput!) { createUploadSession(input: $i) { id uploadUrl parts { number url } } }`,
		"variables": map[string]any{"i": map[string]any{"bucket": "soak", "name": fmt.Sprintf("s%d.bin", mrand.Int()), "size": size, "mimeType": "application/octet-stream"}}})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.key)
	a, out := w.do("session", req)
	if a.err != nil || len(a.codes) > 0 {
		return
	}
	s := out["createUploadSession"].(map[string]any)
	if u, ok := s["uploadUrl"].(string); ok {
		put, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(data))
		if res, err := w.client.Do(put); err == nil {
			res.Body.Close()
		}
	}
	body, _ = json.Marshal(map[string]any{"query": `mutation($id: ID!) { completeUploadSession(id: $id) { id } }`, "variables": map[string]any{"id": s["id"]}})
	req, _ = http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.key)
	a, out = w.do("complete", req)
	if a.err == nil && len(a.codes) == 0 {
		if f, ok := out["completeUploadSession"].(map[string]any); ok {
			sum := sha256.Sum256(data)
			w.acked.add(f["id"].(string), hex.EncodeToString(sum[:]))
		}
	}
}

var knownCodes = []string{media.EUNAUTHENTICATED, media.EFORBIDDEN, media.ENOTFOUND, media.EINVALID, media.ECONFLICT,
	media.ETOOLARGE, media.EUNSUPPORTED, media.EQUOTA, media.EUNAVAILABLE, media.EINTERNAL}

// do sends a request and classifies the answer: its status, its error
// codes, and whether any error (or an error status) came without a known code.
func (w *soakWorld) do(op string, req *http.Request) (answer, map[string]any) {
	start := time.Now()
	res, err := w.client.Do(req)
	a := answer{op: op, err: err}
	if err != nil {
		a.took = time.Since(start)
		return a, nil
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a.took, a.status = time.Since(start), res.StatusCode
	if res.StatusCode == http.StatusOK && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") ||
		res.StatusCode == http.StatusPartialContent || res.StatusCode == http.StatusNotModified {
		return a, nil // bytes of a download
	}
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	if json.Unmarshal(raw, &out) != nil {
		a.uncoded = res.StatusCode >= 400
		return a, nil
	}
	for _, e := range out.Errors {
		c, _ := e.Extensions["code"].(string)
		if !slices.Contains(knownCodes, c) {
			a.uncoded = true
		}
		a.codes = append(a.codes, c)
	}
	if res.StatusCode >= 400 && len(out.Errors) == 0 {
		a.uncoded = true
	}
	return a, out.Data
}

// soakResult counts a load's answers.
type soakResult struct {
	mu       sync.Mutex
	byOp     map[string][]time.Duration
	codes    map[string]int
	statuses map[int]int
	errs     map[string]int
	uncoded  atomic.Int64
	fiveXX   atomic.Int64
	internal atomic.Int64
	sample   []string
	requests atomic.Int64
	elapsed  time.Duration
}

func (l *soakResult) add(a answer) {
	l.requests.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byOp[a.op] = append(l.byOp[a.op], a.took)
	l.statuses[a.status]++
	for _, c := range a.codes {
		l.codes[c]++
		if c == media.EINTERNAL {
			l.internal.Add(1)
		}
	}
	if a.err != nil {
		l.errs[a.op+": "+trimErr(a.err)]++
	}
	bad := a.uncoded || a.status >= 500
	if a.uncoded {
		l.uncoded.Add(1)
	}
	if a.status >= 500 {
		l.fiveXX.Add(1)
	}
	if bad && len(l.sample) < 5 {
		l.sample = append(l.sample, fmt.Sprintf("%s %d %v", a.op, a.status, a.codes))
	}
}

func trimErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func (l *soakResult) examples() []string { l.mu.Lock(); defer l.mu.Unlock(); return l.sample }

func (l *soakResult) summary() map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	ops := map[string]any{}
	var all []time.Duration
	for op, ds := range l.byOp {
		all = append(all, ds...)
		ops[op] = latencies(ds)
	}
	return map[string]any{"requests": l.requests.Load(), "rps": float64(l.requests.Load()) / l.elapsed.Seconds(),
		"latency_ms": latencies(all), "by_op": ops, "statuses": l.statuses, "codes": l.codes, "transport_errors": l.errs,
		"uncoded": l.uncoded.Load(), "5xx": l.fiveXX.Load(), "internal": l.internal.Load()}
}

func latencies(ds []time.Duration) map[string]float64 {
	if len(ds) == 0 {
		return nil
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000 }
	return map[string]float64{"n": float64(len(s)), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": q(1)}
}

// load runs soakClients clients for d against both replicas, with fault
// (if not nil) running beside them.
func (w *soakWorld) load(t *testing.T, d time.Duration, fault func(stop <-chan struct{})) *soakResult {
	res := &soakResult{byOp: map[string][]time.Duration{}, codes: map[string]int{}, statuses: map[int]int{}, errs: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for c := range soakClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res.add(w.op(w.replicas[c%len(w.replicas)].url))
			}
		}()
	}
	var faultDone chan struct{}
	if fault != nil {
		faultDone = make(chan struct{})
		go func() { defer close(faultDone); fault(stop) }()
	}
	time.Sleep(d)
	if faultDone != nil {
		<-faultDone // the fault's recovery is part of the phase
	}
	close(stop)
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// op runs one request of the mix against base.
func (w *soakWorld) op(base string) answer {
	gq := func(op, query string, vars map[string]any) answer {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+w.key)
		a, _ := w.do(op, req)
		return a
	}
	switch n := mrand.IntN(100); {
	case n < 30:
		filters := []map[string]any{nil, {"tagsAny": []string{"red"}}, {"nameContains": "u1"}, {"types": []string{"OTHER"}}}
		return gq("list", `query($f: FileFilter) { files(bucket: "soak", first: 50, filter: $f, orderBy: {field: NAME, direction: ASC}) {
			totalCount availableTags { name count } nodes { id name size tags createdAt bucket { name } createdBy { email } } } }`,
			map[string]any{"f": filters[mrand.IntN(len(filters))]})
	case n < 50:
		return gq("file", `query($id: ID!) { file(id: $id) { id name size checksumSha256 url revisions { number } } }`, map[string]any{"id": w.ids.pick()})
	case n < 65:
		req, _ := http.NewRequest(http.MethodGet, base+"/files/"+w.ids.pick()+"/x", nil)
		req.Header.Set("Authorization", "Bearer "+w.key)
		req.Header.Set("Range", []string{"bytes=0-1023", "bytes=-4096", "bytes=100-200,5000-6000"}[mrand.IntN(3)])
		a, _ := w.do("download", req)
		return a
	case n < 75:
		size := 10_000
		if mrand.IntN(10) == 0 {
			size = 1<<20 + mrand.IntN(4<<20)
		} else {
			size += mrand.IntN(200_000)
		}
		return w.upload(base, size, []string{"load"})
	case n < 85:
		return gq("update", `mutation($id: ID!, $c: String) { updateFile(id: $id, input: {caption: $c, addTags: ["seen"]}) { id } }`,
			map[string]any{"id": w.ids.pick(), "c": fmt.Sprint("c", mrand.Int())})
	case n < 93:
		id := w.ids.pick()
		a := gq("trash", `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": id})
		if a.err == nil && len(a.codes) == 0 {
			return gq("restore", `mutation($id: ID!) { restoreFile(id: $id) { id } }`, map[string]any{"id": id})
		}
		return a
	default:
		return gq("post", `mutation($a: [ID!]) { createPost(input: {title: "p", attachmentIds: $a}) { id attachments { totalCount } } }`,
			map[string]any{"a": []string{w.ids.pick()}})
	}
}

// verifyAcknowledged downloads every upload a client saw succeed and
// compares its bytes; it returns how many are missing or changed.
func (w *soakWorld) verifyAcknowledged(t *testing.T) int {
	w.acked.mu.Lock()
	acked := maps.Clone(w.acked.m)
	w.acked.mu.Unlock()
	lost := 0
	for id, sum := range acked {
		req, _ := http.NewRequest(http.MethodGet, w.replicas[0].url+"/files/"+id+"/x", nil)
		req.Header.Set("Authorization", "Bearer "+w.key)
		res, err := w.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, _ = io.Copy(h, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || hex.EncodeToString(h.Sum(nil)) != sum {
			lost++
			t.Logf("acknowledged upload %s: %d", id, res.StatusCode)
		}
	}
	return lost
}

// crossSigned checks that a PRIVATE file's signed URL from one replica
// opens on the other.
func (w *soakWorld) crossSigned(t *testing.T) {
	d := w.gql(t, w.replicas[0].url, `query($id: ID!) { file(id: $id) { url } }`, map[string]any{"id": w.private})
	u := d["file"].(map[string]any)["url"].(string)
	other := w.replicas[1].url + u[strings.Index(u, "/files/"):]
	res, err := http.Get(other)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "private bytes" {
		t.Errorf("a signed URL of replica a on replica b: %d %q", res.StatusCode, body)
	}
}
