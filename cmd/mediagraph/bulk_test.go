package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

const (
	trashFilesQ    = `mutation($ids: [ID!]!) { trashFiles(ids: $ids) { id trashedAt } }`
	restoreFilesQ  = `mutation($ids: [ID!]!) { restoreFiles(ids: $ids) { id name trashedAt } }`
	deleteFilesQ   = `mutation($ids: [ID!]!, $force: Boolean) { deleteFiles(ids: $ids, force: $force) }`
	updateFilesQ   = `mutation($ids: [ID!]!, $i: UpdateFilesInput!) { updateFiles(ids: $ids, input: $i) { id tags altText caption copyright visibility } }`
	setLegalHoldsQ = `mutation($ids: [ID!]!, $hold: Boolean!, $reason: String) { setLegalHolds(ids: $ids, hold: $hold, reason: $reason) { id legalHold legalHoldReason } }`
)

// idsOf returns the ids of files in the answer of a bulk mutation.
func idsOf(v any) []string {
	var out []string
	for _, f := range v.([]any) {
		if m, ok := f.(map[string]any); ok {
			out = append(out, str(m["id"]))
		} else {
			out = append(out, str(f))
		}
	}
	return out
}

// eventsSince lists the events after seq as "TYPE file_…".
func (e *env) eventsSince(seq string) []string {
	e.t.Helper()
	var after int64
	if seq != "" {
		after = mustSeq(e.t, seq)
	}
	evs, err := e.m.DB.EventsAfter(context.Background(), nil, after, 10_000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, string(ev.Type)+" "+string(ev.FileID))
	}
	return out
}

func mustSeq(t *testing.T, id string) int64 {
	t.Helper()
	var n int64
	for _, c := range strings.TrimPrefix(id, "evt_") {
		n = n<<5 | int64(strings.IndexRune("0123456789abcdefghjkmnpqrstvwxyz", c))
	}
	return n
}

// eventsOf is the events of type t for ids, in order.
func eventsOf(t media.EventType, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(t) + " " + id
	}
	return out
}

// TestBulkLifecycle: trashFiles, restoreFiles and deleteFiles change every
// file or none, answer in the order of the ids, emit one event per file,
// and refuse a batch with the first refused file's code, naming it.
func TestBulkLifecycle(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		m1, m2 := w.keys["m1"], w.keys["m2"]
		var mine []string // m2's files in the org bucket
		for i := range 4 {
			mine = append(mine, str(e.mustUpload(m2, "org", upload{fmt.Sprintf("b%d.png", i), "", pngBytes(40+i, 5)}, nil)["id"]))
		}
		order := []string{mine[2], mine[0], mine[3], mine[1]}

		// Bad batches: none, too many, twice the same.
		for _, ids := range [][]string{{}, slices.Repeat([]string{"file_x"}, media.MaxBulkIDs+1), {mine[0], mine[1], mine[0]}} {
			r := e.fails(media.EINVALID, m2, trashFilesQ, map[string]any{"ids": ids})
			if r.Errors[0].Extensions["field"] != "ids" {
				t.Fatalf("bad ids: %s", r.raw)
			}
		}
		// One refused file refuses the batch, naming it, and nothing changes.
		before := e.eventsSince("")
		for _, c := range []struct {
			actor, code, file string
		}{
			{"m2", media.EFORBIDDEN, w.files["org"]},  // m1's file
			{"m2", media.ENOTFOUND, w.files["res"]},   // invisible to m2
			{"outsider", media.ENOTFOUND, mine[0]},    // another organization's
			{"m2", media.ENOTFOUND, "file_not_an_id"}, // no such file
		} {
			ids := []string{mine[0], c.file, mine[1]}
			if c.actor == "outsider" {
				ids = []string{c.file}
			}
			for _, q := range []string{trashFilesQ, restoreFilesQ, deleteFilesQ} {
				r := e.fails(c.code, w.keys[c.actor], q, map[string]any{"ids": ids})
				if !strings.Contains(r.Errors[0].Message, c.file) {
					t.Errorf("the refusal does not name %s: %s", c.file, r.raw)
				}
			}
		}
		if got := e.eventsSince(""); !reflect.DeepEqual(got, before) {
			t.Fatalf("refused batches left events: %v", got[len(before):])
		}

		// Trash: in the order given, one TRASHED each.
		last := e.lastEvent()
		d := e.ok(m2, trashFilesQ, map[string]any{"ids": order})["trashFiles"]
		if got := idsOf(d); !reflect.DeepEqual(got, order) {
			t.Fatalf("trashFiles answered %v, want %v", got, order)
		}
		for _, f := range d.([]any) {
			if f.(map[string]any)["trashedAt"] == nil {
				t.Fatalf("not trashed: %v", f)
			}
		}
		if got := e.eventsSince(last); !reflect.DeepEqual(got, eventsOf(media.EventTrashed, order)) {
			t.Fatalf("events: %v", got)
		}
		// Trashing again changes nothing, and says so with no event.
		last = e.lastEvent()
		e.ok(m2, trashFilesQ, map[string]any{"ids": order})
		if got := e.eventsSince(last); len(got) != 0 {
			t.Fatalf("trashing trashed files: %v", got)
		}

		// Restore: a name taken since by a file m2 sees refuses the batch.
		blocker := str(e.mustUpload(m1, "org", upload{"b3.png", "", pngBytes(60, 5)}, nil)["id"])
		r := e.fails(media.ECONFLICT, m2, restoreFilesQ, map[string]any{"ids": order})
		if !strings.Contains(r.Errors[0].Message, mine[3]) {
			t.Fatalf("the conflict does not name the file: %s", r.raw)
		}
		if n := len(e.ok(m2, `{ files(bucket: "org", filter: {trashed: ONLY}) { nodes { id } } }`, nil)["files"].(map[string]any)["nodes"].([]any)); n != 4 {
			t.Fatalf("a refused restore restored %d files", 4-n)
		}
		e.ok(m1, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": blocker})
		last = e.lastEvent()
		d = e.ok(m2, restoreFilesQ, map[string]any{"ids": order})["restoreFiles"]
		if got := idsOf(d); !reflect.DeepEqual(got, order) {
			t.Fatalf("restoreFiles answered %v", got)
		}
		if got := e.eventsSince(last); !reflect.DeepEqual(got, eventsOf(media.EventRestored, order)) {
			t.Fatalf("events: %v", got)
		}

		// Two files of a batch that would come back under one name.
		twin := str(e.mustUpload(m2, "org", upload{"twin.png", "", pngBytes(61, 5)}, nil)["id"])
		e.ok(m2, trashFilesQ, map[string]any{"ids": []string{twin}})
		twin2 := str(e.mustUpload(m2, "org", upload{"twin.png", "", pngBytes(62, 5)}, nil)["id"])
		e.ok(m2, trashFilesQ, map[string]any{"ids": []string{twin2}})
		r = e.fails(media.ECONFLICT, m2, restoreFilesQ, map[string]any{"ids": []string{twin, twin2}})
		if !strings.Contains(r.Errors[0].Message, twin2) {
			t.Fatalf("the conflict does not name the second twin: %s", r.raw)
		}
		// A name a hidden file took is as if free: numbered, as restoreFile does.
		e.createBucket(e.owner, map[string]any{"name": "vault", "access": "RESTRICTED"})
		gone := str(e.mustUpload(m2, "vault", upload{"v.png", "", pngBytes(63, 5)}, nil)["id"])
		e.ok(m2, trashFilesQ, map[string]any{"ids": []string{gone}})
		e.mustUpload(e.owner, "vault", upload{"v.png", "", pngBytes(64, 5)}, nil)
		d = e.ok(m2, restoreFilesQ, map[string]any{"ids": []string{twin, gone}})["restoreFiles"]
		if n := d.([]any)[1].(map[string]any)["name"]; n != "v (2).png" {
			t.Fatalf("restored beside a hidden file as %v", n)
		}

		// A held file refuses trash and delete.
		e.ok(e.owner, setLegalHoldsQ, map[string]any{"ids": []string{mine[1]}, "hold": true, "reason": "case"})
		for _, q := range []string{trashFilesQ, deleteFilesQ} {
			r := e.fails(media.ECONFLICT, m2, q, map[string]any{"ids": []string{mine[0], mine[1]}})
			if !strings.Contains(r.Errors[0].Message, mine[1]) {
				t.Fatalf("the hold conflict does not name the file: %s", r.raw)
			}
		}
		e.ok(e.owner, setLegalHoldsQ, map[string]any{"ids": []string{mine[1]}, "hold": false})

		// Delete: a file in use needs force; with it, every file goes, with its bytes.
		post := str(e.ok(m2, `mutation { createPost(input: {title: "mine"}) { id } }`, nil)["createPost"].(map[string]any)["id"])
		e.ok(m2, attachQ, map[string]any{"t": post, "f": mine[3]})
		r = e.fails(media.ECONFLICT, m2, deleteFilesQ, map[string]any{"ids": order})
		if !strings.Contains(r.Errors[0].Message, mine[3]) {
			t.Fatalf("the usage conflict does not name the file: %s", r.raw)
		}
		objects := len(e.objects())
		last = e.lastEvent()
		got := idsOf(e.ok(m2, deleteFilesQ, map[string]any{"ids": order, "force": true})["deleteFiles"])
		if !reflect.DeepEqual(got, order) {
			t.Fatalf("deleteFiles answered %v", got)
		}
		if got := e.eventsSince(last); !reflect.DeepEqual(got, eventsOf(media.EventDeleted, order)) {
			t.Fatalf("events: %v", got)
		}
		if n := len(e.objects()); n != objects-4 {
			t.Fatalf("%d objects after deleting 4 files with their own bytes, had %d", n, objects)
		}
		for _, id := range order {
			e.fails(media.ENOTFOUND, m2, `query($id: ID!) { file(id: $id) { id } }`, map[string]any{"id": id})
		}
	})
}

// TestUpdateFiles: one change for many files, each checked as updateFile
// checks it, all or nothing.
func TestUpdateFiles(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := policyWorld(t, e)
		m1, m2 := w.keys["m1"], w.keys["m2"]
		a := str(e.mustUpload(m2, "org", upload{"a.png", "", pngBytes(40, 5)}, map[string]any{"tags": []string{"keep", "drop"}, "caption": "c"})["id"])
		b := str(e.mustUpload(m2, "org", upload{"b.png", "", pngBytes(41, 5)}, map[string]any{"tags": []string{"drop"}, "altText": "alt"})["id"])
		other := w.files["org"] // m1's, in the ORGANIZATION bucket
		w.files["a"], w.files["b"] = a, b

		last := e.lastEvent()
		d := e.ok(m2, updateFilesQ, map[string]any{"ids": []string{b, a, other}, "i": map[string]any{
			"addTags": []string{"New", "both"}, "removeTags": []string{"drop", "both"}, "caption": "shared", "altText": nil}})["updateFiles"].([]any)
		if got := idsOf(d); !reflect.DeepEqual(got, []string{b, a, other}) {
			t.Fatalf("order: %v", got)
		}
		for _, f := range d {
			f := f.(map[string]any)
			tags := fmt.Sprint(f["tags"])
			if f["caption"] != "shared" || f["altText"] != nil || strings.Contains(tags, "drop") || strings.Contains(tags, "both") || !strings.Contains(tags, "new") {
				t.Fatalf("updated: %v", f)
			}
		}
		if got := e.eventsSince(last); !reflect.DeepEqual(got, eventsOf(media.EventUpdated, []string{b, a, other})) {
			t.Fatalf("events: %v", got)
		}
		// As read back: tags kept and added, the copyright untouched.
		f := e.ok(m2, `query($id: ID!) { file(id: $id) { tags caption copyright updatedBy { id } } }`, map[string]any{"id": a})["file"].(map[string]any)
		if fmt.Sprint(f["tags"]) != "[keep new]" || f["caption"] != "shared" || f["updatedBy"].(map[string]any)["id"] != w.ids["m2"] {
			t.Fatalf("read back: %v", f)
		}

		before := w.snapshot(t)
		// Visibility needs the uploader (or an admin) of every file.
		r := e.fails(media.EFORBIDDEN, m2, updateFilesQ, map[string]any{"ids": []string{a, other}, "i": map[string]any{"visibility": "PUBLIC"}})
		if !strings.Contains(r.Errors[0].Message, other) {
			t.Fatalf("the refusal does not name the file: %s", r.raw)
		}
		// Texts in a RESTRICTED bucket need the uploader: m2 sees resW (attached to a post) but did not upload it.
		e.fails(media.EFORBIDDEN, m2, updateFilesQ, map[string]any{"ids": []string{a, w.files["resW"]}, "i": map[string]any{"caption": "x"}})
		e.fails(media.ENOTFOUND, m2, updateFilesQ, map[string]any{"ids": []string{a, w.files["res"]}, "i": map[string]any{"caption": "x"}})
		e.fails(media.ENOTFOUND, w.keys["outsider"], updateFilesQ, map[string]any{"ids": []string{a}, "i": map[string]any{"caption": "x"}})
		e.fails(media.EINVALID, m2, updateFilesQ, map[string]any{"ids": []string{a}, "i": map[string]any{"caption": strings.Repeat("x", 5000)}})
		many := make([]string, 70)
		for i := range many {
			many[i] = fmt.Sprintf("t%d", i)
		}
		// A file carries at most 64 tags: a has keep and new, b has new.
		e.fails(media.EINVALID, m2, updateFilesQ, map[string]any{"ids": []string{a}, "i": map[string]any{"addTags": many[:63]}})
		e.ok(m2, updateFilesQ, map[string]any{"ids": []string{b}, "i": map[string]any{"addTags": many[:63]}})
		r = e.fails(media.EINVALID, m2, updateFilesQ, map[string]any{"ids": []string{a, b}, "i": map[string]any{"addTags": []string{"one-more"}}})
		if !strings.Contains(r.Errors[0].Message, b) {
			t.Fatalf("the tag limit does not name the file: %s", r.raw)
		}
		if tags := e.ok(m2, `query($id: ID!) { file(id: $id) { tags } }`, map[string]any{"id": a})["file"].(map[string]any)["tags"]; fmt.Sprint(tags) != "[keep new]" {
			t.Fatalf("a refused batch changed a file's tags: %v", tags)
		}
		e.ok(m2, updateFilesQ, map[string]any{"ids": []string{b}, "i": map[string]any{"removeTags": many[:63]}})
		if after := w.snapshot(t); after != before {
			t.Fatalf("refused updates changed files:\n%s\n%s", before, after)
		}
		// The uploader may change visibility, and an admin anyone's.
		e.ok(m1, updateFilesQ, map[string]any{"ids": []string{other}, "i": map[string]any{"visibility": "PUBLIC"}})
		d = e.ok(w.keys["admin"], updateFilesQ, map[string]any{"ids": []string{a, w.files["resW"]}, "i": map[string]any{"visibility": "PUBLIC", "copyright": "acme"}})["updateFiles"].([]any)
		for _, f := range d {
			if f := f.(map[string]any); f["visibility"] != "PUBLIC" || f["copyright"] != "acme" {
				t.Fatalf("an admin's update: %v", f)
			}
		}
	})
}

// TestSetLegalHolds: admins hold and release many files at once; a held
// file refuses the destroying bulk mutations.
func TestSetLegalHolds(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		ids := []string{w.files["resP"], w.files["org"], w.files["res"]}
		e.fails(media.EFORBIDDEN, w.keys["m1"], setLegalHoldsQ, map[string]any{"ids": ids, "hold": true})
		e.fails(media.ENOTFOUND, w.keys["outsider"], setLegalHoldsQ, map[string]any{"ids": ids, "hold": true})
		e.fails(media.EINVALID, e.owner, setLegalHoldsQ, map[string]any{"ids": ids, "hold": true, "reason": strings.Repeat("r", 5000)})
		last := e.lastEvent()
		d := e.ok(w.keys["admin"], setLegalHoldsQ, map[string]any{"ids": ids, "hold": true, "reason": "case 7"})["setLegalHolds"].([]any)
		if got := idsOf(d); !reflect.DeepEqual(got, ids) {
			t.Fatalf("order: %v", got)
		}
		for _, f := range d {
			if f := f.(map[string]any); f["legalHold"] != true || f["legalHoldReason"] != "case 7" {
				t.Fatalf("held: %v", f)
			}
		}
		if got := e.eventsSince(last); !reflect.DeepEqual(got, eventsOf(media.EventUpdated, ids)) {
			t.Fatalf("events: %v", got)
		}
		e.fails(media.ECONFLICT, w.keys["m1"], trashFilesQ, map[string]any{"ids": []string{w.files["org"]}})
		e.fails(media.ECONFLICT, e.owner, deleteFilesQ, map[string]any{"ids": ids, "force": true})
		d = e.ok(e.owner, setLegalHoldsQ, map[string]any{"ids": ids, "hold": false, "reason": "ignored"})["setLegalHolds"].([]any)
		for _, f := range d {
			if f := f.(map[string]any); f["legalHold"] != false || f["legalHoldReason"] != nil {
				t.Fatalf("released: %v", f)
			}
		}
		e.ok(w.keys["m1"], trashFilesQ, map[string]any{"ids": []string{w.files["org"]}})
	})
}

// TestBulkQueryCount: the bulk mutations cost the same number of queries
// for 10 files as for 100 — rows locked in one query, the policy's facts
// read at once, writes and events batched.
func TestBulkQueryCount(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		uid := e.member("bulk@acme.test", media.RoleMember)
		key := e.newKey([]string{media.ScopeMediaRead, media.ScopeMediaUpdate, media.ScopeMediaDelete, media.ScopeContentWrite}, uid)
		post := str(e.ok(key, `mutation { createPost(input: {title: "p"}) { id } }`, nil)["createPost"].(map[string]any)["id"])
		files := seedFiles(t, e, "b", 200, rand.New(rand.NewPCG(9, 10)))
		if len(files) < 110 {
			t.Fatalf("seeded %d files", len(files))
		}
		// Half uploaded by the member, half uploaded by nobody into the
		// member's post: the policy reads visibility and authors for those.
		for i, f := range files {
			q := "UPDATE files SET created_by = ? WHERE id = ?"
			arg := any(uid)
			if i%2 == 1 {
				q, arg = "UPDATE files SET uploaded_into = ? WHERE id = ?", post
			}
			if _, err := e.m.DB.Bun().NewRaw(q, arg, f.ID).Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		e.ok(key, `{ viewer { user { id } } }`, nil)
		e.ok(e.owner, `{ viewer { user { id } } }`, nil)
		queries := map[string][][]string{}
		count := func(name, k, q string, vars map[string]any) int {
			n, qs := e.queries.during(func() { e.ok(k, q, vars) })
			queries[name] = append(queries[name], qs)
			return n
		}
		counts := map[string][]int{}
		for _, batch := range [][]*media.File{files[:10], files[10:110]} {
			ids := make([]string, len(batch))
			for i, f := range batch {
				ids[i] = string(f.ID)
			}
			v := map[string]any{"ids": ids}
			for _, c := range []struct {
				name, key, q string
				vars         map[string]any
			}{
				{"trash", key, trashFilesQ, v},
				{"restore", key, restoreFilesQ, v},
				{"update", key, `mutation($ids: [ID!]!) { updateFiles(ids: $ids, input: {addTags: ["x", "y"], removeTags: ["red"], caption: "c"}) { id } }`, v},
				{"hold", e.owner, setLegalHoldsQ, map[string]any{"ids": ids, "hold": true, "reason": "r"}},
				{"release", e.owner, setLegalHoldsQ, map[string]any{"ids": ids, "hold": false}},
				{"delete", key, deleteFilesQ, v},
			} {
				counts[c.name] = append(counts[c.name], count(c.name, c.key, c.q, c.vars))
			}
		}
		for name, n := range counts {
			if n[0] != n[1] || n[0] > 24 {
				t.Errorf("%s: %d queries for 10 files, %d for 100:\n%s\n\n%s", name, n[0], n[1],
					strings.Join(queries[name][0], "\n"), strings.Join(queries[name][1], "\n"))
			}
		}
		t.Logf("queries (10 files, 100 files): %v", counts)
	})
}
