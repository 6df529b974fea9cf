package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

// world is the cast and objects of the authorization matrix.
type world struct {
	e                       *env
	keys                    map[string]string // actor → key
	ids                     map[string]string // user name → id
	files                   map[string]string // file name → id
	postW, postP, conv, msg string
	session                 string            // an upload session of m1
	keyIDs                  map[string]string // actor → the id of a spare key of theirs
	webhook, event          string            // a webhook of the owner's, an event it may redeliver
}

// newWorld sets up: an OWNER, an ADMIN, two MEMBERs (m1 uploads and
// authors; m2 is a bystander) and another organization's OWNER; a WORKSPACE
// and a PRIVATE post by m1; a conversation of m1 and the admin with a
// message; files in an ORGANIZATION bucket and in the RESTRICTED
// attachments bucket, attached (or not) to each of them.
func newWorld(t *testing.T, e *env) *world {
	w := &world{e: e, keys: map[string]string{"owner": e.owner}, ids: map[string]string{}, files: map[string]string{}}
	w.ids["owner"] = e.viewerID()
	for _, u := range []struct {
		name string
		role media.Role
	}{{"admin", media.RoleAdmin}, {"m1", media.RoleMember}, {"m2", media.RoleMember}} {
		w.ids[u.name] = e.member(u.name+"@acme.test", u.role)
		scopes := media.AllScopes
		if !u.role.IsAdmin() {
			scopes = []string{media.ScopeMediaRead, media.ScopeMediaCreate, media.ScopeMediaUpdate, media.ScopeMediaDelete, media.ScopeContentRead, media.ScopeContentWrite}
		}
		w.keys[u.name] = e.newKey(scopes, w.ids[u.name])
	}
	w.keys["outsider"] = e.otherOrg()
	e.createBucket(e.owner, map[string]any{"name": "org"})
	m1 := w.keys["m1"]
	post := func(title, vis string) string {
		d := e.ok(m1, `mutation($t: String!, $v: PostVisibility) { createPost(input: {title: $t, visibility: $v}) { id } }`, map[string]any{"t": title, "v": vis})
		return str(d["createPost"].(map[string]any)["id"])
	}
	w.postW, w.postP = post("hello", "WORKSPACE"), post("secret", "PRIVATE")
	d := e.ok(m1, `mutation($a: ID!) { createConversation(input: {title: "dm", memberIds: [$a]}) { id } }`, map[string]any{"a": w.ids["admin"]})
	w.conv = str(d["createConversation"].(map[string]any)["id"])
	d = e.ok(m1, `mutation($c: ID!) { sendMessage(input: {conversationId: $c, body: "hi"}) { id } }`, map[string]any{"c": w.conv})
	w.msg = str(d["sendMessage"].(map[string]any)["id"])

	upload := func(name string, extra map[string]any) {
		f := e.mustUpload(m1, str(extra["bucket"]), upload{name + ".png", "", pngBytes(3+len(w.files), 3)}, extra)
		w.files[name] = str(f["id"])
	}
	upload("org", map[string]any{"bucket": "org", "tags": []string{"t-org"}})
	upload("res", map[string]any{"bucket": nil, "attachTo": w.postW, "tags": []string{"t-res"}})
	// "res" was attached to postW by the upload; detach it to make it a loose restricted file.
	e.ok(m1, `mutation($t: ID!, $f: ID!) { detachFiles(targetId: $t, fileIds: [$f]) { __typename } }`, map[string]any{"t": w.postW, "f": w.files["res"]})
	upload("resW", map[string]any{"bucket": nil, "attachTo": w.postW, "tags": []string{"t-resw"}})
	upload("resP", map[string]any{"bucket": nil, "attachTo": w.postP, "tags": []string{"t-resp"}})
	upload("resMsg", map[string]any{"bucket": nil, "attachTo": w.msg, "tags": []string{"t-resmsg"}})
	return w
}

// sees reports whether actor can read file through every entry point, and
// fails if the entry points disagree.
func (w *world) sees(t *testing.T, actor, file string) bool {
	t.Helper()
	e, key, id := w.e, w.keys[actor], w.files[file]
	viaFile := e.do(key, `query($id: ID!) { file(id: $id) { id } }`, map[string]any{"id": id})
	viaNode := e.do(key, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
	viaNodes := e.ok(key, `query($id: ID!) { nodes(ids: [$id]) { id } }`, map[string]any{"id": id})["nodes"].([]any)[0] != nil
	listing := e.ok(key, `{ files(first: 100) { nodes { id } } }`, nil)["files"].(map[string]any)["nodes"].([]any)
	viaList := false
	for _, n := range listing {
		viaList = viaList || n.(map[string]any)["id"] == id
	}
	tags := e.ok(key, `{ tags(first: 100) { name } files(first: 1) { availableTags { name } } }`, nil)
	viaTags := false
	for _, tg := range tags["tags"].([]any) {
		viaTags = viaTags || tg.(map[string]any)["name"] == "t-"+lower(file)
	}
	viaFacets := false
	for _, tg := range tags["files"].(map[string]any)["availableTags"].([]any) {
		viaFacets = viaFacets || tg.(map[string]any)["name"] == "t-"+lower(file)
	}
	status, _ := e.download(key, id, 0)
	got := map[string]bool{"file": viaFile.code() == "", "node": viaNode.code() == "", "nodes": viaNodes, "files": viaList,
		"tags": viaTags, "availableTags": viaFacets, "download": status == http.StatusOK}
	for entry, ok := range got {
		if ok != got["file"] {
			t.Fatalf("%s reading %s: entry points disagree: %v", actor, file, got)
		}
		_ = entry
	}
	if !got["file"] && viaFile.code() != media.ENOTFOUND {
		t.Fatalf("%s reading %s: %s, want NOT_FOUND", actor, file, viaFile.raw)
	}
	return got["file"]
}

func lower(s string) string {
	out := []rune(s)
	for i, r := range out {
		if r >= 'A' && r <= 'Z' {
			out[i] = r + 32
		}
	}
	return string(out)
}

func TestAuthorizationMatrix(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		// Reads: CONTRACT rules 1 and 2, through file, node, nodes, files,
		// tags, availableTags and downloads.
		for _, c := range []struct {
			actor string
			want  map[string]bool
		}{
			{"owner", map[string]bool{"org": true, "res": true, "resW": true, "resP": true, "resMsg": true}},
			{"admin", map[string]bool{"org": true, "res": true, "resW": true, "resP": true, "resMsg": true}},
			{"m1", map[string]bool{"org": true, "res": true, "resW": true, "resP": true, "resMsg": true}},
			{"m2", map[string]bool{"org": true, "res": false, "resW": true, "resP": false, "resMsg": false}},
			{"outsider", map[string]bool{"org": false, "res": false, "resW": false, "resP": false, "resMsg": false}},
		} {
			for file, want := range c.want {
				if got := w.sees(t, c.actor, file); got != want {
					t.Errorf("%s sees %s: %v, want %v", c.actor, file, got, want)
				}
			}
		}
		// Content: posts by visibility, conversations by membership (admins too).
		for _, c := range []struct {
			actor, query, id string
			visible          bool
		}{
			{"m2", `query($id: ID!) { post(id: $id) { id } }`, w.postW, true},
			{"m2", `query($id: ID!) { post(id: $id) { id } }`, w.postP, false},
			{"admin", `query($id: ID!) { post(id: $id) { id } }`, w.postP, true},
			{"outsider", `query($id: ID!) { post(id: $id) { id } }`, w.postW, false},
			{"admin", `query($id: ID!) { conversation(id: $id) { id } }`, w.conv, true},
			{"owner", `query($id: ID!) { conversation(id: $id) { id } }`, w.conv, false},
			{"m2", `query($id: ID!) { conversation(id: $id) { id } }`, w.conv, false},
			{"m2", `query($id: ID!) { node(id: $id) { id } }`, w.msg, false},
		} {
			r := e.do(w.keys[c.actor], c.query, map[string]any{"id": c.id})
			if (r.code() == "") != c.visible || (!c.visible && r.code() != media.ENOTFOUND) {
				t.Errorf("%s reading %s: %s", c.actor, c.id, r.raw)
			}
		}
		// Rule 4: the attachments of content one cannot see are an empty page.
		for _, c := range []struct {
			actor, target string
			count         float64
		}{{"m2", w.postP, 0}, {"m2", w.postW, 1}, {"m1", w.postP, 1}, {"m2", "post_0000000000000000000000000z", 0}, {"outsider", w.postW, 0}, {"owner", w.msg, 0}, {"admin", w.msg, 1}} {
			d := e.ok(w.keys[c.actor], `query($t: ID) { files(filter: {attachedTo: $t}) { totalCount nodes { id } availableTags { name } } }`, map[string]any{"t": c.target})
			if got := d["files"].(map[string]any)["totalCount"]; got != c.count {
				t.Errorf("%s: attachments of %s: %v, want %v", c.actor, c.target, got, c.count)
			}
		}
		d := e.ok(w.keys["m1"], `query($id: ID!) { post(id: $id) { attachments { totalCount nodes { id } } } }`, map[string]any{"id": w.postW})
		if d["post"].(map[string]any)["attachments"].(map[string]any)["totalCount"] != float64(1) {
			t.Errorf("Post.attachments: %v", d)
		}
		// Usages show only what the caller can see.
		q := `query($id: ID!) { file(id: $id) { usageCount usages { target { __typename ... on Post { id } ... on Message { id } } attachedBy { id } } } }`
		d = e.ok(w.keys["m1"], q, map[string]any{"id": w.files["resMsg"]})
		if u := d["file"].(map[string]any); u["usageCount"] != float64(1) || u["usages"].([]any)[0].(map[string]any)["target"].(map[string]any)["__typename"] != "Message" {
			t.Errorf("usages: %v", d)
		}
		d = e.ok(w.keys["owner"], q, map[string]any{"id": w.files["resMsg"]})
		if d["file"].(map[string]any)["usageCount"] != float64(0) {
			t.Errorf("the owner sees a usage in a conversation it is not in: %v", d)
		}

		// Rule 3: attaching and uploading to content follow live edit rights.
		attach := `mutation($t: ID!, $f: ID!) { attachFiles(targetId: $t, fileIds: [$f]) { __typename } }`
		for _, c := range []struct {
			actor, target, file, code string
		}{
			{"m1", w.postW, "org", ""},
			{"m2", w.postW, "org", media.EFORBIDDEN},
			{"admin", w.postW, "org", media.EFORBIDDEN}, // admins see the post but are not its author
			{"m2", w.postP, "org", media.ENOTFOUND},
			{"outsider", w.postW, "org", media.ENOTFOUND},
			{"admin", w.msg, "org", ""},
			{"m2", w.msg, "org", media.ENOTFOUND},
			{"owner", w.msg, "org", media.ENOTFOUND},
			{"m1", w.postW, "res", ""},
		} {
			r := e.do(w.keys[c.actor], attach, map[string]any{"t": c.target, "f": w.files[c.file]})
			if r.code() != c.code {
				t.Errorf("%s attaching %s to %s: %s, want %q", c.actor, c.file, c.target, r.raw, c.code)
			}
		}
		for _, c := range []struct{ actor, target, code string }{
			{"m1", w.postW, ""}, {"m2", w.postW, media.EFORBIDDEN}, {"m2", w.msg, media.ENOTFOUND}, {"outsider", w.postW, media.ENOTFOUND},
		} {
			r := e.upload(w.keys[c.actor], "", upload{fmt.Sprintf("u-%s.png", c.actor), "", pngBytes(4, 5)}, map[string]any{"bucket": nil, "attachTo": c.target})
			if r.code() != c.code {
				t.Errorf("%s uploading to %s: %s, want %q", c.actor, c.target, r.raw, c.code)
			}
		}

		// Rules 5 and 6: deleting files in use, and who may delete.
		del := `mutation($id: ID!, $force: Boolean) { deleteFile(id: $id, force: $force) }`
		m2file := e.mustUpload(w.keys["m2"], "org", upload{"m2.png", "", pngBytes(6, 6)}, nil)
		e.ok(w.keys["m1"], attach, map[string]any{"t": w.postW, "f": m2file["id"]})
		for _, c := range []struct {
			actor, file string
			force       bool
			code        string
		}{
			{"m2", w.files["org"], true, media.EFORBIDDEN},  // neither uploader nor post author
			{"m1", w.files["resW"], false, media.ECONFLICT}, // in use
			{"outsider", w.files["org"], true, media.ENOTFOUND},
			{"m1", str(m2file["id"]), true, media.EFORBIDDEN}, // attaching someone's file to one's post grants nothing
			{"m1", w.files["resW"], true, ""},                 // force detaches and deletes
			{"admin", w.files["res"], true, ""},               // admins may delete others' files
		} {
			r := e.do(w.keys[c.actor], del, map[string]any{"id": c.file, "force": c.force})
			if r.code() != c.code {
				t.Errorf("%s deleting %s (force %v): %s, want %q", c.actor, c.file, c.force, r.raw, c.code)
			}
		}
		d = e.ok(w.keys["m1"], `query($t: ID) { files(filter: {attachedTo: $t}) { nodes { id } } }`, map[string]any{"t": w.postW})
		for _, n := range d["files"].(map[string]any)["nodes"].([]any) {
			if n.(map[string]any)["id"] == w.files["resW"] {
				t.Error("a force-deleted file is still attached")
			}
		}
		// Scopes: content:write to post, media:read to read files.
		readOnly := e.newKey([]string{media.ScopeMediaRead}, "")
		e.fails(media.EFORBIDDEN, readOnly, `mutation { createPost(input: {title: "x"}) { id } }`, nil)
		contentOnly := e.newKey([]string{media.ScopeContentRead}, "")
		e.fails(media.EFORBIDDEN, contentOnly, `query($id: ID!) { file(id: $id) { id } }`, map[string]any{"id": w.files["org"]})
	})
}

// TestLiveness: rules follow the state at the moment of each request.
func TestLiveness(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		// Visibility changes: m2 sees the private post's file once it is WORKSPACE.
		if w.sees(t, "m2", "resP") {
			t.Fatal("m2 sees a private post's file")
		}
		e.ok(w.keys["m1"], `mutation($id: ID!) { updatePost(id: $id, input: {visibility: WORKSPACE}) { id } }`, map[string]any{"id": w.postP})
		if !w.sees(t, "m2", "resP") {
			t.Fatal("m2 does not see the file of a post made WORKSPACE")
		}
		// Authorship changes: the old author can no longer attach; the new one can.
		e.fails(media.EFORBIDDEN, w.keys["m1"], `mutation($id: ID!, $a: ID!) { updatePost(id: $id, input: {authorId: $a}) { id } }`, map[string]any{"id": w.postW, "a": w.ids["m2"]})
		e.ok(w.keys["admin"], `mutation($id: ID!, $a: ID!) { updatePost(id: $id, input: {authorId: $a}) { id } }`, map[string]any{"id": w.postW, "a": w.ids["m2"]})
		attach := `mutation($t: ID!, $f: ID!) { attachFiles(targetId: $t, fileIds: [$f]) { __typename } }`
		e.fails(media.EFORBIDDEN, w.keys["m1"], attach, map[string]any{"t": w.postW, "f": w.files["org"]})
		e.ok(w.keys["m2"], attach, map[string]any{"t": w.postW, "f": w.files["org"]})
		// Membership changes: a member removed from a conversation loses it at once.
		d := e.ok(w.keys["admin"], `mutation($m: ID!) { createConversation(input: {memberIds: [$m]}) { id } }`, map[string]any{"m": w.ids["m2"]})
		conv := str(d["createConversation"].(map[string]any)["id"])
		d = e.ok(w.keys["admin"], `mutation($c: ID!) { sendMessage(input: {conversationId: $c, body: "for m2"}) { id } }`, map[string]any{"c": conv})
		msg := str(d["sendMessage"].(map[string]any)["id"])
		f := e.mustUpload(w.keys["admin"], "", upload{"dm.png", "", pngBytes(7, 3)}, map[string]any{"bucket": nil, "attachTo": msg, "tags": []string{"t-dm"}})
		w.files["dm"] = str(f["id"])
		if !w.sees(t, "m2", "dm") {
			t.Fatal("a member does not see a message's file")
		}
		e.ok(w.keys["m2"], `mutation($c: ID!, $u: ID!) { removeConversationMember(conversationId: $c, userId: $u) { id } }`, map[string]any{"c": conv, "u": w.ids["m2"]})
		if w.sees(t, "m2", "dm") {
			t.Fatal("a removed member still sees a message's file")
		}
		e.fails(media.ENOTFOUND, w.keys["m2"], `mutation($c: ID!) { sendMessage(input: {conversationId: $c, body: "x"}) { id } }`, map[string]any{"c": conv})
	})
}
