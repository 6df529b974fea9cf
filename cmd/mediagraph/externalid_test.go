package main

import (
	"encoding/base64"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

const updateExt = `mutation($id: ID!, $i: UpdateFileInput!) { updateFile(id: $id, input: $i) { id externalId } }`

// byExternalID returns the ids of the files with that external id (in
// bucket b, or every bucket if b is "").
func (e *env) byExternalID(key, b, ext string, more map[string]any) []string {
	e.t.Helper()
	f := map[string]any{"externalId": ext}
	for k, v := range more {
		f[k] = v
	}
	vars := map[string]any{"f": f}
	if b != "" {
		vars["b"] = b
	}
	d := e.ok(key, `query($b: String, $f: FileFilter) { files(bucket: $b, filter: $f) { nodes { id externalId } } }`, vars)
	ids := []string{}
	for _, n := range d["files"].(map[string]any)["nodes"].([]any) {
		if n.(map[string]any)["externalId"] == nil {
			e.t.Errorf("file %v found by external id %q has none", n, ext)
		}
		ids = append(ids, str(n.(map[string]any)["id"]))
	}
	return ids
}

func TestExternalID(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		e.createBucket(e.owner, map[string]any{"name": "c"})
		up := func(bucket, name, ext string) *resp {
			return e.upload(e.owner, bucket, upload{name, "", pngBytes(2, 2)}, map[string]any{"externalId": ext})
		}
		// Every upload route takes one; it is trimmed.
		r := up("b", "one.png", "  crm-1 ")
		if len(r.Errors) > 0 {
			t.Fatalf("upload: %s", r.raw)
		}
		one := str(r.Data["uploadFile"].(map[string]any)["id"])
		b64 := e.ok(e.owner, `mutation($i: UploadFileBase64Input!) { uploadFileBase64(input: $i) { id externalId } }`, map[string]any{"i": map[string]any{
			"bucket": "b", "name": "two.png", "mimeType": "image/png", "data": base64.StdEncoding.EncodeToString(pngBytes(3, 2)), "externalId": "crm-2"}})["uploadFileBase64"].(map[string]any)
		data := pngBytes(4, 2)
		s := e.session(e.owner, map[string]any{"bucket": "b", "name": "three.png", "size": len(data), "mimeType": "image/png", "externalId": "crm-3"})
		if code, _ := put(t, str(s["uploadUrl"]), data); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		three := str(e.ok(e.owner, completeSession, map[string]any{"id": s["id"]})["completeUploadSession"].(map[string]any)["id"])
		got := e.ok(e.owner, `query($a: ID!, $b: ID!, $c: ID!) { a: file(id: $a) { externalId } b: file(id: $b) { externalId } c: file(id: $c) { externalId } }`,
			map[string]any{"a": one, "b": b64["id"], "c": three})
		if got["a"].(map[string]any)["externalId"] != "crm-1" || got["b"].(map[string]any)["externalId"] != "crm-2" || got["c"].(map[string]any)["externalId"] != "crm-3" {
			t.Fatalf("external ids: %v", got)
		}

		// Unique per bucket, on every route; nothing is left behind.
		for _, fail := range []*resp{
			up("b", "dup.png", "crm-1"),
			e.do(e.owner, `mutation($i: UploadFileBase64Input!) { uploadFileBase64(input: $i) { id } }`, map[string]any{"i": map[string]any{
				"bucket": "b", "name": "dup.png", "mimeType": "image/png", "data": base64.StdEncoding.EncodeToString(pngBytes(5, 2)), "externalId": "crm-2"}}),
			e.do(e.owner, createSession, map[string]any{"i": map[string]any{"bucket": "b", "name": "dup.png", "size": 10, "mimeType": "image/png", "externalId": "crm-3"}}),
		} {
			if fail.code() != media.ECONFLICT || fail.Errors[0].Extensions["field"] != "externalId" || !strings.Contains(fail.Errors[0].Message, "crm-") {
				t.Errorf("duplicate external id: %s", fail.raw)
			}
		}
		if n := e.fileCount("b"); n != 3 {
			t.Errorf("%d files in b", n)
		}
		// A session checked when created is checked again when completed.
		s = e.session(e.owner, map[string]any{"bucket": "b", "name": "late.png", "size": len(data), "mimeType": "image/png", "externalId": "crm-4"})
		if code, _ := put(t, str(s["uploadUrl"]), data); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		e.ok(e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"externalId": "crm-4"}})
		e.fails(media.ECONFLICT, e.owner, completeSession, map[string]any{"id": s["id"]})
		e.ok(e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"externalId": "crm-1"}})
		// Another bucket is another namespace.
		if r := up("c", "one.png", "crm-1"); len(r.Errors) > 0 {
			t.Fatalf("same id in another bucket: %s", r.raw)
		}

		// Exact filter, normalized as stored; with or without a bucket.
		if got := e.byExternalID(e.owner, "b", " crm-1", nil); !reflect.DeepEqual(got, []string{one}) {
			t.Errorf("filter in b: %v", got)
		}
		if got := e.byExternalID(e.owner, "", "crm-1", nil); len(got) != 2 {
			t.Errorf("filter in every bucket: %v", got)
		}
		for _, miss := range []string{"crm", "CRM-1", "crm-1x"} {
			if got := e.byExternalID(e.owner, "b", miss, nil); len(got) != 0 {
				t.Errorf("filter %q: %v", miss, got)
			}
		}

		// updateFile sets, changes and (null) clears it; a taken one is CONFLICT.
		if d := e.ok(e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"externalId": "crm-9"}}); d["updateFile"].(map[string]any)["externalId"] != "crm-9" {
			t.Fatalf("set: %v", d)
		}
		r = e.fails(media.ECONFLICT, e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"externalId": "crm-2"}})
		if r.Errors[0].Extensions["field"] != "externalId" {
			t.Errorf("conflict: %s", r.raw)
		}
		e.ok(e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"externalId": "crm-9"}}) // its own: no change
		e.ok(e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"caption": "kept"}})
		if got := e.byExternalID(e.owner, "b", "crm-9", nil); !reflect.DeepEqual(got, []string{one}) {
			t.Errorf("other fields changed it: %v", got)
		}
		if d := e.ok(e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"externalId": nil}}); d["updateFile"].(map[string]any)["externalId"] != nil {
			t.Fatalf("clear: %v", d)
		}
		if r := up("b", "reuse.png", "crm-9"); len(r.Errors) > 0 {
			t.Fatalf("a cleared id is free: %s", r.raw)
		}

		// 1 to 255 printable characters after trimming; one spelling (NFC).
		for _, bad := range []string{"", "   ", strings.Repeat("x", 256), "a\tb", "a\nb", "evil\u202egpj", "zero\u200bwidth", "nul\x00"} {
			r := e.fails(media.EINVALID, e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"externalId": bad}})
			if r.Errors[0].Extensions["field"] != "externalId" {
				t.Errorf("%q: %s", bad, r.raw)
			}
			e.fails(media.EINVALID, e.owner, searchQ, map[string]any{"f": map[string]any{"externalId": bad}})
			if bad != "" && !strings.Contains(bad, "\x00") {
				if r := up("b", "bad.png", bad); r.code() != media.EINVALID {
					t.Errorf("upload with %q: %s", bad, r.raw)
				}
			}
		}
		long := strings.Repeat("é", 255)
		e.ok(e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"externalId": long}})
		e.ok(e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"externalId": "Zoë e\u0301 #42 / ü"}})
		if got := e.byExternalID(e.owner, "b", "Zoe\u0308 \u00e9 #42 / u\u0308", nil); !reflect.DeepEqual(got, []string{one}) {
			t.Errorf("NFC filter: %v", got)
		}

		// The trash keeps an id (a restore never clashes); deleting frees it.
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": three})
		if r := up("b", "again.png", "crm-3"); r.code() != media.ECONFLICT {
			t.Errorf("id of a trashed file: %s", r.raw)
		}
		if got := e.byExternalID(e.owner, "b", "crm-3", map[string]any{"trashed": "ONLY"}); !reflect.DeepEqual(got, []string{three}) {
			t.Errorf("trashed filter: %v", got)
		}
		e.ok(e.owner, `mutation($id: ID!) { restoreFile(id: $id) { id } }`, map[string]any{"id": three})
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": three})
		if r := up("b", "again.png", "crm-3"); len(r.Errors) > 0 {
			t.Fatalf("id of a deleted file: %s", r.raw)
		}

		// A move takes the id along, checked in the target bucket.
		move := `mutation($i: MoveFilesInput!) { moveFiles(input: $i) { id externalId } }`
		e.ok(e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"externalId": "crm-1"}})
		e.fails(media.ECONFLICT, e.owner, move, map[string]any{"i": map[string]any{"ids": []string{one}, "targetBucket": "c", "targetPath": "/"}})
		e.ok(e.owner, updateExt, map[string]any{"id": one, "i": map[string]any{"externalId": "crm-m"}})
		e.ok(e.owner, move, map[string]any{"i": map[string]any{"ids": []string{one}, "targetBucket": "c", "targetPath": "/moved/"}})
		if got := e.byExternalID(e.owner, "c", "crm-m", nil); !reflect.DeepEqual(got, []string{one}) {
			t.Errorf("moved: %v", got)
		}
		if got := e.byExternalID(e.owner, "b", "crm-m", nil); len(got) != 0 {
			t.Errorf("left behind: %v", got)
		}
		e.ok(e.owner, move, map[string]any{"i": map[string]any{"ids": []string{one}, "targetPath": "/within/"}}) // same bucket: no clash with itself
		// Two files with one id cannot land in one bucket in one move.
		e.createBucket(e.owner, map[string]any{"name": "d"})
		up("b", "b1.png", "crm-1")
		bOne := e.byExternalID(e.owner, "b", "crm-1", nil)
		cOne := e.byExternalID(e.owner, "c", "crm-1", nil)
		e.fails(media.ECONFLICT, e.owner, move, map[string]any{"i": map[string]any{"ids": []string{bOne[0], cOne[0]}, "targetBucket": "d", "targetPath": "/"}})

		// A copy is another file: it gets no external id.
		d := e.ok(e.owner, `mutation($i: CopyFilesInput!) { copyFiles(input: $i) { id externalId } }`,
			map[string]any{"i": map[string]any{"ids": []string{one}, "targetPath": "/copies/"}})["copyFiles"].([]any)
		if d[0].(map[string]any)["externalId"] != nil {
			t.Errorf("copy: %v", d)
		}

		// replace: "upload this again" applies the id given to the file revised.
		rev := e.mustUpload(e.owner, "b", upload{"two.png", "", pngBytes(6, 6)}, map[string]any{"replace": true, "externalId": "crm-2b"})
		if rev["id"] != b64["id"] || rev["revision"] != float64(2) {
			t.Fatalf("replace: %v", rev)
		}
		if got := e.byExternalID(e.owner, "b", "crm-2b", nil); !reflect.DeepEqual(got, []string{str(b64["id"])}) {
			t.Errorf("replace set: %v", got)
		}

		// Tenants: another organization has its own ids and sees none of ours.
		other := e.otherOrg()
		e.createBucket(other, map[string]any{"name": "b"})
		theirs := e.mustUpload(other, "b", upload{"x.png", "", pngBytes(2, 2)}, map[string]any{"externalId": "crm-2b"})
		if got := e.byExternalID(other, "", "crm-2b", nil); !reflect.DeepEqual(got, []string{str(theirs["id"])}) {
			t.Errorf("other org's filter: %v", got)
		}
		e.fails(media.ENOTFOUND, other, updateExt, map[string]any{"id": b64["id"], "i": map[string]any{"externalId": nil}})
		if got := e.byExternalID(e.owner, "b", "crm-2b", nil); !reflect.DeepEqual(got, []string{str(b64["id"])}) {
			t.Errorf("after the other org: %v", got)
		}
	})
}

// TestExternalIDRestricted: in a RESTRICTED bucket only admins and owners
// (who see every file) set external ids, so a CONFLICT never reveals a file
// the caller cannot see.
func TestExternalIDRestricted(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "r", "access": "RESTRICTED"})
		e.createBucket(e.owner, map[string]any{"name": "org"})
		scopes := []string{media.ScopeMediaRead, media.ScopeMediaCreate, media.ScopeMediaUpdate}
		m := e.newKey(scopes, e.member("m@acme.test", media.RoleMember))
		m2 := e.newKey(scopes, e.member("m2@acme.test", media.RoleMember))
		admin := e.newKey(media.AllScopes, e.member("admin@acme.test", media.RoleAdmin))

		hidden := e.mustUpload(admin, "r", upload{"payslip.png", "", pngBytes(2, 2)}, map[string]any{"externalId": "emp-1"})
		for _, r := range []*resp{
			e.upload(m, "r", upload{"mine.png", "", pngBytes(3, 2)}, map[string]any{"externalId": "emp-1"}),
			e.upload(m, "r", upload{"mine.png", "", pngBytes(3, 2)}, map[string]any{"externalId": "free"}),
			e.do(m, createSession, map[string]any{"i": map[string]any{"bucket": "r", "name": "s.png", "size": 10, "mimeType": "image/png", "externalId": "emp-1"}}),
		} {
			// FORBIDDEN whether or not the id is taken: nothing to learn.
			if r.code() != media.EFORBIDDEN || r.Errors[0].Extensions["field"] != "externalId" {
				t.Errorf("member setting an id in RESTRICTED: %s", r.raw)
			}
		}
		mine := e.mustUpload(m, "r", upload{"mine.png", "", pngBytes(3, 2)}, nil)
		e.fails(media.EFORBIDDEN, m, updateExt, map[string]any{"id": mine["id"], "i": map[string]any{"externalId": "emp-1"}})
		e.fails(media.EFORBIDDEN, m, updateExt, map[string]any{"id": mine["id"], "i": map[string]any{"externalId": "free"}})
		// The member's own file with an id (set by an admin) may still be cleared by them.
		e.ok(admin, updateExt, map[string]any{"id": mine["id"], "i": map[string]any{"externalId": "emp-2"}})
		e.ok(m, updateExt, map[string]any{"id": mine["id"], "i": map[string]any{"caption": "ok"}})
		e.ok(m, updateExt, map[string]any{"id": mine["id"], "i": map[string]any{"externalId": nil}})
		// Moving a file that has an id into the RESTRICTED bucket is setting it there.
		elsewhere := e.mustUpload(m, "org", upload{"carry.png", "", pngBytes(4, 4)}, map[string]any{"externalId": "emp-1"})
		e.fails(media.EFORBIDDEN, m, `mutation($i: MoveFilesInput!) { moveFiles(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"ids": []string{str(elsewhere["id"])}, "targetBucket": "r", "targetPath": "/"}})
		// Admins see every file there, so a clash is theirs to know.
		e.fails(media.ECONFLICT, admin, `mutation($i: MoveFilesInput!) { moveFiles(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"ids": []string{str(elsewhere["id"])}, "targetBucket": "r", "targetPath": "/"}})
		e.fails(media.ECONFLICT, e.owner, updateExt, map[string]any{"id": mine["id"], "i": map[string]any{"externalId": "emp-1"}})
		// The filter finds only what the caller may see.
		if got := e.byExternalID(m2, "r", "emp-1", nil); len(got) != 0 {
			t.Errorf("a member finds a hidden file by its id: %v", got)
		}
		if got := e.byExternalID(m2, "", "emp-1", nil); !reflect.DeepEqual(got, []string{str(elsewhere["id"])}) {
			t.Errorf("a member's filter over every bucket: %v", got)
		}
		if got := e.byExternalID(e.owner, "r", "emp-1", nil); !reflect.DeepEqual(got, []string{str(hidden["id"])}) {
			t.Errorf("the owner's filter: %v", got)
		}
	})
}

// TestExternalIDRace: two writers giving one id to two files at once — the
// database decides, one wins, the other is CONFLICT with the field named.
func TestExternalIDRace(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		ids := []string{
			str(e.mustUpload(e.owner, "b", upload{"a.png", "", pngBytes(2, 2)}, nil)["id"]),
			str(e.mustUpload(e.owner, "b", upload{"b.png", "", pngBytes(3, 2)}, nil)["id"]),
		}
		for round := range 5 {
			ext := "race-" + string(rune('a'+round))
			results := make([]*resp, 2)
			var wg sync.WaitGroup
			for i := range results {
				wg.Go(func() {
					results[i] = e.do(e.owner, updateExt, map[string]any{"id": ids[i], "i": map[string]any{"externalId": ext}})
				})
			}
			wg.Wait()
			won := 0
			for _, r := range results {
				switch {
				case len(r.Errors) == 0:
					won++
				case r.code() != media.ECONFLICT || r.Errors[0].Extensions["field"] != "externalId":
					t.Errorf("round %d: %s", round, r.raw)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d writers won", round, won)
			}
			if got := e.byExternalID(e.owner, "b", ext, nil); len(got) != 1 {
				t.Fatalf("round %d: %v", round, got)
			}
		}
	})
}
