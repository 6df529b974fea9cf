package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

// Regression tests for the authorization and race findings of issue 10;
// each names the finding it covers.

// TestReplaceNeedsAVisibleFile (findings 1 and 11): replace on any upload
// route only revises a file the caller can see, with media:update; a file
// the caller cannot see is as if it did not exist (no CONFLICT, no
// revision, no URL to its bytes), and the upload gets a free name.
func TestReplaceNeedsAVisibleFile(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		m2 := w.keys["m2"]
		e.createBucket(e.owner, map[string]any{"name": "vault", "access": "RESTRICTED"})
		secret := pngBytes(11, 7)
		v := e.mustUpload(e.owner, "vault", upload{"secret.png", "", secret}, nil)
		mine := []string{}
		// Multipart, with and without replace.
		for _, replace := range []bool{true, false} {
			f := e.mustUpload(m2, "vault", upload{"secret.png", "", pngBytes(12, 7)}, map[string]any{"replace": replace})
			mine = append(mine, str(f["id"]))
		}
		// Base64.
		d := e.ok(m2, `mutation($i: UploadFileBase64Input!) { uploadFileBase64(input: $i) { id name revision } }`,
			map[string]any{"i": map[string]any{"bucket": "vault", "name": "secret.png", "mimeType": "image/png", "replace": true,
				"data": base64.StdEncoding.EncodeToString(pngBytes(13, 7))}})
		mine = append(mine, str(d["uploadFileBase64"].(map[string]any)["id"]))
		// An upload session.
		data := pngBytes(14, 7)
		s := e.session(m2, map[string]any{"bucket": "vault", "name": "secret.png", "size": len(data), "mimeType": "image/png", "replace": true})
		put(t, str(s["uploadUrl"]), data)
		d = e.ok(m2, completeSession, map[string]any{"id": s["id"]})
		mine = append(mine, str(d["completeUploadSession"].(map[string]any)["id"]))

		names := map[string]bool{}
		for _, id := range mine {
			f := e.ok(m2, `query($id: ID!) { file(id: $id) { name revision revisions { number url } } }`, map[string]any{"id": id})["file"].(map[string]any)
			if id == v["id"] || f["revision"] != float64(1) || len(f["revisions"].([]any)) != 1 || f["name"] == "secret.png" || names[str(f["name"])] {
				t.Fatalf("an upload over an invisible file's name: %v", f)
			}
			names[str(f["name"])] = true
		}
		if !names["secret (2).png"] {
			t.Errorf("names: %v", names)
		}
		o := e.ok(e.owner, `query($id: ID!) { file(id: $id) { name revision } }`, map[string]any{"id": v["id"]})["file"].(map[string]any)
		if o["name"] != "secret.png" || o["revision"] != float64(1) {
			t.Fatalf("the owner's file changed: %v", o)
		}
		if _, got := e.download(e.owner, v["id"], 0); !bytes.Equal(got, secret) {
			t.Fatal("the owner's bytes changed")
		}
		e.fails(media.ENOTFOUND, m2, `query($id: ID!) { file(id: $id) { id } }`, map[string]any{"id": v["id"]})

		// A visible file: replace needs media:update, and keeps the tags
		// and texts given with the upload.
		shared := e.mustUpload(w.keys["m1"], "org", upload{"shared.png", "", pngBytes(15, 7)}, map[string]any{"tags": []string{"old"}})
		createOnly := e.newKey([]string{media.ScopeMediaRead, media.ScopeMediaCreate}, w.ids["m2"])
		if r := e.upload(createOnly, "org", upload{"shared.png", "", pngBytes(16, 7)}, map[string]any{"replace": true}); r.code() != media.EFORBIDDEN {
			t.Fatalf("replace without media:update: %s", r.raw)
		}
		// A session is refused when it is made, before any byte is uploaded.
		if r := e.do(createOnly, createSession, map[string]any{"i": map[string]any{"bucket": "org", "name": "shared.png", "size": 100,
			"mimeType": "image/png", "replace": true}}); r.code() != media.EFORBIDDEN {
			t.Fatalf("a replacing session without media:update: %s", r.raw)
		}
		f := e.mustUpload(m2, "org", upload{"shared.png", "", pngBytes(17, 7)}, map[string]any{"replace": true, "tags": []string{"new"}, "altText": "again"})
		if f["id"] != shared["id"] || f["revision"] != float64(2) || fmt.Sprint(f["tags"]) != "[new]" || f["altText"] != "again" {
			t.Fatalf("replace of a visible file: %v", f)
		}

		// Uploads into content in a RESTRICTED bucket land in the content's folder.
		f = e.mustUpload(w.keys["m1"], "", upload{"in-post.png", "", pngBytes(18, 7)}, map[string]any{"bucket": nil, "attachTo": w.postW})
		if f["path"] != "/"+w.postW+"/" {
			t.Fatalf("an attached upload's folder: %v", f["path"])
		}
	})
}

// TestInvisibleNamesAreFree (finding 11, review G5): every path that puts
// a file under a name in a folder treats a name taken only by a file the
// caller cannot see as free, as uploads do: updateFile (name or folder),
// moveFiles (within the bucket and into it), copyFiles (by ids and by
// folder), restoreFile, upload sessions, and batches of moves and uploads.
// None answers CONFLICT, the caller's file gets a numbered name beside the
// hidden one, a batch behaves as it would if the hidden file did not
// exist, and the hidden file is not touched. A name taken by a file the
// caller can see is still CONFLICT.
func TestInvisibleNamesAreFree(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		m2 := w.keys["m2"]
		e.createBucket(e.owner, map[string]any{"name": "vault", "access": "RESTRICTED"})
		hidden := map[string][]byte{"/": pngBytes(21, 7), "/t/": pngBytes(22, 7)}
		hiddenIDs := map[string]string{}
		hide := func(path string) {
			hiddenIDs[path] = str(e.mustUpload(e.owner, "vault", upload{"secret.png", "", hidden[path]}, map[string]any{"path": path})["id"])
		}
		hide("/")
		n := 30
		mine := func(bucket, path, name string) string {
			n++
			return str(e.mustUpload(m2, bucket, upload{name, "", pngBytes(n, 8)}, map[string]any{"path": path})["id"])
		}
		// For restoreFile: m2's file is trashed before the hidden one takes its name.
		gone := mine("vault", "/t/", "secret.png")
		e.ok(m2, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": gone})
		hide("/t/")

		taken := map[string]bool{} // names m2's files took in vault's /
		next := func() string {    // the name freeName gives the next file
			for i := 2; ; i++ {
				if name := fmt.Sprintf("secret (%d).png", i); !taken[name] {
					return name
				}
			}
		}
		landed := func(what string, r *resp, id any, path string) map[string]any {
			t.Helper()
			if r.code() != "" {
				t.Fatalf("%s onto a hidden file's name: %s", what, r.raw)
			}
			f := e.ok(m2, `query($id: ID!) { file(id: $id) { name path bucket { name } } }`, map[string]any{"id": id})["file"].(map[string]any)
			name := str(f["name"])
			if f["path"] != path || f["bucket"].(map[string]any)["name"] != "vault" || name == "secret.png" || (path == "/" && taken[name]) {
				t.Fatalf("%s onto a hidden file's name: %v", what, f)
			}
			if path == "/" {
				taken[name] = true
			}
			return f
		}
		first := func(r *resp, field string) any {
			if r.code() != "" {
				return nil
			}
			return r.Data[field].([]any)[0].(map[string]any)["id"]
		}

		// updateFile: a new name, a new folder.
		id := mine("vault", "/", "a.png")
		landed("updateFile(name)", e.do(m2, updateFileQ, map[string]any{"id": id, "i": map[string]any{"name": "secret.png"}}), id, "/")
		id = mine("vault", "/u/", "secret.png")
		landed("updateFile(path)", e.do(m2, updateFileQ, map[string]any{"id": id, "i": map[string]any{"path": "/"}}), id, "/")
		// moveFiles, within the bucket and into it.
		moveQ := `mutation($ids: [ID!]!, $b: String) { moveFiles(input: {ids: $ids, targetBucket: $b, targetPath: "/"}) { id } }`
		id = mine("vault", "/m/", "secret.png")
		landed("moveFiles", e.do(m2, moveQ, map[string]any{"ids": []string{id}}), id, "/")
		id = mine("org", "/", "secret.png")
		landed("moveFiles(targetBucket)", e.do(m2, moveQ, map[string]any{"ids": []string{id}, "b": "vault"}), id, "/")
		// copyFiles, by ids and by folder.
		src := mine("org", "/c/", "secret.png")
		r := e.do(m2, `mutation($id: ID!) { copyFiles(input: {ids: [$id], targetBucket: "vault", targetPath: "/"}) { id } }`, map[string]any{"id": src})
		landed("copyFiles", r, first(r, "copyFiles"), "/")
		r = e.do(m2, `mutation { copyFiles(input: {sourceBucket: "org", sourcePath: "/c/", targetBucket: "vault", targetPath: "/"}) { id } }`, nil)
		landed("copyFiles(sourcePath)", r, first(r, "copyFiles"), "/")
		// restoreFile.
		f := landed("restoreFile", e.do(m2, `mutation($id: ID!) { restoreFile(id: $id) { id } }`, map[string]any{"id": gone}), gone, "/t/")
		if f["name"] != "secret (2).png" {
			t.Errorf("restored as %v", f["name"])
		}
		// Upload sessions, with and without replace.
		for _, replace := range []bool{false, true} {
			data := pngBytes(40, 8+len(taken))
			s := e.session(m2, map[string]any{"bucket": "vault", "name": "secret.png", "size": len(data), "mimeType": "image/png", "replace": replace})
			put(t, str(s["uploadUrl"]), data)
			r := e.do(m2, completeSession, map[string]any{"id": s["id"]})
			var id any
			if r.code() == "" {
				id = r.Data["completeUploadSession"].(map[string]any)["id"]
			}
			landed(fmt.Sprintf("completeUploadSession(replace: %v)", replace), r, id, "/")
		}

		// Batches. A file asking for "secret.png" and another asking for
		// the name the first would be renamed to both get what they would
		// get if the hidden file did not exist: the second its name, the
		// first another.
		want := next()
		a, b := mine("vault", "/b1/", "secret.png"), mine("vault", "/b2/", want)
		r = e.do(m2, moveQ, map[string]any{"ids": []string{a, b}})
		if g := landed("moveFiles(batch)", r, b, "/"); g["name"] != want {
			t.Errorf("a moved file asking for a free name got %v, want %s", g["name"], want)
		}
		landed("moveFiles(batch)", r, a, "/")
		want = next()
		r = e.multipart(m2, `mutation($in: [UploadFileInput!]!) { uploadFiles(inputs: $in) { id name } }`,
			map[string]any{"in": []any{map[string]any{"bucket": "vault", "file": nil}, map[string]any{"bucket": "vault", "file": nil}}},
			map[string]upload{"0": {"secret.png", "", pngBytes(41, 8)}, "1": {want, "", pngBytes(42, 8)}},
			map[string][]string{"0": {"variables.in.0.file"}, "1": {"variables.in.1.file"}})
		var ups []any
		if r.code() == "" {
			ups = r.Data["uploadFiles"].([]any)
		}
		if len(ups) != 2 {
			t.Fatalf("uploadFiles onto a hidden file's name: %s", r.raw)
		}
		if g := landed("uploadFiles", r, ups[1].(map[string]any)["id"], "/"); g["name"] != want {
			t.Errorf("an uploaded file asking for a free name got %v, want %s", g["name"], want)
		}
		landed("uploadFiles", r, ups[0].(map[string]any)["id"], "/")
		// Two files of one batch asking for one name: CONFLICT, as without
		// the hidden file.
		a, b = mine("vault", "/d1/", "secret.png"), mine("vault", "/d2/", "secret.png")
		e.fails(media.ECONFLICT, m2, moveQ, map[string]any{"ids": []string{a, b}})
		r = e.multipart(m2, `mutation($in: [UploadFileInput!]!) { uploadFiles(inputs: $in) { id } }`,
			map[string]any{"in": []any{map[string]any{"bucket": "vault", "file": nil}, map[string]any{"bucket": "vault", "file": nil}}},
			map[string]upload{"0": {"secret.png", "", pngBytes(43, 8)}, "1": {"secret.png", "", pngBytes(44, 8)}},
			map[string][]string{"0": {"variables.in.0.file"}, "1": {"variables.in.1.file"}})
		if r.code() != media.ECONFLICT {
			t.Errorf("two uploads of one name in a batch: %s", r.raw)
		}

		// A name m2 can see is taken.
		own := mine("vault", "/own/", "mine.png")
		id = mine("vault", "/own2/", "mine.png")
		e.fails(media.ECONFLICT, m2, updateFileQ, map[string]any{"id": id, "i": map[string]any{"path": "/own/"}})
		e.fails(media.ECONFLICT, m2, `mutation($id: ID!) { moveFiles(input: {ids: [$id], targetPath: "/own/"}) { id } }`, map[string]any{"id": id})
		e.fails(media.ECONFLICT, m2, `mutation($id: ID!) { copyFiles(input: {ids: [$id], targetPath: "/own/"}) { id } }`, map[string]any{"id": own})

		// The hidden files are as they were, and still hidden.
		for path, data := range hidden {
			id := hiddenIDs[path]
			f := e.ok(e.owner, `query($id: ID!) { file(id: $id) { name path revision trashedAt } }`, map[string]any{"id": id})["file"].(map[string]any)
			if f["name"] != "secret.png" || f["path"] != path || f["revision"] != float64(1) || f["trashedAt"] != nil {
				t.Errorf("the hidden file in %s changed: %v", path, f)
			}
			if _, got := e.download(e.owner, id, 0); !bytes.Equal(got, data) {
				t.Errorf("the hidden file's bytes in %s changed", path)
			}
			e.fails(media.ENOTFOUND, m2, `query($id: ID!) { file(id: $id) { id } }`, map[string]any{"id": id})
		}
	})
}

// TestFailedRequestsUndoOnlyWhatTheyMade (findings 2 and 14): a batch or
// a post, comment or message that fails part-way leaves nothing of its
// own behind and changes nothing that existed before: not a file it
// replaced, not the bytes, not a hold.
func TestFailedRequestsUndoOnlyWhatTheyMade(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		m1 := w.keys["m1"]
		e.createBucket(e.owner, map[string]any{"name": "tiny", "quotaBytes": 100})
		original := pngBytes(21, 7)
		x := e.mustUpload(e.owner, "org", upload{"x.png", "", original}, nil)
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: true) { id } }`, map[string]any{"id": x["id"]})
		objects := len(e.objects())
		batch := `mutation($inputs: [UploadFileInput!]!) { uploadFiles(inputs: $inputs) { id } }`
		for _, second := range []map[string]any{
			{"bucket": "tiny", "file": nil},                              // over the quota: fails at commit
			{"attachTo": "post_0000000000000000000000000z", "file": nil}, // no such post: fails before
			{"bucket": "org", "name": "x.png", "file": nil},              // the same name twice in one batch
		} {
			r := e.multipart(m1, batch, map[string]any{"inputs": []any{map[string]any{"bucket": "org", "name": "x.png", "replace": true, "file": nil}, second}},
				map[string]upload{"0": {"a.png", "", pngBytes(22, 7)}, "1": {"b.png", "", pngBytes(23, 9)}},
				map[string][]string{"0": {"variables.inputs.0.file"}, "1": {"variables.inputs.1.file"}})
			if r.code() == "" {
				t.Fatalf("the batch succeeded: %s", r.raw)
			}
		}
		d := e.ok(e.owner, `query($id: ID!) { file(id: $id) { revision legalHold revisions { number } } }`, map[string]any{"id": x["id"]})["file"].(map[string]any)
		if d["revision"] != float64(1) || d["legalHold"] != true || len(d["revisions"].([]any)) != 1 {
			t.Fatalf("a failed batch changed the file it replaced: %v", d)
		}
		if _, got := e.download(e.owner, x["id"], 0); !bytes.Equal(got, original) {
			t.Fatal("a failed batch changed the bytes")
		}
		// Content with uploads and an attachment that is not there: no
		// post, comment or message, no file, no bytes.
		for _, c := range []struct {
			name, query, target string
		}{
			{"createPost", `mutation($a: [ID!], $f: [Upload!]) { createPost(input: {title: "t", attachmentIds: $a, files: $f}) { id } }`, ""},
			{"createComment", `mutation($t: ID!, $a: [ID!], $f: [Upload!]) { createComment(input: {postId: $t, body: "b", attachmentIds: $a, files: $f}) { id } }`, w.postW},
			{"sendMessage", `mutation($t: ID!, $a: [ID!], $f: [Upload!]) { sendMessage(input: {conversationId: $t, body: "b", attachmentIds: $a, files: $f}) { id } }`, w.conv},
		} {
			vars := map[string]any{"a": []string{"file_0000000000000000000000000z"}, "f": []any{nil}}
			if c.target != "" {
				vars["t"] = c.target
			}
			r := e.multipart(m1, c.query, vars,
				map[string]upload{"0": {"att.png", "", pngBytes(24, 7)}}, map[string][]string{"0": {"variables.f.0"}})
			if r.code() != media.ENOTFOUND {
				t.Fatalf("%s: %s", c.name, r.raw)
			}
		}
		var posts, comments, messages int
		for table, n := range map[string]*int{"posts": &posts, "comments": &comments, "messages": &messages} {
			if err := e.m.DB.Bun().NewRaw("SELECT count(*) FROM "+table).Scan(context.Background(), n); err != nil {
				t.Fatal(err)
			}
		}
		if posts != 2 || comments != 0 || messages != 1 {
			t.Fatalf("failed requests left content behind: %d posts, %d comments, %d messages", posts, comments, messages)
		}
		if n := len(e.objects()); n != objects {
			t.Fatalf("failed requests left %d objects behind", n-objects)
		}
	})
}

// TestSessionURLsDieWithTheSession (finding 3): once a session is
// completed or aborted, its URLs store nothing: the verified bytes cannot
// be rewritten (nor spread by dedupe), and an aborted session cannot
// store bytes outside any quota.
func TestSessionURLsDieWithTheSession(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.smallParts()
		e.createBucket(e.owner, map[string]any{"name": "b"})
		refused := func(url string, body []byte) bool {
			req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return true // the store closed the connection
			}
			res.Body.Close()
			return res.StatusCode >= 400
		}
		// One PUT.
		data := pngBytes(31, 7)
		s := e.session(e.owner, map[string]any{"bucket": "b", "name": "one.png", "size": len(data), "mimeType": "image/png"})
		put(t, str(s["uploadUrl"]), data)
		f := e.ok(e.owner, completeSession, map[string]any{"id": s["id"]})["completeUploadSession"].(map[string]any)
		twin := e.mustUpload(e.owner, "b", upload{"twin.png", "", data}, nil) // shares the blob (dedupe)
		evil := bytes.Clone(data)
		evil[len(evil)-1] ^= 1
		if !refused(str(s["uploadUrl"]), evil) {
			t.Error("the upload URL took bytes after completion")
		}
		for _, id := range []any{f["id"], twin["id"]} {
			if got := e.stored(str(id)); !bytes.Equal(got, data) {
				t.Fatal("the verified bytes changed after completion")
			}
		}
		// Several parts.
		big := randomBytes(media.MinPartSize+100, 3)
		s = e.session(e.owner, map[string]any{"bucket": "b", "name": "two.bin", "size": len(big), "mimeType": "application/octet-stream"})
		parts := s["parts"].([]any)
		for i, p := range parts {
			u := str(p.(map[string]any)["url"])
			put(t, u, big[i*media.MinPartSize:min((i+1)*media.MinPartSize, len(big))])
		}
		f = e.ok(e.owner, completeSession, map[string]any{"id": s["id"]})["completeUploadSession"].(map[string]any)
		if !refused(str(parts[1].(map[string]any)["url"]), big[media.MinPartSize:]) {
			t.Error("a part URL took bytes after completion")
		}
		if got := e.stored(str(f["id"])); !bytes.Equal(got, big) {
			t.Fatal("the bytes changed after completion")
		}
		// Aborted: nothing lands.
		objects := len(e.objects())
		s = e.session(e.owner, map[string]any{"bucket": "b", "name": "gone.png", "size": len(data), "mimeType": "image/png"})
		e.ok(e.owner, `mutation($id: ID!) { abortUploadSession(id: $id) }`, map[string]any{"id": s["id"]})
		if !refused(str(s["uploadUrl"]), data) {
			t.Error("the upload URL took bytes after abort")
		}
		if n := len(e.objects()); n != objects {
			t.Fatalf("an aborted session's URL stored %d objects", n-objects)
		}
	})
}

// TestKeysForOthers (finding 4): an admin cannot become the OWNER or read
// a member's conversations through a key made for them.
func TestKeysForOthers(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		q := `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { scopes user { id } createdBy { id } } } }`
		for _, c := range []struct {
			actor, user string
			scopes      []string
			code        string
		}{
			{"admin", "owner", []string{media.ScopeMediaRead}, media.EFORBIDDEN},
			{"admin", "admin2", []string{media.ScopeMediaRead}, media.EFORBIDDEN},
			{"admin", "m1", []string{media.ScopeContentRead}, media.EFORBIDDEN},
			{"admin", "m1", []string{media.ScopeContentWrite}, media.EFORBIDDEN},
			{"owner", "admin", []string{media.ScopeContentRead}, media.EFORBIDDEN},
			{"admin", "m1", []string{media.ScopeMediaRead, media.ScopeMediaCreate}, ""},
			{"owner", "admin", []string{media.ScopeAdmin, media.ScopeMediaRead}, ""},
			{"m1", "m1", []string{media.ScopeContentRead, media.ScopeMediaRead}, ""}, // for oneself: one's own scopes
		} {
			if c.user == "admin2" {
				w.ids["admin2"] = e.member("admin2@acme.test", media.RoleAdmin)
			}
			r := e.do(w.keys[c.actor], q, map[string]any{"i": map[string]any{"name": "k", "scopes": c.scopes, "userId": w.ids[c.user]}})
			if r.code() != c.code {
				t.Errorf("%s making a %v key for %s: %s, want %q", c.actor, c.scopes, c.user, r.raw, c.code)
				continue
			}
			if c.code != "" {
				continue
			}
			k := r.Data["createApiKey"].(map[string]any)["apiKey"].(map[string]any)
			var by any
			if cb, ok := k["createdBy"].(map[string]any); ok {
				by = cb["id"]
			}
			if want := map[bool]any{true: nil, false: w.ids[c.actor]}[c.actor == c.user]; by != want {
				t.Errorf("createdBy of a key %s made for %s: %v", c.actor, c.user, by)
			}
		}
		// The key an admin made cannot read the member's conversations.
		key := e.ok(w.keys["admin"], q, map[string]any{"i": map[string]any{"name": "k", "scopes": []string{media.ScopeMediaRead}, "userId": w.ids["m1"]}})
		e.fails(media.EFORBIDDEN, key["createApiKey"].(map[string]any)["key"].(string), `query($c: ID!) { conversation(id: $c) { id } }`, map[string]any{"c": w.conv})
	})
}

// TestPurgeRacesLoseNothing (finding 5): files restored or put on hold
// while the sweeper (or emptyTrash) purges the trash stay: each purge is
// decided on the file's locked row as it is then.
func TestPurgeRacesLoseNothing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const n = 100
		e.createBucket(e.owner, map[string]any{"name": "short", "trashRetentionSeconds": 0})
		ids := e.quickUploads(e.owner, "short", n)
		for _, id := range ids {
			e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": id})
		}
		acked := make([]bool, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		done := make(chan struct{})
		wg.Add(1)
		go func() { // the sweeper, and emptyTrash, until the requests are answered
			defer wg.Done()
			<-start
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if i%2 == 0 {
					if _, err := e.m.Service.Sweep(context.Background()); err != nil {
						t.Error(err)
						return
					}
				} else {
					e.do(e.owner, `mutation { emptyTrash(bucket: "short") }`, nil)
				}
			}
		}()
		var reqs sync.WaitGroup
		for i, id := range ids {
			reqs.Add(1)
			go func() {
				defer reqs.Done()
				<-start
				q := `mutation($id: ID!) { restoreFile(id: $id) { id } }`
				if i%2 == 1 {
					q = `mutation($id: ID!) { setLegalHold(id: $id, hold: true) { id } }`
				}
				r := e.do(e.owner, q, map[string]any{"id": id})
				if c := r.code(); c != "" && c != media.ENOTFOUND {
					t.Errorf("%s", r.raw)
				}
				acked[i] = r.code() == ""
			}()
		}
		close(start)
		reqs.Wait()
		close(done)
		wg.Wait()
		kept := 0
		for i, id := range ids {
			if !acked[i] {
				continue
			}
			kept++
			r := e.do(e.owner, `query($id: ID!) { file(id: $id) { trashedAt legalHold } }`, map[string]any{"id": id})
			if r.code() != "" {
				t.Errorf("file %d: acknowledged %s, then purged", i, map[bool]string{true: "hold", false: "restore"}[i%2 == 1])
				continue
			}
			f := r.Data["file"].(map[string]any)
			if (i%2 == 0 && f["trashedAt"] != nil) || (i%2 == 1 && f["legalHold"] != true) {
				t.Errorf("file %d: acknowledged change undone: %v", i, f)
			}
		}
		t.Logf("%d of %d restores and holds were acknowledged before their file was purged", kept, n)
	})
}

// TestStateRacesLoseNothing (finding 6): trash against hold, restore
// against hold, and an update against a move, 100 concurrent pairs each:
// every acknowledged change is in the final state.
func TestStateRacesLoseNothing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const n = 100
		e.createBucket(e.owner, map[string]any{"name": "r"})
		ids := e.quickUploads(e.owner, "r", 2*n)
		trashQ := `mutation($id: ID!) { trashFile(id: $id) { id } }`
		restoreQ := `mutation($id: ID!) { restoreFile(id: $id) { id } }`
		holdQ := `mutation($id: ID!) { setLegalHold(id: $id, hold: true) { id } }`
		updateQ := `mutation($id: ID!) { updateFile(id: $id, input: {caption: "new"}) { id } }`
		moveQ := `mutation($id: ID!) { moveFiles(input: {ids: [$id], targetPath: "/moved/"}) { id } }`
		for _, id := range ids[n:] {
			e.ok(e.owner, trashQ, map[string]any{"id": id})
		}
		pairs := func(ids []string, a, b string) (ackA, ackB []bool) {
			ackA, ackB = make([]bool, len(ids)), make([]bool, len(ids))
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, id := range ids {
				for j, q := range []string{a, b} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						r := e.do(e.owner, q, map[string]any{"id": id})
						if c := r.code(); c != "" && c != media.ECONFLICT {
							t.Errorf("%s", r.raw)
						}
						[][]bool{ackA, ackB}[j][i] = r.code() == ""
					}()
				}
			}
			close(start)
			wg.Wait()
			return ackA, ackB
		}
		state := func(id string) map[string]any {
			return e.ok(e.owner, `query($id: ID!) { file(id: $id) { trashedAt legalHold caption path } }`, map[string]any{"id": id})["file"].(map[string]any)
		}
		trashed, held := pairs(ids[:n], trashQ, holdQ)
		for i, id := range ids[:n] {
			f := state(id)
			if (trashed[i] && f["trashedAt"] == nil) || (held[i] && f["legalHold"] != true) || (!trashed[i] && f["trashedAt"] != nil) {
				t.Errorf("trash %v / hold %v: %v", trashed[i], held[i], f)
			}
		}
		restored, held := pairs(ids[n:], restoreQ, holdQ)
		for i, id := range ids[n:] {
			f := state(id)
			if (restored[i] && f["trashedAt"] != nil) || (held[i] && f["legalHold"] != true) {
				t.Errorf("restore %v / hold %v: %v", restored[i], held[i], f)
			}
		}
		// Release the holds, then race updates against moves.
		for _, id := range ids {
			e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: false) { id } }`, map[string]any{"id": id})
		}
		updated, moved := pairs(ids[:n], updateQ, moveQ)
		for i, id := range ids[:n] {
			if trashed[i] {
				continue // moves refuse trashed files
			}
			f := state(id)
			if (updated[i] && f["caption"] != "new") || (moved[i] && f["path"] != "/moved/") {
				t.Errorf("update %v / move %v: %v", updated[i], moved[i], f)
			}
		}
	})
}

// TestLockOrderRaces (review G2): every transaction that locks buckets
// and files takes them in one order (buckets, then files, then blobs, each
// by id), so concurrent requests never deadlock on PostgreSQL (which
// answered UNAVAILABLE, "deadlock detected"), and nothing acknowledged is
// lost. 60 concurrent pairs each: replaceFileContent against moveFiles
// (within the bucket and to another), setLegalHold against
// deleteBucket(force), moveFiles out of a bucket against
// deleteBucket(force), and two copyFiles of the same files, in opposite
// orders, into two buckets.
func TestLockOrderRaces(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const n = 60
		// race runs a(i) and b(i) at once for every i, fails on any code
		// but those allowed (UNAVAILABLE never is), and returns which
		// were acknowledged.
		race := func(what string, a, b func(i int) *resp, allowA, allowB []string) (ackA, ackB []bool) {
			ackA, ackB = make([]bool, n), make([]bool, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				for j, f := range []func(int) *resp{a, b} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						r := f(i)
						if c := r.code(); c != "" && !slices.Contains([][]string{allowA, allowB}[j], c) {
							t.Errorf("%s %d: %.300s", what, i, r.raw)
						}
						[][]bool{ackA, ackB}[j][i] = r.code() == ""
					}()
				}
			}
			close(start)
			wg.Wait()
			return ackA, ackB
		}
		e.createBucket(e.owner, map[string]any{"name": "r"})
		e.createBucket(e.owner, map[string]any{"name": "keep"})
		fileQ := `query($id: ID!) { file(id: $id) { path revision legalHold bucket { name } } }`
		file := func(id string) (map[string]any, bool) {
			r := e.do(e.owner, fileQ, map[string]any{"id": id})
			if r.code() == media.ENOTFOUND {
				return nil, false
			}
			if r.code() != "" {
				t.Fatalf("%s", r.raw)
			}
			return r.Data["file"].(map[string]any), true
		}
		bucketExists := func(name string) bool {
			r := e.do(e.owner, `query($n: String!) { bucket(name: $n) { id } }`, map[string]any{"n": name})
			if c := r.code(); c != "" && c != media.ENOTFOUND {
				t.Fatalf("%s", r.raw)
			}
			return r.code() == ""
		}
		moveQ := `mutation($ids: [ID!]!, $b: String, $p: String!) { moveFiles(input: {ids: $ids, targetBucket: $b, targetPath: $p}) { id } }`
		deleteBucketQ := `mutation($n: String!) { deleteBucket(name: $n, force: true) }`

		// A new revision against a move: even i within the bucket, odd i
		// to another (the replace may then answer CONFLICT: the file left
		// the bucket its content was checked against).
		ids := e.quickUploads(e.owner, "r", n)
		target := func(i int) any { return map[bool]any{true: "keep", false: nil}[i%2 == 1] }
		replaced, moved := race("replace/move",
			func(i int) *resp { return e.replace(e.owner, ids[i], pngBytes(60+i%30, 61+i/30), true) },
			func(i int) *resp {
				return e.do(e.owner, moveQ, map[string]any{"ids": []string{ids[i]}, "b": target(i), "p": "/moved/"})
			},
			[]string{media.ECONFLICT}, nil)
		for i, id := range ids {
			f, ok := file(id)
			want := map[bool]string{true: "keep", false: "r"}[i%2 == 1]
			if !ok || !moved[i] || f["path"] != "/moved/" || f["bucket"].(map[string]any)["name"] != want ||
				f["revision"] != float64(map[bool]int{true: 2, false: 1}[replaced[i]]) {
				t.Errorf("replace %v / move %v: %v", replaced[i], moved[i], f)
			}
		}

		// A hold against deleting its bucket: exactly one wins.
		held := make([]string, n)
		for i := range n {
			e.createBucket(e.owner, map[string]any{"name": fmt.Sprintf("h%02d", i)})
			held[i] = e.quickUploads(e.owner, fmt.Sprintf("h%02d", i), 1)[0]
		}
		holds, deletes := race("hold/deleteBucket",
			func(i int) *resp {
				return e.do(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: true) { id } }`, map[string]any{"id": held[i]})
			},
			func(i int) *resp { return e.do(e.owner, deleteBucketQ, map[string]any{"n": fmt.Sprintf("h%02d", i)}) },
			[]string{media.ENOTFOUND}, []string{media.ECONFLICT})
		for i, id := range held {
			f, ok := file(id)
			exists := bucketExists(fmt.Sprintf("h%02d", i))
			if holds[i] == deletes[i] || (holds[i] && (!ok || f["legalHold"] != true || !exists)) || (deletes[i] && (ok || exists)) {
				t.Errorf("hold %v / deleteBucket %v: file %v, bucket exists %v", holds[i], deletes[i], f, exists)
			}
		}

		// A move out of a bucket against deleting it: a moved file is kept.
		leaving := make([]string, n)
		for i := range n {
			e.createBucket(e.owner, map[string]any{"name": fmt.Sprintf("d%02d", i)})
			leaving[i] = e.quickUploads(e.owner, fmt.Sprintf("d%02d", i), 1)[0]
		}
		moved, deletes = race("move/deleteBucket",
			func(i int) *resp {
				return e.do(e.owner, moveQ, map[string]any{"ids": []string{leaving[i]}, "b": "keep", "p": fmt.Sprintf("/d%02d/", i)})
			},
			func(i int) *resp { return e.do(e.owner, deleteBucketQ, map[string]any{"n": fmt.Sprintf("d%02d", i)}) },
			[]string{media.ENOTFOUND}, nil)
		for i, id := range leaving {
			f, ok := file(id)
			if !deletes[i] || bucketExists(fmt.Sprintf("d%02d", i)) || ok != moved[i] ||
				(ok && (f["bucket"].(map[string]any)["name"] != "keep" || f["path"] != fmt.Sprintf("/d%02d/", i))) {
				t.Errorf("move %v / deleteBucket %v: %v", moved[i], deletes[i], f)
			}
		}

		// Two copies of the same files in opposite orders into two buckets
		// reuse the same blobs.
		e.createBucket(e.owner, map[string]any{"name": "x"})
		e.createBucket(e.owner, map[string]any{"name": "y"})
		copyQ := `mutation($ids: [ID!]!, $b: String!, $p: String!) { copyFiles(input: {ids: $ids, targetBucket: $b, targetPath: $p}) { id } }`
		race("copy/copy",
			func(i int) *resp {
				return e.do(e.owner, copyQ, map[string]any{"ids": []string{ids[0], ids[2]}, "b": "x", "p": fmt.Sprintf("/c%02d/", i)})
			},
			func(i int) *resp {
				return e.do(e.owner, copyQ, map[string]any{"ids": []string{ids[2], ids[0]}, "b": "y", "p": fmt.Sprintf("/c%02d/", i)})
			},
			nil, nil)
		for _, b := range []string{"x", "y"} {
			d := e.ok(e.owner, `query($b: String!) { bucket(name: $b) { files { totalCount } } }`, map[string]any{"b": b})
			if got := d["bucket"].(map[string]any)["files"].(map[string]any)["totalCount"]; got != float64(2*n) {
				t.Errorf("bucket %s holds %v copies, want %d", b, got, 2*n)
			}
		}
	})
}

// quickUploads uploads n small distinct PNGs to a bucket through the
// service (no HTTP: the races, not the uploads, are under test).
func (e *env) quickUploads(key, bucket string, n int) []string {
	e.t.Helper()
	ctx := context.Background()
	p, err := e.m.Service.Authenticate(ctx, key)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx = media.WithPrincipal(ctx, p)
	ids := make([]string, n)
	for i := range n {
		data := pngBytes(1+i%50, 1+i/50)
		f, err := e.m.Service.Upload(ctx, media.UploadInput{Bucket: bucket, Name: fmt.Sprintf("f%03d.png", i),
			Content: bytes.NewReader(data), Size: int64(len(data))})
		if err != nil {
			e.t.Fatal(err)
		}
		ids[i] = string(f.ID)
	}
	return ids
}

// TestDestroyRights (findings 7, 8, 10): destroying needs the uploader, an
// admin, or the author of what the file was uploaded into; attaching a
// file to one's post grants nothing; keepPrevious: false destroys, and
// visibility and bucket moves are the uploader's.
func TestDestroyRights(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		m1, m2 := w.keys["m1"], w.keys["m2"]
		// resW was uploaded into postW by m1; the post passes to m2.
		e.ok(w.keys["admin"], `mutation($id: ID!, $a: ID!) { updatePost(id: $id, input: {authorId: $a}) { id } }`, map[string]any{"id": w.postW, "a": w.ids["m2"]})
		e.ok(m2, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": w.files["resW"]})
		e.ok(m2, `mutation($id: ID!) { restoreFile(id: $id) { id } }`, map[string]any{"id": w.files["resW"]})
		// m1 uploaded it but no longer authors the post: still the uploader.
		e.ok(m1, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": w.files["resW"]})
		// Attaching m1's file to m2's post grants m2 nothing.
		e.ok(m2, attachQ, map[string]any{"t": w.postW, "f": w.files["org"]})
		e.fails(media.EFORBIDDEN, m2, `mutation($id: ID!) { deleteFile(id: $id, force: true) }`, map[string]any{"id": w.files["org"]})
		// keepPrevious: false destroys the previous content.
		if r := e.replace(m2, w.files["org"], pngBytes(41, 7), false); r.code() != media.EFORBIDDEN {
			t.Fatalf("keepPrevious false by another member: %s", r.raw)
		}
		if r := e.replace(m2, w.files["org"], pngBytes(41, 7), true); r.code() != "" {
			t.Fatalf("a new revision by another member: %s", r.raw)
		}
		if r := e.replace(m1, w.files["org"], pngBytes(42, 7), false); r.code() != "" {
			t.Fatalf("keepPrevious false by the uploader: %s", r.raw)
		}
		// Visibility and bucket moves are the uploader's (or an admin's).
		e.createBucket(e.owner, map[string]any{"name": "org2"})
		e.fails(media.EFORBIDDEN, m2, updateFileQ, map[string]any{"id": w.files["org"], "i": map[string]any{"visibility": "PUBLIC"}})
		e.fails(media.EFORBIDDEN, m2, `mutation($id: ID!) { moveFiles(input: {ids: [$id], targetBucket: "org2", targetPath: "/"}) { id } }`, map[string]any{"id": w.files["org"]})
		e.ok(m2, `mutation($id: ID!) { moveFiles(input: {ids: [$id], targetPath: "/elsewhere/"}) { id } }`, map[string]any{"id": w.files["org"]})
		e.ok(m1, `mutation($id: ID!) { moveFiles(input: {ids: [$id], targetBucket: "org2", targetPath: "/"}) { id } }`, map[string]any{"id": w.files["org"]})
	})
}

// TestLegalHoldKeepsFilesInPlace (finding 9): a held file blocks
// deleteBucket(force) and moves to another bucket, not moves within one.
func TestLegalHoldKeepsFilesInPlace(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "a"})
		e.createBucket(e.owner, map[string]any{"name": "b"})
		f := e.mustUpload(e.owner, "a", upload{"h.png", "", pngBytes(5, 6)}, nil)
		g := e.mustUpload(e.owner, "a", upload{"free.png", "", pngBytes(6, 6)}, nil)
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: true) { id } }`, map[string]any{"id": f["id"]})
		e.fails(media.ECONFLICT, e.owner, `mutation { deleteBucket(name: "a", force: true) }`, nil)
		e.fails(media.ECONFLICT, e.owner, `mutation($ids: [ID!]!) { moveFiles(input: {ids: $ids, targetBucket: "b", targetPath: "/"}) { id } }`, map[string]any{"ids": []any{g["id"], f["id"]}})
		e.ok(e.owner, `mutation($id: ID!) { moveFiles(input: {ids: [$id], targetPath: "/sub/"}) { id } }`, map[string]any{"id": f["id"]})
		d := e.ok(e.owner, `{ bucket(name: "a") { files { totalCount } } }`, nil)
		if d["bucket"].(map[string]any)["files"].(map[string]any)["totalCount"] != float64(2) {
			t.Fatalf("files after refused deletes and moves: %v", d)
		}
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: false) { id } }`, map[string]any{"id": f["id"]})
		e.ok(e.owner, `mutation { deleteBucket(name: "a", force: true) }`, nil)
	})
}

// TestUnicodeNames (finding 12): a name in NFD is the same name as in NFC.
func TestUnicodeNames(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		f := e.mustUpload(e.owner, "b", upload{"caf\u00e9.png", "", pngBytes(2, 3)}, map[string]any{"path": "/d\u00e9j\u00e0/"})
		if r := e.upload(e.owner, "b", upload{"cafe\u0301.png", "", pngBytes(3, 3)}, map[string]any{"path": "/de\u0301ja\u0300/"}); r.code() != media.ECONFLICT {
			t.Fatalf("the NFD spelling of a taken name: %s", r.raw)
		}
		g := e.mustUpload(e.owner, "b", upload{"ma\u0301s.png", "", pngBytes(4, 3)}, nil)
		if f["name"] != "caf\u00e9.png" || g["name"] != "m\u00e1s.png" {
			t.Fatalf("names are not NFC: %q %q", f["name"], g["name"])
		}
	})
}

// TestOriginalNameIsTheClients: originalName is the file name the client
// sent, whatever name the file got.
func TestOriginalNameIsTheClients(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		f := e.mustUpload(e.owner, "b", upload{"IMG_0001.PNG", "", pngBytes(2, 3)}, map[string]any{"name": "cover.png"})
		if f["name"] != "cover.png" || f["originalName"] != "IMG_0001.PNG" {
			t.Fatalf("name %v, originalName %v", f["name"], f["originalName"])
		}
	})
}

// TestContentCounts: comments and messages have totalCount, and a
// conversation's members cost one query however many there are.
func TestContentCounts(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		d := e.ok(e.owner, `mutation { createPost(input: {title: "p"}) { id } }`, nil)
		post := d["createPost"].(map[string]any)["id"]
		for range 3 {
			e.ok(e.owner, `mutation($p: ID!) { createComment(input: {postId: $p, body: "c"}) { id } }`, map[string]any{"p": post})
		}
		var members []string
		for i := range 30 {
			members = append(members, e.member(fmt.Sprintf("u%d@acme.test", i), media.RoleMember))
		}
		convs := map[int]any{}
		for _, size := range []int{1, 30} {
			d := e.ok(e.owner, `mutation($m: [ID!]!) { createConversation(input: {memberIds: $m}) { id } }`, map[string]any{"m": members[:size]})
			convs[size] = d["createConversation"].(map[string]any)["id"]
			for range 2 {
				e.ok(e.owner, `mutation($c: ID!) { sendMessage(input: {conversationId: $c, body: "m"}) { id } }`, map[string]any{"c": convs[size]})
			}
		}
		d = e.ok(e.owner, `query($p: ID!) { post(id: $p) { comments(first: 1) { totalCount nodes { id } } } }`, map[string]any{"p": post})
		if c := d["post"].(map[string]any)["comments"].(map[string]any); c["totalCount"] != float64(3) || len(c["nodes"].([]any)) != 1 {
			t.Fatalf("comments: %v", c)
		}
		q := `query($c: ID!) { conversation(id: $c) { members { email } messages(first: 1) { totalCount } } }`
		counts := map[int]int{}
		for size, id := range convs {
			var d map[string]any
			counts[size], _ = e.queries.during(func() { d = e.ok(e.owner, q, map[string]any{"c": id}) })
			c := d["conversation"].(map[string]any)
			if len(c["members"].([]any)) != size+1 || c["messages"].(map[string]any)["totalCount"] != float64(2) {
				t.Fatalf("conversation: %v", c)
			}
		}
		if counts[1] != counts[30] {
			t.Fatalf("queries for 2 and 31 members: %v", counts)
		}
	})
}
