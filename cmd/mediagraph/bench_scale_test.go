package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// scaleCase is one of the peer benchmark's query scenarios on scaleSeed's
// corpus, with a filter as selective as the peer's: a page of nodes files,
// or one file by id (nodes 0). commonTag: on 10,000 files PostgreSQL
// rightly hashes the whole table for it.
type scaleCase struct {
	name, query string
	nodes       int
	commonTag   bool
}

func scaleCases() []scaleCase {
	list := func(filter string) string {
		return `{ files(bucket: "bench", first: 50` + filter + `) { nodes { ` + mgFields + ` } } }`
	}
	return []scaleCase{
		{"list, newest first", list(""), 50, false},
		{"name contains a word of a tenth of the names", list(`, filter: {nameContains: "invoice"}`), 50, false},
		{"tag of a seventh of the files", list(`, filter: {tagsAny: ["u3"]}`), 50, true},
		{"tag of 2 % of the files", list(`, filter: {tagsAny: ["t7"]}`), 50, true},
		{"rare tag (20 files)", list(`, filter: {tagsAny: ["rare"]}`), 20, false},
		{"file by id", fmt.Sprintf(`{ file(id: "file_%026d") { %s } }`, 5_000, mgFields), 0, false},
	}
}

// scaleSeed writes n files of the search seed's corpus into a new bucket
// "bench", and a tag "rare" on 20 of them.
func scaleSeed(t *testing.T, e *env, n int) {
	t.Helper()
	e.createBucket(e.owner, map[string]any{"name": "bench"})
	searchSeed(t, e, "bench", n)
	if _, err := e.m.DB.Bun().ExecContext(context.Background(),
		`INSERT INTO file_tags (org_id, file_id, tag) SELECT ?, 'file_' || lpad(i::text, 26, '0'), 'rare' FROM generate_series(1, ?, ?) i;
		 ANALYZE file_tags`, e.org.ID, n, n/20); err != nil {
		t.Fatal(err)
	}
}

// TestListingPlans (make test): on 10,000 files in PostgreSQL, the
// listing, a name filter (which needs migration 0009's statistics), a rare
// tag and a file by id do not read the whole files table. A tag in 2 % of
// the files is left out: on 10,000 rows hashing the whole table is the
// cheaper plan, and TestBenchScale checks it on 1,000,000.
func TestListingPlans(t *testing.T) {
	e := start(t, backends[1])
	scaleSeed(t, e, 10_000)
	var cases []planCase
	for _, c := range scaleCases() {
		if !c.commonTag {
			cases = append(cases, planCase{c.name, e.owner, c.query, nil})
		}
	}
	explainAll(t, e, cases, 1)
}

// TestBenchScale measures what the query scenarios of the peer benchmark
// cost as a bucket grows: two servers on PostgreSQL, one with 10,000 files
// and one with 1,000,000 (scaleSeed), each scenario loaded at 16
// connections on each in alternation, three rounds; it prints the ratio of
// the two throughputs, and checks that no scenario's plan on the million
// reads the whole files table.
func TestBenchScale(t *testing.T) {
	benchOnly(t)
	sizes := []int{10_000, 1_000_000}
	envs := make([]*env, len(sizes))
	for i, n := range sizes {
		e := benchStart(t)
		t0 := time.Now()
		scaleSeed(t, e, n)
		t.Logf("seeded %d files in %s", n, time.Since(t0).Round(time.Second))
		envs[i] = e
	}
	var plans []planCase
	for _, c := range scaleCases() {
		for i, e := range envs {
			d := e.ok(e.owner, c.query, nil)
			if c.nodes > 0 {
				if got := len(d["files"].(map[string]any)["nodes"].([]any)); got != c.nodes {
					t.Fatalf("%s on %d files: %d nodes, want %d", c.name, sizes[i], got, c.nodes)
				}
			} else if d["file"] == nil {
				t.Fatalf("%s on %d files: no file", c.name, sizes[i])
			}
		}
		plans = append(plans, planCase{c.name, envs[1].owner, c.query, nil})
	}
	explainAll(t, envs[1], plans, 5)

	const rounds = 3
	for _, c := range scaleCases() {
		body, _ := json.Marshal(map[string]any{"query": c.query})
		var ratios []float64
		perSize := make([][]float64, len(envs))
		for range rounds {
			for i, e := range envs {
				res := load(t, e, 16, 5*time.Second, e.gqlPost(e.owner, string(body)))
				if res.errors > 0 {
					t.Errorf("%s on %d files: %d requests failed", c.name, sizes[i], res.errors)
				}
				perSize[i] = append(perSize[i], float64(res.requests)/res.elapsed.Seconds())
			}
			ratios = append(ratios, perSize[0][len(perSize[0])-1]/perSize[1][len(perSize[1])-1])
		}
		t.Logf("%-45s 10,000 files %s req/s | 1,000,000 files %s req/s | 10k/1M %s", c.name,
			spread(perSize[0], "%.0f"), spread(perSize[1], "%.0f"), spread(ratios, "%.2f"))
	}
}
