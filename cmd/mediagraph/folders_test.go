package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
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
		if got := e.eventCount(before, "UPDATED"); got != 3 {
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
func (e *env) eventCount(seq int64, typ string) int {
	e.t.Helper()
	var n int
	if err := e.m.DB.Bun().NewRaw("SELECT count(*) FROM file_events WHERE type = ? AND seq > ?", typ, seq).
		Scan(context.Background(), &n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestTrashFolder(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		m1ID := e.member("m1@acme.test", media.RoleMember)
		m1 := e.newKey([]string{media.ScopeMediaRead, media.ScopeMediaCreate, media.ScopeMediaUpdate, media.ScopeMediaDelete}, m1ID)
		readOnly := e.newKey([]string{media.ScopeMediaRead, media.ScopeMediaUpdate}, m1ID)
		a := e.mustUpload(e.owner, "b", upload{"a.png", "", pngBytes(3, 3)}, map[string]any{"path": "/t/"})
		s := e.mustUpload(e.owner, "b", upload{"s.png", "", pngBytes(4, 3)}, map[string]any{"path": "/t/s/"})
		m := e.mustUpload(m1, "b", upload{"m.png", "", pngBytes(5, 3)}, map[string]any{"path": "/t/"})
		e.mustUpload(e.owner, "b", upload{"keep.png", "", pngBytes(6, 3)}, map[string]any{"path": "/tt/"})
		e.createFolder(e.owner, "b", "/t/s/empty/")
		state := func() string {
			return e.folderList(t, e.owner, "b", "/") + "|" + e.folderList(t, e.owner, "b", "/t/s/") + "|" +
				e.fileAt(a["id"]) + e.fileAt(s["id"]) + e.fileAt(m["id"])
		}
		refused := func(code, key string) {
			t.Helper()
			was := state()
			e.fails(code, key, trashFolderQuery, folderVars("b", "/t/"))
			if got := state(); got != was {
				t.Fatalf("a refused trashFolder changed things:\n%s\n%s", was, got)
			}
		}
		refused(media.EFORBIDDEN, m1)       // the owner's files
		refused(media.EFORBIDDEN, readOnly) // no media:delete
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: true) { id } }`, map[string]any{"id": s["id"]})
		refused(media.ECONFLICT, e.owner)
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: false) { id } }`, map[string]any{"id": s["id"]})
		for _, c := range []struct{ code, path string }{{media.EINVALID, "/"}, {media.EINVALID, "/t/../"}, {media.ENOTFOUND, "/none/"},
			{media.ENOTFOUND, "/t"[:2] + "x/"}} {
			e.fails(c.code, e.owner, trashFolderQuery, folderVars("b", c.path))
		}

		before := e.lastSeq()
		n := e.ok(e.owner, trashFolderQuery, folderVars("b", "/t/"))["trashFolder"]
		if n != 3.0 {
			t.Fatalf("trashFolder: %v", n)
		}
		if got := e.eventCount(before, "TRASHED"); got != 3 {
			t.Fatalf("TRASHED events: %d", got)
		}
		if got := e.folderList(t, e.owner, "b", "/"); len(strings.Fields(got)) != 1 || !strings.HasPrefix(got, "tt:1:") {
			t.Fatalf("after trashFolder: %q", got)
		}
		for _, id := range []any{a["id"], s["id"], m["id"]} {
			if got := e.fileAt(id); !strings.HasSuffix(got, "trashed=true") {
				t.Fatalf("not trashed: %s", got)
			}
		}
		// A restore brings the folder back, with the file in its place.
		e.ok(e.owner, `mutation($id: ID!) { restoreFile(id: $id) { id } }`, map[string]any{"id": s["id"]})
		if got := e.folderList(t, e.owner, "b", "/t/"); !strings.HasPrefix(got, "s:1:") {
			t.Fatalf("after a restore: %q", got)
		}
		// An explicit empty folder is removed by trashFolder (0 files).
		e.createFolder(e.owner, "b", "/void/")
		if n := e.ok(m1, trashFolderQuery, folderVars("b", "/void/"))["trashFolder"]; n != 0.0 {
			t.Fatalf("trashFolder of an empty folder: %v", n)
		}
		e.fails(media.ENOTFOUND, e.owner, trashFolderQuery, folderVars("b", "/void/"))
		// A member trashes a folder of their own files.
		e.mustUpload(m1, "b", upload{"mine.png", "", pngBytes(7, 3)}, map[string]any{"path": "/mine/sub/"})
		if n := e.ok(m1, trashFolderQuery, folderVars("b", "/mine/"))["trashFolder"]; n != 1.0 {
			t.Fatalf("a member's trashFolder: %v", n)
		}
		e.checkFolders(t)
	})
}

// TestFoldersRestricted: in a RESTRICTED bucket a member sees the folders
// of the files they can see, counting those only, and the explicit ones;
// moves and trashes leave the others' files alone and reveal nothing.
func TestFoldersRestricted(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "r", "access": "RESTRICTED"})
		scopes := []string{media.ScopeMediaRead, media.ScopeMediaCreate, media.ScopeMediaUpdate, media.ScopeMediaDelete,
			media.ScopeContentRead, media.ScopeContentWrite}
		m1 := e.newKey(scopes, e.member("m1@acme.test", media.RoleMember))
		m2 := e.newKey(scopes, e.member("m2@acme.test", media.RoleMember))
		up := func(key, path, name string, w int) map[string]any {
			return e.mustUpload(key, "r", upload{name, "", pngBytes(w, 2)}, map[string]any{"path": path})
		}
		secret := up(e.owner, "/hr/", "secret.png", 3)
		mine := up(m1, "/hr/", "m1.png", 4)
		pub := up(m1, "/pub/deep/", "m1b.png", 5)
		other := up(m2, "/m2/", "x.png", 6)
		e.createFolder(e.owner, "r", "/shared/")
		sz := func(f map[string]any) int { return int(f["size"].(float64)) }
		want := func(key, path, list string) {
			t.Helper()
			if got := e.folderList(t, key, "r", path); got != list {
				t.Fatalf("folders of %s: %q, want %q", path, got, list)
			}
		}
		want(e.owner, "/", fmt.Sprintf("hr:2:%d m2:1:%d pub:1:%d shared:0:0", sz(secret)+sz(mine), sz(other), sz(pub)))
		want(m1, "/", fmt.Sprintf("hr:1:%d pub:1:%d shared:0:0", sz(mine), sz(pub)))
		want(m1, "/pub/", fmt.Sprintf("deep:1:%d", sz(pub)))
		want(m2, "/", fmt.Sprintf("m2:1:%d shared:0:0", sz(other)))
		// Implicit folders do not tell a member when a hidden file arrived.
		c := e.ok(m2, foldersQuery, map[string]any{"b": "r"})["folders"].(map[string]any)["nodes"].([]any)
		if c[0].(map[string]any)["createdAt"] != nil || c[1].(map[string]any)["createdAt"] == nil {
			t.Fatalf("createdAt for a member: %v", c)
		}
		// Attached to a post m2 can see, m1's file counts for m2 too.
		post := str(e.ok(m1, `mutation { createPost(input: {title: "p"}) { id } }`, nil)["createPost"].(map[string]any)["id"])
		e.ok(m1, `mutation($t: ID!, $f: ID!) { attachFiles(targetId: $t, fileIds: [$f]) { __typename } }`, map[string]any{"t": post, "f": mine["id"]})
		want(m2, "/", fmt.Sprintf("hr:1:%d m2:1:%d shared:0:0", sz(mine), sz(other)))
		// m2 may see m1's file but not trash it; nothing is trashed.
		e.fails(media.EFORBIDDEN, m2, trashFolderQuery, folderVars("r", "/hr/"))
		// m1 may not rename a folder with a file m1 only sees (none here), and
		// a folder m2 sees nothing in is not found.
		e.fails(media.ENOTFOUND, m2, moveFolderQuery, moveVars("r", "/pub/", "", "/stolen/"))
		e.fails(media.ENOTFOUND, m2, trashFolderQuery, folderVars("r", "/pub/"))
		// m1's trashFolder trashes m1's file only; the hidden one stays, unrevealed.
		if n := e.ok(m1, trashFolderQuery, folderVars("r", "/hr/"))["trashFolder"]; n != 1.0 {
			t.Fatalf("m1's trashFolder: %v", n)
		}
		want(m1, "/", fmt.Sprintf("pub:1:%d shared:0:0", sz(pub)))
		want(e.owner, "/", fmt.Sprintf("hr:1:%d m2:1:%d pub:1:%d shared:0:0", sz(secret), sz(other), sz(pub)))
		if got := e.fileAt(secret["id"]); got != "r:/hr/secret.png trashed=false" {
			t.Fatalf("the hidden file: %s", got)
		}
		e.fails(media.ENOTFOUND, m1, trashFolderQuery, folderVars("r", "/hr/"))
		// A name only a hidden file has is free: m1's file gets a number beside it.
		up(m2, "/target/", "m1b.png", 7)
		f := e.ok(m1, moveFolderQuery, moveVars("r", "/pub/deep/", "", "/target/"))["moveFolder"].(map[string]any)
		if f["fileCount"] != 1.0 || f["size"] != float64(sz(pub)) {
			t.Fatalf("moved folder as m1 sees it: %v", f)
		}
		if got := e.fileAt(pub["id"]); got != "r:/target/m1b (2).png trashed=false" {
			t.Fatalf("moved beside a hidden file: %s", got)
		}
		want(m1, "/", fmt.Sprintf("shared:0:0 target:1:%d", sz(pub)))
		want(e.owner, "/target/", "")
		if got := e.folderList(t, e.owner, "r", "/"); !strings.Contains(got, "target:2:") {
			t.Fatalf("owner's view: %q", got)
		}
		// Moving a folder with a hidden file: the hidden one stays.
		up(m1, "/hr/", "again.png", 8)
		e.ok(m1, moveFolderQuery, moveVars("r", "/hr/", "", "/hr2/"))
		if got := e.fileAt(secret["id"]); got != "r:/hr/secret.png trashed=false" {
			t.Fatalf("the hidden file moved: %s", got)
		}
		e.checkFolders(t)
	})
}

const folderPageQuery = `query($b: String!, $p: String) { folders(bucket: $b, path: $p, first: 100) { totalCount
	nodes { path name fileCount size createdAt } edges { cursor } pageInfo { hasNextPage endCursor } } }`

// TestFolderQueryCount: a page of folders, and moving or trashing a
// folder, cost the same number of queries whatever their size.
func TestFolderQueryCount(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		e.createBucket(e.owner, map[string]any{"name": "c", "quotaBytes": 1 << 30, "allowedMimeTypes": []string{"image/*"}})
		e.createBucket(e.owner, map[string]any{"name": "r", "access": "RESTRICTED"})
		member := e.newKey([]string{media.ScopeMediaRead, media.ScopeMediaCreate}, e.member("m@acme.test", media.RoleMember))
		hook := e.queries
		type counts map[int]int
		list, listR, move, across, trash := counts{}, counts{}, counts{}, counts{}, counts{}
		made := 0
		for _, n := range []int{10, 60} {
			for ; made < n; made++ {
				e.createFolder(e.owner, "b", fmt.Sprintf("/f%02d/", made))
				e.mustUpload(member, "r", upload{"x.png", "", pngBytes(2, 2)}, map[string]any{"path": fmt.Sprintf("/f%02d/g/", made)})
			}
			list[n], _ = hook.during(func() { e.ok(e.owner, folderPageQuery, map[string]any{"b": "b"}) })
			listR[n], _ = hook.during(func() { e.ok(member, folderPageQuery, map[string]any{"b": "r"}) })
		}
		for _, n := range []int{5, 40} {
			for i := range n {
				e.mustUpload(e.owner, "b", upload{fmt.Sprintf("%d.png", i), "", pngBytes(2, 2)}, map[string]any{"path": fmt.Sprintf("/t%d/sub/", n)})
			}
			var sql []string
			move[n], _ = hook.during(func() {
				e.ok(e.owner, moveFolderQuery, moveVars("b", fmt.Sprintf("/t%d/", n), "", fmt.Sprintf("/u%d/", n)))
			})
			across[n], _ = hook.during(func() {
				e.ok(e.owner, moveFolderQuery, moveVars("b", fmt.Sprintf("/u%d/", n), "c", fmt.Sprintf("/v%d/", n)))
			})
			trash[n], sql = hook.during(func() {
				if got := e.ok(e.owner, trashFolderQuery, folderVars("c", fmt.Sprintf("/v%d/", n)))["trashFolder"]; got != float64(n) {
					t.Fatalf("trashFolder: %v", got)
				}
			})
			if os.Getenv("MG_LOG_QUERIES") != "" {
				for i := range sql {
					sql[i] = sql[i][:min(len(sql[i]), 100)]
				}
				t.Logf("trashFolder of %d files:\n%s", n, strings.Join(sql, "\n"))
			}
		}
		t.Logf("queries: folders %v, as a member of a RESTRICTED bucket %v, moveFolder %v, across buckets %v, trashFolder %v",
			list, listR, move, across, trash)
		// The key, the bucket, the page, the count.
		if list[10] != list[60] || list[10] > 4 || listR[10] != listR[60] || listR[10] > 4 {
			t.Errorf("listing: %v, %v", list, listR)
		}
		for name, c := range map[string]counts{"moveFolder": move, "moveFolder across": across, "trashFolder": trash} {
			if c[5] != c[40] || c[5] > 20 {
				t.Errorf("%s: %v queries for 5 and 40 files", name, c)
			}
		}
	})
}

// TestFolderPlans: on PostgreSQL, with files seeded in many folders, the
// folder listings (counters, and a member's view of a RESTRICTED bucket)
// and the folder operations' locking reads use indexes: no sequential scan
// of files or folders.
func TestFolderPlans(t *testing.T) {
	e := start(t, backends[1])
	t.Cleanup(e.checkInvariants)
	e.createBucket(e.owner, map[string]any{"name": "tree", "access": "RESTRICTED"})
	member := e.newKey([]string{media.ScopeMediaRead, media.ScopeMediaCreate, media.ScopeMediaDelete}, e.member("m@acme.test", media.RoleMember))
	e.mustUpload(member, "tree", upload{"mine.png", "", pngBytes(2, 2)}, map[string]any{"path": "/d1/e1/"})
	seedTree(t, e, "tree", 5000)
	explainAll(t, e, []planCase{
		{"folders of the root", e.owner, folderPageQuery, map[string]any{"b": "tree"}},
		{"folders of a folder", e.owner, folderPageQuery, map[string]any{"b": "tree", "p": "/d7/"}},
		{"a member's folders of the root", member, folderPageQuery, map[string]any{"b": "tree"}},
		{"a member's folders of a folder", member, folderPageQuery, map[string]any{"b": "tree", "p": "/d1/"}},
		{"trashFolder", member, trashFolderQuery, folderVars("tree", "/d1/")},
	}, 1)
}

type planCase struct {
	name, key, query string
	vars             map[string]any
}

// explainAll runs each request, EXPLAINs every SELECT it made on files or
// folders (repeat times, to log the timings too) and fails on a
// sequential scan of either.
func explainAll(t *testing.T, e *env, cases []planCase, repeat int) {
	t.Helper()
	hook := e.queries
	for _, c := range cases {
		var took time.Duration
		var sql []string
		for range repeat {
			start := time.Now()
			_, sql = hook.during(func() { e.do(c.key, c.query, c.vars) })
			took += time.Since(start)
		}
		if repeat > 1 {
			t.Logf("%s: %s a request", c.name, (took / time.Duration(repeat)).Round(10*time.Microsecond))
		}
		for _, q := range sql {
			if !strings.HasPrefix(q, "SELECT") || (!strings.Contains(q, `"files"`) && !strings.Contains(q, `"folders"`) &&
				!strings.Contains(q, "files AS") && !strings.Contains(q, "folders AS")) {
				continue
			}
			var plan []string
			if err := e.m.DB.Bun().NewRaw("EXPLAIN "+q).Scan(context.Background(), &plan); err != nil {
				t.Fatalf("%s: EXPLAIN %s: %v", c.name, q, err)
			}
			text := strings.Join(plan, "\n")
			if strings.Contains(text, "Seq Scan on files") || strings.Contains(text, "Seq Scan on folders") {
				t.Errorf("%s scans a whole table:\n%s\n%s", c.name, q, text)
			} else if os.Getenv("MG_LOG_PLANS") != "" {
				t.Logf("%s:\n%s\n%s", c.name, q, text)
			}
		}
	}
}

// seedTree writes n file rows (no bytes) with PostgreSQL's generate_series
// into n/20 folders of 20 files, each in one of 50 top folders
// (/d0/e0/ … /d49/eK/), created by the organization's owner.
func seedTree(t testing.TB, e *env, bucket string, n int) {
	t.Helper()
	ctx := context.Background()
	b, err := e.m.DB.BucketByName(ctx, e.org.ID, bucket)
	if err != nil {
		t.Fatal(err)
	}
	owner := e.viewerIDTB(t)
	id := func(prefix string) string { return "'" + prefix + "_' || lpad(i::text, 26, '0')" }
	// In statements of 10,000 rows: each stays well within the driver's read timeout.
	for from := 1; from <= n; from += 10_000 {
		to := min(from+9_999, n)
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO blobs (id, org_id, storage_key, state, size, sha256, mime_type, created_at)
			  SELECT ` + id("blob") + `, ?, 'seed/' || i, 'READY', i, 'x', 'image/png', now() FROM generate_series(?, ?) i`,
				[]any{e.org.ID, from, to}},
			{`INSERT INTO files (id, org_id, bucket_id, path, name, original_name, mime_type, type, size, sha256, visibility, metadata,
			    revision, blob_id, created_at, updated_at, created_by, updated_by)
			  SELECT ` + id("file") + `, ?, ?, '/d' || (i % 50) || '/e' || (i / 20 % (? / 1000 + 1)) || '/', 'n' || i || '.png', 'n.png',
			    'image/png', 'IMAGE', i, 'x', 'PRIVATE', '{}', 1, ` + id("blob") + `, now(), now(), ?, ? FROM generate_series(?, ?) i`,
				[]any{e.org.ID, b.ID, n, owner, owner, from, to}},
		} {
			if _, err := e.m.DB.Bun().ExecContext(ctx, q.sql, q.args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.m.DB.Bun().ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { purgeSeeded(t, e) })
}

// TestBenchFolders puts 100,000 files in 5,050 folders of a RESTRICTED
// bucket in PostgreSQL and measures folder listings (the counters, and a
// member's view computed from the files they see) at 16 connections,
// their plans, and moving and trashing a folder of 2,000 files.
func TestBenchFolders(t *testing.T) {
	benchOnly(t)
	e := benchStart(t)
	e.createBucket(e.owner, map[string]any{"name": "big", "access": "RESTRICTED"})
	memberID := e.member("m@acme.test", media.RoleMember)
	member := e.newKey([]string{media.ScopeMediaRead, media.ScopeMediaUpdate, media.ScopeMediaDelete}, memberID)
	seedStart := time.Now()
	seedTree(t, e, "big", 100_000)
	t.Logf("seeded 100,000 files (10 INSERTs of 10,000 rows; the folders kept by the triggers) in %s", time.Since(seedStart).Round(time.Millisecond))
	ctx := context.Background()
	// A member's files: 1 in 100.
	if _, err := e.m.DB.Bun().ExecContext(ctx, "UPDATE files SET created_by = ? WHERE right(id, 2) = '00'", memberID); err != nil {
		t.Fatal(err)
	}
	var folders int
	if err := e.m.DB.Bun().NewRaw("SELECT count(*) FROM folders").Scan(ctx, &folders); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d folders", folders)
	for _, c := range []struct {
		name, key, query string
	}{
		{"reference: 50 files of a folder", e.owner, `{ files(bucket: \"big\", filter: {path: \"/d7/e1/\"}, first: 50) { nodes { id name size createdAt } pageInfo { endCursor } } }`},
		{"50 folders of the root with counts", e.owner, `{ folders(bucket: \"big\", first: 50) { nodes { path name fileCount size createdAt } pageInfo { endCursor } } }`},
		{"the 101 folders of a folder, with totalCount", e.owner, `{ folders(bucket: \"big\", path: \"/d7/\", first: 100) { totalCount nodes { path fileCount size } } }`},
		{"a member's view: 50 folders of the root", member, `{ folders(bucket: \"big\", first: 50) { nodes { path name fileCount size } } }`},
		{"a member's view: the folders of a folder", member, `{ folders(bucket: \"big\", path: \"/d7/\", first: 100) { nodes { path fileCount size } } }`},
	} {
		body := `{"query":"` + c.query + `"}`
		res := load(t, e, 16, 5*time.Second, e.gqlPost(c.key, body))
		report(t, c.name+", PostgreSQL, 16 connections", res)
	}
	explainAll(t, e, []planCase{
		{"folders of the root", e.owner, folderPageQuery, map[string]any{"b": "big"}},
		{"folders of a folder", e.owner, folderPageQuery, map[string]any{"b": "big", "p": "/d7/"}},
		{"a member's folders of the root", member, folderPageQuery, map[string]any{"b": "big"}},
		{"a member's folders of a folder", member, folderPageQuery, map[string]any{"b": "big", "p": "/d7/"}},
	}, 20)
	for _, c := range []struct {
		name, query string
		vars        map[string]any
	}{
		{"moveFolder of 2,000 files (101 folders)", moveFolderQuery, moveVars("big", "/d3/", "", "/moved/d3/")},
		{"trashFolder of 2,000 files", trashFolderQuery, folderVars("big", "/d4/")},
	} {
		start := time.Now()
		e.ok(e.owner, c.query, c.vars)
		t.Logf("%s: %s", c.name, time.Since(start).Round(time.Millisecond))
	}
}
