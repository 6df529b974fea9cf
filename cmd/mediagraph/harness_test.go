package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/database"
	"github.com/mediagraph/mediagraph/internal/testenv"
	"github.com/mediagraph/mediagraph/media"
	"github.com/mediagraph/mediagraph/server"
	"github.com/mediagraph/mediagraph/storage"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// backend is one database + object store combination the suite runs on.
type backend struct {
	name  string
	setup func(t testing.TB, c *Config)
}

var backends = []backend{
	{"sqlite+disk", func(t testing.TB, c *Config) {}},
	{"postgres+s3", func(t testing.TB, c *Config) {
		c.DatabaseURL = testenv.Postgres(t)
		endpoint, access, secret := testenv.VersityGW(t)
		awsEnv.Do(func() {
			// The server reads credentials from the standard AWS chain.
			os.Setenv("AWS_ACCESS_KEY_ID", access)
			os.Setenv("AWS_SECRET_ACCESS_KEY", secret)
			os.Setenv("AWS_REGION", "us-east-1")
		})
		c.StorageURL = fmt.Sprintf("s3://%s?endpoint=%s&region=us-east-1&path_style=true&checksum=%s",
			uniqueName("mg"), endpoint, checksumMode(t))
	}},
}

var awsEnv sync.Once

// checksumMode alternates the S3 request-checksum setting between tests so
// both paths of the SDK run against the server.
func checksumMode(t testing.TB) string {
	if len(t.Name())%2 == 0 {
		return "when_required"
	}
	return "when_supported"
}

// env is a running mediagraph and an organization with an OWNER key.
type env struct {
	t     *testing.T
	m     *Main
	url   string
	owner string // OWNER key, all scopes
	org   *media.Organization
	// queries counts the queries requests run (see requestQueries).
	queries *requestQueries
	// clock is the server's clock.
	clock *testClock
	// faults makes chosen store calls fail (see faultStore).
	faults *storeFaults
}

// storeFaults are the failures a test injects into the server's store. A
// test sets them here rather than replacing Service.Store, which the
// server's background loops (the event hub, webhook delivery) read.
type storeFaults struct {
	mu         sync.Mutex
	createFile error // CreateFile fails with it, in transactions too
	fileAnyOrg error // FileAnyOrg fails with it
}

// set makes CreateFile and FileAnyOrg fail with these errors (nil: work).
func (f *storeFaults) set(createFile, fileAnyOrg error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.createFile, f.fileAnyOrg = createFile, fileAnyOrg
}

func (f *storeFaults) get() (createFile, fileAnyOrg error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.createFile, f.fileAnyOrg
}

// faultStore is the server's store in tests, installed before the server
// starts: the real one, but for the failures set in faults.
type faultStore struct {
	media.Store
	faults *storeFaults
}

func (s faultStore) InTx(ctx context.Context, fn func(tx media.Store) error) error {
	return s.Store.InTx(ctx, func(tx media.Store) error { return fn(faultStore{tx, s.faults}) })
}

func (s faultStore) CreateFile(ctx context.Context, f *media.File, r *media.Revision) error {
	if err, _ := s.faults.get(); err != nil {
		return err
	}
	return s.Store.CreateFile(ctx, f, r)
}

func (s faultStore) FileAnyOrg(ctx context.Context, id media.ID) (*media.File, error) {
	if _, err := s.faults.get(); err != nil {
		return nil, err
	}
	return s.Store.FileAnyOrg(ctx, id)
}

// testClock is the server's clock in tests: the real time unless a test
// has set a moment. It is installed before the server starts, and tests
// move it while the server's background work reads it.
type testClock struct{ at atomic.Pointer[time.Time] }

func (c *testClock) now() time.Time {
	if at := c.at.Load(); at != nil {
		return *at
	}
	return time.Now()
}

// set stops the clock at t.
func (c *testClock) set(t time.Time) { c.at.Store(&t) }

// reset gives the server the real time again.
func (c *testClock) reset() { c.at.Store(nil) }

// requestQueries counts the statements the server runs for requests
// (those whose context carries a request id), but BEGIN, COMMIT and
// ROLLBACK: the server's background work (the event hub, webhook delivery)
// is left out. It is added once, before the server starts: bun's hooks may
// not be added while queries run.
type requestQueries struct {
	mu  sync.Mutex
	n   int
	sql []string
}

func (h *requestQueries) BeforeQuery(ctx context.Context, ev *bun.QueryEvent) context.Context {
	q := strings.TrimSpace(ev.Query)
	if server.RequestID(ctx) == "" || q == "BEGIN" || q == "COMMIT" || q == "ROLLBACK" {
		return ctx
	}
	h.mu.Lock()
	h.n++
	h.sql = append(h.sql, q)
	h.mu.Unlock()
	return ctx
}

func (h *requestQueries) AfterQuery(context.Context, *bun.QueryEvent) {}

// during returns how many statements fn's requests ran, and their SQL.
func (h *requestQueries) during(fn func()) (int, []string) {
	h.mu.Lock()
	h.n, h.sql = 0, nil
	h.mu.Unlock()
	fn()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n, slices.Clone(h.sql)
}

// fewest runs fn three times and returns the fewest statements a run
// made: a loader batch can split when a goroutine is scheduled late, which
// only ever adds queries; N+1 would show as growth in every run.
func (h *requestQueries) fewest(fn func()) int {
	least := -1
	for range 3 {
		if n, _ := h.during(fn); least < 0 || n < least {
			least = n
		}
	}
	return least
}

// each runs fn once per backend, each time against a fresh server.
func each(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := start(t, b)
			// Runs after the test's own cleanups (LIFO), before the server stops.
			t.Cleanup(e.checkInvariants)
			fn(t, e)
		})
	}
}

// start runs a fresh server on backend b; tweaks change its configuration.
func start(t *testing.T, b backend, tweaks ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	m := &Main{Stdout: io.Discard, Stderr: testWriter{t}}
	m.Config = Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: "false", Migrate: true,
		LogFormat: "text", LogLevel: "warn", SigningSecret: "test-secret-test-secret-test-secret",
		MaxUploadSize: 100 << 20, MaxBodyBytes: 4 << 20, MaxUploadMemory: 1 << 20, MaxUploadFiles: 5,
		MaxImagePixels: 40_000_000, SweepInterval: 0, WebhookAllowNetworks: "127.0.0.0/8",
		// A wide batch window: the race detector slows goroutines down, and
		// the query-count tests assert exact counts.
		LoaderWait: 10 * time.Millisecond}
	b.setup(t, &m.Config)
	for _, tweak := range tweaks {
		tweak(&m.Config)
	}
	if err := m.Config.resolve(); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	queries, clock, faults := &requestQueries{}, &testClock{}, &storeFaults{}
	m.DB.Bun().AddQueryHook(queries)
	m.Service.Now = clock.now
	m.Service.Store = faultStore{m.Service.Store, faults}
	if s3, ok := m.Blobs.(*storage.S3); ok {
		if err := s3.EnsureBucket(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.Serve() }()
	t.Cleanup(func() {
		_ = m.HTTP.Close()
		_ = m.Close()
	})
	e := &env{t: t, m: m, url: "http://" + m.Listener.Addr().String(), queries: queries, clock: clock, faults: faults}
	key, org, err := m.Service.Bootstrap(ctx, "acme", "owner@acme.test", media.AllScopes)
	if err != nil {
		t.Fatal(err)
	}
	e.owner, e.org = key.Key, org
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// gqlError is one error of a response.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// resp is a GraphQL response.
type resp struct {
	Status int
	Data   map[string]any
	Errors []gqlError
	raw    []byte
}

func (r *resp) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// do posts a JSON GraphQL request with key (none if "").
func (e *env) do(key, query string, vars map[string]any) *resp {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return e.post(key, "application/json", bytes.NewReader(body), nil)
}

func (e *env) post(key, contentType string, body io.Reader, header http.Header) *resp {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/graphql", body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header[k] = v
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) *resp {
	e.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	r := e.decode(res)
	for _, ge := range r.Errors {
		if ge.Extensions["code"] == nil {
			e.t.Errorf("error without extensions.code: %s", r.raw)
		}
	}
	return r
}

// decode reads a GraphQL response, which must be JSON, and closes it.
func (e *env) decode(res *http.Response) *resp {
	e.t.Helper()
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &resp{Status: res.StatusCode, raw: raw}
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("response is not JSON (status %d): %.300s", res.StatusCode, raw)
	}
	r.Data, r.Errors = out.Data, out.Errors
	return r
}

// ok runs a request that must succeed and returns its data.
func (e *env) ok(key, query string, vars map[string]any) map[string]any {
	e.t.Helper()
	r := e.do(key, query, vars)
	if len(r.Errors) > 0 || r.Status != 200 {
		e.t.Fatalf("unexpected errors (status %d): %s", r.Status, r.raw)
	}
	return r.Data
}

// fails runs a request that must fail with code.
func (e *env) fails(code, key, query string, vars map[string]any) *resp {
	e.t.Helper()
	r := e.do(key, query, vars)
	if r.code() != code {
		e.t.Fatalf("want %s, got status %d: %s", code, r.Status, r.raw)
	}
	return r
}

// upload is one file of a multipart request.
type upload struct {
	name, contentType string
	data              []byte
}

// multipartBody builds a graphql-multipart-request-spec body: operations,
// then map, then the files, each in its own part.
func multipartBody(query string, vars map[string]any, files map[string]upload, mapping map[string][]string) (string, []byte) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	ops, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	_ = w.WriteField("operations", string(ops))
	m, _ := json.Marshal(mapping)
	_ = w.WriteField("map", string(m))
	for key, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, key, f.name))
		ct := f.contentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.Set("Content-Type", ct)
		p, _ := w.CreatePart(h)
		_, _ = p.Write(f.data)
	}
	_ = w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

// multipart posts a multipart request with the CSRF preflight header.
func (e *env) multipart(key, query string, vars map[string]any, files map[string]upload, mapping map[string][]string) *resp {
	e.t.Helper()
	ct, body := multipartBody(query, vars, files, mapping)
	return e.post(key, ct, bytes.NewReader(body), http.Header{"Apollo-Require-Preflight": {"true"}})
}

const uploadMutation = `mutation($input: UploadFileInput!) { uploadFile(input: $input) {
  id name originalName path mimeType type size checksumSha256 width height visibility tags revision
  bucket { name } createdBy { id email } metadata altText } }`

// upload uploads one file to bucket through multipart and returns the response.
func (e *env) upload(key, bucket string, f upload, extra map[string]any) *resp {
	e.t.Helper()
	input := map[string]any{"bucket": bucket, "file": nil}
	for k, v := range extra {
		input[k] = v
	}
	return e.multipart(key, uploadMutation, map[string]any{"input": input},
		map[string]upload{"0": f}, map[string][]string{"0": {"variables.input.file"}})
}

// mustUpload uploads and returns the file object.
func (e *env) mustUpload(key, bucket string, f upload, extra map[string]any) map[string]any {
	e.t.Helper()
	r := e.upload(key, bucket, f, extra)
	if len(r.Errors) > 0 || r.Status != 200 {
		e.t.Fatalf("upload failed (status %d): %s", r.Status, r.raw)
	}
	return r.Data["uploadFile"].(map[string]any)
}

func (e *env) createBucket(key string, input map[string]any) map[string]any {
	e.t.Helper()
	d := e.ok(key, `mutation($i: CreateBucketInput!) { createBucket(input: $i) { id name access defaultVisibility maxFileSize allowedMimeTypes quotaBytes typeLimits { type maxSize } } }`,
		map[string]any{"i": input})
	return d["createBucket"].(map[string]any)
}

// newKey makes a key with scopes for a user: for the owner (userID "")
// through createApiKey; for another user as the operator's CLI does
// (mediagraph keys create --user), since keys an admin makes for others
// never carry content scopes.
func (e *env) newKey(scopes []string, userID string) string {
	e.t.Helper()
	if userID != "" {
		ctx := context.Background()
		us, err := e.m.DB.UsersByIDs(ctx, e.org.ID, []media.ID{media.ID(userID)})
		if err != nil || len(us) != 1 {
			e.t.Fatalf("user %s: %v", userID, err)
		}
		key, _, err := e.m.Service.Bootstrap(ctx, e.org.Name, us[0].Email, scopes)
		if err != nil {
			e.t.Fatal(err)
		}
		return key.Key
	}
	in := map[string]any{"name": "test", "scopes": scopes}
	d := e.ok(e.owner, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { id prefix scopes } } }`, map[string]any{"i": in})
	return d["createApiKey"].(map[string]any)["key"].(string)
}

// member adds a user with role to the test organization and returns its id.
func (e *env) member(email string, role media.Role) string {
	e.t.Helper()
	u, err := e.m.Service.BootstrapUser(context.Background(), e.org.Name, email, role)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(u.ID)
}

// otherOrg makes a second organization and returns an OWNER key of it.
func (e *env) otherOrg() string {
	e.t.Helper()
	key, _, err := e.m.Service.Bootstrap(context.Background(), "globex", "owner@globex.test", media.AllScopes)
	if err != nil {
		e.t.Fatal(err)
	}
	return key.Key
}

// objects lists every stored object key.
func (e *env) objects() []media.BlobInfo {
	e.t.Helper()
	var out []media.BlobInfo
	if err := e.m.Blobs.List(context.Background(), "", func(b media.BlobInfo) error {
		out = append(out, b)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// checkInvariants asserts CONTRACT rule 10 after every test: every blob row
// is READY and its bytes exist, and every stored object has a row.
func (e *env) checkInvariants() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, v := range storeViolations(ctx, e.t, e.m.DB.Bun(), e.m.Blobs, time.Now().Add(time.Hour)) {
		e.t.Errorf("invariant: %s", v)
	}
	for _, v := range folderViolations(ctx, e.t, e.m.DB.Bun()) {
		e.t.Errorf("invariant: %s", v)
	}
	for _, v := range searchViolations(ctx, e.t, e.m.DB) {
		e.t.Errorf("invariant: %s", v)
	}
}

// checkFolders fails the test where the folders disagree with the files.
func (e *env) checkFolders(t testing.TB) {
	t.Helper()
	for _, v := range folderViolations(context.Background(), t, e.m.DB.Bun()) {
		t.Errorf("folders: %s", v)
	}
}

// folderViolations recomputes every folder from the files (the live files
// at or below it, and the explicit folders there) and lists where the
// folders table says otherwise; no staged change may be left over.
func folderViolations(ctx context.Context, t testing.TB, db *bun.DB) []string {
	t.Helper()
	type count struct {
		org            string
		files, markers int
		size           int64
	}
	want := map[[2]string]*count{}
	add := func(org, bucket, path string, files int, size int64, markers int) {
		for i := 1; i < len(path); i++ {
			if path[i] != '/' {
				continue
			}
			k := [2]string{bucket, path[:i+1]}
			if want[k] == nil {
				want[k] = &count{org: org}
			}
			want[k].files += files
			want[k].size += size
			want[k].markers += markers
		}
	}
	var files []struct {
		OrgID    string `bun:"org_id"`
		BucketID string `bun:"bucket_id"`
		Path     string `bun:"path"`
		Size     int64  `bun:"size"`
	}
	if err := db.NewSelect().Table("files").Column("org_id", "bucket_id", "path", "size").Where("trashed_at IS NULL").
		Scan(ctx, &files); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		add(f.OrgID, f.BucketID, f.Path, 1, f.Size, 0)
	}
	var rows []struct {
		OrgID     string  `bun:"org_id"`
		BucketID  string  `bun:"bucket_id"`
		Path      string  `bun:"path"`
		Parent    string  `bun:"parent"`
		FileCount int     `bun:"file_count"`
		Size      int64   `bun:"size"`
		Markers   int     `bun:"markers"`
		Explicit  int     `bun:"explicit"`
		BucketOrg *string `bun:"bucket_org"`
	}
	if err := db.NewSelect().TableExpr("folders AS fo").
		ColumnExpr("fo.org_id, fo.bucket_id, fo.path, fo.parent, fo.file_count, fo.size, fo.markers, fo.explicit, b.org_id AS bucket_org").
		Join("LEFT JOIN buckets AS b ON b.id = fo.bucket_id").Scan(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		if r.Explicit != 0 && r.Explicit != 1 {
			out = append(out, fmt.Sprintf("folder %s of %s: explicit = %d", r.Path, r.BucketID, r.Explicit))
		}
		if r.Explicit == 1 {
			add(r.OrgID, r.BucketID, r.Path, 0, 0, 1)
		}
	}
	seen := map[[2]string]bool{}
	for _, r := range rows {
		k := [2]string{r.BucketID, r.Path}
		seen[k] = true
		w := want[k]
		parent := r.Path[:strings.LastIndexByte(strings.TrimSuffix(r.Path, "/"), '/')+1]
		switch {
		case r.BucketOrg == nil || *r.BucketOrg != r.OrgID:
			out = append(out, fmt.Sprintf("folder %s of %s: organization %s, bucket's %v", r.Path, r.BucketID, r.OrgID, r.BucketOrg))
		case w == nil:
			out = append(out, fmt.Sprintf("folder %s of %s exists with %d files, %d bytes, %d explicit; nothing is there",
				r.Path, r.BucketID, r.FileCount, r.Size, r.Markers))
		case w.files != r.FileCount || w.size != r.Size || w.markers != r.Markers || r.Parent != parent || w.org != r.OrgID:
			out = append(out, fmt.Sprintf("folder %s of %s: %d files, %d bytes, %d explicit, parent %s; want %d, %d, %d, %s",
				r.Path, r.BucketID, r.FileCount, r.Size, r.Markers, r.Parent, w.files, w.size, w.markers, parent))
		}
	}
	for k, w := range want {
		if !seen[k] {
			out = append(out, fmt.Sprintf("folder %s of %s is missing (%d files, %d bytes)", k[1], k[0], w.files, w.size))
		}
	}
	var staged int
	if err := db.NewRaw("SELECT count(*) FROM folder_changes").Scan(ctx, &staged); err != nil {
		t.Fatal(err)
	}
	if staged > 0 {
		out = append(out, fmt.Sprintf("%d staged folder changes left", staged))
	}
	return out
}

// searchViolations lists where the search index disagrees with the rows:
// a file whose tags_text is not its tags, and on SQLite an FTS index that
// does not match the files' text (FTS5's integrity-check against its
// content table).
func searchViolations(ctx context.Context, t testing.TB, db *database.DB) []string {
	t.Helper()
	agg := "string_agg(t.tag, ' ' ORDER BY t.tag)"
	if db.Dialect() == database.SQLite {
		agg = "(SELECT group_concat(tag, ' ') FROM (SELECT t2.tag FROM file_tags AS t2 WHERE t2.file_id = f.id ORDER BY t2.tag))"
	}
	var drift []string
	if err := db.Bun().NewRaw(`SELECT f.id FROM files AS f LEFT JOIN file_tags AS t ON t.file_id = f.id
		GROUP BY f.id, f.tags_text HAVING f.tags_text <> coalesce(`+agg+`, '')`).Scan(ctx, &drift); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, id := range drift {
		out = append(out, "file "+id+": tags_text is not its tags")
	}
	if db.Dialect() == database.SQLite {
		if _, err := db.Bun().ExecContext(ctx, "INSERT INTO file_search (file_search, rank) VALUES ('integrity-check', 1)"); err != nil {
			out = append(out, "the FTS index does not match the files: "+err.Error())
		}
	}
	return out
}

// storeViolations lists where the database and the object store disagree:
// a blob row without its bytes, a blob left PENDING since before
// pendingBefore, a stored object (or thumbnail) no row owns, a multipart
// upload no open session owns.
func storeViolations(ctx context.Context, t testing.TB, db *bun.DB, blobs media.Blobs, pendingBefore time.Time) []string {
	t.Helper()
	type row struct {
		ID         string    `bun:"id"`
		StorageKey string    `bun:"storage_key"`
		State      string    `bun:"state"`
		CreatedAt  time.Time `bun:"created_at"`
	}
	var rows []row
	if err := db.NewSelect().Table("blobs").Column("id", "storage_key", "state", "created_at").Scan(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	var out []string
	keys := map[string]bool{}
	for _, r := range rows {
		keys[r.StorageKey] = true
		if r.State != string(media.BlobReady) && r.CreatedAt.Before(pendingBefore) {
			out = append(out, fmt.Sprintf("blob %s left in state %s", r.ID, r.State))
		}
		if _, err := blobs.Stat(ctx, r.StorageKey); err != nil && r.State == string(media.BlobReady) {
			out = append(out, fmt.Sprintf("blob %s has no bytes: %v", r.ID, err))
		}
	}
	var open []string
	if err := db.NewSelect().Table("upload_sessions").Column("storage_key").
		Where("state = ?", media.SessionOpen).Scan(ctx, &open); err != nil {
		t.Fatal(err)
	}
	sessions := map[string]bool{}
	for _, k := range open {
		sessions[k] = true
	}
	if err := blobs.List(ctx, "", func(o media.BlobInfo) error {
		// Thumbnails and variants live next to the blob they were rendered from.
		owner, _, _ := strings.Cut(o.Key, ".thumb-")
		if !keys[owner] && !sessions[o.Key] {
			out = append(out, fmt.Sprintf("stored object %s has no blob row", o.Key))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := blobs.ListMultipart(ctx, "", func(m media.MultipartInfo) error {
		if !sessions[m.Key] {
			out = append(out, fmt.Sprintf("multipart upload of %s belongs to no open session", m.Key))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }

// uniqueName returns prefix and 12 random hex digits.
func uniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}
