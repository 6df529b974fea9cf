package main

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

const apiKeysQ = `query($u: ID, $n: Int, $after: String) { apiKeys(userId: $u, first: $n, after: $after) {
	edges { cursor node { id } } nodes { id name prefix scopes createdAt lastUsedAt revokedAt user { id } createdBy { id } }
	pageInfo { hasNextPage hasPreviousPage endCursor } } }`

// TestAPIKeys: apiKeys lists the caller's own keys, or (admin) a member's,
// never another organization's, and never a secret or its hash.
func TestAPIKeys(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		m1 := w.keys["m1"]
		secrets := []string{m1, w.keys["m2"], w.keys["admin"], e.owner}
		made := func(key, userID, name string) map[string]any {
			in := map[string]any{"name": name, "scopes": []string{media.ScopeMediaRead}}
			if userID != "" {
				in["userId"] = userID
			}
			d := e.ok(key, createKeyQ, map[string]any{"i": in})["createApiKey"].(map[string]any)
			secrets = append(secrets, str(d["key"]))
			return d
		}
		made(w.keys["admin"], w.ids["m1"], "from admin")
		made(m1, "", "mine")
		d := e.ok(m1, `mutation { createApiKey(input: {name: "old", scopes: ["media:read"]}) { key apiKey { id } } }`, nil)["createApiKey"].(map[string]any)
		secrets = append(secrets, str(d["key"]))
		e.ok(m1, `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, map[string]any{"id": d["apiKey"].(map[string]any)["id"]})

		list := func(key string, vars map[string]any) (*resp, []map[string]any) {
			r := e.do(key, apiKeysQ, vars)
			if len(r.Errors) > 0 {
				t.Fatalf("apiKeys: %s", r.raw)
			}
			var out []map[string]any
			for _, n := range r.Data["apiKeys"].(map[string]any)["nodes"].([]any) {
				out = append(out, n.(map[string]any))
			}
			return r, out
		}
		r, own := list(m1, nil)
		var names []string
		for _, k := range own {
			names = append(names, str(k["name"]))
			if k["user"].(map[string]any)["id"] != w.ids["m1"] {
				t.Fatalf("another user's key in m1's list: %v", k)
			}
			switch k["name"] {
			case "from admin":
				if k["createdBy"] == nil || k["createdBy"].(map[string]any)["id"] != w.ids["admin"] {
					t.Fatalf("createdBy: %v", k)
				}
			case "old":
				if k["revokedAt"] == nil {
					t.Fatalf("revokedAt: %v", k)
				}
			case "cli":
				if k["lastUsedAt"] == nil || k["createdBy"] != nil {
					t.Fatalf("the key in use: %v", k)
				}
			}
		}
		if want := []string{"cli", "from admin", "mine", "old"}; !reflect.DeepEqual(names, want) {
			t.Fatalf("m1's keys: %v, want %v (oldest first)", names, want)
		}
		// Never a secret, nor its hash.
		for _, sec := range secrets {
			if strings.Contains(string(r.raw), sec) || strings.Contains(string(r.raw), media.HashKey(sec)) {
				t.Fatalf("apiKeys shows a secret or its hash: %s", r.raw)
			}
		}
		for _, k := range own {
			if p := str(k["prefix"]); len(p) != 9 || !strings.HasPrefix(p, "sk_") {
				t.Fatalf("prefix: %v", k)
			}
		}

		// Keyset paging: one key a page, in the same order.
		var paged []string
		var after any
		for page := 0; ; page++ {
			r := e.ok(m1, apiKeysQ, map[string]any{"n": 1, "after": after})["apiKeys"].(map[string]any)
			for _, n := range r["nodes"].([]any) {
				paged = append(paged, str(n.(map[string]any)["name"]))
			}
			pi := r["pageInfo"].(map[string]any)
			if pi["hasPreviousPage"] != (page > 0) {
				t.Fatalf("page %d: %v", page, pi)
			}
			if pi["hasNextPage"] != true {
				break
			}
			after = pi["endCursor"]
		}
		if !reflect.DeepEqual(paged, names) {
			t.Fatalf("paged: %v, want %v", paged, names)
		}
		e.fails(media.EINVALID, m1, apiKeysQ, map[string]any{"after": "file_00000000000000000000000000"})
		e.fails(media.EINVALID, m1, apiKeysQ, map[string]any{"n": 101})

		// Another member's keys: admins only; another organization's user: NOT_FOUND for all.
		outsiderID := str(e.ok(w.keys["outsider"], `{ viewer { user { id } } }`, nil)["viewer"].(map[string]any)["user"].(map[string]any)["id"])
		e.fails(media.EFORBIDDEN, w.keys["m2"], apiKeysQ, map[string]any{"u": w.ids["m1"]})
		e.fails(media.ENOTFOUND, w.keys["m2"], apiKeysQ, map[string]any{"u": outsiderID})
		e.fails(media.ENOTFOUND, w.keys["admin"], apiKeysQ, map[string]any{"u": outsiderID})
		e.fails(media.ENOTFOUND, w.keys["outsider"], apiKeysQ, map[string]any{"u": w.ids["m1"]})
		e.fails(media.ENOTFOUND, w.keys["admin"], apiKeysQ, map[string]any{"u": "not an id"})
		adminKeyForOwn := e.newKey([]string{media.ScopeMediaRead}, w.ids["admin"]) // admin role, no admin scope
		e.fails(media.EFORBIDDEN, adminKeyForOwn, apiKeysQ, map[string]any{"u": w.ids["m1"]})
		_, byAdmin := list(w.keys["admin"], map[string]any{"u": w.ids["m1"]})
		if len(byAdmin) != len(own) {
			t.Fatalf("the admin sees %d of m1's %d keys", len(byAdmin), len(own))
		}
		_, self := list(m1, map[string]any{"u": w.ids["m1"]})
		if len(self) != len(own) {
			t.Fatalf("m1 naming itself: %d keys", len(self))
		}
		_, theirs := list(w.keys["outsider"], nil)
		for _, k := range theirs {
			if k["user"].(map[string]any)["id"] != outsiderID {
				t.Fatalf("the outsider sees %v", k)
			}
		}
	})
}

// base64File is an uploadFileBase64 input for a small PNG.
func base64File(name string, w, h int, extra map[string]any) map[string]any {
	in := map[string]any{"name": name, "mimeType": "image/png", "data": base64.StdEncoding.EncodeToString(pngBytes(w, h))}
	for k, v := range extra {
		in[k] = v
	}
	return in
}

const base64Q = `mutation($i: UploadFileBase64Input!) { uploadFileBase64(input: $i) { id name path bucket { name }
	usages { target { __typename ... on Post { id } ... on Message { id } } } tags altText caption copyright revision } }`

// TestBase64AttachTo: uploadFileBase64(attachTo:) works as multipart's:
// the attachments bucket unless one is named, the content's folder there,
// the author (or a member) now, and nothing left behind when it fails.
func TestBase64AttachTo(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		m1, m2 := w.keys["m1"], w.keys["m2"]
		f := e.ok(m1, base64Q, map[string]any{"i": base64File("in-post.png", 30, 5, map[string]any{"attachTo": w.postW})})["uploadFileBase64"].(map[string]any)
		if f["bucket"].(map[string]any)["name"] != media.AttachmentsBucket || f["path"] != "/"+w.postW+"/" ||
			fmt.Sprint(f["usages"]) != fmt.Sprintf("[map[target:map[__typename:Post id:%s]]]", w.postW) {
			t.Fatalf("an attached base64 upload: %v", f)
		}
		// Into a message, in a named bucket: there, in the folder asked for.
		f = e.ok(w.keys["admin"], base64Q, map[string]any{"i": base64File("in-msg.png", 31, 5, map[string]any{"attachTo": w.msg, "bucket": "org", "path": "/m/"})})["uploadFileBase64"].(map[string]any)
		if f["bucket"].(map[string]any)["name"] != "org" || f["path"] != "/m/" || !strings.Contains(fmt.Sprint(f["usages"]), w.msg) {
			t.Fatalf("into a message: %v", f)
		}

		objects, files := len(e.objects()), e.ok(e.owner, `{ files(first: 100) { totalCount } }`, nil)
		for _, c := range []struct {
			key, code string
			in        map[string]any
		}{
			{m2, media.EFORBIDDEN, map[string]any{"attachTo": w.postW}},                       // not its author
			{m2, media.ENOTFOUND, map[string]any{"attachTo": w.postP}},                        // not visible
			{m2, media.ENOTFOUND, map[string]any{"attachTo": w.msg}},                          // not a member
			{w.keys["outsider"], media.ENOTFOUND, map[string]any{"attachTo": w.postW}},        // another organization
			{m1, media.ECONFLICT, map[string]any{"attachTo": w.postW, "name": "in-post.png"}}, // the name is taken there: after the bytes were stored
			{m1, media.EINVALID, map[string]any{}},                                            // neither bucket nor attachTo
		} {
			e.fails(c.code, c.key, base64Q, map[string]any{"i": base64File("x.png", 32, 5, c.in)})
		}
		if n, d := len(e.objects()), e.ok(e.owner, `{ files(first: 100) { totalCount } }`, nil); n != objects || !reflect.DeepEqual(d, files) {
			t.Fatalf("failed uploads left %d objects (had %d), files %v (had %v)", n, objects, d, files)
		}
	})
}

// TestAttachmentsAround: Post/Comment/Message.attachments(around:) is
// files(around:): a page centred on a file of the list.
func TestAttachmentsAround(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		m1 := w.keys["m1"]
		comment := str(e.ok(m1, `mutation($p: ID!) { createComment(input: {postId: $p, body: "c"}) { id } }`, map[string]any{"p": w.postW})["createComment"].(map[string]any)["id"])
		var ids []string
		for i := range 7 {
			ids = append(ids, str(e.mustUpload(m1, "org", upload{fmt.Sprintf("n%d.png", i), "", pngBytes(50+i, 5)}, nil)["id"]))
		}
		for _, target := range []string{w.postW, comment, w.msg} {
			e.ok(m1, `mutation($t: ID!, $f: [ID!]!) { attachFiles(targetId: $t, fileIds: $f) { __typename } }`, map[string]any{"t": target, "f": ids})
		}
		q := `query($p: ID!, $c: ID!, $a: ID) { post(id: $p) { attachments(orderBy: {field: NAME, direction: ASC}, first: 3, around: $a) { ...page } }
			conversation(id: $c) { messages { nodes { attachments(orderBy: {field: NAME, direction: ASC}, first: 3, around: $a) { ...page } } } }
			node(id: $p) { ... on Post { comments { nodes { attachments(orderBy: {field: NAME, direction: ASC}, first: 3, around: $a) { ...page } } } } } }
			fragment page on FileConnection { nodes { name } pageInfo { hasNextPage hasPreviousPage } }`
		d := e.ok(m1, q, map[string]any{"p": w.postW, "c": w.conv, "a": ids[4]})
		pages := []any{d["post"].(map[string]any)["attachments"],
			d["conversation"].(map[string]any)["messages"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["attachments"],
			d["node"].(map[string]any)["comments"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["attachments"]}
		for i, p := range pages {
			if got := fmt.Sprint(p); got != "map[nodes:[map[name:n3.png] map[name:n4.png] map[name:n5.png]] pageInfo:map[hasNextPage:true hasPreviousPage:true]]" {
				t.Fatalf("page %d around n4: %s", i, got)
			}
		}
		// A file that is not attached is not in the listing.
		other := str(e.mustUpload(m1, "org", upload{"loose.png", "", pngBytes(60, 5)}, nil)["id"])
		e.fails(media.EINVALID, m1, `query($p: ID!, $a: ID) { post(id: $p) { attachments(first: 3, around: $a) { nodes { id } } } }`, map[string]any{"p": w.postW, "a": other})
	})
}

// TestReplaceKeepsDescription: replace: true on every upload route and
// sessions is "upload this again": tags and texts given with the upload
// are applied to the file, and those not given stay as the file has them.
func TestReplaceKeepsDescription(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		orig := e.mustUpload(e.owner, "b", upload{"r.png", "", pngBytes(20, 5)}, map[string]any{"tags": []string{"a"}, "altText": "alt0", "metadata": map[string]any{"k": 1}})
		id := orig["id"]
		check := func(route string, rev int, want string) {
			t.Helper()
			f := e.ok(e.owner, `query($id: ID!) { file(id: $id) { revision tags altText caption copyright metadata } }`, map[string]any{"id": id})["file"].(map[string]any)
			if f["revision"] != float64(rev) || fmt.Sprintf("%v %v %v %v %v", f["tags"], f["altText"], f["caption"], f["copyright"], f["metadata"]) != want {
				t.Fatalf("after %s: %v, want revision %d and %s", route, f, rev, want)
			}
		}
		// base64, with a caption and tags, then with nothing.
		d := e.ok(e.owner, base64Q, map[string]any{"i": base64File("r.png", 21, 5, map[string]any{"bucket": "b", "replace": true, "tags": []string{"B"}, "caption": "c1"})})
		if d["uploadFileBase64"].(map[string]any)["id"] != id {
			t.Fatalf("base64 replace made another file: %v", d)
		}
		check("base64", 2, "[b] alt0 c1 <nil> map[k:1]")
		e.ok(e.owner, base64Q, map[string]any{"i": base64File("r.png", 22, 5, map[string]any{"bucket": "b", "replace": true})})
		check("base64 without texts", 3, "[b] alt0 c1 <nil> map[k:1]")
		// uploadFiles (multipart batch), with an altText and metadata.
		r := e.multipart(e.owner, `mutation($in: [UploadFileInput!]!) { uploadFiles(inputs: $in) { id } }`,
			map[string]any{"in": []any{map[string]any{"bucket": "b", "file": nil, "replace": true, "altText": "alt2", "metadata": map[string]any{"k": 2}}}},
			map[string]upload{"0": {"r.png", "", pngBytes(23, 5)}}, map[string][]string{"0": {"variables.in.0.file"}})
		if len(r.Errors) > 0 {
			t.Fatalf("uploadFiles: %s", r.raw)
		}
		check("uploadFiles", 4, "[b] alt2 c1 <nil> map[k:2]")
		// A session, with tags and a copyright.
		data := pngBytes(24, 5)
		s := e.session(e.owner, map[string]any{"bucket": "b", "name": "r.png", "size": len(data), "mimeType": "image/png", "replace": true,
			"tags": []string{"s"}, "copyright": "cr"})
		put(t, str(s["uploadUrl"]), data)
		e.ok(e.owner, completeSession, map[string]any{"id": s["id"]})
		check("a session", 5, "[s] alt2 c1 cr map[k:2]")
		// uploadFile, with an empty tag list: given, so the tags go.
		f := e.mustUpload(e.owner, "b", upload{"r.png", "", pngBytes(25, 5)}, map[string]any{"replace": true, "tags": []string{}})
		if f["id"] != id {
			t.Fatalf("uploadFile replace made another file: %v", f)
		}
		check("uploadFile", 6, "[] alt2 c1 cr map[k:2]")
	})
}

// TestCopyFilePath: copyFiles(sourceBucket, sourcePath) takes one file's
// path as well as a folder's.
func TestCopyFilePath(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		m2 := w.keys["m2"]
		copyQ := `mutation($i: CopyFilesInput!) { copyFiles(input: $i) { id name path bucket { name } tags } }`
		photo := e.mustUpload(e.owner, "org", upload{"photo.png", "", pngBytes(20, 5)}, map[string]any{"path": "/a/b/", "tags": []string{"t"}})
		e.mustUpload(e.owner, "org", upload{"other.png", "", pngBytes(21, 5)}, map[string]any{"path": "/a/b/"})
		// A folder named like a file beside a file of that name.
		e.mustUpload(e.owner, "org", upload{"x.png", "", pngBytes(22, 5)}, map[string]any{"path": "/a/b/photo.png/"})

		d := e.ok(m2, copyQ, map[string]any{"i": map[string]any{"sourceBucket": "org", "sourcePath": "/a/b/photo.png", "targetPath": "/c/"}})["copyFiles"].([]any)
		if len(d) != 1 || d[0].(map[string]any)["name"] != "photo.png" || d[0].(map[string]any)["path"] != "/c/" ||
			d[0].(map[string]any)["id"] == photo["id"] || fmt.Sprint(d[0].(map[string]any)["tags"]) != "[t]" {
			t.Fatalf("a file's path copied: %v", d)
		}
		// With a final "/", the folder.
		d = e.ok(m2, copyQ, map[string]any{"i": map[string]any{"sourceBucket": "org", "sourcePath": "/a/b/photo.png/", "targetPath": "/d/"}})["copyFiles"].([]any)
		if len(d) != 1 || d[0].(map[string]any)["name"] != "x.png" {
			t.Fatalf("the folder copied: %v", d)
		}
		// Into another bucket; a file at the root.
		e.createBucket(e.owner, map[string]any{"name": "dst"})
		root := e.mustUpload(e.owner, "org", upload{"root.png", "", pngBytes(23, 5)}, nil)
		d = e.ok(e.owner, copyQ, map[string]any{"i": map[string]any{"sourceBucket": "org", "sourcePath": "root.png", "targetBucket": "dst", "targetPath": "/"}})["copyFiles"].([]any)
		if len(d) != 1 || d[0].(map[string]any)["bucket"].(map[string]any)["name"] != "dst" || d[0].(map[string]any)["id"] == root["id"] {
			t.Fatalf("a root file copied: %v", d)
		}
		// No file and no folder; a file the caller cannot see is neither.
		e.fails(media.EINVALID, m2, copyQ, map[string]any{"i": map[string]any{"sourceBucket": "org", "sourcePath": "/a/b/nothing.png", "targetPath": "/c/"}})
		hidden := e.ok(w.keys["m1"], `query($id: ID!) { file(id: $id) { name path } }`, map[string]any{"id": w.files["res"]})["file"].(map[string]any)
		e.fails(media.EINVALID, m2, copyQ, map[string]any{"i": map[string]any{"sourceBucket": media.AttachmentsBucket,
			"sourcePath": str(hidden["path"]) + str(hidden["name"]), "targetPath": "/c/"}})
		e.fails(media.EINVALID, m2, copyQ, map[string]any{"i": map[string]any{"sourceBucket": "org", "sourcePath": "/a/../photo.png", "targetPath": "/c/"}})
	})
}
