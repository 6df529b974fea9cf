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
	"time"

	"github.com/mediagraph/mediagraph/media"
)

func TestUpdateFile(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		f := e.mustUpload(e.owner, "b", upload{"a.png", "", pngBytes(2, 2)}, map[string]any{"tags": []string{"x", "y"}, "altText": "old"})
		e.mustUpload(e.owner, "b", upload{"taken.png", "", pngBytes(3, 2)}, map[string]any{"path": "/new/"})
		q := `mutation($id: ID!, $i: UpdateFileInput!) { updateFile(id: $id, input: $i) { name path visibility altText caption metadata tags updatedAt updatedBy { email } } }`
		memberID := e.member("mo@acme.test", media.RoleMember)
		member := e.newKey([]string{media.ScopeMediaRead, media.ScopeMediaUpdate}, memberID)
		// Visibility is the uploader's (or an admin's) to change.
		e.fails(media.EFORBIDDEN, member, q, map[string]any{"id": f["id"], "i": map[string]any{"visibility": "PUBLIC"}})
		e.ok(e.owner, q, map[string]any{"id": f["id"], "i": map[string]any{"visibility": "PUBLIC"}})
		d := e.ok(member, q, map[string]any{"id": f["id"], "i": map[string]any{"name": "b\u202e.png", "path": "/new", "visibility": "PUBLIC",
			"altText": nil, "caption": "cap", "metadata": map[string]any{"k": 1}, "addTags": []string{"Z"}, "removeTags": []string{"x"}}})
		u := d["updateFile"].(map[string]any)
		if u["name"] != "b.png" || u["path"] != "/new/" || u["visibility"] != "PUBLIC" || u["altText"] != nil || u["caption"] != "cap" ||
			!reflect.DeepEqual(u["tags"], []any{"y", "z"}) || u["metadata"].(map[string]any)["k"] != float64(1) ||
			u["updatedBy"].(map[string]any)["email"] != "mo@acme.test" {
			t.Fatalf("updated: %v", u)
		}
		e.fails(media.ECONFLICT, e.owner, q, map[string]any{"id": f["id"], "i": map[string]any{"name": "taken.png"}})
		e.fails(media.EINVALID, e.owner, q, map[string]any{"id": f["id"], "i": map[string]any{"path": "/../x"}})
		e.fails(media.EINVALID, e.owner, q, map[string]any{"id": f["id"], "i": map[string]any{"metadata": []any{1, 2}}})
		e.fails(media.EINVALID, e.owner, q, map[string]any{"id": f["id"], "i": map[string]any{"metadata": map[string]any{"big": strings.Repeat("x", 20000)}}})
		e.fails(media.EINVALID, e.owner, q, map[string]any{"id": f["id"], "i": map[string]any{"tags": []string{"a"}, "addTags": []string{"b"}}})
		readOnly := e.newKey([]string{media.ScopeMediaRead}, "")
		e.fails(media.EFORBIDDEN, readOnly, q, map[string]any{"id": f["id"], "i": map[string]any{"caption": "no"}})
		d = e.ok(e.owner, q, map[string]any{"id": f["id"], "i": map[string]any{"tags": []string{}}})
		if len(d["updateFile"].(map[string]any)["tags"].([]any)) != 0 {
			t.Fatalf("tags not cleared: %v", d)
		}
		other := e.otherOrg()
		e.fails(media.ENOTFOUND, other, q, map[string]any{"id": f["id"], "i": map[string]any{"caption": "x"}})
	})
}

// seedFiles writes n files directly through the store (fast; no bytes),
// with varied names, sizes, folders, tags, types and times. They are
// removed when the test ends, before the invariant check.
func seedFiles(t *testing.T, e *env, bucket string, n int, rng *rand.Rand) []*media.File {
	t.Helper()
	t.Cleanup(func() { purgeSeeded(t, e) })
	ctx := context.Background()
	b, err := e.m.DB.BucketByName(ctx, e.org.ID, bucket)
	if err != nil {
		t.Fatal(err)
	}
	var out []*media.File
	base := e.m.Service.Now().UTC().Truncate(time.Microsecond)
	tagPool := []string{"red", "green", "blue", "sky", "sea"}
	folders := []string{"/", "/a/", "/a/b/", "/c/"}
	types := []media.FileType{media.TypeImage, media.TypeDocument, media.TypeVideo}
	for i := range n {
		now := base.Add(-time.Hour).Add(time.Duration(rng.IntN(50)) * time.Millisecond) // many ties on purpose
		blob := &media.Blob{ID: media.NewID(media.PrefixBlob, now), OrgID: e.org.ID, StorageKey: fmt.Sprintf("seed/%d/%s", i, uniqueName("k")),
			State: media.BlobReady, Size: 1, Sha256: "x", MimeType: "image/png", CreatedAt: now}
		if err := e.m.DB.CreateBlob(ctx, blob); err != nil {
			t.Fatal(err)
		}
		var tags []string
		for _, tg := range tagPool {
			if rng.IntN(3) == 0 {
				tags = append(tags, tg)
			}
		}
		f := &media.File{ID: media.NewID(media.PrefixFile, now), OrgID: e.org.ID, BucketID: b.ID,
			Path: folders[rng.IntN(len(folders))], Name: fmt.Sprintf("%s-%03d.png", []string{"Cat", "dog", "Émile"}[rng.IntN(3)], rng.IntN(40)),
			MimeType: "image/png", Type: types[rng.IntN(len(types))], Size: int64(rng.IntN(20)), Sha256: "x", Visibility: media.VisibilityPrivate,
			Metadata: map[string]any{}, Tags: tags, Revision: 1, BlobID: blob.ID, CreatedAt: now, UpdatedAt: now.Add(time.Duration(rng.IntN(5)) * time.Millisecond)}
		f.OriginalName = f.Name
		if err := e.m.DB.CreateFile(ctx, f, nil); err != nil {
			if media.ErrorCode(err) == media.ECONFLICT {
				continue
			}
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// TestPagingProperty walks random data sets forward and backward in every
// ordering and checks each file comes exactly once, in order, with correct
// page flags; offset pages agree with cursor pages.
func TestPagingProperty(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		rng := rand.New(rand.NewPCG(1, 2))
		files := seedFiles(t, e, "b", 60, rng)
		for _, field := range []string{"CREATED_AT", "UPDATED_AT", "NAME", "SIZE"} {
			for _, dir := range []string{"ASC", "DESC"} {
				want := expectedOrder(files, field, dir)
				pageSize := 1 + rng.IntN(9)
				order := map[string]any{"field": field, "direction": dir}
				// Forward.
				var got []string
				var after any
				for first := true; ; first = false {
					c := e.ok(e.owner, `query($o: FileOrder, $n: Int, $a: String) { files(bucket: "b", orderBy: $o, first: $n, after: $a) {
						nodes { id } pageInfo { hasNextPage hasPreviousPage endCursor } } }`, map[string]any{"o": order, "n": pageSize, "a": after})["files"].(map[string]any)
					pi := c["pageInfo"].(map[string]any)
					if pi["hasPreviousPage"] != !first {
						t.Fatalf("%s %s: hasPreviousPage %v on page after %v", field, dir, pi["hasPreviousPage"], after)
					}
					for _, n := range c["nodes"].([]any) {
						got = append(got, str(n.(map[string]any)["id"]))
					}
					if pi["hasNextPage"] != true {
						break
					}
					after = pi["endCursor"]
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s %s forward (page %d):\n got %v\nwant %v", field, dir, pageSize, got, want)
				}
				// Backward.
				got = nil
				var before any
				for {
					c := e.ok(e.owner, `query($o: FileOrder, $n: Int, $b: String) { files(bucket: "b", orderBy: $o, last: $n, before: $b) {
						nodes { id } pageInfo { hasPreviousPage startCursor } } }`, map[string]any{"o": order, "n": pageSize, "b": before})["files"].(map[string]any)
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
					t.Fatalf("%s %s backward:\n got %v\nwant %v", field, dir, got, want)
				}
				// Offset pages agree.
				off := rng.IntN(len(want))
				c := e.ok(e.owner, `query($o: FileOrder, $n: Int, $off: Int) { files(bucket: "b", orderBy: $o, first: $n, offset: $off) { nodes { id } } }`,
					map[string]any{"o": order, "n": pageSize, "off": off})["files"].(map[string]any)
				var page []string
				for _, n := range c["nodes"].([]any) {
					page = append(page, str(n.(map[string]any)["id"]))
				}
				if !reflect.DeepEqual(page, want[off:min(off+pageSize, len(want))]) {
					t.Fatalf("%s %s offset %d: %v", field, dir, off, page)
				}
				// A cursor from this ordering is refused by another.
				other := map[string]any{"field": "NAME", "direction": "ASC"}
				if field == "NAME" {
					other["field"] = "SIZE"
				}
				e.fails(media.EINVALID, e.owner, `query($o: FileOrder, $a: String) { files(bucket: "b", orderBy: $o, after: $a) { totalCount } }`,
					map[string]any{"o": other, "a": after})
			}
		}
	})
}

func expectedOrder(files []*media.File, field, dir string) []string {
	fs := slices.Clone(files)
	key := func(f *media.File) string {
		switch field {
		case "CREATED_AT":
			return f.CreatedAt.Format("2006-01-02T15:04:05.000000")
		case "UPDATED_AT":
			return f.UpdatedAt.Format("2006-01-02T15:04:05.000000")
		case "NAME":
			return f.Name
		}
		return fmt.Sprintf("%020d", f.Size)
	}
	sort.Slice(fs, func(i, j int) bool {
		a, b := key(fs[i])+"\x00"+string(fs[i].ID), key(fs[j])+"\x00"+string(fs[j].ID)
		if dir == "DESC" {
			return a > b
		}
		return a < b
	})
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f.ID)
	}
	return out
}

// purgeSeeded removes seeded rows whose blobs have no bytes, so the
// invariant check only looks at real uploads.
func purgeSeeded(t testing.TB, e *env) {
	ctx := context.Background()
	db := e.m.DB.Bun()
	for _, q := range []string{
		"DELETE FROM files WHERE blob_id IN (SELECT id FROM blobs WHERE storage_key LIKE 'seed/%')",
		"DELETE FROM blobs WHERE storage_key LIKE 'seed/%'",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFiltersAndFacets(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		rng := rand.New(rand.NewPCG(3, 4))
		files := seedFiles(t, e, "b", 80, rng)
		other := e.otherOrg()
		e.createBucket(other, map[string]any{"name": "b"})
		e.mustUpload(other, "b", upload{"cat-001.png", "", pngBytes(2, 2)}, map[string]any{"tags": []string{"red"}})

		type filt struct {
			f    map[string]any
			keep func(*media.File) bool
		}
		has := func(f *media.File, t string) bool { return slices.Contains(f.Tags, t) }
		cases := []filt{
			{map[string]any{"path": "/a"}, func(f *media.File) bool { return f.Path == "/a/" }},
			{map[string]any{"pathPrefix": "/a/"}, func(f *media.File) bool { return strings.HasPrefix(f.Path, "/a/") }},
			{map[string]any{"nameContains": "CAT"}, func(f *media.File) bool { return strings.Contains(strings.ToLower(f.Name), "cat") }},
			{map[string]any{"nameContains": "émile"}, func(f *media.File) bool { return strings.HasPrefix(f.Name, "Émile") }},
			{map[string]any{"tagsAny": []string{"red", "Sea"}}, func(f *media.File) bool { return has(f, "red") || has(f, "sea") }},
			{map[string]any{"tagsAll": []string{"red", "blue"}}, func(f *media.File) bool { return has(f, "red") && has(f, "blue") }},
			{map[string]any{"types": []string{"VIDEO", "DOCUMENT"}}, func(f *media.File) bool { return f.Type != media.TypeImage }},
			{map[string]any{"mimeTypes": []string{"image/png"}}, func(f *media.File) bool { return true }},
			{map[string]any{"visibility": "PUBLIC"}, func(f *media.File) bool { return false }},
			{map[string]any{"trashed": "ONLY"}, func(f *media.File) bool { return false }},
			{map[string]any{"pathPrefix": "/a/", "tagsAny": []string{"sky"}, "nameContains": "dog"}, func(f *media.File) bool {
				return strings.HasPrefix(f.Path, "/a/") && has(f, "sky") && strings.Contains(f.Name, "dog")
			}},
		}
		mid := files[len(files)/2].CreatedAt
		cases = append(cases,
			filt{map[string]any{"createdAfter": mid}, func(f *media.File) bool { return !f.CreatedAt.Before(mid) }},
			filt{map[string]any{"createdBefore": mid}, func(f *media.File) bool { return f.CreatedAt.Before(mid) }},
			filt{map[string]any{"updatedAfter": mid, "updatedBefore": mid.Add(3 * time.Millisecond)}, func(f *media.File) bool {
				return !f.UpdatedAt.Before(mid) && f.UpdatedAt.Before(mid.Add(3*time.Millisecond))
			}},
		)
		for _, c := range cases {
			want := map[string]bool{}
			counts := map[string]int{}
			for _, f := range files {
				if c.keep(f) {
					want[string(f.ID)] = true
					for _, tg := range f.Tags {
						counts[tg]++
					}
				}
			}
			d := e.ok(e.owner, `query($f: FileFilter) { files(bucket: "b", filter: $f, first: 100) { totalCount nodes { id } availableTags { name count } } }`,
				map[string]any{"f": c.f})["files"].(map[string]any)
			got := map[string]bool{}
			for _, n := range d["nodes"].([]any) {
				got[str(n.(map[string]any)["id"])] = true
			}
			if !reflect.DeepEqual(got, want) || d["totalCount"] != float64(len(want)) {
				t.Errorf("filter %v: got %d files (total %v), want %d", c.f, len(got), d["totalCount"], len(want))
			}
			gotCounts := map[string]int{}
			for _, tc := range d["availableTags"].([]any) {
				m := tc.(map[string]any)
				gotCounts[m["name"].(string)] = int(m["count"].(float64))
			}
			if len(want) > 0 && !reflect.DeepEqual(gotCounts, counts) {
				t.Errorf("availableTags %v: got %v want %v", c.f, gotCounts, counts)
			}
		}
		// tags(prefix:) autocompletes with counts.
		d := e.ok(e.owner, `{ tags(bucket: "b", prefix: "s") { name count } }`, nil)
		for _, tc := range d["tags"].([]any) {
			if n := tc.(map[string]any)["name"].(string); n != "sky" && n != "sea" {
				t.Errorf("tags prefix: %v", n)
			}
		}
	})
}

// TestListingQueryCount: a page of files with bucket, tags, creator and
// facets costs the same small number of queries for 10 and 100 files.
func TestListingQueryCount(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		rng := rand.New(rand.NewPCG(5, 6))
		files := seedFiles(t, e, "b", 120, rng)
		other := e.member("lister@example.com", media.RoleAdmin)
		q := `query($n: Int) { files(bucket: "b", first: $n) { totalCount availableTags { name count }
			nodes { id name tags bucket { name } createdBy { email } updatedBy { email } } } }`
		count := func(n int) int {
			e.ok(e.owner, q, map[string]any{"n": n}) // warm
			got, _ := e.queries.during(func() { e.ok(e.owner, q, map[string]any{"n": n}) })
			return got
		}
		// The key lookup, the bucket by name (which also serves File.bucket),
		// the page with its tags, the count and the facets: the caller's own
		// user came with its key, so its files' creators cost nothing.
		for _, n := range []int{10, 100} {
			if got := count(n); got != 5 {
				t.Fatalf("first %d, the caller's files: %d queries", n, got)
			}
		}
		// Files of other users add one query for all of them, however many.
		for i, f := range files {
			if _, err := e.m.DB.Bun().NewRaw("UPDATE files SET created_by = ? WHERE id = ?", []string{e.viewerID(), other}[i%2], f.ID).Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range []int{10, 100} {
			if got := count(n); got != 6 {
				t.Fatalf("first %d, two users' files: %d queries", n, got)
			}
		}
		// One file by id: the key lookup and the file, which brings its
		// bucket; its creator is the caller.
		one := fmt.Sprintf(`{ file(id: %q) { name bucket { name } createdBy { email } } }`, files[0].ID)
		if got, _ := e.queries.during(func() {
			f := e.ok(e.owner, one, nil)["file"].(map[string]any)
			if f["bucket"].(map[string]any)["name"] != "b" || f["createdBy"] == nil {
				t.Errorf("file by id: %v", f)
			}
		}); got != 2 {
			t.Fatalf("file by id: %d queries", got)
		}
		// the key lookup, the bucket by name, and one COUNT
		if got, _ := e.queries.during(func() { e.ok(e.owner, `{ files(bucket: "b") { totalCount } }`, nil) }); got != 3 {
			t.Fatalf("totalCount alone: %d queries", got)
		}
	})
}

func (e *env) viewerID() string { return e.viewerIDTB(e.t) }

func TestAround(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		files := seedFiles(t, e, "b", 30, rand.New(rand.NewPCG(7, 8)))
		want := expectedOrder(files, "NAME", "ASC")
		q := `query($id: ID, $n: Int) { files(bucket: "b", orderBy: {field: NAME, direction: ASC}, first: $n, around: $id) {
			nodes { id } pageInfo { hasNextPage hasPreviousPage } } }`
		for _, c := range []struct{ at, n, from, to int }{{10, 5, 8, 13}, {0, 5, 0, 3}, {len(want) - 1, 4, len(want) - 2, len(want)}} {
			d := e.ok(e.owner, q, map[string]any{"id": want[c.at], "n": c.n})["files"].(map[string]any)
			var got []string
			for _, n := range d["nodes"].([]any) {
				got = append(got, str(n.(map[string]any)["id"]))
			}
			pi := d["pageInfo"].(map[string]any)
			if !reflect.DeepEqual(got, want[c.from:c.to]) || pi["hasPreviousPage"] != (c.from > 0) || pi["hasNextPage"] != (c.to < len(want)) {
				t.Fatalf("around %d (first %d): %v %v, want %v", c.at, c.n, got, pi, want[c.from:c.to])
			}
		}
		e.fails(media.EINVALID, e.owner, q, map[string]any{"id": "file_0000000000000000000000000z", "n": 5})
		e.fails(media.EINVALID, e.owner, `query($id: ID) { files(around: $id, offset: 2) { totalCount } }`, map[string]any{"id": want[0]})
	})
}
