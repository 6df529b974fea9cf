package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"
)

// searchSeed writes n file rows (no bytes) into bucket on PostgreSQL with
// generate_series, named like a document library: a kind out of 10
// (invoice, receipt, photo …: each in a tenth of the names), a code word
// out of 50, a year out of 26, a month, a serial number and an extension
// out of 4 (invoice-delta_2013-04_n123456.pdf); every 7th file has a
// caption about the sea, mountains, a city or a forest; two tags each (one
// of 50, one of 7), in 100 folders. Like a restore: the secondary indexes
// of files and file_tags are dropped for the insert and built again after
// it, foreign keys are not checked row by row, then the tables are
// vacuumed and analyzed. The rows stay (the test's database is dropped
// after it); no test that checks the store's invariants may use it.
func searchSeed(t testing.TB, e *env, bucket string, n int) {
	t.Helper()
	ctx := context.Background()
	b, err := e.m.DB.BucketByName(ctx, e.org.ID, bucket)
	if err != nil {
		t.Fatal(err)
	}
	owner := e.viewerIDTB(t)
	conn, err := slowDB(t, e).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var indexes []string
	if err := conn.NewRaw("SELECT indexdef FROM pg_indexes WHERE tablename IN ('files', 'file_tags') AND indexname NOT IN ('files_pkey', 'file_tags_pkey')").
		Scan(ctx, &indexes); err != nil {
		t.Fatal(err)
	}
	id := func(prefix string) string { return "'" + prefix + "_' || lpad(i::text, 26, '0')" }
	stmts := []struct {
		sql  string
		args []any
	}{
		{`SET maintenance_work_mem = '512MB'`, nil},
		{`SET max_parallel_maintenance_workers = 2`, nil},
		// Bulk load: no foreign-key triggers for this session (the rows are
		// made consistent), as pg_restore does.
		{`SET session_replication_role = replica`, nil},
	}
	for _, def := range indexes {
		name := strings.Fields(strings.SplitN(def, " ON ", 2)[0])
		stmts = append(stmts, struct {
			sql  string
			args []any
		}{"DROP INDEX " + name[len(name)-1], nil})
	}
	stmts = append(stmts, []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO blobs (id, org_id, storage_key, state, size, sha256, mime_type, created_at)
		  SELECT ` + id("blob") + `, ?, 'seed/' || i, 'READY', i, 'x', 'application/pdf', now() FROM generate_series(1, ?) i`, []any{e.org.ID, n}},
		{`INSERT INTO files (id, org_id, bucket_id, path, name, original_name, mime_type, type, size, sha256, visibility, metadata,
		    revision, blob_id, created_at, updated_at, created_by, updated_by, caption, tags_text)
		  SELECT ` + id("file") + `, ?, ?, '/f' || (i % 100) || '/',
		    (ARRAY['invoice','receipt','photo','scan','report','contract','holiday','meeting','draft','budget'])[1 + i % 10] || '-' ||
		    (ARRAY['alpha','bravo','charlie','delta','echo','foxtrot','golf','hotel','india','juliet','kilo','lima','mike','november',
		      'oscar','papa','quebec','romeo','sierra','tango','uniform','victor','whiskey','xray','yankee','zulu','amber','birch','cedar',
		      'dune','ember','fjord','grove','heath','islet','jade','knoll','larch','moss','nook','opal','pine','quartz','reed','slate',
		      'thorn','umber','vale','willow','yew'])[1 + (i / 10) % 50] ||
		    '_' || (2000 + i % 26) || '-' || lpad((1 + i % 12)::text, 2, '0') || '_n' || i || '.' || (ARRAY['pdf','jpg','png','docx'])[1 + i % 4],
		    'x', 'application/pdf', 'DOCUMENT', i, 'x', 'PRIVATE', '{}', 1, ` + id("blob") + `, now() - i * interval '1 second', now(), ?, ?,
		    CASE WHEN i % 7 = 0 THEN 'a caption about the ' || (ARRAY['sea','mountains','city','forest'])[1 + i % 4] || ' trip' END,
		    't' || (i % 50) || ' u' || (i % 7)
		  FROM generate_series(1, ?) i`, []any{e.org.ID, b.ID, owner, owner, n}},
		{`INSERT INTO file_tags (org_id, file_id, tag) SELECT ?, ` + id("file") + `, tag
		  FROM generate_series(1, ?) i, LATERAL (VALUES ('t' || (i % 50)), ('u' || (i % 7))) AS tags (tag)`, []any{e.org.ID, n}},
		{`SET session_replication_role = DEFAULT`, nil},
	}...)
	for _, def := range indexes {
		stmts = append(stmts, struct {
			sql  string
			args []any
		}{def, nil})
	}
	stmts = append(stmts, struct {
		sql  string
		args []any
	}{"VACUUM ANALYZE files", nil}, struct {
		sql  string
		args []any
	}{"VACUUM ANALYZE file_tags", nil})
	for _, q := range stmts {
		t0 := time.Now()
		if _, err := conn.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Logf("seeding: %s in %s", firstLine(strings.Join(strings.Fields(q.sql), " ")), d.Round(time.Second))
		}
	}
}

// slowDB is a pool of its own on the test's PostgreSQL database, for
// statements (building the indexes of a million rows) that take longer than
// the server's read timeout.
func slowDB(t testing.TB, e *env) *bun.DB {
	db := bun.NewDB(sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(e.m.Config.DatabaseURL), pgdriver.WithReadTimeout(time.Hour))),
		pgdialect.New())
	t.Cleanup(func() { db.Close() })
	return db
}

// searchCase is one search the benchmark and the plan check run, and how
// many of the seeded files it finds per million.
type searchCase struct {
	name, search string
	perMillion   int
}

var searchCases = []searchCase{
	{"common word, in a tenth of the names", "invoice", 100_000},
	{"very common word, a quarter of the names (an extension)", "pdf", 250_000},
	{"word only in captions (the second relevance class)", "sea", 35_714},
	{"word only in tags", "t7", 20_000},
	{"word only in folder paths", "f42", 10_000},
	{"rare word, one file", "n123456", 1},
	{"prefix of a common word", "invo", 100_000},
	{"prefix of a rare word (11 files)", "n12345", 11},
	{"two words", "invoice 2014", 7_693},
	{"two words in different fields", "delta sea", 572},
	{"word in no file", "zebra", 0},
}

const benchSearchQ = `query($s: String, $a: String) { files(bucket: "search", filter: {search: $s}, first: 25, after: $a) {
	nodes { id name } pageInfo { endCursor hasNextPage } } }`

// TestBenchSearch seeds 1,000,000 files in PostgreSQL and measures searches
// through the server, one at a time: p50 and p90 of the first page (25
// files) for common, rare and prefix words, of the same with totalCount,
// and of page 40; it checks the plans use the search indexes, and measures
// what the alternatives would cost (ranking every match with ts_rank, a
// pg_trgm index for substrings).
func TestBenchSearch(t *testing.T) {
	benchOnly(t)
	e := benchStart(t)
	e.createBucket(e.owner, map[string]any{"name": "search"})
	const n = 1_000_000
	t0 := time.Now()
	searchSeed(t, e, "search", n)
	t.Logf("seeded %d files in %s", n, time.Since(t0).Round(time.Second))
	ctx := context.Background()
	db := e.m.DB.Bun()
	var sizes []struct {
		Name string `bun:"name"`
		Size string `bun:"size"`
	}
	if err := db.NewRaw(`SELECT c.relname AS name, pg_size_pretty(pg_relation_size(c.oid)) AS size FROM pg_class c
		WHERE c.relname IN ('files', 'files_search_name_idx', 'files_search_idx', 'files_org_bucket_created_idx')`).Scan(ctx, &sizes); err != nil {
		t.Fatal(err)
	}
	t.Logf("sizes: %v", sizes)

	for _, c := range searchCases {
		got := e.ok(e.owner, `query($s: String) { files(bucket: "search", filter: {search: $s}) { totalCount } }`, map[string]any{"s": c.search})
		if total := int(got["files"].(map[string]any)["totalCount"].(float64)); total != c.perMillion*n/1_000_000 {
			t.Errorf("%s (%q): %d files, want %d", c.name, c.search, total, c.perMillion*n/1_000_000)
		}
	}
	for _, c := range searchCases {
		first := timeQuery(t, e, benchSearchQ, map[string]any{"s": c.search}, 100)
		withCount := timeQuery(t, e, strings.Replace(benchSearchQ, "nodes {", "totalCount nodes {", 1), map[string]any{"s": c.search}, 20)
		t.Logf("%-58s %-14q first page p50 %7s p90 %7s | with totalCount p50 %7s p90 %7s", c.name, c.search,
			pct(first, .5), pct(first, .9), pct(withCount, .5), pct(withCount, .9))
	}
	// Deeper pages: keyset cursors over the relevance order.
	for _, s := range []string{"invoice", "sea"} {
		var after any
		var last []time.Duration
		for page := 1; page <= 40; page++ {
			t1 := time.Now()
			c := e.ok(e.owner, benchSearchQ, map[string]any{"s": s, "a": after})["files"].(map[string]any)
			if page > 30 {
				last = append(last, time.Since(t1))
			}
			after = c["pageInfo"].(map[string]any)["endCursor"]
		}
		t.Logf("%q pages 31-40: p50 %s", s, pct(last, .5))
	}

	// At 16 connections, the common word.
	body, _ := json.Marshal(map[string]any{"query": benchSearchQ, "variables": map[string]any{"s": "invoice"}})
	res := load(t, e, 16, 10*time.Second, e.gqlPost(e.owner, string(body)))
	report(t, `search "invoice", first page, PostgreSQL, 16 connections`, res)

	explainSearches(t, e, true)

	// What ranking every match would cost: the usual ts_rank query.
	for _, s := range []string{"invoice", "sea", "n12345"} {
		var ds []time.Duration
		for range 5 {
			t1 := time.Now()
			if _, err := db.ExecContext(ctx, `SELECT id FROM files AS f WHERE f.org_id = ? AND (f.search_name || f.search_other) @@ to_tsquery('simple', ?)
				ORDER BY ts_rank(f.search_name || f.search_other, to_tsquery('simple', ?)) DESC, f.id DESC LIMIT 25`,
				e.org.ID, "'"+s+"':*", "'"+s+"':*"); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Since(t1))
		}
		t.Logf("ts_rank over every match of %q (SQL only): p50 %s", s, pct(ds, .5))
	}
	trigramComparison(t, e)
}

// timeQuery runs query k times, one after another, and returns how long each took.
func timeQuery(t testing.TB, e *env, query string, vars map[string]any, k int) []time.Duration {
	out := make([]time.Duration, 0, k)
	e.ok(e.owner, query, vars) // warm
	for range k {
		t0 := time.Now()
		e.ok(e.owner, query, vars)
		out = append(out, time.Since(t0))
	}
	return out
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))].Round(10 * time.Microsecond)
}

// explainSearches runs every search case through the server, EXPLAINs the
// queries it sent to PostgreSQL and checks that none reads the whole files
// table, and that rare words (and the counts of every case but the
// commonest) are looked up in a search index. With analyze, the plans are
// logged with their timings.
func explainSearches(t *testing.T, e *env, analyze bool) {
	t.Helper()
	ctx := context.Background()
	db := e.m.DB.Bun()
	for _, c := range searchCases {
		_, sql := e.queries.during(func() {
			e.ok(e.owner, `query($s: String) { files(bucket: "search", filter: {search: $s}, first: 25) { totalCount nodes { id } } }`, map[string]any{"s": c.search})
		})
		var queries []string
		for _, q := range sql {
			if strings.Contains(q, "search_name") {
				queries = append(queries, q)
			}
		}
		if len(queries) == 0 {
			t.Fatalf("%s: no search query seen", c.name)
		}
		usesSearchIndex := false
		for _, q := range queries {
			explain := "EXPLAIN "
			if analyze {
				explain = "EXPLAIN (ANALYZE, BUFFERS) "
			}
			var plan []string
			if err := db.NewRaw(explain+q).Scan(ctx, &plan); err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			if analyze || testing.Verbose() {
				t.Logf("%s (%q):\n%s\n%s", c.name, c.search, firstLine(q), text)
			}
			if strings.Contains(text, "Seq Scan on files") {
				t.Errorf("%s (%q) reads the whole files table:\n%s\n%s", c.name, c.search, q, text)
			}
			usesSearchIndex = usesSearchIndex || strings.Contains(text, "files_search_idx") || strings.Contains(text, "files_search_name_idx")
		}
		if c.perMillion < 50_000 && !usesSearchIndex {
			t.Errorf("%s (%q): no search index in the plans", c.name, c.search)
		}
	}
}

func firstLine(q string) string {
	if len(q) > 160 {
		q = q[:160] + "…"
	}
	return q
}

// trigramComparison builds a pg_trgm index on file names (if the extension
// is installed) and compares its size and a substring query with the
// search indexes, for the record in docs/BENCHMARKS.md.
func trigramComparison(t *testing.T, e *env) {
	ctx := context.Background()
	db := slowDB(t, e)
	if _, err := db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm"); err != nil {
		t.Logf("pg_trgm not available: %v", err)
		return
	}
	t0 := time.Now()
	if _, err := db.ExecContext(ctx, "CREATE INDEX files_name_trgm_idx ON files USING gin (name gin_trgm_ops)"); err != nil {
		t.Fatal(err)
	}
	built := time.Since(t0)
	defer func() { _, _ = db.ExecContext(ctx, "DROP INDEX files_name_trgm_idx") }()
	var size string
	if err := db.NewRaw("SELECT pg_size_pretty(pg_relation_size('files_name_trgm_idx'))").Scan(ctx, &size); err != nil {
		t.Fatal(err)
	}
	t.Logf("pg_trgm index on name: %s, built in %s", size, built.Round(time.Second))
	for _, sub := range []string{"voic", "n12345", "elta_2013"} {
		var ds []time.Duration
		var hits int
		for range 5 {
			t1 := time.Now()
			var ids []string
			if err := db.NewRaw(`SELECT id FROM files WHERE org_id = ? AND name ILIKE ? ORDER BY created_at DESC, id DESC LIMIT 25`,
				e.org.ID, "%"+sub+"%").Scan(ctx, &ids); err != nil {
				t.Fatal(err)
			}
			ds, hits = append(ds, time.Since(t1)), len(ids)
		}
		var plan []string
		_ = db.NewRaw(`EXPLAIN SELECT id FROM files WHERE org_id = ? AND name ILIKE ? ORDER BY created_at DESC, id DESC LIMIT 25`, e.org.ID, "%"+sub+"%").
			Scan(ctx, &plan)
		t.Logf("ILIKE %%%s%% with the trigram index (SQL only): p50 %s, %d rows; plan: %s", sub, pct(ds, .5), hits, planSummary(plan))
	}
}

func planSummary(plan []string) string {
	var out []string
	for _, l := range plan {
		if i := strings.Index(l, "->"); i >= 0 || len(out) == 0 {
			out = append(out, strings.TrimSpace(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(l), "->"), "(cost", 2)[0]))
		}
	}
	return strings.Join(out, " / ")
}

// TestSearchExplain (make test): on 10,000 seeded files in PostgreSQL, no
// search query reads the whole files table, and rare words are looked up in
// the search indexes.
func TestSearchExplain(t *testing.T) {
	e := start(t, backends[1])
	e.createBucket(e.owner, map[string]any{"name": "search"})
	searchSeed(t, e, "search", 10_000)
	explainSearches(t, e, false)
}
