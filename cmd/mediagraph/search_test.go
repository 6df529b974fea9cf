package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mediagraph/mediagraph/database"
	"github.com/mediagraph/mediagraph/media"
)

const searchQ = `query($b: String, $f: FileFilter, $o: FileOrder, $n: Int, $a: String) {
	files(bucket: $b, filter: $f, orderBy: $o, first: $n, after: $a) { totalCount nodes { id name } pageInfo { hasNextPage endCursor } } }`

// search runs files(filter: {search}) (plus the other filter fields
// given) in bucket b and returns the names found, in order.
func (e *env) search(key, bucket, words string, more map[string]any, order map[string]any) []string {
	e.t.Helper()
	f := map[string]any{"search": words}
	for k, v := range more {
		f[k] = v
	}
	vars := map[string]any{"f": f, "n": 100, "o": order}
	if bucket != "" {
		vars["b"] = bucket
	}
	c := e.ok(key, searchQ, vars)["files"].(map[string]any)
	names := []string{}
	for _, n := range c["nodes"].([]any) {
		names = append(names, n.(map[string]any)["name"].(string))
	}
	if int(c["totalCount"].(float64)) != len(names) {
		e.t.Errorf("search %q: totalCount %v, %d files", words, c["totalCount"], len(names))
	}
	return names
}

func TestSearch(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		up := func(name string, extra map[string]any) string {
			return str(e.mustUpload(e.owner, "b", upload{name, "", pngBytes(2, 2)}, extra)["id"])
		}
		// Uploaded in this order: newer files come first within a class.
		up("invoice_2025-03.png", nil)
		photo := up("photo.png", map[string]any{"caption": "The invoice from March"})
		scan := up("scan.png", map[string]any{"tags": []string{"Invoice-Paid", "blue"}})
		up("x.png", map[string]any{"path": "/invoices/2025/"})
		up("notes.png", map[string]any{"altText": "Invoice copy"})
		other := up("unrelated.png", map[string]any{"caption": "nothing to see"})
		up("Émile Straße.png", map[string]any{"tags": []string{"people"}})
		up("report.final.v2.png", nil)

		check := func(words string, want ...string) {
			t.Helper()
			if want == nil {
				want = []string{}
			}
			if got := e.search(e.owner, "b", words, nil, nil); !reflect.DeepEqual(got, want) {
				t.Errorf("search %q:\n got %q\nwant %q", words, got, want)
			}
		}
		// Every field, name matches first, then the rest newest first.
		check("invoice", "invoice_2025-03.png", "notes.png", "x.png", "scan.png", "photo.png")
		check("INVOICE", "invoice_2025-03.png", "notes.png", "x.png", "scan.png", "photo.png")
		// The last word is a prefix: "invoice" finds /invoices/; the others are whole words.
		check("invoice 2025", "invoice_2025-03.png")
		check("2025 invoice", "invoice_2025-03.png", "x.png")
		check("invo", "invoice_2025-03.png", "notes.png", "x.png", "scan.png", "photo.png")
		check("inv 2025") // only the last word is a prefix
		// Names are split at _ - . and paths at /.
		check("2025", "invoice_2025-03.png", "x.png")
		check("03", "invoice_2025-03.png")
		check("final v2", "report.final.v2.png")
		check("report.final", "report.final.v2.png")
		check("paid", "scan.png")
		check("march invoice", "photo.png")
		// Unicode: case folds, accents are kept.
		check("émile", "Émile Straße.png")
		check("ÉMILE STRASSE")
		check("straße", "Émile Straße.png")
		check("emile")

		// Hostile strings are words and separators, never query syntax.
		for _, c := range []struct {
			words string
			want  []string
		}{
			{`"invoice" OR 1=1`, nil},
			{`invoice & !scan | (x):*`, nil},
			{`invoice*`, []string{"invoice_2025-03.png", "notes.png", "x.png", "scan.png", "photo.png"}},
			{`NEAR(invoice scan)`, nil},
			{`'); DROP TABLE files; --`, nil},
			{`{name} : invoice`, nil},
			{`paid"`, []string{"scan.png"}},
			{`\paid\`, []string{"scan.png"}},
			{"paid\x00", []string{"scan.png"}},
			{`blue NOT paid`, nil},
			{"paid \u0301\u0301", []string{"scan.png"}}, // a combining mark alone is no word
			{"\u0301 paid", []string{"scan.png"}},
			{"ab\U0001F600cd", nil}, // an emoji separates
			{"\uFFFD paid", []string{"scan.png"}},
		} {
			check(c.words, c.want...)
		}
		// No words is no search (every file, newest first); too long is refused.
		for _, s := range []string{"", "   ", "*", `"`, "-- ::", "\u0301", "\U0001F600"} {
			if got := e.search(e.owner, "b", s, nil, nil); len(got) != 8 || got[0] != "report.final.v2.png" {
				t.Errorf("search %q: %q", s, got)
			}
		}
		e.fails(media.EINVALID, e.owner, searchQ, map[string]any{"f": map[string]any{"search": strings.Repeat("a", 257)}})
		e.fails(media.EINVALID, e.owner, searchQ, map[string]any{"f": map[string]any{"search": strings.Repeat("a ", 17)}})
		e.fails(media.EINVALID, e.owner, searchQ, map[string]any{"o": map[string]any{"field": "RELEVANCE"}})
		e.fails(media.EINVALID, e.owner, searchQ, map[string]any{"f": map[string]any{"search": "  "}, "o": map[string]any{"field": "RELEVANCE"}})

		// Orders: RELEVANCE ASC is the reverse; any other order applies.
		rel := map[string]any{"field": "RELEVANCE", "direction": "DESC"}
		if got := e.search(e.owner, "b", "invoice", nil, rel); got[0] != "invoice_2025-03.png" {
			t.Errorf("RELEVANCE DESC: %q", got)
		}
		if got := e.search(e.owner, "b", "invoice", nil, map[string]any{"field": "RELEVANCE", "direction": "ASC"}); !reflect.DeepEqual(got,
			[]string{"photo.png", "scan.png", "x.png", "notes.png", "invoice_2025-03.png"}) {
			t.Errorf("RELEVANCE ASC: %q", got)
		}
		if got := e.search(e.owner, "b", "invoice", nil, map[string]any{"field": "NAME", "direction": "ASC"}); !reflect.DeepEqual(got,
			[]string{"invoice_2025-03.png", "notes.png", "photo.png", "scan.png", "x.png"}) {
			t.Errorf("NAME ASC: %q", got)
		}

		// With every other filter.
		if got := e.search(e.owner, "b", "invoice", map[string]any{"path": "/invoices/2025/"}, nil); !reflect.DeepEqual(got, []string{"x.png"}) {
			t.Errorf("with path: %q", got)
		}
		if got := e.search(e.owner, "b", "invoice", map[string]any{"tagsAny": []string{"invoice-paid"}}, nil); !reflect.DeepEqual(got, []string{"scan.png"}) {
			t.Errorf("with tagsAny: %q", got)
		}
		if got := e.search(e.owner, "b", "invoice", map[string]any{"nameContains": "o", "types": []string{"IMAGE"}}, nil); !reflect.DeepEqual(got,
			[]string{"invoice_2025-03.png", "notes.png", "photo.png"}) {
			t.Errorf("with nameContains and types: %q", got)
		}
		if got := e.search(e.owner, "", "invoice", nil, nil); len(got) != 5 {
			t.Errorf("every bucket: %q", got)
		}
		d := e.ok(e.owner, `{ files(bucket: "b", filter: {search: "invoice"}) { totalCount availableTags { name count } } }`, nil)["files"].(map[string]any)
		if d["totalCount"] != float64(5) || !reflect.DeepEqual(d["availableTags"], []any{
			map[string]any{"name": "blue", "count": float64(1)}, map[string]any{"name": "invoice-paid", "count": float64(1)}}) {
			t.Errorf("facets: %v", d)
		}
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: true) { id } }`, map[string]any{"id": scan})
		if got := e.search(e.owner, "b", "invoice", map[string]any{"legalHold": true}, nil); !reflect.DeepEqual(got, []string{"scan.png"}) {
			t.Errorf("with legalHold: %q", got)
		}
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: false) { id } }`, map[string]any{"id": scan})

		// The trash is left out unless asked for.
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": photo})
		check("invoice", "invoice_2025-03.png", "notes.png", "x.png", "scan.png")
		if got := e.search(e.owner, "b", "invoice", map[string]any{"trashed": "ONLY"}, nil); !reflect.DeepEqual(got, []string{"photo.png"}) {
			t.Errorf("trashed ONLY: %q", got)
		}
		if got := e.search(e.owner, "b", "invoice", map[string]any{"trashed": "INCLUDE"}, nil); len(got) != 5 {
			t.Errorf("trashed INCLUDE: %q", got)
		}

		// Every change of a searched field is searchable at once.
		upd := `mutation($id: ID!, $i: UpdateFileInput!) { updateFile(id: $id, input: $i) { id } }`
		e.ok(e.owner, upd, map[string]any{"id": other, "i": map[string]any{"name": "invoice-old.png"}})
		check("old invoice", "invoice-old.png")
		e.ok(e.owner, upd, map[string]any{"id": other, "i": map[string]any{"caption": "receipt"}})
		check("receipt", "invoice-old.png")
		check("nothing")
		e.ok(e.owner, upd, map[string]any{"id": scan, "i": map[string]any{"removeTags": []string{"invoice-paid"}}})
		check("paid")
		e.ok(e.owner, upd, map[string]any{"id": scan, "i": map[string]any{"addTags": []string{"archived"}}})
		check("archived", "scan.png")
		e.ok(e.owner, upd, map[string]any{"id": scan, "i": map[string]any{"path": "/old/stuff"}})
		check("stuff", "scan.png")
		e.ok(e.owner, `mutation($i: MoveFilesInput!) { moveFiles(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"ids": []string{scan}, "targetPath": "/elsewhere/"}})
		check("stuff")
		check("elsewhere", "scan.png")
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": other})
		check("receipt")

		// Another organization finds nothing of ours.
		out := e.otherOrg()
		e.createBucket(out, map[string]any{"name": "b"})
		e.mustUpload(out, "b", upload{"their-invoice.png", "", pngBytes(3, 3)}, nil)
		if got := e.search(out, "", "invoice", nil, nil); !reflect.DeepEqual(got, []string{"their-invoice.png"}) {
			t.Errorf("other organization: %q", got)
		}
		check("their")
	})
}

// TestSearchRestricted: a RESTRICTED bucket's files a caller cannot see are
// not found, counted or faceted by a search.
func TestSearchRestricted(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "r", "access": "RESTRICTED"})
		scopes := []string{media.ScopeMediaRead, media.ScopeMediaCreate, media.ScopeMediaUpdate}
		a := e.newKey(scopes, e.member("a@acme.test", media.RoleMember))
		b := e.newKey(scopes, e.member("b@acme.test", media.RoleMember))
		e.mustUpload(a, "r", upload{"secret-invoice.png", "", pngBytes(2, 2)}, map[string]any{"tags": []string{"payroll"}})
		e.mustUpload(b, "r", upload{"my-invoice.png", "", pngBytes(2, 3)}, nil)
		for key, want := range map[string][]string{a: {"secret-invoice.png"}, b: {"my-invoice.png"}, e.owner: {"my-invoice.png", "secret-invoice.png"}} {
			for _, bucket := range []string{"r", ""} {
				if got := e.search(key, bucket, "invoice", nil, nil); !reflect.DeepEqual(got, want) {
					t.Errorf("bucket %q: got %q, want %q", bucket, got, want)
				}
			}
		}
		if got := e.search(b, "r", "payroll", nil, nil); len(got) != 0 {
			t.Errorf("b finds a's tag: %q", got)
		}
		d := e.ok(b, `{ files(filter: {search: "invoice"}) { availableTags { name } } tags(bucket: "r") { name } }`, nil)
		if fmt.Sprint(d["files"].(map[string]any)["availableTags"]) != "[]" || fmt.Sprint(d["tags"]) != "[]" {
			t.Errorf("b's facets: %v", d)
		}
	})
}

// searchExpect is what a search of files must return, in relevance order:
// every word in some field (the last as a prefix), those with every word in
// the name first, each class newest first.
func searchExpect(files []*media.File, words string, desc bool) []string {
	ws := media.SearchWords(words)
	has := func(fields []string) bool {
		var got []string
		for _, f := range fields {
			got = append(got, media.SearchWords(f)...)
		}
		for i, w := range ws {
			if !slices.ContainsFunc(got, func(g string) bool { return g == w || (i == len(ws)-1 && strings.HasPrefix(g, w)) }) {
				return false
			}
		}
		return true
	}
	type hit struct {
		f    *media.File
		name bool
	}
	var hits []hit
	for _, f := range files {
		all := append([]string{f.Name, f.Path, deref(f.AltText), deref(f.Caption)}, f.Tags...)
		if has(all) {
			hits = append(hits, hit{f, has([]string{f.Name})})
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		a, b := hits[i], hits[j]
		less := false
		switch {
		case a.name != b.name:
			less = a.name
		case !a.f.CreatedAt.Equal(b.f.CreatedAt):
			less = a.f.CreatedAt.After(b.f.CreatedAt)
		default:
			less = a.f.ID > b.f.ID
		}
		if !desc {
			return !less
		}
		return less
	})
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = string(h.f.ID)
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestSearchPaging walks searches page by page, forward and backward, in
// relevance order both ways: each file exactly once, in order; offset pages
// agree; a file added meanwhile moves nothing; cursors are bound to the
// search.
func TestSearchPaging(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		rng := rand.New(rand.NewPCG(9, 10))
		files := seedFiles(t, e, "b", 80, rng)
		// Some files also mention the names' words in their texts.
		for i, f := range files {
			if i%4 == 0 {
				c := []string{"a cat nap", "dog days", "blue sea"}[i%3]
				if _, err := e.m.DB.Bun().NewRaw("UPDATE files SET caption = ? WHERE id = ?", c, f.ID).Exec(context.Background()); err != nil {
					t.Fatal(err)
				}
				f.Caption = &c
			}
		}
		for _, words := range []string{"cat", "dog", "blue", "a", "d", "émile 0", "sea"} {
			for _, dir := range []string{"DESC", "ASC"} {
				want := searchExpect(currentFiles(t, e, files), words, dir == "DESC")
				if len(want) == 0 {
					t.Fatalf("search %q finds nothing in the seed", words)
				}
				order := map[string]any{"field": "RELEVANCE", "direction": dir}
				f := map[string]any{"search": words}
				size := 1 + rng.IntN(7)
				var got []string
				var after any
				for page := 0; ; page++ {
					c := e.ok(e.owner, searchQ, map[string]any{"b": "b", "f": f, "o": order, "n": size, "a": after})["files"].(map[string]any)
					for _, n := range c["nodes"].([]any) {
						got = append(got, str(n.(map[string]any)["id"]))
					}
					if page == 0 && dir == "DESC" {
						// A new file with every word in its name sorts before the
						// cursor: it changes none of the pages still to come.
						e.mustUpload(e.owner, "b", upload{words + " new.png", "", pngBytes(2, 2)}, nil)
					}
					pi := c["pageInfo"].(map[string]any)
					if pi["hasNextPage"] != true {
						break
					}
					after = pi["endCursor"]
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("search %q %s (pages of %d):\n got %v\nwant %v", words, dir, size, got, want)
				}
				// Backward.
				want = searchExpect(currentFiles(t, e, files), words, dir == "DESC")
				got = nil
				var before any
				for {
					c := e.ok(e.owner, `query($f: FileFilter, $o: FileOrder, $n: Int, $b: String) { files(bucket: "b", filter: $f, orderBy: $o, last: $n, before: $b) {
						nodes { id } pageInfo { hasPreviousPage startCursor } } }`, map[string]any{"f": f, "o": order, "n": size, "b": before})["files"].(map[string]any)
					var page []string
					for _, n := range c["nodes"].([]any) {
						page = append(page, str(n.(map[string]any)["id"]))
					}
					got = append(page, got...)
					pi := c["pageInfo"].(map[string]any)
					if pi["hasPreviousPage"] != true {
						break
					}
					before = pi["startCursor"]
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("search %q %s backward:\n got %v\nwant %v", words, dir, got, want)
				}
				// Offset pages agree, across the classes too.
				for _, off := range []int{0, rng.IntN(len(want)), len(want) - 1, len(want)} {
					c := e.ok(e.owner, `query($f: FileFilter, $o: FileOrder, $n: Int, $off: Int) { files(bucket: "b", filter: $f, orderBy: $o, first: $n, offset: $off) { nodes { id } } }`,
						map[string]any{"f": f, "o": order, "n": size, "off": off})["files"].(map[string]any)
					page := []string{}
					for _, n := range c["nodes"].([]any) {
						page = append(page, str(n.(map[string]any)["id"]))
					}
					if w := want[off:min(off+size, len(want))]; !reflect.DeepEqual(page, w) {
						t.Fatalf("search %q %s offset %d: %v, want %v", words, dir, off, page, w)
					}
				}
				// around: a page centred on a file.
				mid := len(want) / 2
				c := e.ok(e.owner, `query($f: FileFilter, $o: FileOrder, $id: ID) { files(bucket: "b", filter: $f, orderBy: $o, first: 3, around: $id) { nodes { id } } }`,
					map[string]any{"f": f, "o": order, "id": want[mid]})["files"].(map[string]any)
				var page []string
				for _, n := range c["nodes"].([]any) {
					page = append(page, str(n.(map[string]any)["id"]))
				}
				if w := want[max(0, mid-1):min(mid+2, len(want))]; !reflect.DeepEqual(page, w) {
					t.Fatalf("search %q %s around %d: %v, want %v", words, dir, mid, page, w)
				}
				// A cursor of this search is refused by another.
				if after != nil {
					e.fails(media.EINVALID, e.owner, searchQ, map[string]any{"b": "b", "f": map[string]any{"search": words + "x"}, "o": order, "a": after})
				}
			}
		}
	})
}

// currentFiles returns the bucket's files as the store has them: files and
// those uploaded since.
func currentFiles(t *testing.T, e *env, files []*media.File) []*media.File {
	t.Helper()
	b, err := e.m.DB.BucketByName(context.Background(), e.org.ID, "b")
	if err != nil {
		t.Fatal(err)
	}
	all, err := e.m.DB.ListFiles(context.Background(), media.FileQuery{OrgID: e.org.ID, BucketID: &b.ID,
		Order: media.FileOrder{Field: media.OrderCreatedAt, Direction: media.Desc}})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < len(files) {
		t.Fatalf("%d files, %d seeded", len(all), len(files))
	}
	return all
}

// TestSearchQueryCount: a search page costs no query per file. Besides the
// key, the bucket, the count and the facets it is at most two queries per
// relevance class read (one on SQLite; see database.searchPage), for 10
// files as for 100.
func TestSearchQueryCount(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		seedFiles(t, e, "b", 150, rand.New(rand.NewPCG(5, 6)))
		q := `query($n: Int, $s: String) { files(bucket: "b", first: $n, filter: {search: $s}) { totalCount availableTags { name count }
			nodes { id name tags bucket { name } createdBy { email } } pageInfo { endCursor } } }`
		perClass := 1
		if e.m.DB.Dialect() == database.Postgres {
			perClass = 2
		}
		for _, search := range []string{
			"dog",  // the names' class fills a page of 10; 100 reads the rest too
			"blue", // a tag: the names' class is empty, then the rest
		} {
			for _, n := range []int{10, 100} {
				e.ok(e.owner, q, map[string]any{"n": n, "s": search}) // warm
				got, _ := e.queries.during(func() { e.ok(e.owner, q, map[string]any{"n": n, "s": search}) })
				// seeded files have no creator to load
				if most := 4 + 2*perClass; got > most {
					t.Errorf("search %q, %d files: %d queries, want at most %d", search, n, got, most)
				}
			}
		}
	})
}
