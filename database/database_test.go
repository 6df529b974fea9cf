package database

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/mediagraph/mediagraph/media"
)

// The same tests run on SQLite (in t.TempDir) and on PostgreSQL (a fresh
// database on 127.0.0.1:5432, dropped afterwards). Without PostgreSQL the
// PostgreSQL half is skipped, or fails when CI=true.

const pgAdminDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// eachDB runs fn against a fresh, migrated database of each dialect.
func eachDB(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, openMigrated(t, sqliteTestDSN(t))) })
	t.Run("postgres", func(t *testing.T) { fn(t, openMigrated(t, pgTestDSN(t))) })
}

func sqliteTestDSN(t *testing.T) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
}

// pgTestDSN creates an empty database mg_dbtest_<random> and returns its URL.
func pgTestDSN(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(pgAdminDSN)))
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is not reachable on 127.0.0.1:5432: %v", err)
		}
		t.Skipf("PostgreSQL is not reachable on 127.0.0.1:5432: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "mg_dbtest_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	return "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
}

func openDB(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if os.Getenv("MG_SQL_DEBUG") != "" {
		db.Bun().AddQueryHook(printHook{t})
	}
	return db
}

func openMigrated(t *testing.T, dsn string) *DB {
	t.Helper()
	db := openDB(t, dsn)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

type printHook struct{ t *testing.T }

func (h printHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (h printHook) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	h.t.Logf("SQL: %s (err=%v)", e.Query, e.Err)
}

// countHook counts queries while on.
type countHook struct {
	on atomic.Bool
	n  atomic.Int64
}

func (h *countHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (h *countHook) AfterQuery(context.Context, *bun.QueryEvent) {
	if h.on.Load() {
		h.n.Add(1)
	}
}

func (h *countHook) count(fn func()) int {
	h.n.Store(0)
	h.on.Store(true)
	fn()
	h.on.Store(false)
	return int(h.n.Load())
}

// Fixtures.

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)

type fixture struct {
	t      *testing.T
	ctx    context.Context
	db     *DB
	org    *media.Organization
	user   *media.User
	bucket *media.Bucket
}

func newFixture(t *testing.T, db *DB) *fixture {
	t.Helper()
	fx := &fixture{t: t, ctx: context.Background(), db: db}
	fx.org = &media.Organization{ID: media.NewID(media.PrefixOrganization, t0), Name: "org-" + randHex(), CreatedAt: t0}
	fx.must(db.CreateOrganization(fx.ctx, fx.org))
	fx.user = fx.newUser("owner-" + randHex() + "@example.com")
	fx.bucket = fx.newBucket("photos")
	return fx
}

func randHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (fx *fixture) must(err error) {
	fx.t.Helper()
	if err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *fixture) newUser(email string) *media.User {
	fx.t.Helper()
	u := &media.User{ID: media.NewID(media.PrefixUser, t0), OrgID: fx.org.ID, Email: email, Name: "Ünïcode Name",
		Role: media.RoleOwner, CreatedAt: t0}
	fx.must(fx.db.CreateUser(fx.ctx, u))
	return u
}

func (fx *fixture) newBucket(name string) *media.Bucket {
	fx.t.Helper()
	b := &media.Bucket{ID: media.NewID(media.PrefixBucket, t0), OrgID: fx.org.ID, Name: name,
		Access: media.AccessOrganization, DefaultVisibility: media.VisibilityPrivate,
		AllowedMimeTypes: []string{}, TypeLimits: map[media.FileType]int64{}, CreatedAt: t0, UpdatedAt: t0}
	fx.must(fx.db.CreateBucket(fx.ctx, b))
	return b
}

func (fx *fixture) newBlob(size int64) *media.Blob {
	fx.t.Helper()
	id := media.NewID(media.PrefixBlob, t0)
	b := &media.Blob{ID: id, OrgID: fx.org.ID, StorageKey: string(fx.org.ID) + "/" + string(id),
		State: media.BlobReady, Size: size, Sha256: strings.Repeat("ab", 32), MimeType: "image/png", CreatedAt: t0}
	fx.must(fx.db.CreateBlob(fx.ctx, b))
	return b
}

// newFile creates a file with a new blob and revision 1, after mod.
func (fx *fixture) newFile(mod func(f *media.File)) *media.File {
	fx.t.Helper()
	f := &media.File{ID: media.NewID(media.PrefixFile, t0), OrgID: fx.org.ID, BucketID: fx.bucket.ID, Path: "/",
		Name: "file-" + randHex() + ".png", OriginalName: "orig.png", MimeType: "image/png", Type: media.TypeImage,
		Size: 100, Visibility: media.VisibilityPrivate, Metadata: map[string]any{}, Revision: 1,
		CreatedAt: t0, UpdatedAt: t0, CreatedBy: &fx.user.ID, UpdatedBy: &fx.user.ID}
	if mod != nil {
		mod(f)
	}
	blob := fx.newBlob(f.Size)
	f.BlobID, f.Sha256 = blob.ID, blob.Sha256
	fx.must(fx.db.CreateFile(fx.ctx, f, fx.revision(f, 1, blob)))
	return f
}

func (fx *fixture) revision(f *media.File, n int, blob *media.Blob) *media.Revision {
	return &media.Revision{ID: media.NewID(media.PrefixRevision, t0), OrgID: f.OrgID, FileID: f.ID, Number: n,
		BlobID: blob.ID, Size: blob.Size, MimeType: blob.MimeType, Sha256: blob.Sha256, CreatedAt: f.CreatedAt,
		CreatedBy: f.CreatedBy}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := media.ErrorCode(err); got != code {
		t.Fatalf("error code = %s, want %s (err: %v)", got, code, err)
	}
	if msg := media.ErrorMessage(err); regexp.MustCompile(`(?i)\b(select|insert|update|delete|where)\b`).MatchString(msg) {
		t.Fatalf("error message %q looks like SQL", msg)
	}
}

func ptr[T any](v T) *T { return &v }

// Tests.

func TestSQLiteDSN(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:/data/mg.db":          "file:/data/mg.db?" + sqlitePragmas,
		"sqlite:///data/mg.db":        "file:/data/mg.db?" + sqlitePragmas,
		"sqlite:rel/mg.db?cache=priv": "file:rel/mg.db?cache=priv&" + sqlitePragmas,
		"file:/x%20y.db?mode=rwc":     "file:/x%20y.db?mode=rwc&" + sqlitePragmas,
		"/tmp/a b?#%.db":              "file:/tmp/a b%3f%23%25.db?" + sqlitePragmas,
		"mg.db":                       "file:mg.db?" + sqlitePragmas,
	} {
		got, err := sqliteDSN(in)
		if err != nil || got != want {
			t.Errorf("sqliteDSN(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"mysql://x", "sqlite:", "file:"} {
		if _, err := sqliteDSN(bad); err == nil {
			t.Errorf("sqliteDSN(%q) succeeded", bad)
		}
	}
	_, err := Open(context.Background(), "postgres://user:s3cret@127.0.0.1:5432/db?no_such_option=1")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open with a bad option: %v", err)
	}
	_, err = Open(context.Background(), "postgres://user:s3cret@127.0.0.1:5432/db\x7f")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open with a bad URL: %v", err)
	}
}

func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{":memory:", "sqlite::memory:", filepath.Join(dir, "plain.db"),
		"file:" + filepath.Join(dir, "uri.db"), "sqlite://" + filepath.Join(dir, "url.db")} {
		db := openMigrated(t, dsn)
		fx := newFixture(t, db)
		if _, err := db.Organization(context.Background(), fx.org.ID); err != nil {
			t.Errorf("%s: %v", dsn, err)
		}
	}
	for _, name := range []string{"plain.db", "uri.db", "url.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable")
	wantCode(t, err, media.EUNAVAILABLE)
}

func TestWrap(t *testing.T) {
	wantCode(t, wrap(sql.ErrNoRows, "file"), media.ENOTFOUND)
	if got := media.ErrorMessage(wrap(sql.ErrNoRows, "file")); got != "file not found" {
		t.Errorf("message = %q", got)
	}
	wantCode(t, wrap(fmt.Errorf("x: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}), "file"), media.EUNAVAILABLE)
	wantCode(t, wrap(context.DeadlineExceeded, "file"), media.EUNAVAILABLE)
	plain := errors.New("boom")
	err := wrap(plain, "file")
	wantCode(t, err, media.EINTERNAL)
	if !errors.Is(err, plain) {
		t.Errorf("internal error does not wrap its cause: %v", err)
	}
	me := media.Errorf(media.EQUOTA, "full")
	if wrap(me, "file") != me {
		t.Error("a media error was rewrapped")
	}
	if wrap(nil, "file") != nil {
		t.Error("wrap(nil) != nil")
	}
}

// allVersions lists the migrations, in order (the same set per dialect).
var allVersions = []string{"0001_init", "0002_lifecycle", "0003_content", "0004_sessions_media", "0005_policy", "0006_events",
	"0007_folders", "0008_search", "0009_name_statistics"}

func TestMigrate(t *testing.T) {
	test := func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := openDB(t, dsn)
		applied, err := db.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(applied, allVersions) {
			t.Fatalf("applied = %v", applied)
		}
		applied, err = db.Migrate(ctx)
		if err != nil || len(applied) != 0 {
			t.Fatalf("second Migrate = %v, %v; want nothing", applied, err)
		}
		n, err := db.Bun().NewSelect().Table("schema_migrations").Count(ctx)
		if err != nil || n != int64(len(allVersions)) {
			t.Fatalf("schema_migrations has %d rows, %v", n, err)
		}
	}
	t.Run("sqlite", func(t *testing.T) { test(t, sqliteTestDSN(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, pgTestDSN(t)) })
}

// TestMigrateConcurrent starts two *DB migrating one fresh database at once:
// both succeed and each migration is applied once.
func TestMigrateConcurrent(t *testing.T) {
	test := func(t *testing.T, dsn string) {
		ctx := context.Background()
		dbs := []*DB{openDB(t, dsn), openDB(t, dsn)}
		applied := make([][]string, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, db := range dbs {
			wg.Go(func() { applied[i], errs[i] = db.Migrate(ctx) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		all := append(slices.Clone(applied[0]), applied[1]...)
		if !slices.Equal(all, allVersions) {
			t.Fatalf("applied %v and %v; want each of %v once", applied[0], applied[1], allVersions)
		}
		n, err := dbs[0].Bun().NewSelect().Table("schema_migrations").Count(ctx)
		if err != nil || n != int64(len(allVersions)) {
			t.Fatalf("schema_migrations has %d rows, %v", n, err)
		}
	}
	t.Run("sqlite", func(t *testing.T) { test(t, sqliteTestDSN(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, pgTestDSN(t)) })
}

// TestMigrateStatements checks that several statements per file work with
// and without "-- split", that SQL is sent as written (no placeholder
// formatting), and that a failing migration leaves nothing behind.
func TestMigrateStatements(t *testing.T) {
	test := func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := openDB(t, dsn)
		d := db.Dialect()
		fsys := fstest.MapFS{
			d + "/0001_a.sql": {Data: []byte(`-- two statements at once; a question mark? in a comment
CREATE TABLE a1 (id INTEGER PRIMARY KEY, note TEXT);
INSERT INTO a1 (id, note) VALUES (1, 'what?');
-- split
CREATE TABLE a2 (id INTEGER PRIMARY KEY);
-- split
-- only a comment
`)},
		}
		applied, err := db.migrate(ctx, fsys)
		if err != nil || !slices.Equal(applied, []string{"0001_a"}) {
			t.Fatalf("migrate = %v, %v", applied, err)
		}
		var note string
		if err := db.Bun().NewRaw("SELECT note FROM a1 WHERE id = 1").Scan(ctx, &note); err != nil || note != "what?" {
			t.Fatalf("a1 note = %q, %v", note, err)
		}
		fsys[d+"/0002_bad.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE b1 (id INTEGER PRIMARY KEY);
INSERT INTO a1 (id, note) VALUES (2, 'x');
-- split
SELECT * FROM no_such_table;
`)}
		fsys[d+"/0003_later.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE c1 (id INTEGER PRIMARY KEY);`)}
		applied, err = db.migrate(ctx, fsys)
		if err == nil || !strings.Contains(err.Error(), "0002_bad") || len(applied) != 0 {
			t.Fatalf("migrate with a bad migration = %v, %v", applied, err)
		}
		var n int
		if err := db.Bun().NewRaw("SELECT count(*) FROM a1").Scan(ctx, &n); err != nil || n != 1 {
			t.Fatalf("a1 has %d rows (%v): the failed migration was not rolled back", n, err)
		}
		for _, table := range []string{"b1", "c1"} {
			if _, err := db.Bun().NewRaw("SELECT count(*) FROM " + table).Exec(ctx); err == nil {
				t.Fatalf("table %s exists", table)
			}
		}
		delete(fsys, d+"/0002_bad.sql")
		applied, err = db.migrate(ctx, fsys)
		if err != nil || !slices.Equal(applied, []string{"0003_later"}) {
			t.Fatalf("migrate after the fix = %v, %v", applied, err)
		}
		fsys[d+"/2_bad_name.sql"] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		if _, err := db.migrate(ctx, fsys); err == nil {
			t.Fatal("a badly named migration was accepted")
		}
	}
	t.Run("sqlite", func(t *testing.T) { test(t, sqliteTestDSN(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, pgTestDSN(t)) })
}

func TestSQLiteSettings(t *testing.T) {
	ctx := context.Background()
	db := openMigrated(t, sqliteTestDSN(t))
	if db.Dialect() != SQLite {
		t.Fatalf("dialect = %s", db.Dialect())
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000", "synchronous": "1",
	} {
		var got string
		if err := db.Bun().NewRaw("PRAGMA "+pragma).Scan(ctx, &got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
	if n := db.Bun().DB.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("MaxOpenConnections = %d", n)
	}
	fx := newFixture(t, db)
	var stored string
	if err := db.Bun().NewRaw("SELECT created_at FROM organizations WHERE id = ?", fx.org.ID).Scan(ctx, &stored); err != nil {
		t.Fatal(err)
	}
	if stored != "2026-03-04T05:06:07.123456Z" {
		t.Errorf("stored time = %q", stored)
	}
}

func TestRoundTrips(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		fx := newFixture(t, db)

		// Organizations.
		org, err := db.Organization(ctx, fx.org.ID)
		fx.must(err)
		if !reflect.DeepEqual(org, fx.org) {
			t.Errorf("Organization = %+v, want %+v", org, fx.org)
		}
		org, err = db.OrganizationByName(ctx, fx.org.Name)
		fx.must(err)
		if !reflect.DeepEqual(org, fx.org) {
			t.Errorf("OrganizationByName = %+v", org)
		}
		orgs, err := db.ListOrganizations(ctx)
		fx.must(err)
		if !slices.ContainsFunc(orgs, func(o *media.Organization) bool { return reflect.DeepEqual(o, fx.org) }) {
			t.Errorf("ListOrganizations = %v", orgs)
		}
		_, err = db.Organization(ctx, media.NewID(media.PrefixOrganization, t0))
		wantCode(t, err, media.ENOTFOUND)

		// Users.
		u, err := db.UserByEmail(ctx, fx.org.ID, strings.ToUpper(fx.user.Email))
		fx.must(err)
		if !reflect.DeepEqual(u, fx.user) {
			t.Errorf("UserByEmail = %+v, want %+v", u, fx.user)
		}
		us, err := db.UsersByIDs(ctx, fx.org.ID, []media.ID{fx.user.ID, "usr_nothing"})
		fx.must(err)
		if len(us) != 1 || !reflect.DeepEqual(us[0], fx.user) {
			t.Errorf("UsersByIDs = %v", us)
		}
		if us, err := db.UsersByIDs(ctx, fx.org.ID, nil); err != nil || len(us) != 0 {
			t.Errorf("UsersByIDs(nil) = %v, %v", us, err)
		}

		// API keys.
		used := t0.Add(time.Hour)
		k := &media.APIKey{ID: media.NewID(media.PrefixAPIKey, t0), OrgID: fx.org.ID, UserID: fx.user.ID, Name: "ci",
			Prefix: "sk_abcd", Hash: randHex() + randHex(), Scopes: []string{"media:read", "admin"}, CreatedAt: t0,
			LastUsedAt: &used}
		fx.must(db.CreateAPIKey(ctx, k))
		gotK, gotU, err := db.APIKeyByHash(ctx, k.Hash)
		fx.must(err)
		if !reflect.DeepEqual(gotK, k) || !reflect.DeepEqual(gotU, fx.user) {
			t.Errorf("APIKeyByHash = %+v, %+v; want %+v, %+v", gotK, gotU, k, fx.user)
		}
		gotK, err = db.APIKey(ctx, fx.org.ID, k.ID)
		fx.must(err)
		if !reflect.DeepEqual(gotK, k) {
			t.Errorf("APIKey = %+v", gotK)
		}
		_, _, err = db.APIKeyByHash(ctx, "nope")
		wantCode(t, err, media.ENOTFOUND)
		k2 := &media.APIKey{ID: media.NewID(media.PrefixAPIKey, t0), OrgID: fx.org.ID, UserID: fx.user.ID,
			Hash: randHex(), CreatedAt: t0}
		fx.must(db.CreateAPIKey(ctx, k2))
		gotK, err = db.APIKey(ctx, fx.org.ID, k2.ID)
		fx.must(err)
		if gotK.Scopes == nil || len(gotK.Scopes) != 0 || gotK.LastUsedAt != nil || gotK.RevokedAt != nil {
			t.Errorf("key without scopes = %+v", gotK)
		}

		// Buckets.
		b := &media.Bucket{ID: media.NewID(media.PrefixBucket, t0), OrgID: fx.org.ID, Name: "docs",
			Access: media.AccessRestricted, DefaultVisibility: media.VisibilityPublic, MaxFileSize: ptr[int64](5 << 20),
			AllowedMimeTypes: []string{"image/*", "application/pdf"},
			TypeLimits:       map[media.FileType]int64{media.TypeImage: 1 << 20, media.TypeVideo: 1 << 40},
			QuotaBytes:       ptr[int64](1 << 50), CreatedAt: t0, UpdatedAt: t0.Add(time.Second)}
		fx.must(db.CreateBucket(ctx, b))
		gotB, err := db.BucketByName(ctx, fx.org.ID, "docs")
		fx.must(err)
		if !reflect.DeepEqual(gotB, b) {
			t.Errorf("BucketByName = %+v, want %+v", gotB, b)
		}
		b.MaxFileSize, b.QuotaBytes, b.AllowedMimeTypes, b.TypeLimits = nil, nil, []string{}, map[media.FileType]int64{}
		b.Access, b.DefaultVisibility, b.UpdatedAt = media.AccessOrganization, media.VisibilityPrivate, t0.Add(time.Minute)
		b.Name = "ignored" // UpdateBucket does not rename
		fx.must(db.UpdateBucket(ctx, b))
		b.Name = "docs"
		gotBs, err := db.BucketsByIDs(ctx, fx.org.ID, []media.ID{b.ID})
		fx.must(err)
		if len(gotBs) != 1 || !reflect.DeepEqual(gotBs[0], b) {
			t.Errorf("after UpdateBucket: %+v, want %+v", gotBs, b)
		}
		fx.must(db.InTx(ctx, func(tx media.Store) error {
			gotB, err := tx.LockBucket(ctx, fx.org.ID, b.ID)
			if err == nil && !reflect.DeepEqual(gotB, b) {
				t.Errorf("LockBucket = %+v", gotB)
			}
			return err
		}))
		fx.newBucket("archive")
		list, err := db.ListBuckets(ctx, fx.org.ID, "", 0)
		fx.must(err)
		if names := bucketNames(list); !slices.Equal(names, []string{"archive", "docs", "photos"}) {
			t.Errorf("ListBuckets = %v", names)
		}
		list, err = db.ListBuckets(ctx, fx.org.ID, "archive", 1)
		fx.must(err)
		if names := bucketNames(list); !slices.Equal(names, []string{"docs"}) {
			t.Errorf("ListBuckets after archive = %v", names)
		}
		if n, err := db.CountBuckets(ctx, fx.org.ID); err != nil || n != 3 {
			t.Errorf("CountBuckets = %d, %v", n, err)
		}
		fx.must(db.DeleteBucket(ctx, fx.org.ID, b.ID))
		_, err = db.BucketByName(ctx, fx.org.ID, "docs")
		wantCode(t, err, media.ENOTFOUND)
		wantCode(t, db.DeleteBucket(ctx, fx.org.ID, b.ID), media.ENOTFOUND)
		wantCode(t, db.UpdateBucket(ctx, b), media.ENOTFOUND)

		// Blobs.
		blob := &media.Blob{ID: media.NewID(media.PrefixBlob, t0), OrgID: fx.org.ID, StorageKey: "k/" + randHex(),
			State: media.BlobPending, Size: 42, MimeType: "video/mp4", CreatedAt: t0}
		fx.must(db.CreateBlob(ctx, blob))
		blob.State, blob.Sha256 = media.BlobReady, strings.Repeat("0f", 32)
		blob.Width, blob.Height, blob.Duration = ptr(1920), ptr(1080), ptr(12.345678901234)
		fx.must(db.UpdateBlob(ctx, blob))
		gotBlob, err := db.Blob(ctx, fx.org.ID, blob.ID)
		fx.must(err)
		if !reflect.DeepEqual(gotBlob, blob) {
			t.Errorf("blob = %+v, want %+v", gotBlob, blob)
		}
		wantCode(t, db.UpdateBlob(ctx, &media.Blob{ID: "blob_nothing"}), media.ENOTFOUND)

		// Files, with every nullable field set, then with none.
		trashed, purge := t0.Add(2*time.Hour), t0.Add(30*24*time.Hour)
		full := fx.newFile(func(f *media.File) {
			f.Path, f.Name, f.OriginalName = "/a/b/", "Été 2026.png", "Été 2026 (1).PNG"
			f.Width, f.Height, f.Duration = ptr(640), ptr(480), ptr(0.1)
			f.Visibility = media.VisibilityPublic
			f.AltText, f.Caption, f.Copyright = ptr("alt"), ptr(""), ptr("© me")
			f.Metadata = map[string]any{"s": "x", "n": 1.5, "b": true, "l": []any{"a", 2.0},
				"o": map[string]any{"k": nil}}
			f.Tags = []string{"sunset", "beach", "sunset"}
			f.LegalHold = true
			f.TrashedAt, f.PurgeAt = &trashed, &purge
			f.CreatedAt, f.UpdatedAt = t0, t0.Add(time.Microsecond)
		})
		bare := fx.newFile(func(f *media.File) {
			f.Metadata, f.CreatedBy, f.UpdatedBy = nil, nil, nil
			f.CreatedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		})
		gotF, err := db.File(ctx, fx.org.ID, full.ID)
		fx.must(err)
		want := *full
		want.Tags = []string{"beach", "sunset"} // sorted, once each
		if !reflect.DeepEqual(gotF, &want) {
			t.Errorf("File =\n%+v\nwant\n%+v", gotF, &want)
		}
		gotFs, err := db.FilesByIDs(ctx, fx.org.ID, []media.ID{bare.ID, "file_nothing"})
		fx.must(err)
		want = *bare
		want.Metadata = map[string]any{}
		want.Tags = []string{}
		if len(gotFs) != 1 || !reflect.DeepEqual(gotFs[0], &want) {
			t.Errorf("FilesByIDs = %+v, want %+v", gotFs, &want)
		}
		_, err = db.File(ctx, fx.org.ID, "file_nothing")
		wantCode(t, err, media.ENOTFOUND)
		tags, err := db.TagsByFileIDs(ctx, fx.org.ID, []media.ID{full.ID, bare.ID, "file_nothing"})
		fx.must(err)
		if !reflect.DeepEqual(tags, map[media.ID][]string{full.ID: {"beach", "sunset"}}) {
			t.Errorf("TagsByFileIDs = %v", tags)
		}

		var rev revisionRow
		fx.must(db.Bun().NewSelect().Model(&rev).Where("r.file_id = ?", full.ID).Scan(ctx))
		if rev.Number != 1 || rev.BlobID != full.BlobID || rev.Size != full.Size || !rev.CreatedAt.Equal(full.CreatedAt) ||
			rev.CreatedBy == nil || *rev.CreatedBy != fx.user.ID {
			t.Errorf("revision = %+v", rev)
		}

		for _, tc := range []struct {
			path, name string
			taken      bool
		}{{"/a/b/", "Été 2026.png", false}, {"/", bare.Name, true}, {"/", "other", false}, {"/a/", bare.Name, false}} {
			fs, err := db.FilesAt(ctx, fx.org.ID, []media.FilePlace{{BucketID: fx.bucket.ID, Path: tc.path, Name: tc.name}})
			if err != nil || (len(fs) == 1) != tc.taken {
				t.Errorf("FilesAt(%q, %q) = %v, %v", tc.path, tc.name, fs, err)
			}
		}
	})
}

func bucketNames(bs []*media.Bucket) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

func TestAPIKeyRevokeAndTouch(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		fx := newFixture(t, db)
		k := &media.APIKey{ID: media.NewID(media.PrefixAPIKey, t0), OrgID: fx.org.ID, UserID: fx.user.ID,
			Hash: randHex(), Scopes: []string{}, CreatedAt: t0}
		fx.must(db.CreateAPIKey(ctx, k))
		at := t0.Add(time.Minute)
		fx.must(db.RevokeAPIKey(ctx, fx.org.ID, k.ID, at))
		fx.must(db.RevokeAPIKey(ctx, fx.org.ID, k.ID, at.Add(time.Hour))) // no change
		wantCode(t, db.RevokeAPIKey(ctx, fx.org.ID, "key_nothing", at), media.ENOTFOUND)

		fx.must(db.TouchAPIKey(ctx, k.ID, at.Add(2*time.Minute)))
		fx.must(db.TouchAPIKey(ctx, k.ID, at.Add(time.Minute))) // older: ignored
		fx.must(db.TouchAPIKey(ctx, "key_nothing", at))
		got, err := db.APIKey(ctx, fx.org.ID, k.ID)
		fx.must(err)
		if got.RevokedAt == nil || !got.RevokedAt.Equal(at) || got.LastUsedAt == nil || !got.LastUsedAt.Equal(at.Add(2*time.Minute)) {
			t.Errorf("key = %+v", got)
		}
	})
}

func TestTenantScoping(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a, b := newFixture(t, db), newFixture(t, db)
		fileB := b.newFile(func(f *media.File) { f.Tags = []string{"x"} })
		keyB := &media.APIKey{ID: media.NewID(media.PrefixAPIKey, t0), OrgID: b.org.ID, UserID: b.user.ID,
			Hash: randHex(), CreatedAt: t0}
		b.must(db.CreateAPIKey(ctx, keyB))

		_, err := db.File(ctx, a.org.ID, fileB.ID)
		wantCode(t, err, media.ENOTFOUND)
		if fs, err := db.FilesByIDs(ctx, a.org.ID, []media.ID{fileB.ID}); err != nil || len(fs) != 0 {
			t.Errorf("FilesByIDs across orgs = %v, %v", fs, err)
		}
		_, err = db.BucketByName(ctx, a.org.ID, "photos-does-not-exist")
		wantCode(t, err, media.ENOTFOUND)
		if bs, err := db.BucketsByIDs(ctx, a.org.ID, []media.ID{b.bucket.ID}); err != nil || len(bs) != 0 {
			t.Errorf("BucketsByIDs across orgs = %v, %v", bs, err)
		}
		err = db.InTx(ctx, func(tx media.Store) error {
			_, err := tx.LockBucket(ctx, a.org.ID, b.bucket.ID)
			return err
		})
		wantCode(t, err, media.ENOTFOUND)
		if us, err := db.UsersByIDs(ctx, a.org.ID, []media.ID{b.user.ID}); err != nil || len(us) != 0 {
			t.Errorf("UsersByIDs across orgs = %v, %v", us, err)
		}
		_, err = db.UserByEmail(ctx, a.org.ID, b.user.Email)
		wantCode(t, err, media.ENOTFOUND)
		_, err = db.APIKey(ctx, a.org.ID, keyB.ID)
		wantCode(t, err, media.ENOTFOUND)
		wantCode(t, db.RevokeAPIKey(ctx, a.org.ID, keyB.ID, t0), media.ENOTFOUND)
		stolen := *b.bucket
		stolen.OrgID, stolen.QuotaBytes = a.org.ID, ptr[int64](1)
		wantCode(t, db.UpdateBucket(ctx, &stolen), media.ENOTFOUND)
		wantCode(t, db.DeleteBucket(ctx, a.org.ID, b.bucket.ID), media.ENOTFOUND)
		_, err = db.DeleteFiles(ctx, a.org.ID, []media.ID{fileB.ID})
		wantCode(t, err, media.ENOTFOUND)
		if ids, err := db.DeleteBucketFiles(ctx, a.org.ID, b.bucket.ID); err != nil || len(ids) != 0 {
			t.Errorf("DeleteBucketFiles across orgs = %v, %v", ids, err)
		}
		if tags, err := db.TagsByFileIDs(ctx, a.org.ID, []media.ID{fileB.ID}); err != nil || len(tags) != 0 {
			t.Errorf("TagsByFileIDs across orgs = %v, %v", tags, err)
		}
		q := media.FileQuery{OrgID: a.org.ID, BucketID: &b.bucket.ID, Filter: media.FileFilter{Trashed: media.TrashInclude}}
		if fs, err := db.ListFiles(ctx, q); err != nil || len(fs) != 0 {
			t.Errorf("ListFiles across orgs = %v, %v", fs, err)
		}
		if n, err := db.CountFiles(ctx, q); err != nil || n != 0 {
			t.Errorf("CountFiles across orgs = %v, %v", n, err)
		}
		if u, err := db.BucketUsage(ctx, a.org.ID, b.bucket.ID); err != nil || u != (media.BucketUsage{}) {
			t.Errorf("BucketUsage across orgs = %+v, %v", u, err)
		}

		// B's rows are untouched.
		if _, err := db.File(ctx, b.org.ID, fileB.ID); err != nil {
			t.Errorf("file of B: %v", err)
		}
		k, err := db.APIKey(ctx, b.org.ID, keyB.ID)
		if err != nil || k.RevokedAt != nil {
			t.Errorf("key of B = %+v, %v", k, err)
		}
		bk, err := db.BucketByName(ctx, b.org.ID, b.bucket.Name)
		if err != nil || bk.QuotaBytes != nil {
			t.Errorf("bucket of B = %+v, %v", bk, err)
		}
	})
}

func TestConflicts(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		fx, other := newFixture(t, db), newFixture(t, db)

		wantCode(t, db.CreateOrganization(ctx, &media.Organization{ID: media.NewID(media.PrefixOrganization, t0),
			Name: fx.org.Name, CreatedAt: t0}), media.ECONFLICT)
		wantCode(t, db.CreateOrganization(ctx, fx.org), media.ECONFLICT) // same id

		dupUser := &media.User{ID: media.NewID(media.PrefixUser, t0), OrgID: fx.org.ID,
			Email: strings.ToUpper(fx.user.Email), Role: media.RoleMember, CreatedAt: t0}
		wantCode(t, db.CreateUser(ctx, dupUser), media.ECONFLICT)
		dupUser.OrgID = other.org.ID // another organization may have the address
		fx.must(db.CreateUser(ctx, dupUser))

		k := &media.APIKey{ID: media.NewID(media.PrefixAPIKey, t0), OrgID: fx.org.ID, UserID: fx.user.ID,
			Hash: randHex(), CreatedAt: t0}
		fx.must(db.CreateAPIKey(ctx, k))
		k.ID = media.NewID(media.PrefixAPIKey, t0)
		wantCode(t, db.CreateAPIKey(ctx, k), media.ECONFLICT)

		dupBucket := *fx.newBucket("only-" + randHex())
		dupBucket.ID = media.NewID(media.PrefixBucket, t0)
		wantCode(t, db.CreateBucket(ctx, &dupBucket), media.ECONFLICT)
		other.newBucket(dupBucket.Name) // another organization may have the name

		blob := fx.newBlob(1)
		dupBlob := *blob
		dupBlob.ID = media.NewID(media.PrefixBlob, t0)
		wantCode(t, db.CreateBlob(ctx, &dupBlob), media.ECONFLICT)

		f := fx.newFile(func(f *media.File) { f.Path, f.Name = "/x/", "same.png" })
		dup := *f
		dup.ID = media.NewID(media.PrefixFile, t0)
		err := db.CreateFile(ctx, &dup, fx.revision(&dup, 1, blob))
		wantCode(t, err, media.ECONFLICT)
		if _, err := db.File(ctx, fx.org.ID, dup.ID); !media.IsNotFound(err) {
			t.Errorf("the conflicting file was half created: %v", err)
		}
		// Trashed files and other folders do not hold the name.
		trashed := fx.newFile(func(f *media.File) { f.Path, f.Name, f.TrashedAt = "/x/", "same.png", ptr(t0) })
		fx.newFile(func(f *media.File) { f.Path, f.Name = "/y/", "same.png" })
		_ = trashed
		wantCode(t, db.CreateFile(ctx, f, nil), media.ECONFLICT) // same id
	})
}

// TestNameRace has two transactions check a name and insert it at once: the
// unique index turns the loser into CONFLICT.
func TestNameRace(t *testing.T) {
	db := openMigrated(t, pgTestDSN(t))
	ctx := context.Background()
	fx := newFixture(t, db)
	var checked sync.WaitGroup
	checked.Add(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		blob := fx.newBlob(10)
		f := &media.File{ID: media.NewID(media.PrefixFile, t0), OrgID: fx.org.ID, BucketID: fx.bucket.ID, Path: "/",
			Name: "race.png", Type: media.TypeImage, Visibility: media.VisibilityPrivate, Revision: 1, BlobID: blob.ID,
			CreatedAt: t0, UpdatedAt: t0}
		wg.Go(func() {
			errs[i] = db.InTx(ctx, func(tx media.Store) error {
				taken, err := tx.FilesAt(ctx, f.OrgID, []media.FilePlace{{BucketID: f.BucketID, Path: f.Path, Name: f.Name}})
				checked.Done()
				if err != nil || len(taken) > 0 {
					return fmt.Errorf("taken = %v, %v", taken, err)
				}
				checked.Wait()
				return tx.CreateFile(ctx, f, fx.revision(f, 1, blob))
			})
		})
	}
	wg.Wait()
	codes := []string{media.ErrorCode(errs[0]), media.ErrorCode(errs[1])}
	if errs[0] == nil {
		codes[0] = "OK"
	}
	if errs[1] == nil {
		codes[1] = "OK"
	}
	slices.Sort(codes)
	if !slices.Equal(codes, []string{media.ECONFLICT, "OK"}) {
		t.Fatalf("results = %v, %v", errs[0], errs[1])
	}
}

// TestLockBucket checks that LockBucket holds the row on PostgreSQL: a
// second locker waits, and gives up with UNAVAILABLE when its context ends.
func TestLockBucket(t *testing.T) {
	db := openMigrated(t, pgTestDSN(t))
	ctx := context.Background()
	fx := newFixture(t, db)
	locked, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- db.InTx(ctx, func(tx media.Store) error {
			if _, err := tx.LockBucket(ctx, fx.org.ID, fx.bucket.ID); err != nil {
				close(locked)
				return err
			}
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := db.InTx(short, func(tx media.Store) error {
		_, err := tx.LockBucket(short, fx.org.ID, fx.bucket.ID)
		return err
	})
	wantCode(t, err, media.EUNAVAILABLE)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fx.must(db.InTx(ctx, func(tx media.Store) error {
		_, err := tx.LockBucket(ctx, fx.org.ID, fx.bucket.ID)
		return err
	}))
}

func TestInTx(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		fx := newFixture(t, db)
		errFail := media.Errorf(media.EQUOTA, "nope")
		var orgID media.ID
		err := db.InTx(ctx, func(tx media.Store) error {
			o := &media.Organization{ID: media.NewID(media.PrefixOrganization, t0), Name: randHex(), CreatedAt: t0}
			orgID = o.ID
			if err := tx.CreateOrganization(ctx, o); err != nil {
				return err
			}
			if _, err := tx.Organization(ctx, o.ID); err != nil { // visible inside
				return err
			}
			return errFail
		})
		if err != errFail {
			t.Fatalf("InTx returned %v, want fn's error unchanged", err)
		}
		_, err = db.Organization(ctx, orgID)
		wantCode(t, err, media.ENOTFOUND)

		// Nested: the inner failure rolls back the inner part only.
		var kept, dropped media.ID
		fx.must(db.InTx(ctx, func(tx media.Store) error {
			kept = fx.newBucketIn(tx, "kept").ID
			err := tx.InTx(ctx, func(tx media.Store) error {
				dropped = fx.newBucketIn(tx, "dropped").ID
				return errFail
			})
			if err != errFail {
				t.Errorf("nested InTx = %v", err)
			}
			return tx.Ping(ctx)
		}))
		bs, err := db.BucketsByIDs(ctx, fx.org.ID, []media.ID{kept, dropped})
		fx.must(err)
		if len(bs) != 1 || bs[0].ID != kept {
			t.Errorf("after nested InTx: %v", bucketNames(bs))
		}
	})
}

func (fx *fixture) newBucketIn(s media.Store, name string) *media.Bucket {
	fx.t.Helper()
	b := &media.Bucket{ID: media.NewID(media.PrefixBucket, t0), OrgID: fx.org.ID, Name: name,
		Access: media.AccessOrganization, DefaultVisibility: media.VisibilityPrivate, CreatedAt: t0, UpdatedAt: t0}
	fx.must(s.CreateBucket(fx.ctx, b))
	return b
}

func TestBucketUsage(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		fx := newFixture(t, db)
		if u, err := db.BucketUsage(ctx, fx.org.ID, fx.bucket.ID); err != nil || u != (media.BucketUsage{}) {
			t.Fatalf("empty bucket usage = %+v, %v", u, err)
		}
		fx.newFile(func(f *media.File) { f.Size = 100 })
		fx.newFile(func(f *media.File) { f.Size = 20 })
		fx.newFile(func(f *media.File) { f.Size = 7; f.TrashedAt = ptr(t0) })
		// A file at revision 2 (30 bytes) whose revision 1 had 1000.
		two := fx.newFile(func(f *media.File) { f.Size = 1000 })
		b2 := fx.newBlob(30)
		fx.must(db.InTx(ctx, func(tx media.Store) error {
			d := tx.(*DB)
			if _, err := d.idb.NewInsert().Model(newRevisionRow(fx.revision(two, 2, b2))).Exec(ctx); err != nil {
				return err
			}
			_, err := d.idb.NewUpdate().Model((*fileRow)(nil)).Set("revision = 2, size = 30, blob_id = ?", b2.ID).
				Where("f.id = ?", two.ID).Exec(ctx)
			return err
		}))
		// Another bucket and another organization do not count.
		fx.newFile(func(f *media.File) { f.BucketID = fx.newBucket("other").ID; f.Size = 5000 })
		newFixture(t, db).newFile(func(f *media.File) { f.Size = 9000 })

		u, err := db.BucketUsage(ctx, fx.org.ID, fx.bucket.ID)
		fx.must(err)
		want := media.BucketUsage{FileCount: 3, LiveBytes: 150, TrashedBytes: 7, RevisionBytes: 1000}
		if u != want {
			t.Errorf("usage = %+v, want %+v", u, want)
		}
	})
}

func TestDeleteFileAndBlobs(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		fx := newFixture(t, db)
		// f has revisions 1 (shared with g) and 2; g uses b1 too.
		f := fx.newFile(func(f *media.File) { f.Tags = []string{"a", "b"} })
		b1 := f.BlobID
		b2 := fx.newBlob(5)
		fx.must(db.InTx(ctx, func(tx media.Store) error {
			d := tx.(*DB)
			if _, err := d.idb.NewInsert().Model(newRevisionRow(fx.revision(f, 2, b2))).Exec(ctx); err != nil {
				return err
			}
			_, err := d.idb.NewUpdate().Model((*fileRow)(nil)).Set("revision = 2, blob_id = ?", b2.ID).
				Where("f.id = ?", f.ID).Exec(ctx)
			return err
		}))
		g := fx.newFile(nil)
		fx.must(db.InTx(ctx, func(tx media.Store) error {
			_, err := tx.(*DB).idb.NewInsert().Model(&revisionRow{ID: media.NewID(media.PrefixRevision, t0),
				OrgID: fx.org.ID, FileID: g.ID, Number: 2, BlobID: b1, CreatedAt: t0}).Exec(ctx)
			return err
		}))

		var ids []media.ID
		fx.must(db.InTx(ctx, func(tx media.Store) error {
			var err error
			ids, err = tx.DeleteFiles(ctx, fx.org.ID, []media.ID{f.ID})
			return err
		}))
		want := []media.ID{b1, b2.ID}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("DeleteFile = %v, want %v", ids, want)
		}
		if claimed := claimAll(t, db, ids); !slices.Equal(claimed, []media.ID{b2.ID}) {
			t.Errorf("claimed %v, want only %s", claimed, b2.ID)
		}
		var n int
		fx.must(db.Bun().NewRaw("SELECT count(*) FROM file_revisions WHERE file_id = ?", f.ID).Scan(ctx, &n))
		fx.must(db.Bun().NewRaw("SELECT count(*) + ? FROM file_tags WHERE file_id = ?", n, f.ID).Scan(ctx, &n))
		if n != 0 {
			t.Errorf("%d revisions and tags left", n)
		}
		_, err := db.DeleteFiles(ctx, fx.org.ID, []media.ID{f.ID})
		wantCode(t, err, media.ENOTFOUND)

		// A used blob row cannot be deleted; an unused one can, twice.
		if err := db.DeleteBlobs(ctx, []media.ID{b1}); err == nil {
			t.Error("deleted a blob a revision uses")
		}
		fx.must(db.DeleteBlobs(ctx, []media.ID{b2.ID}))
		fx.must(db.DeleteBlobs(ctx, []media.ID{b2.ID}))

		// The whole bucket.
		h := fx.newFile(func(f *media.File) { f.TrashedAt = ptr(t0) })
		ids, err = db.DeleteBucketFiles(ctx, fx.org.ID, fx.bucket.ID)
		fx.must(err)
		want = []media.ID{b1, g.BlobID, h.BlobID}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("DeleteBucketFiles = %v, want %v", ids, want)
		}
		if claimed := claimAll(t, db, ids); !slices.Equal(claimed, want) {
			t.Errorf("claimed after DeleteBucketFiles = %v, want %v", claimed, want)
		}
		fx.must(db.DeleteBucket(ctx, fx.org.ID, fx.bucket.ID))
	})
}

func TestStalePendingBlobs(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		fx := newFixture(t, db)
		old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
		var pending []media.ID
		for i := range 3 {
			b := &media.Blob{ID: media.NewID(media.PrefixBlob, old), OrgID: fx.org.ID, StorageKey: randHex(),
				State: media.BlobPending, CreatedAt: old.Add(time.Duration(2-i) * time.Microsecond)}
			fx.must(db.CreateBlob(ctx, b))
			pending = append([]media.ID{b.ID}, pending...) // oldest first
		}
		fx.must(db.CreateBlob(ctx, &media.Blob{ID: media.NewID(media.PrefixBlob, old), OrgID: fx.org.ID,
			StorageKey: randHex(), State: media.BlobReady, CreatedAt: old}))
		fx.must(db.CreateBlob(ctx, &media.Blob{ID: media.NewID(media.PrefixBlob, old), OrgID: fx.org.ID,
			StorageKey: randHex(), State: media.BlobPending, CreatedAt: old.Add(time.Hour)}))
		got, err := db.StalePendingBlobs(ctx, old.Add(time.Minute), 2)
		fx.must(err)
		if ids := blobIDs(got); !slices.Equal(ids, pending[:2]) {
			t.Errorf("StalePendingBlobs = %v, want %v", ids, pending[:2])
		}
		got, err = db.StalePendingBlobs(ctx, old.Add(2*time.Microsecond), 10)
		fx.must(err)
		if ids := blobIDs(got); !slices.Equal(ids, pending[:2]) {
			t.Errorf("StalePendingBlobs before the newest = %v, want %v", ids, pending[:2])
		}
	})
}

func blobIDs(bs []*media.Blob) []media.ID {
	var out []media.ID
	for _, b := range bs {
		out = append(out, b.ID)
	}
	return out
}

// The listing tests compare every query with the same query done in Go over
// the whole data set.

type listCase struct {
	name   string
	bucket bool // restrict to the main bucket
	filter media.FileFilter
}

func listCases(fx *fixture, user2 media.ID) []listCase {
	T := func(s int) *time.Time { return ptr(t0.Add(time.Duration(s) * time.Second)) }
	return []listCase{
		{name: "all in bucket", bucket: true},
		{name: "all in organization"},
		{name: "root folder", bucket: true, filter: media.FileFilter{Path: ptr("/")}},
		{name: "folder", bucket: true, filter: media.FileFilter{Path: ptr("/photos/")}},
		{name: "folder without bucket", filter: media.FileFilter{Path: ptr("/photos/")}},
		{name: "subtree", bucket: true, filter: media.FileFilter{PathPrefix: ptr("/photos/")}},
		{name: "subtree without slash", bucket: true, filter: media.FileFilter{PathPrefix: ptr("/photos")}},
		{name: "subtree with underscore", bucket: true, filter: media.FileFilter{PathPrefix: ptr("/a_b/")}},
		{name: "subtree with percent", bucket: true, filter: media.FileFilter{PathPrefix: ptr("/a%/")}},
		{name: "subtree of root", bucket: true, filter: media.FileFilter{PathPrefix: ptr("/")}},
		{name: "name ascii", bucket: true, filter: media.FileFilter{NameContains: ptr("BEACH")}},
		{name: "name unicode", bucket: true, filter: media.FileFilter{NameContains: ptr("ÉTÉ")}},
		{name: "name percent underscore", bucket: true, filter: media.FileFilter{NameContains: ptr("%_")}},
		{name: "name underscore", bucket: true, filter: media.FileFilter{NameContains: ptr("_")}},
		{name: "name backslash", bucket: true, filter: media.FileFilter{NameContains: ptr(`\`)}},
		{name: "tags any", bucket: true, filter: media.FileFilter{TagsAny: []string{"sunset", "dog"}}},
		{name: "tags all", bucket: true, filter: media.FileFilter{TagsAll: []string{"sunset", "beach"}}},
		{name: "tags all missing", bucket: true, filter: media.FileFilter{TagsAll: []string{"sunset", "nothing"}}},
		{name: "tags any and all", filter: media.FileFilter{TagsAny: []string{"dog", "beach"}, TagsAll: []string{"sunset"}}},
		{name: "types", bucket: true, filter: media.FileFilter{Types: []media.FileType{media.TypeDocument, media.TypeVideo}}},
		{name: "mime types", bucket: true, filter: media.FileFilter{MimeTypes: []string{"image/png", "text/plain"}}},
		{name: "created range", bucket: true, filter: media.FileFilter{CreatedAfter: T(3), CreatedBefore: T(6)}},
		{name: "updated range", bucket: true, filter: media.FileFilter{UpdatedAfter: T(100), UpdatedBefore: T(103)}},
		{name: "created by", bucket: true, filter: media.FileFilter{CreatedBy: &user2}},
		{name: "visibility", bucket: true, filter: media.FileFilter{Visibility: ptr(media.VisibilityPublic)}},
		{name: "trashed only", bucket: true, filter: media.FileFilter{Trashed: media.TrashOnly}},
		{name: "trashed included", bucket: true, filter: media.FileFilter{Trashed: media.TrashInclude}},
		{name: "trashed excluded", bucket: true, filter: media.FileFilter{Trashed: media.TrashExclude}},
		{name: "combined", filter: media.FileFilter{PathPrefix: ptr("/photos/"), TagsAny: []string{"sunset", "dog"},
			Types: []media.FileType{media.TypeImage}, Trashed: media.TrashInclude, CreatedAfter: T(1)}},
	}
}

// matches is the Go version of filterFiles.
func matches(f *media.File, tags []string, q media.FileQuery) bool {
	flt := q.Filter
	lower := strings.ToLower
	switch {
	case f.OrgID != q.OrgID,
		q.BucketID != nil && f.BucketID != *q.BucketID,
		flt.Path != nil && f.Path != *flt.Path,
		flt.PathPrefix != nil && !strings.HasPrefix(f.Path, strings.TrimSuffix(*flt.PathPrefix, "/")+"/"),
		flt.NameContains != nil && !strings.Contains(lower(f.Name), lower(*flt.NameContains)),
		len(flt.TagsAny) > 0 && !slices.ContainsFunc(flt.TagsAny, func(t string) bool { return slices.Contains(tags, t) }),
		len(flt.TagsAll) > 0 && slices.ContainsFunc(flt.TagsAll, func(t string) bool { return !slices.Contains(tags, t) }),
		len(flt.Types) > 0 && !slices.Contains(flt.Types, f.Type),
		len(flt.MimeTypes) > 0 && !slices.Contains(flt.MimeTypes, f.MimeType),
		flt.CreatedAfter != nil && f.CreatedAt.Before(*flt.CreatedAfter),
		flt.CreatedBefore != nil && !f.CreatedAt.Before(*flt.CreatedBefore),
		flt.UpdatedAfter != nil && f.UpdatedAt.Before(*flt.UpdatedAfter),
		flt.UpdatedBefore != nil && !f.UpdatedAt.Before(*flt.UpdatedBefore),
		flt.CreatedBy != nil && (f.CreatedBy == nil || *f.CreatedBy != *flt.CreatedBy),
		flt.Visibility != nil && f.Visibility != *flt.Visibility,
		(flt.Trashed == "" || flt.Trashed == media.TrashExclude) && f.TrashedAt != nil,
		flt.Trashed == media.TrashOnly && f.TrashedAt == nil:
		return false
	}
	return true
}

func compareFiles(a, b *media.File, field media.FileOrderField) int {
	var c int
	switch field {
	case media.OrderCreatedAt:
		c = a.CreatedAt.Compare(b.CreatedAt)
	case media.OrderUpdatedAt:
		c = a.UpdatedAt.Compare(b.UpdatedAt)
	case media.OrderName:
		c = strings.Compare(a.Name, b.Name)
	case media.OrderSize:
		c = cmp.Compare(a.Size, b.Size)
	}
	return cmp.Or(c, strings.Compare(string(a.ID), string(b.ID)))
}

func keyOf(f *media.File, field media.FileOrderField) *media.FileKey {
	k := &media.FileKey{ID: f.ID, Name: f.Name, Size: f.Size, Time: f.CreatedAt, Relevance: f.Relevance}
	if field == media.OrderUpdatedAt {
		k.Time = f.UpdatedAt
	}
	return k
}

func ids(fs []*media.File) []media.ID {
	out := make([]media.ID, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}

// listData creates the files the listing tests query.
func listData(t *testing.T, db *DB) (fx *fixture, all []*media.File, tags map[media.ID][]string, user2 media.ID) {
	fx = newFixture(t, db)
	user2 = fx.newUser("second@example.com").ID
	other := fx.newBucket("other")
	tags = map[media.ID][]string{}
	type spec struct {
		path, name, mime string
		typ              media.FileType
		size             int64
		created, updated int // seconds after t0
		tags             []string
		public, trashed  bool
		by2, otherBucket bool
	}
	specs := []spec{
		{"/", "Beach.JPG", "image/jpeg", media.TypeImage, 300, 0, 100, []string{"beach", "sunset"}, true, false, false, false},
		{"/", "beach-2.jpg", "image/jpeg", media.TypeImage, 300, 1, 101, []string{"beach"}, false, false, false, false},
		{"/photos/", "Été.png", "image/png", media.TypeImage, 10, 2, 101, []string{"sunset"}, false, false, true, false},
		{"/photos/", "été-bis.png", "image/png", media.TypeImage, 20, 3, 102, []string{"dog", "sunset"}, true, false, false, false},
		{"/photos/2024/", "100%_done.txt", "text/plain", media.TypeDocument, 5, 3, 102, nil, false, false, false, false},
		{"/photos/2024/", "100x_done.txt", "text/plain", media.TypeDocument, 5, 4, 103, []string{"dog"}, false, true, false, false},
		{"/photos_old/", "zebra.mp4", "video/mp4", media.TypeVideo, 9000, 5, 104, []string{"sunset", "beach"}, false, false, true, false},
		{"/photosX/", "Zebra.mp4", "video/mp4", media.TypeVideo, 1, 6, 100, nil, true, false, false, false},
		{"/a_b/", "a.png", "image/png", media.TypeImage, 70, 7, 105, []string{"dog"}, false, false, false, false},
		{"/axb/", "b.png", "image/png", media.TypeImage, 70, 7, 105, nil, false, false, false, false},
		{"/a%/", "c.png", "image/png", media.TypeImage, 71, 8, 106, nil, false, true, false, false},
		{"/a%/", "c.png", "image/png", media.TypeImage, 71, 9, 106, []string{"sunset"}, false, false, false, false},
		{"/photos/", "in-other.png", "image/png", media.TypeImage, 12, 2, 101, []string{"sunset", "dog"}, false, false, false, true},
		{"/", "upper-É.PNG", "image/png", media.TypeImage, 13, 10, 107, []string{"beach"}, false, true, true, true},
	}
	for _, s := range specs {
		f := fx.newFile(func(f *media.File) {
			f.Path, f.Name, f.MimeType, f.Type, f.Size = s.path, s.name, s.mime, s.typ, s.size
			f.CreatedAt = t0.Add(time.Duration(s.created) * time.Second)
			f.UpdatedAt = t0.Add(time.Duration(s.updated) * time.Second)
			f.Tags = s.tags
			if s.public {
				f.Visibility = media.VisibilityPublic
			}
			if s.trashed {
				f.TrashedAt = ptr(t0)
			}
			if s.by2 {
				f.CreatedBy = &user2
			}
			if s.otherBucket {
				f.BucketID = other.ID
			}
		})
		all = append(all, f)
		tags[f.ID] = s.tags
	}
	// Another organization's files never show.
	newFixture(t, db).newFile(func(f *media.File) { f.Name, f.Tags = "Beach.JPG", []string{"sunset"} })
	return fx, all, tags, user2
}

func TestListFiles(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		fx, all, tags, user2 := listData(t, db)
		fields := []media.FileOrderField{media.OrderCreatedAt, media.OrderUpdatedAt, media.OrderName, media.OrderSize}
		nonEmpty := 0
		for _, lc := range listCases(fx, user2) {
			q := media.FileQuery{OrgID: fx.org.ID, Filter: lc.filter}
			if lc.bucket {
				q.BucketID = &fx.bucket.ID
			}
			var want []*media.File
			for _, f := range all {
				if matches(f, tags[f.ID], q) {
					want = append(want, f)
				}
			}
			if len(want) > 0 {
				nonEmpty++
			}
			n, err := db.CountFiles(ctx, q)
			if err != nil || n != len(want) {
				t.Errorf("%s: CountFiles = %d, %v; want %d", lc.name, n, err, len(want))
			}
			for _, field := range fields {
				for _, dir := range []media.OrderDirection{media.Asc, media.Desc} {
					q := q
					q.Order = media.FileOrder{Field: field, Direction: dir}
					sorted := slices.Clone(want)
					slices.SortFunc(sorted, func(a, b *media.File) int {
						if dir == media.Desc {
							return compareFiles(b, a, field)
						}
						return compareFiles(a, b, field)
					})
					name := fmt.Sprintf("%s by %s %s", lc.name, field, dir)
					got, err := db.ListFiles(ctx, q)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !slices.Equal(ids(got), ids(sorted)) {
						t.Errorf("%s:\n got %v\nwant %v", name, names(got), names(sorted))
					}
					checkPaging(t, db, name, q, sorted)
				}
			}
		}
		if nonEmpty < 25 {
			t.Errorf("only %d listing cases have results: the data set does not exercise the filters", nonEmpty)
		}
	})
}

// checkPaging walks the listing forward with keyset pages of 3, backward with
// Reverse, and checks Offset.
func checkPaging(t *testing.T, db *DB, name string, q media.FileQuery, want []*media.File) {
	t.Helper()
	ctx := context.Background()
	walk := func(q media.FileQuery) []*media.File {
		var out []*media.File
		q.Limit = 3
		for range len(want) + 2 {
			page, err := db.ListFiles(ctx, q)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, page...)
			if len(page) < q.Limit {
				return out
			}
			q.After = keyOf(page[len(page)-1], q.Order.Field)
		}
		t.Fatalf("%s: paging does not end", name)
		return nil
	}
	if got := walk(q); !slices.Equal(ids(got), ids(want)) {
		t.Errorf("%s: forward pages:\n got %v\nwant %v", name, names(got), names(want))
	}
	rq := q
	rq.Reverse = true
	got := walk(rq)
	slices.Reverse(got)
	if !slices.Equal(ids(got), ids(want)) {
		t.Errorf("%s: reverse pages:\n got %v\nwant %v", name, names(got), names(want))
	}
	if len(want) > 2 {
		// The last page of two, as last: 2 with before = the end asks for it.
		rq.After, rq.Limit = keyOf(want[len(want)-1], q.Order.Field), 2
		got, err := db.ListFiles(ctx, rq)
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(got)
		if w := want[len(want)-3 : len(want)-1]; !slices.Equal(ids(got), ids(w)) {
			t.Errorf("%s: reverse after the last: got %v want %v", name, names(got), names(w))
		}
		oq := q
		oq.Offset, oq.Limit = 1, 2
		got, err = db.ListFiles(ctx, oq)
		if err != nil {
			t.Fatal(err)
		}
		if w := want[1:3]; !slices.Equal(ids(got), ids(w)) {
			t.Errorf("%s: offset 1 limit 2: got %v want %v", name, names(got), names(w))
		}
	}
}

func names(fs []*media.File) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Path + f.Name
	}
	return out
}

// TestListFilesQueries checks that a listing is one query, and on PostgreSQL
// that folder, tag and organization-wide listings use indexes rather than
// reading the whole files table (with sequential scans disabled, a plan that
// has no index to use still shows a Seq Scan).
func TestListFilesQueries(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		fx := newFixture(t, db)
		f := fx.newFile(func(f *media.File) { f.Tags = []string{"a"} })
		k := &media.APIKey{ID: media.NewID(media.PrefixAPIKey, t0), OrgID: fx.org.ID, UserID: fx.user.ID,
			Hash: randHex(), CreatedAt: t0}
		fx.must(db.CreateAPIKey(ctx, k))
		hook := &countHook{}
		db.Bun().AddQueryHook(hook)
		q := media.FileQuery{OrgID: fx.org.ID, BucketID: &fx.bucket.ID, Filter: media.FileFilter{TagsAll: []string{"a"}},
			Order: media.FileOrder{Field: media.OrderName, Direction: media.Asc}, Limit: 10}
		for name, fn := range map[string]func() error{
			"ListFiles":     func() error { _, err := db.ListFiles(ctx, q); return err },
			"CountFiles":    func() error { _, err := db.CountFiles(ctx, q); return err },
			"APIKeyByHash":  func() error { _, _, err := db.APIKeyByHash(ctx, k.Hash); return err },
			"TagsByFileIDs": func() error { _, err := db.TagsByFileIDs(ctx, fx.org.ID, []media.ID{f.ID}); return err },
			"BucketUsage":   func() error { _, err := db.BucketUsage(ctx, fx.org.ID, fx.bucket.ID); return err },
			"FilesByIDs":    func() error { _, err := db.FilesByIDs(ctx, fx.org.ID, []media.ID{f.ID}); return err },
		} {
			var err error
			if n := hook.count(func() { err = fn() }); n != 1 || err != nil {
				t.Errorf("%s: %d queries, %v", name, n, err)
			}
		}
		if db.Dialect() != Postgres {
			return
		}
		after := &media.FileKey{Time: t0, Name: "m", Size: 5, ID: f.ID}
		for _, field := range []media.FileOrderField{media.OrderCreatedAt, media.OrderUpdatedAt, media.OrderName, media.OrderSize} {
			for name, q := range map[string]media.FileQuery{
				"folder":       {OrgID: fx.org.ID, BucketID: &fx.bucket.ID, Filter: media.FileFilter{Path: ptr("/a/")}},
				"subtree":      {OrgID: fx.org.ID, BucketID: &fx.bucket.ID, Filter: media.FileFilter{PathPrefix: ptr("/a/")}},
				"bucket":       {OrgID: fx.org.ID, BucketID: &fx.bucket.ID, After: after},
				"organization": {OrgID: fx.org.ID},
				"tags any":     {OrgID: fx.org.ID, Filter: media.FileFilter{TagsAny: []string{"a", "b"}}},
				"tags all":     {OrgID: fx.org.ID, BucketID: &fx.bucket.ID, Filter: media.FileFilter{TagsAll: []string{"a", "b"}}},
			} {
				q.Order, q.Limit = media.FileOrder{Field: field, Direction: media.Desc}, 26
				var rows []fileRow
				sq, err := db.listFilesQuery(q, &rows)
				fx.must(err)
				var plan []string
				fx.must(db.Bun().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
						return err
					}
					return tx.NewRaw("EXPLAIN "+sq.String()).Scan(ctx, &plan)
				}))
				text := strings.Join(plan, "\n")
				if os.Getenv("MG_SQL_DEBUG") != "" {
					t.Logf("%s by %s:\n%s", name, field, text)
				}
				if strings.Contains(text, "Seq Scan") || !regexp.MustCompile(`Index Cond: .*org_id`).MatchString(text) {
					t.Errorf("%s by %s does not use an index:\n%s", name, field, text)
				}
			}
		}
	})
}

// claimAll claims every blob among ids that nothing uses and returns those ids.
func claimAll(t *testing.T, db *DB, ids []media.ID) []media.ID {
	t.Helper()
	var out []media.ID
	for _, id := range ids {
		bs, err := db.ClaimUnreferencedBlobs(context.Background(), []media.ID{id})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if b.State != media.BlobPending {
				t.Errorf("claimed blob %s is %s", id, b.State)
			}
			out = append(out, id)
		}
	}
	return out
}
