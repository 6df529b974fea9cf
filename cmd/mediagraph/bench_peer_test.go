package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The side-by-side benchmark against the peer, Directus 12.4 on the same
// PostgreSQL (../shared/peers/directus/setup.sh installs, seeds and starts
// it on :8055). It seeds mediagraph (PostgreSQL + versitygw, a process of
// its own) with the peer's corpus, then runs the same scenarios against
// both in alternation with wrk in its own process, and prints ratios: a
// figure measured in one run, not absolute numbers from a noisy machine.
//
// Env: PEER_DIR (~/peer), PEER_URL (http://127.0.0.1:8055), PEER_RUNS (3),
// PEER_DURATION (15s), PEER_CONNS (16), PEER_UPLOADS (1 to run the upload
// phases too; default 1), PEER_QUERIES (the peer's queries/ folder),
// PEER_ONLY (a regexp: only the query scenarios whose name matches),
// PEER_PROFILE (1: a 10 s CPU profile of the server during one more,
// uncounted run of each scenario, in bench/results/peer-<letter>.cpu.pprof).

// peerScenarios are the peer's four query scenarios: mediagraph's query,
// and the file of the peer's own request body in its queries/ folder.
var peerScenarios = []struct {
	name, mediagraph, directus string
	byID                       bool
}{
	{"a. list 50, newest first, with folder/bucket and creator",
		`{ files(bucket: "bench", first: 50) { nodes { ` + mgFields + ` } } }`, "a-list.json", false},
	{"b. + name contains \"harbor\"",
		`{ files(bucket: "bench", first: 50, filter: {nameContains: "harbor"}) { nodes { ` + mgFields + ` } } }`, "b-filter-filename.json", false},
	{"b2. + tagged \"nature\"",
		`{ files(bucket: "bench", first: 50, filter: {tagsAny: ["nature"]}) { nodes { ` + mgFields + ` } } }`, "b2-filter-tags.json", false},
	{"d. one file by id (the per-request floor)",
		`{ file(id: "$ID") { ` + mgFields + ` } }`, "d-by-id.json", true},
}

// mgFields are the fields the peer's queries select (id filename_download
// title type filesize width height tags uploaded_on folder uploaded_by).
const mgFields = `id name altText mimeType size width height tags createdAt path bucket { id name } createdBy { id email }`

func TestBenchPeer(t *testing.T) {
	benchOnly(t)
	peerDir := os.Getenv("PEER_DIR")
	if peerDir == "" {
		home, _ := os.UserHomeDir()
		peerDir = filepath.Join(home, "peer")
	}
	peerURL := envOr("PEER_URL", "http://127.0.0.1:8055")
	peerQueries := envOr("PEER_QUERIES", filepath.Join("..", "..", "..", "shared", "peers", "directus", "queries"))
	token, err := os.ReadFile(filepath.Join(peerDir, "directus", "token.txt"))
	if r, perr := http.Get(peerURL + "/server/ping"); err != nil || perr != nil || r.StatusCode != 200 {
		t.Skipf("the peer does not answer on %s (run ../shared/peers/directus/setup.sh): %v %v", peerURL, err, perr)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is needed (apt-get install wrk)")
	}
	pidB, err := os.ReadFile(filepath.Join(peerDir, "directus", "directus.pid"))
	if err != nil {
		t.Fatal(err)
	}
	peerPID, _ := strconv.Atoi(strings.TrimSpace(string(pidB)))
	peer := &peerClient{url: peerURL, token: strings.TrimSpace(string(token))}

	var profileAddr string
	var serverEnv []string
	if os.Getenv("PEER_PROFILE") == "1" {
		profileAddr = freeAddr(t)
		serverEnv = append(serverEnv, "MEDIAGRAPH_METRICS_ADDR="+profileAddr)
	}
	s := startServer(t, serverEnv...)
	ids := seedPeerCorpus(t, s, filepath.Join(peerDir, "directus", "corpus"))
	dir := t.TempDir()
	mgIDs := filepath.Join(dir, "mg-ids.txt")
	_ = os.WriteFile(mgIDs, []byte(strings.Join(ids, "\n")+"\n"), 0o644)
	dxIDs := filepath.Join(dir, "dx-ids.txt")
	out, err := exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "directus_bench", "-Atc",
		"select id from directus_files where title not like 'upload-bench%' order by md5(id::text)").Output()
	if err != nil {
		t.Fatalf("the peer's ids: %v", err)
	}
	_ = os.WriteFile(dxIDs, out, 0o644)

	runs, _ := strconv.Atoi(envOr("PEER_RUNS", "3"))
	duration := envOr("PEER_DURATION", "15s")
	conns := envOr("PEER_CONNS", "16")
	lua, _ := filepath.Abs(filepath.Join("testdata", "bench", "gql.lua"))
	type side struct {
		rps       []float64
		p50, p99  []string
		rss       float64
		ratioRuns []float64
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n| scenario | mediagraph req/s (min / median / max) | Directus req/s | ratio (min / median / max) | DB-only ceiling | mediagraph p50 / p99 | Directus p50 / p99 |\n|---|---|---|---|---|---|---|\n")
	var mgRSS, dxRSS float64
	only := regexp.MustCompile(os.Getenv("PEER_ONLY"))
	for _, sc := range peerScenarios {
		if !only.MatchString(sc.name) {
			continue
		}
		mgBody := filepath.Join(dir, "mg.json")
		dxBody := filepath.Join(dir, "dx.json")
		writeBody(t, mgBody, sc.mediagraph)
		if b, err := os.ReadFile(filepath.Join(peerQueries, sc.directus)); err != nil {
			t.Fatal(err)
		} else if err := os.WriteFile(dxBody, b, 0o644); err != nil {
			t.Fatal(err)
		}
		wrk := func(url, path, key, body, idsFile, d string) wrkResult {
			cmd := exec.Command("wrk", "-t1", "-c"+conns, "-d"+d, "--latency", "-s", lua, url)
			cmd.Env = append(os.Environ(), "TOKEN="+key, "GQL_PATH="+path, "BODY_FILE="+body, "IDS_FILE="+idsFile)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("wrk: %v\n%s", err, out)
			}
			return parseWrk(t, string(out))
		}
		mgIDsFile, dxIDsFile := "", ""
		if sc.byID {
			mgIDsFile, dxIDsFile = mgIDs, dxIDs
		}
		// Each answers the query correctly first, then warms up.
		checkAnswer(t, s.url+"/graphql", s.key, mgBody, mgIDsFile)
		checkAnswer(t, peerURL+"/graphql/system", peer.token, dxBody, dxIDsFile)
		wrk(s.url, "/graphql", s.key, mgBody, mgIDsFile, "3s")
		wrk(peerURL, "/graphql/system", peer.token, dxBody, dxIDsFile, "3s")
		var mg, dx side
		for range runs {
			stop := s.sampleRSS(t)
			m := wrk(s.url, "/graphql", s.key, mgBody, mgIDsFile, duration)
			mgRSS = max(mgRSS, stop())
			stopPeer := sampleProcRSS(peerPID)
			d := wrk(peerURL, "/graphql/system", peer.token, dxBody, dxIDsFile, duration)
			dxRSS = max(dxRSS, stopPeer())
			if m.non2xx > 0 || d.non2xx > 0 {
				t.Fatalf("non-2xx answers: mediagraph %d, Directus %d", m.non2xx, d.non2xx)
			}
			mg.rps, mg.p50, mg.p99 = append(mg.rps, m.rps), append(mg.p50, m.p50), append(mg.p99, m.p99)
			dx.rps, dx.p50, dx.p99 = append(dx.rps, d.rps), append(dx.p50, d.p50), append(dx.p99, d.p99)
			mg.ratioRuns = append(mg.ratioRuns, m.rps/d.rps)
			t.Logf("%s: mediagraph %.0f req/s, Directus %.0f req/s (%.1f×)", sc.name, m.rps, d.rps, m.rps/d.rps)
		}
		if profileAddr != "" { // one more run, not counted: profiling slows it
			done := make(chan struct{})
			go func() {
				defer close(done)
				cpuProfile(t, profileAddr, filepath.Join(benchDir(t), "peer-"+strings.SplitN(sc.name, ".", 2)[0]+".cpu.pprof"))
			}()
			wrk(s.url, "/graphql", s.key, mgBody, mgIDsFile, "12s")
			<-done
		}
		ceiling := pgCeiling(t, s, sc.mediagraph, sc.byID, ids, conns, duration)
		fmt.Fprintf(&table, "| %s | %s | %s | %s | %s | %s / %s | %s / %s |\n", sc.name, spread(mg.rps, "%.0f"), spread(dx.rps, "%.0f"),
			spread(mg.ratioRuns, "%.1f×"), ceiling, median(mg.p50), median(mg.p99), median(dx.p50), median(dx.p99))
	}
	fmt.Fprintf(&table, "\nServer RSS during the query load (peak of 10 ms samples): mediagraph %.0f MiB, Directus %.0f MiB (%.1f× less).\n",
		mgRSS, dxRSS, dxRSS/mgRSS)
	if envOr("PEER_UPLOADS", "1") == "1" {
		// Directus stores on its local disk: mediagraph on SQLite + disk is
		// the like-for-like comparison, PostgreSQL + S3 the production one.
		table.WriteString(peerUploads(t, startServerOn(t, backends[0]), backends[0].name, peer, peerPID))
		table.WriteString(peerUploads(t, s, backends[1].name, peer, peerPID))
	}
	t.Logf("side by side with Directus (%d alternating runs of %s at %s connections, wrk -t1):%s", runs, duration, conns, table.String())
	_ = os.WriteFile(filepath.Join(benchDir(t), "peer.md"), []byte(table.String()), 0o644)
}

// cpuProfile saves a 10 s CPU profile of the server serving pprof on addr.
func cpuProfile(t *testing.T, addr, path string) {
	res, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=10")
	if err != nil {
		t.Errorf("profile: %v", err)
		return
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		t.Errorf("profile: %v", err)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func writeBody(t *testing.T, path, query string) {
	b, _ := json.Marshal(map[string]any{"query": query})
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkAnswer sends the scenario's request once and fails on errors.
func checkAnswer(t *testing.T, url, key, bodyFile, idsFile string) {
	b, _ := os.ReadFile(bodyFile)
	if idsFile != "" {
		ids, _ := os.ReadFile(idsFile)
		b = bytes.ReplaceAll(b, []byte("$ID"), bytes.Fields(ids)[0])
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || bytes.Contains(raw, []byte(`"errors"`)) || len(raw) < 100 {
		t.Fatalf("%s answers %d: %.300s", url, res.StatusCode, raw)
	}
}

type wrkResult struct {
	rps      float64
	p50, p99 string
	non2xx   int
}

var (
	wrkRPS    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkP50    = regexp.MustCompile(`\n\s+50%\s+(\S+)`)
	wrkP99    = regexp.MustCompile(`\n\s+99%\s+(\S+)`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
)

func parseWrk(t *testing.T, out string) wrkResult {
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("wrk: %s", out)
	}
	var r wrkResult
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkP50.FindStringSubmatch(out); m != nil {
		r.p50 = m[1]
	}
	if m := wrkP99.FindStringSubmatch(out); m != nil {
		r.p99 = m[1]
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(m[1])
	}
	return r
}

func spread(v []float64, format string) string {
	s := slices.Sorted(slices.Values(v))
	return fmt.Sprintf(format+" / "+format+" / "+format, s[0], s[len(s)/2], s[len(s)-1])
}

func median(v []string) string {
	if len(v) == 0 {
		return "-"
	}
	return v[len(v)/2]
}

// sampleProcRSS samples a process's VmRSS every 10 ms until stopped and
// returns the peak, in MiB.
func sampleProcRSS(pid int) (stop func() float64) {
	done := make(chan struct{})
	var peak atomic.Int64
	go func() {
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
						kb, _ := strconv.ParseInt(f[1], 10, 64)
						if kb > peak.Load() {
							peak.Store(kb)
						}
					}
				}
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

// seedPeerCorpus uploads the peer's corpus (files, folders, titles,
// descriptions, tags) into the bucket "bench", 8 at a time, and returns
// the new files' ids, shuffled.
func seedPeerCorpus(t *testing.T, s *procServer, corpus string) []string {
	var manifest []struct {
		File, Type, Title, Description string
		Folder                         int
		Tags                           []string
	}
	raw, err := os.ReadFile(filepath.Join(corpus, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(manifest))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(manifest) {
					return
				}
				m := manifest[i]
				data, err := os.ReadFile(filepath.Join(corpus, m.File))
				if err != nil {
					errs <- err
					return
				}
				input := map[string]any{"bucket": "bench", "path": fmt.Sprintf("/folder-%02d/", m.Folder), "altText": m.Title,
					"caption": m.Description, "tags": m.Tags, "file": nil}
				ct, body := multipartBody(`mutation($i: UploadFileInput!) { uploadFile(input: $i) { id } }`, map[string]any{"i": input},
					map[string]upload{"0": {m.File, m.Type, data}}, map[string][]string{"0": {"variables.i.file"}})
				req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", ct)
				req.Header.Set("Apollo-Require-Preflight", "true")
				req.Header.Set("Authorization", "Bearer "+s.key)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var out struct {
					Data struct {
						UploadFile struct{ ID string } `json:"uploadFile"`
					} `json:"data"`
					Errors []any `json:"errors"`
				}
				err = json.NewDecoder(res.Body).Decode(&out)
				res.Body.Close()
				if err != nil || len(out.Errors) > 0 {
					errs <- fmt.Errorf("seeding %s: %v %v", m.File, err, out.Errors)
					return
				}
				ids[i] = out.Data.UploadFile.ID
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Statistics, as a database in use has them (autovacuum would take a
	// minute to gather them).
	if out, err := exec.Command("psql", s.dbURL, "-qc", "ANALYZE").CombinedOutput(); err != nil {
		t.Fatalf("ANALYZE: %v %s", err, out)
	}
	// The same shuffle for every run.
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(a[len(a)-6:], b[len(b)-6:]) })
	return ids
}

// pgCeiling runs the SQL statements that one request of the scenario
// makes (captured from an in-process server on the same database) under
// pgbench at the same concurrency: what the database alone can serve.
func pgCeiling(t *testing.T, s *procServer, query string, byID bool, ids []string, conns, duration string) string {
	if _, err := exec.LookPath("pgbench"); err != nil {
		return "(no pgbench)"
	}
	e := start(t, backends[1], func(c *Config) { c.DatabaseURL, c.StorageURL = s.dbURL, s.storageURL })
	q := query
	if byID {
		q = strings.ReplaceAll(q, "$ID", ids[0])
	}
	var r *resp
	_, stmts := e.queries.during(func() { r = e.do(s.key, q, nil) })
	if len(r.Errors) > 0 {
		t.Fatalf("in-process: %s", r.raw)
	}
	var script strings.Builder
	for _, st := range stmts {
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(st)), "UPDATE") {
			continue // lastUsedAt, written once a minute
		}
		script.WriteString(strings.ReplaceAll(st, "\n", " ") + ";\n")
	}
	f := filepath.Join(t.TempDir(), "scenario.sql")
	_ = os.WriteFile(f, []byte(script.String()), 0o644)
	secs := strings.TrimSuffix(duration, "s")
	out, err := exec.CommandContext(context.Background(), "pgbench", "-n", "-h", "127.0.0.1", "-U", "postgres", "-M", "prepared",
		"-c", conns, "-j", "1", "-T", secs, "-f", f, s.dbURL).CombinedOutput()
	if err != nil {
		t.Logf("pgbench: %v\n%.2000s\nscript:\n%.3000s", err, out, script.String())
		return "(pgbench failed)"
	}
	m := regexp.MustCompile(`tps = ([\d.]+)`).FindStringSubmatch(string(out))
	if m == nil {
		return "(?)"
	}
	return fmt.Sprintf("%s req/s (%d statements)", strings.Split(m[1], ".")[0], len(stmts))
}

// peerClient talks to Directus's REST API.
type peerClient struct{ url, token string }

func (p *peerClient) do(t *testing.T, method, path string, body any) map[string]any {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, out)
	}
	return out
}

// peerUploads runs the peer's upload phases (200 × 1 MiB and 20 × 50 MiB
// of random bytes, 4 at a time) against both, alternating, and returns the
// table rows; backend names s's database and store.
func peerUploads(t *testing.T, s *procServer, backend string, peer *peerClient, peerPID int) string {
	var b strings.Builder
	b.WriteString("\n| uploads, 4 at a time | mediagraph on " + backend + " MB/s (runs) | Directus MB/s (runs) | ratio (min / median / max) | RSS peak mediagraph / Directus |\n|---|---|---|---|---|\n")
	for _, ph := range []struct {
		mib, n int
	}{{1, 200}, {50, 20}} {
		data := make([]byte, ph.mib<<20)
		_, _ = rand.Read(data)
		var mg, dx, ratios []float64
		var mgPeak, dxPeak float64
		for run := range 3 {
			stop := s.sampleRSS(t)
			mgRate := uploadPhase(t, ph.n, len(data), func(i int) *http.Request {
				return streamingUpload(s.url, s.key, "bench", fmt.Sprintf("up-%d-%d-%d.bin", ph.mib, run, i), int64(len(data)),
					func(w io.Writer) { _, _ = w.Write(data) })
			})
			mgPeak = max(mgPeak, stop())
			stopPeer := sampleProcRSS(peerPID)
			var mu sync.Mutex
			var made []string
			dxRate := uploadPhase(t, ph.n, len(data), func(i int) *http.Request {
				return peerUpload(peer, fmt.Sprintf("upload-bench-%d-%d-%d.bin", ph.mib, run, i), data, &mu, &made)
			})
			dxPeak = max(dxPeak, stopPeer())
			mg, dx, ratios = append(mg, mgRate), append(dx, dxRate), append(ratios, mgRate/dxRate)
			t.Logf("uploads %d × %d MiB: mediagraph on %s %.0f MB/s, Directus %.0f MB/s", ph.n, ph.mib, backend, mgRate, dxRate)
			peerDeleteUploads(t, peer)
		}
		fmt.Fprintf(&b, "| %d × %d MiB | %s | %s | %s | %.0f / %.0f MiB |\n", ph.n, ph.mib, spread(mg, "%.0f"), spread(dx, "%.0f"),
			spread(ratios, "%.2f×"), mgPeak, dxPeak)
	}
	return b.String()
}

// uploadPhase sends n uploads of size bytes, 4 at a time, and returns MB/s
// (10^6 bytes, as the peer's results).
func uploadPhase(t *testing.T, n, size int, newReq func(i int) *http.Request) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	t0 := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				res, err := http.DefaultClient.Do(newReq(i))
				if err != nil {
					failed.Add(1)
					continue
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || bytes.Contains(raw, []byte(`"errors"`)) {
					failed.Add(1)
					t.Logf("upload failed: %d %.200s", res.StatusCode, raw)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d uploads failed", failed.Load())
	}
	return float64(n*size) / 1e6 / time.Since(t0).Seconds()
}

// peerUpload is Directus's REST upload of one file (as the peer's own
// upload-bench.mjs does it: title, then the file part).
func peerUpload(p *peerClient, name string, data []byte, mu *sync.Mutex, made *[]string) *http.Request {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		_ = mw.WriteField("title", "upload-bench "+name)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
		h.Set("Content-Type", "application/octet-stream")
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(data)
		_ = mw.Close()
		_ = pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, p.url+"/files", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+p.token)
	return req
}

// peerDeleteUploads deletes the peer's upload-bench files (not timed).
func peerDeleteUploads(t *testing.T, p *peerClient) {
	out := p.do(t, http.MethodGet, "/files?limit=-1&fields=id&filter[title][_starts_with]=upload-bench", nil)
	var ids []string
	for _, f := range out["data"].([]any) {
		ids = append(ids, f.(map[string]any)["id"].(string))
	}
	if len(ids) > 0 {
		p.do(t, http.MethodDelete, "/files", ids)
	}
}
