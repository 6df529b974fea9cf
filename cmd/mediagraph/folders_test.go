package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

const foldersQuery = `query($b: String!, $p: String, $n: Int, $a: String) { folders(bucket: $b, path: $p, first: $n, after: $a) {
	totalCount nodes { path name fileCount size createdAt } edges { cursor node { path } }
	pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`

// folderList lists the folders below path as "name:files:bytes" words.
func (e *env) folderList(t *testing.T, key, bucket, path string) string {
	t.Helper()
	c := e.ok(key, foldersQuery, map[string]any{"b": bucket, "p": path, "n": 100})["folders"].(map[string]any)
	var out []string
	for _, n := range c["nodes"].([]any) {
		f := n.(map[string]any)
		if !strings.HasPrefix(str(f["path"]), path) || str(f["name"])+"/" != strings.TrimPrefix(str(f["path"]), path) {
			t.Fatalf("folder %v is not a child of %s", f, path)
		}
		out = append(out, fmt.Sprintf("%s:%v:%v", f["name"], f["fileCount"], f["size"]))
	}
	if int(c["totalCount"].(float64)) != len(out) {
		t.Fatalf("totalCount %v for %d folders", c["totalCount"], len(out))
	}
	return strings.Join(out, " ")
}

func (e *env) createFolder(key, bucket, path string) map[string]any {
	e.t.Helper()
	return e.ok(key, `mutation($b: String!, $p: String!) { createFolder(bucket: $b, path: $p) { path name fileCount size createdAt } }`,
		map[string]any{"b": bucket, "p": path})["createFolder"].(map[string]any)
}

const moveFolderQuery = `mutation($b: String!, $p: String!, $tb: String, $tp: String!) {
	moveFolder(bucket: $b, path: $p, targetBucket: $tb, targetPath: $tp) { path name fileCount size } }`

const trashFolderQuery = `mutation($b: String!, $p: String!) { trashFolder(bucket: $b, path: $p) }`

func folderVars(bucket, path string) map[string]any { return map[string]any{"b": bucket, "p": path} }

func moveVars(bucket, path, target, targetPath string) map[string]any {
	v := map[string]any{"b": bucket, "p": path, "tp": targetPath}
	if target != "" {
		v["tb"] = target
	}
	return v
}

// TestFolderListing: folders are the parents of files, counted over their
// subtree; explicit ones persist while empty; implicit ones go with their
// last file; paging, paths and tenants.
func TestFolderListing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		up := func(path, name string, w int) map[string]any {
			return e.mustUpload(e.owner, "b", upload{name, "", pngBytes(w, 1)}, map[string]any{"path": path})
		}
		a1, a2, a3 := up("/a/", "1.png", 2), up("/a/b/", "2.png", 3), up("/a/b/c/", "3.png", 4)
		d := up("/d/", "4.png", 5)
		up("/", "root.png", 6)
		size := func(fs ...map[string]any) int {
			n := 0
			for _, f := range fs {
				n += int(f["size"].(float64))
			}
			return n
		}
		want := func(path, list string) {
			t.Helper()
			if got := e.folderList(t, e.owner, "b", path); got != list {
				t.Fatalf("folders of %s: %q, want %q", path, got, list)
			}
		}
		want("/", fmt.Sprintf("a:3:%d d:1:%d", size(a1, a2, a3), size(d)))
		want("/a/", fmt.Sprintf("b:2:%d", size(a2, a3)))
		want("/a/b/", fmt.Sprintf("c:1:%d", size(a3)))
		want("/a/b/c/", "")
		want("/nope/", "")

		// Trashed files count nowhere and keep their folder for a restore.
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": a3["id"]})
		want("/a/b/", "")
		want("/a/", fmt.Sprintf("b:1:%d", size(a2)))
		e.ok(e.owner, `mutation($id: ID!) { restoreFile(id: $id) { path } }`, map[string]any{"id": a3["id"]})
		want("/a/b/", fmt.Sprintf("c:1:%d", size(a3)))

		// An explicit folder persists empty; its parents exist with it.
		f := e.createFolder(e.owner, "b", "/e/f/")
		if f["path"] != "/e/f/" || f["name"] != "f" || f["fileCount"] != 0.0 || f["createdAt"] == nil {
			t.Fatalf("createFolder: %v", f)
		}
		if again := e.createFolder(e.owner, "b", "/e/f/"); again["createdAt"] != f["createdAt"] {
			t.Fatalf("createFolder again: %v, first %v", again, f)
		}
		want("/e/", "f:0:0")
		e.ok(e.owner, `mutation($id: ID!) { updateFile(id: $id, input: {path: "/e/f/"}) { path } }`, map[string]any{"id": a1["id"]})
		want("/", fmt.Sprintf("a:2:%d d:1:%d e:1:%d", size(a2, a3), size(d), size(a1)))
		e.ok(e.owner, `mutation($id: ID!) { moveFiles(input: {ids: [$id], targetPath: "/a/"}) { id } }`, map[string]any{"id": a1["id"]})
		want("/e/", "f:0:0")
		// An existing implicit folder can be made explicit: it stays when emptied.
		if g := e.createFolder(e.owner, "b", "/d/"); g["fileCount"] != 1.0 {
			t.Fatalf("createFolder on a folder with a file: %v", g)
		}
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": d["id"]})
		want("/", fmt.Sprintf("a:3:%d d:0:0 e:0:0", size(a1, a2, a3)))
		// An implicit folder goes with its last file.
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": a3["id"]})
		want("/a/", fmt.Sprintf("b:1:%d", size(a2)))

		// Paths are normalized as file paths are, NFC included.
		e.createFolder(e.owner, "b", "cafe\u0301")
		up("/caf\u00e9/", "5.png", 7)
		if got := e.folderList(t, e.owner, "b", "/café/"); got != "" {
			t.Fatalf("café's children: %q", got)
		}
		if got := e.folderList(t, e.owner, "b", "/"); !strings.Contains(got, "café:1:") || strings.Count(got, "caf") != 1 {
			t.Fatalf("one café folder expected: %q", got)
		}
		deep := strings.Repeat("/x", media.MaxPathDepth+1) + "/"
		for _, bad := range []string{"/", "", "/a/../b/", "/a/./", "/a\x00/", "/a\\b/", "/ a/", "/a\u202e/", deep, "/" + strings.Repeat("y", 1100) + "/"} {
			r := e.fails(media.EINVALID, e.owner, `mutation($b: String!, $p: String!) { createFolder(bucket: $b, path: $p) { path } }`, folderVars("b", bad))
			if r.Errors[0].Extensions["field"] != "path" {
				t.Errorf("createFolder(%q): %s", bad, r.raw)
			}
		}
		e.fails(media.EINVALID, e.owner, foldersQuery, map[string]any{"b": "b", "p": "/../"})

		// Pages in name order, with cursors bound to the bucket and folder.
		names := []string{"k", "B", "a", "é", "z", "m", "0"}
		for _, n := range names {
			e.createFolder(e.owner, "b", "/p/"+n+"/")
		}
		slices.Sort(names) // code point order
		var got []string
		var after any
		for page := 0; ; page++ {
			c := e.ok(e.owner, foldersQuery, map[string]any{"b": "b", "p": "/p/", "n": 3, "a": after})["folders"].(map[string]any)
			pi := c["pageInfo"].(map[string]any)
			for _, n := range c["nodes"].([]any) {
				got = append(got, str(n.(map[string]any)["name"]))
			}
			if c["totalCount"] != 7.0 || pi["hasPreviousPage"] != (page > 0) {
				t.Fatalf("page %d: %v", page, c)
			}
			if pi["hasNextPage"] == false {
				break
			}
			after = pi["endCursor"]
		}
		if !slices.Equal(got, names) {
			t.Fatalf("pages: %v, want %v", got, names)
		}
		e.fails(media.EINVALID, e.owner, foldersQuery, map[string]any{"b": "b", "p": "/a/", "a": after})
		e.fails(media.EINVALID, e.owner, foldersQuery, map[string]any{"b": "b", "p": "/p/", "a": "bm9wZQ"})
		e.fails(media.EINVALID, e.owner, foldersQuery, map[string]any{"b": "b", "n": 101})
		e.fails(media.EINVALID, e.owner, foldersQuery, map[string]any{"b": "b", "n": -1})
		if c := e.ok(e.owner, foldersQuery, map[string]any{"b": "b", "p": "/p/", "n": 0})["folders"].(map[string]any); len(c["nodes"].([]any)) != 0 {
			t.Fatalf("first: 0 → %v", c)
		}

		// Another organization's bucket of that name is not found.
		other := e.otherOrg()
		e.createBucket(other, map[string]any{"name": "theirs"})
		e.fails(media.ENOTFOUND, e.owner, foldersQuery, map[string]any{"b": "theirs"})
		e.fails(media.ENOTFOUND, other, foldersQuery, map[string]any{"b": "b"})
		e.fails(media.ENOTFOUND, e.owner, `mutation { createFolder(bucket: "theirs", path: "/x/") { path } }`, nil)
		e.fails(media.ENOTFOUND, e.owner, moveFolderQuery, moveVars("b", "/a/", "theirs", "/a/"))
		e.fails(media.ENOTFOUND, other, trashFolderQuery, folderVars("b", "/a/"))
		if got := e.folderList(t, other, "theirs", "/"); got != "" {
			t.Fatalf("the other organization sees %q", got)
		}
		e.checkFolders(t)
	})
}

// TestFolderConsistency runs a random sequence of every kind of write of
// files and folders and recomputes the folders from the files after each.
func TestFolderConsistency(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "one"})
		e.createBucket(e.owner, map[string]any{"name": "two", "access": "RESTRICTED"})
		e.createBucket(e.owner, map[string]any{"name": "gone"})
		rng := rand.New(rand.NewPCG(7, uint64(len(t.Name()))))
		paths := []string{"/", "/a/", "/a/b/", "/a/b/c/", "/x/", "/x/y/", "/é/"}
		buckets := []string{"one", "two"}
		pick := func(s []string) string { return s[rng.IntN(len(s))] }
		var ids []any
		file := func() map[string]any {
			if len(ids) == 0 {
				return map[string]any{"id": "file_none"}
			}
			return map[string]any{"id": ids[rng.IntN(len(ids))]}
		}
		n := 0
		put1 := func(bucket, path string) bool {
			n++
			r := e.upload(e.owner, bucket, upload{fmt.Sprintf("f%d.png", n), "", pngBytes(1+rng.IntN(9), 1+n%7)}, map[string]any{"path": path})
			if len(r.Errors) == 0 {
				ids = append(ids, r.Data["uploadFile"].(map[string]any)["id"])
			}
			return len(r.Errors) == 0
		}
		for _, b := range []string{"one", "two", "gone"} {
			for _, p := range paths {
				put1(b, p)
			}
		}
		accepted := func(r *resp) bool { return len(r.Errors) == 0 }
		ops := []struct {
			name string
			do   func() bool
		}{
			{"upload", func() bool { return put1(pick(buckets), pick(paths)) }},
			{"updateFile path", func() bool {
				return accepted(e.do(e.owner, `mutation($id: ID!, $p: String!) { updateFile(id: $id, input: {path: $p}) { id } }`,
					map[string]any{"id": file()["id"], "p": pick(paths)}))
			}},
			{"moveFiles", func() bool {
				return accepted(e.do(e.owner, `mutation($id: ID!, $b: String, $p: String!) { moveFiles(input: {ids: [$id], targetBucket: $b, targetPath: $p}) { id } }`,
					map[string]any{"id": file()["id"], "b": pick(buckets), "p": pick(paths)}))
			}},
			{"copyFiles", func() bool {
				r := e.do(e.owner, `mutation($sb: String!, $sp: String!, $b: String, $p: String!) {
					copyFiles(input: {sourceBucket: $sb, sourcePath: $sp, targetBucket: $b, targetPath: $p}) { id } }`,
					map[string]any{"sb": pick(buckets), "sp": pick(paths[1:]), "b": pick(buckets), "p": "/copies" + pick(paths)})
				if len(r.Errors) == 0 {
					for _, c := range r.Data["copyFiles"].([]any) {
						ids = append(ids, c.(map[string]any)["id"])
					}
				}
				return accepted(r)
			}},
			{"deleteFile", func() bool {
				return accepted(e.do(e.owner, `mutation($id: ID!) { deleteFile(id: $id, force: true) }`, file()))
			}},
			{"trashFile", func() bool {
				return accepted(e.do(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, file()))
			}},
			{"restoreFile", func() bool {
				return accepted(e.do(e.owner, `mutation($id: ID!) { restoreFile(id: $id) { id } }`, file()))
			}},
			{"replaceFileContent", func() bool {
				return accepted(e.replace(e.owner, file()["id"], pngBytes(1+rng.IntN(30), 2), rng.IntN(2) == 0))
			}},
			{"emptyTrash", func() bool {
				return accepted(e.do(e.owner, `mutation($b: String) { emptyTrash(bucket: $b) }`, map[string]any{"b": pick(buckets)}))
			}},
			{"sweeper purge", func() bool {
				if _, err := e.m.DB.Bun().ExecContext(context.Background(),
					"UPDATE files SET purge_at = ? WHERE trashed_at IS NOT NULL", time.Now().Add(-time.Hour)); err != nil {
					t.Fatal(err)
				}
				r, err := e.m.Service.Sweep(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return r.Purged > 0
			}},
			{"createFolder", func() bool {
				return accepted(e.do(e.owner, `mutation($b: String!, $p: String!) { createFolder(bucket: $b, path: $p) { path } }`,
					folderVars(pick(buckets), pick(paths[1:])+pick([]string{"", "new/", "new/deeper/"}))))
			}},
			{"moveFolder", func() bool {
				return accepted(e.do(e.owner, moveFolderQuery, moveVars(pick(buckets), pick(paths[1:]), pick(buckets), "/moved"+pick(paths)+"m/")))
			}},
			{"trashFolder", func() bool {
				return accepted(e.do(e.owner, trashFolderQuery, folderVars(pick(buckets), pick(paths[1:]))))
			}},
			{"session upload", func() bool {
				data := pngBytes(4+rng.IntN(5), 3)
				s := e.session(e.owner, map[string]any{"bucket": pick(buckets), "path": pick(paths), "name": fmt.Sprintf("s%d.png", rng.IntN(1e6)),
					"size": len(data), "mimeType": "image/png"})
				if code, _ := put(t, str(s["uploadUrl"]), data); code != 200 {
					t.Fatalf("PUT: %d", code)
				}
				r := e.do(e.owner, completeSession, map[string]any{"id": s["id"]})
				if len(r.Errors) == 0 {
					ids = append(ids, r.Data["completeUploadSession"].(map[string]any)["id"])
				}
				return accepted(r)
			}},
			{"post with files", func() bool {
				r := e.multipart(e.owner, `mutation($f: [Upload!]) { createPost(input: {title: "t", files: $f}) { attachments { nodes { id } } } }`,
					map[string]any{"f": []any{nil, nil}}, map[string]upload{"0": {"p0.png", "", pngBytes(5, 5)}, "1": {"p1.png", "", pngBytes(6, 5)}},
					map[string][]string{"0": {"variables.f.0"}, "1": {"variables.f.1"}})
				if len(r.Errors) == 0 {
					for _, f := range r.Data["createPost"].(map[string]any)["attachments"].(map[string]any)["nodes"].([]any) {
						ids = append(ids, f.(map[string]any)["id"])
					}
				}
				return accepted(r)
			}},
		}
		done := map[string]int{}
		for i := range 150 {
			op := ops[rng.IntN(len(ops))]
			if op.do() {
				done[op.name]++
			}
			for _, v := range folderViolations(context.Background(), t, e.m.DB.Bun()) {
				t.Fatalf("after step %d (%s): %s", i, op.name, v)
			}
		}
		for _, op := range ops {
			if done[op.name] == 0 {
				t.Errorf("%s never succeeded in the sequence", op.name)
			}
		}
		t.Logf("accepted: %v", done)
		e.createFolder(e.owner, "gone", "/empty/")
		e.ok(e.owner, `mutation { deleteBucket(name: "gone", force: true) }`, nil)
		e.checkFolders(t)
		var left int
		if err := e.m.DB.Bun().NewRaw("SELECT count(*) FROM folders WHERE bucket_id NOT IN (SELECT id FROM buckets)").
			Scan(context.Background(), &left); err != nil || left != 0 {
			t.Fatalf("folders of a deleted bucket: %d, %v", left, err)
		}
	})
}

// fileAt returns the path, name, bucket and trash state of a file, as the owner sees it.
func (e *env) fileAt(id any) string {
	e.t.Helper()
	f := e.ok(e.owner, `query($id: ID!) { file(id: $id) { path name bucket { name } trashedAt } }`, map[string]any{"id": id})["file"].(map[string]any)
	return fmt.Sprintf("%s:%s%s trashed=%v", f["bucket"].(map[string]any)["name"], f["path"], f["name"], f["trashedAt"] != nil)
}

func TestMoveFolder(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		e.createBucket(e.owner, map[string]any{"name": "pics", "allowedMimeTypes": []string{"image/*"}, "quotaBytes": 1 << 20})
		m1key := e.newKey([]string{media.ScopeMediaRead, media.ScopeMediaCreate, media.ScopeMediaUpdate, media.ScopeMediaDelete},
			e.member("m1@acme.test", media.RoleMember))
		p1 := e.mustUpload(e.owner, "b", upload{"p.png", "", pngBytes(4, 4)}, map[string]any{"path": "/ev/2026/"})
		p2 := e.mustUpload(e.owner, "b", upload{"q.png", "", pngBytes(5, 4)}, map[string]any{"path": "/ev/"})
		tr := e.mustUpload(e.owner, "b", upload{"t.png", "", pngBytes(6, 4)}, map[string]any{"path": "/ev/2026/"})
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": tr["id"]})
		e.createFolder(e.owner, "b", "/ev/empty/")
		before := e.lastSeq()

		// Within the bucket: files (trashed too), subfolders and explicit folders move.
		f := e.ok(e.owner, moveFolderQuery, moveVars("b", "/ev/", "", "/archive/events/"))["moveFolder"].(map[string]any)
		if f["path"] != "/archive/events/" || f["name"] != "events" || f["fileCount"] != 2.0 {
			t.Fatalf("moveFolder: %v", f)
		}
		if got := e.folderList(t, e.owner, "b", "/archive/events/"); !strings.HasPrefix(got, "2026:1:") || !strings.HasSuffix(got, "empty:0:0") {
			t.Fatalf("moved folder's children: %q", got)
		}
		if got := e.folderList(t, e.owner, "b", "/"); !strings.HasPrefix(got, "archive:2:") || strings.Contains(got, "ev:") {
			t.Fatalf("root after the move: %q", got)
		}
		for id, want := range map[any]string{p1["id"]: "b:/archive/events/2026/p.png trashed=false", p2["id"]: "b:/archive/events/q.png trashed=false",
			tr["id"]: "b:/archive/events/2026/t.png trashed=true"} {
			if got := e.fileAt(id); got != want {
				t.Errorf("after the move: %s, want %s", got, want)
			}
		}
		e.ok(e.owner, `mutation($id: ID!) { restoreFile(id: $id) { id } }`, map[string]any{"id": tr["id"]})
		if got := e.fileAt(tr["id"]); got != "b:/archive/events/2026/t.png trashed=false" {
			t.Fatalf("restored into %s", got)
		}
		// One UPDATED event per file moved.
		if got := e.eventsSince(before, "UPDATED"); got != 3 {
			t.Fatalf("UPDATED events: %d", got)
		}

		// Refusals change nothing.
		snapshot := func() string {
			return e.folderList(t, e.owner, "b", "/") + "|" + e.folderList(t, e.owner, "b", "/archive/events/") + "|" +
				e.folderList(t, e.owner, "pics", "/") + "|" + e.fileAt(p1["id"]) + e.fileAt(p2["id"]) + e.fileAt(tr["id"])
		}
		for _, c := range []struct {
			code string
			vars map[string]any
		}{
			{media.EINVALID, moveVars("b", "/archive/", "", "/archive/events/inside/")},
			{media.EINVALID, moveVars("b", "/archive/events/", "", "/archive/")},
			{media.EINVALID, moveVars("b", "/archive/", "", "/archive/")},
			{media.EINVALID, moveVars("b", "/", "", "/x/")},
			{media.EINVALID, moveVars("b", "/archive/", "pics", "/")},
			{media.EINVALID, moveVars("b", "/archive/", "", strings.Repeat("/d", media.MaxPathDepth-1)+"/")},
			{media.ENOTFOUND, moveVars("b", "/nothing/", "", "/x/")},
			{media.ENOTFOUND, moveVars("b", "/archive/", "nope", "/x/")},
		} {
			if r := e.do(e.owner, moveFolderQuery, c.vars); r.code() != c.code {
				t.Errorf("moveFolder %v: %s, want %s", c.vars, r.raw, c.code)
			}
		}
		refused := func(code, key string, vars map[string]any) {
			t.Helper()
			was := snapshot()
			e.fails(code, key, moveFolderQuery, vars)
			if got := snapshot(); got != was {
				t.Fatalf("a refused move changed things:\n%s\n%s", was, got)
			}
		}
		// A name a visible file has in the target: CONFLICT, nothing moved.
		e.mustUpload(e.owner, "b", upload{"q.png", "", pngBytes(7, 4)}, map[string]any{"path": "/other/"})
		refused(media.ECONFLICT, e.owner, moveVars("b", "/archive/events/", "", "/other/"))
		// The target's policy, for every file: a PDF among the images.
		pdf := e.mustUpload(e.owner, "b", upload{"doc.pdf", "", []byte("%PDF-1.4\n%%EOF\n")}, map[string]any{"path": "/archive/events/2026/"})
		refused(media.EUNSUPPORTED, e.owner, moveVars("b", "/archive/", "pics", "/a/"))
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": pdf["id"]})
		// Quota, for the whole folder.
		e.ok(e.owner, `mutation { updateBucket(input: {name: "pics", quotaBytes: 100}) { id } }`, nil)
		refused(media.EQUOTA, e.owner, moveVars("b", "/archive/", "pics", "/a/"))
		e.ok(e.owner, `mutation { updateBucket(input: {name: "pics", quotaBytes: 1048576}) { id } }`, nil)
		// A held file cannot leave its bucket.
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: true) { id } }`, map[string]any{"id": p1["id"]})
		refused(media.ECONFLICT, e.owner, moveVars("b", "/archive/", "pics", "/a/"))
		// A member may rename the folder (descriptive) but not take others' files to another bucket.
		refused(media.EFORBIDDEN, m1key, moveVars("b", "/archive/", "pics", "/a/"))
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: false) { id } }`, map[string]any{"id": p1["id"]})
		e.ok(m1key, moveFolderQuery, moveVars("b", "/archive/", "", "/renamed/"))
		// Across buckets, by an admin: everything goes, the explicit folder too.
		f = e.ok(e.owner, moveFolderQuery, moveVars("b", "/renamed/", "pics", "/in/"))["moveFolder"].(map[string]any)
		if f["fileCount"] != 3.0 {
			t.Fatalf("moved across: %v", f)
		}
		if got := e.folderList(t, e.owner, "pics", "/in/events/"); !strings.HasPrefix(got, "2026:2:") || !strings.HasSuffix(got, "empty:0:0") {
			t.Fatalf("moved across: %q", got)
		}
		if got := e.folderList(t, e.owner, "b", "/"); strings.Contains(got, "renamed") {
			t.Fatalf("the source folder stayed: %q", got)
		}
		// Onto an existing folder: the two merge.
		e.mustUpload(e.owner, "pics", upload{"keep.png", "", pngBytes(3, 3)}, map[string]any{"path": "/merge/events/"})
		e.createFolder(e.owner, "pics", "/merge/events/empty/")
		e.ok(e.owner, moveFolderQuery, moveVars("pics", "/in/events/", "", "/merge/events/"))
		if got := e.folderList(t, e.owner, "pics", "/merge/"); !strings.HasPrefix(got, "events:4:") {
			t.Fatalf("merged: %q", got)
		}
		e.checkFolders(t)
	})
}

// lastSeq is the sequence number of the newest event.
func (e *env) lastSeq() int64 {
	e.t.Helper()
	seq, err := e.m.DB.LastEventSeq(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return seq
}

// eventsSince counts the events of a type written after seq.
func (e *env) eventsSince(seq int64, typ string) int {
	e.t.Helper()
	var n int
	if err := e.m.DB.Bun().NewRaw("SELECT count(*) FROM file_events WHERE type = ? AND seq > ?", typ, seq).
		Scan(context.Background(), &n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
