package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/mediagraph/mediagraph/graph"
)

func testLimit() costLimit {
	return costLimit{schema: graph.NewExecutableSchema(graph.Config{}).Schema(), maxNodes: 20000, maxDepth: 12,
		tokenLimit: 15000, cache: newDocCache(1 << 20)}
}

// exponentialFragments is n fragments, each spreading the one before
// twice: 2^n fields once expanded, in a few hundred bytes.
func exponentialFragments(n int) string {
	var b strings.Builder
	b.WriteString("query { ...F" + fmt.Sprint(n) + " }\nfragment F0 on Query { viewer { role } }\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i-1, i-1)
	}
	return b.String()
}

func TestCostLimit(t *testing.T) {
	c := testLimit()
	introspection := `query { __schema { types { ...T } } } fragment T on __Type { name fields { name type { ...R } } }
		fragment R on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
		ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }`
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
		reason      string // "" accepted
	}{
		{"exponential fragments", exponentialFragments(60), nil, errComplexityLimit},
		{"an unused exponential fragment", exponentialFragments(60) + "query Other { viewer { role } }", nil, errComplexityLimit},
		{"fragments in a cycle", "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }", nil, errcode.ValidationFailed},
		{"nested pages multiply", `{ files(first: 40) { nodes { bucket { files(first: 40) { nodes { bucket { files(first: 40) { nodes { id name } } } } } } } } }`, nil, errComplexityLimit},
		{"pages from variables", `query($n: Int) { files(first: $n) { nodes { bucket { files(first: $n) { nodes { bucket { files(first: $n) { nodes { id } } } } } } } } }`, map[string]any{"n": float64(30)}, errComplexityLimit},
		{"four nested connections", `{ posts(first: 1) { nodes { attachments(first: 1) { nodes { bucket { files(first: 1) { nodes { bucket { files(first: 1) { nodes { id } } } } } } } } } } }`, nil, errComplexityLimit},
		{"deep", "{ files { nodes { bucket { files { nodes { bucket { files { nodes { bucket { name } } } } } } } } } }", nil, errComplexityLimit},
		{"a page of posts with comments and attachments", `{ posts(first: 100) { nodes { id title author { email } comments { totalCount nodes { id body } }
			attachments(first: 10) { nodes { id name bucket { name } } } } } }`, nil, ""},
		{"a page of files", `{ files(first: 100) { nodes { id name tags size width height createdBy { email } bucket { name } } totalCount availableTags { name count } } }`, nil, ""},
		{"introspection nests deeper than the limit", introspection, nil, ""},
		{"nodes by ids", `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []any{"a", "b"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := parser.ParseQuery(&ast.Source{Input: tc.query})
			if err != nil {
				t.Fatal(err)
			}
			gerr, w := c.check(doc, tc.vars)
			got := ""
			if gerr != nil {
				got, _ = gerr.Extensions["code"].(string)
			}
			if got != tc.reason {
				t.Fatalf("got %v (%q), want %q", gerr, got, tc.reason)
			}
			// The walk is linear in the document: each selection set once,
			// however often its fragment is spread.
			sets := strings.Count(tc.query, "{")
			if w.steps > sets {
				t.Fatalf("walked %d selection sets of a document with %d", w.steps, sets)
			}
		})
	}
	// A deep query without lists is refused by depth.
	doc, _ := parser.ParseQuery(&ast.Source{Input: "{ viewer { user { role } } }"})
	if gerr, _ := (costLimit{schema: c.schema, maxNodes: 100, maxDepth: 2, cache: c.cache}).check(doc, nil); gerr == nil || gerr.Extensions["code"] != errDepthLimit {
		t.Fatalf("depth: %v", gerr)
	}
}

// TestCostLimitCachedDocuments (review G1): a document in the query cache
// is costed again with each request's variables; the cache saves only the
// parse. The sequence is the one that bypassed the limit: refused with
// n=30, accepted and cached with n=1, then n=100 must be refused too.
func TestCostLimitCachedDocuments(t *testing.T) {
	c := testLimit()
	ctx := context.Background()
	nested := `query($n: Int) { files(first: $n) { nodes { bucket { files(first: $n) { nodes { bucket { files(first: $n) { nodes { id } } } } } } } } }`
	mutate := func(query string, vars map[string]any) string {
		t.Helper()
		gerr := c.MutateOperationParameters(ctx, &graphql.RawParams{Query: query, Variables: vars})
		if gerr == nil {
			// Accepted: gqlgen would now validate and cache the document.
			if _, ok := c.cache.Get(ctx, query); !ok {
				doc, err := parser.ParseQuery(&ast.Source{Input: query})
				if err != nil {
					t.Fatal(err)
				}
				c.cache.Add(ctx, query, doc)
			}
			return ""
		}
		code, _ := gerr.Extensions["code"].(string)
		return code
	}
	if got := mutate(nested, map[string]any{"n": float64(30)}); got != errComplexityLimit {
		t.Fatalf("n=30, cold cache: %q", got)
	}
	if got := mutate(nested, map[string]any{"n": float64(1)}); got != "" {
		t.Fatalf("n=1: %q", got)
	}
	if _, ok := c.cache.Get(ctx, nested); !ok {
		t.Fatal("the accepted document is not cached")
	}
	for _, n := range []any{float64(100), json.Number("100"), "100", int64(30)} {
		if got := mutate(nested, map[string]any{"n": n}); got != errComplexityLimit {
			t.Fatalf("n=%#v, warm cache: %q (the cost limit is bypassed through the cache)", n, got)
		}
	}
	if got := mutate(nested, map[string]any{"n": float64(2)}); got != "" {
		t.Fatalf("n=2, warm cache: %q", got)
	}

	// The cached document, not a parse of the text, is what is costed: a
	// text that does not parse but names a costly cached document is
	// refused from the cache entry.
	heavy, err := parser.ParseQuery(&ast.Source{Input: nested})
	if err != nil {
		t.Fatal(err)
	}
	c.cache.Add(ctx, "not graphql {", heavy)
	if got := mutate("not graphql {", map[string]any{"n": float64(100)}); got != errComplexityLimit {
		t.Fatalf("a cached document was not costed: %q", got)
	}

	// Variables the request leaves out take their defaults; ids lists
	// count by their length, given or defaulted.
	withDefault := strings.Replace(nested, "$n: Int", "$n: Int = 100", 1)
	if got := mutate(withDefault, nil); got != errComplexityLimit {
		t.Fatalf("a default of 100: %q", got)
	}
	if got := mutate(withDefault, map[string]any{"n": float64(1)}); got != "" {
		t.Fatalf("a default of 100 overridden by 1: %q", got)
	}
	if got := mutate(withDefault, nil); got != errComplexityLimit {
		t.Fatalf("a default of 100, warm cache: %q", got)
	}
	ids := `query($ids: [ID!] = ["a", "b", "c"]) { nodes(ids: $ids) { ... on File { bucket { files(first: 60) { nodes { bucket { files(first: 60) { nodes { id } } } } } } } } }`
	if got := mutate(ids, map[string]any{"ids": []any{"a"}}); got != "" {
		t.Fatalf("one id: %q", got)
	}
	if got := mutate(ids, nil); got != errComplexityLimit {
		t.Fatalf("three ids by default, warm cache: %q", got)
	}
}

func TestByteCache(t *testing.T) {
	ctx := context.Background()
	c := newByteCache(100, 40, func(k, v string) int64 { return int64(len(k) + len(v)) })
	c.Add(ctx, "a", strings.Repeat("x", 29)) // 30
	c.Add(ctx, "b", strings.Repeat("x", 29)) // 60
	c.Add(ctx, "c", strings.Repeat("x", 29)) // 90
	if _, ok := c.Get(ctx, "a"); !ok {       // a is now the most recent
		t.Fatal("a evicted early")
	}
	c.Add(ctx, "d", strings.Repeat("x", 29)) // evicts b, the least recent
	if _, ok := c.Get(ctx, "b"); ok {
		t.Fatal("b kept over the budget")
	}
	c.Add(ctx, "big", strings.Repeat("x", 50)) // over maxEntry: not kept
	if _, ok := c.Get(ctx, "big"); ok {
		t.Fatal("an entry over maxEntry was kept")
	}
	if u := c.Used(); u > 100 {
		t.Fatalf("used %d of 100", u)
	}
	for i := range 1000 {
		c.Add(ctx, fmt.Sprint(i), strings.Repeat("y", i%39))
	}
	if u := c.Used(); u > 100 {
		t.Fatalf("used %d of 100", u)
	}
}
