package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

const replaceMutation = `mutation($id: ID!, $f: Upload!, $keep: Boolean) { replaceFileContent(id: $id, file: $f, keepPrevious: $keep) {
  id revision size checksumSha256 mimeType width } }`

// replace sends new content for a file through multipart.
func (e *env) replace(key string, id any, data []byte, keep bool) *resp {
	e.t.Helper()
	return e.multipart(key, replaceMutation, map[string]any{"id": id, "f": nil, "keep": keep},
		map[string]upload{"0": {"new.bin", "", data}}, map[string][]string{"0": {"variables.f"}})
}

// download fetches a file's bytes (revision rev, 0 for current) with key.
func (e *env) download(key string, id any, rev int) (int, []byte) {
	e.t.Helper()
	u := e.url + "/files/" + str(id) + "/x"
	if rev > 0 {
		u += fmt.Sprintf("?rev=%d", rev)
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestRevisions(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "imgs", "allowedMimeTypes": []string{"image/*"}})
		a, b, c := pngBytes(20, 10), jpegBytes(30, 20), pngBytes(5, 5)
		f := e.mustUpload(e.owner, "imgs", upload{"pic", "", a}, nil)
		id := f["id"]
		r := e.replace(e.owner, id, b, true)
		if len(r.Errors) > 0 || r.Data["replaceFileContent"].(map[string]any)["revision"] != float64(2) ||
			r.Data["replaceFileContent"].(map[string]any)["mimeType"] != "image/jpeg" {
			t.Fatalf("replace: %s", r.raw)
		}
		d := e.ok(e.owner, `mutation($id: ID!) { restoreFileRevision(id: $id, revision: 1) { revision checksumSha256 } }`, map[string]any{"id": id})
		if got := d["restoreFileRevision"].(map[string]any); got["revision"] != float64(3) || got["checksumSha256"] != sha(a) {
			t.Fatalf("restore: %v", got)
		}
		// Every revision downloads as it was uploaded; the restore copied no bytes.
		for rev, want := range map[int][]byte{1: a, 2: b, 3: a, 0: a} {
			if status, got := e.download(e.owner, id, rev); status != 200 || !bytes.Equal(got, want) {
				t.Fatalf("revision %d: %d, %d bytes", rev, status, len(got))
			}
		}
		if n := len(e.objects()); n != 2 {
			t.Fatalf("objects: %d, want 2", n)
		}
		d = e.ok(e.owner, `query($id: ID!) { file(id: $id) { revision revisions { number size checksumSha256 current createdBy { email } url } } }`, map[string]any{"id": id})
		revs := d["file"].(map[string]any)["revisions"].([]any)
		if len(revs) != 3 || revs[2].(map[string]any)["current"] != true || revs[0].(map[string]any)["current"] != false ||
			revs[1].(map[string]any)["checksumSha256"] != sha(b) || !strings.Contains(str(revs[1].(map[string]any)["url"]), "rev=2") {
			t.Fatalf("revisions: %v", revs)
		}
		// The current revision cannot be deleted; an old one can, and its
		// bytes go when nothing else uses them.
		e.fails(media.ECONFLICT, e.owner, `mutation($id: ID!) { deleteFileRevision(id: $id, revision: 3) { id } }`, map[string]any{"id": id})
		e.fails(media.EINVALID, e.owner, `mutation($id: ID!) { deleteFileRevision(id: $id, revision: 9) { id } }`, map[string]any{"id": id})
		e.ok(e.owner, `mutation($id: ID!) { deleteFileRevision(id: $id, revision: 2) { id } }`, map[string]any{"id": id})
		if status, _ := e.download(e.owner, id, 2); status != 404 {
			t.Fatalf("deleted revision downloads: %d", status)
		}
		if n := len(e.objects()); n != 1 {
			t.Fatalf("objects after deleting revision 2: %d", n)
		}
		// Policy applies to every revision.
		if r := e.replace(e.owner, id, pdfBytes(), true); r.code() != media.EUNSUPPORTED {
			t.Fatalf("pdf into an image bucket: %s", r.raw)
		}
		// keepPrevious: false releases the previous revision.
		r = e.replace(e.owner, id, c, false)
		if len(r.Errors) > 0 || r.Data["replaceFileContent"].(map[string]any)["revision"] != float64(4) {
			t.Fatalf("replace without keeping: %s", r.raw)
		}
		d = e.ok(e.owner, `query($id: ID!) { file(id: $id) { revisions { number } } }`, map[string]any{"id": id})
		if n := len(d["file"].(map[string]any)["revisions"].([]any)); n != 2 { // 1 and 4; 3 was dropped
			t.Fatalf("revisions after keepPrevious false: %v", d)
		}
		// Revision 1 still holds a's bytes; c is new.
		if n := len(e.objects()); n != 2 {
			t.Fatalf("objects: %d", n)
		}
		// Usage counts old revisions.
		d = e.ok(e.owner, `{ bucket(name: "imgs") { usage { liveBytes revisionBytes } } }`, nil)
		u := d["bucket"].(map[string]any)["usage"].(map[string]any)
		if u["liveBytes"] != float64(len(c)) || u["revisionBytes"] != float64(len(a)) {
			t.Fatalf("usage: %v", u)
		}
	})
}

func TestConcurrentReplace(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		f := e.mustUpload(e.owner, "b", upload{"x.png", "", pngBytes(4, 4)}, nil)
		var wg sync.WaitGroup
		results := make([]*resp, 4)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ct, body := multipartBody(replaceMutation, map[string]any{"id": f["id"], "f": nil, "keep": true},
					map[string]upload{"0": {"n.png", "", pngBytes(10+i, 10)}}, map[string][]string{"0": {"variables.f"}})
				req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", ct)
				req.Header.Set("Apollo-Require-Preflight", "true")
				req.Header.Set("Authorization", "Bearer "+e.owner)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				defer res.Body.Close()
				raw, _ := io.ReadAll(res.Body)
				results[i] = &resp{Status: res.StatusCode, raw: raw}
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for _, r := range results {
			if r == nil || !strings.Contains(string(r.raw), `"revision":`) {
				t.Fatalf("concurrent replace failed: %+v", r)
			}
			i := strings.Index(string(r.raw), `"revision":`)
			n := string(r.raw[i+11 : i+12])
			if seen[n] {
				t.Fatalf("revision %s given twice", n)
			}
			seen[n] = true
		}
		d := e.ok(e.owner, `query($id: ID!) { file(id: $id) { revision revisions { number } } }`, map[string]any{"id": f["id"]})
		if d["file"].(map[string]any)["revision"] != float64(5) || len(d["file"].(map[string]any)["revisions"].([]any)) != 5 {
			t.Fatalf("after concurrent replaces: %v", d)
		}
	})
}

func TestDedupe(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "a"})
		e.createBucket(e.owner, map[string]any{"name": "b"})
		data := pngBytes(30, 30)
		f1 := e.mustUpload(e.owner, "a", upload{"one.png", "", data}, nil)
		f2 := e.mustUpload(e.owner, "b", upload{"two.png", "", data}, nil)
		if n := len(e.objects()); n != 1 {
			t.Fatalf("identical uploads stored %d objects", n)
		}
		// Usage counts per file.
		d := e.ok(e.owner, `{ a: bucket(name: "a") { usage { liveBytes } } b: bucket(name: "b") { usage { liveBytes } } }`, nil)
		if d["a"].(map[string]any)["usage"].(map[string]any)["liveBytes"] != float64(len(data)) ||
			d["b"].(map[string]any)["usage"].(map[string]any)["liveBytes"] != float64(len(data)) {
			t.Fatalf("usage: %v", d)
		}
		// Another organization's identical bytes are its own.
		other := e.otherOrg()
		e.createBucket(other, map[string]any{"name": "a"})
		e.mustUpload(other, "a", upload{"x.png", "", data}, nil)
		if n := len(e.objects()); n != 2 {
			t.Fatalf("cross-org dedupe: %d objects", n)
		}
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": f1["id"]})
		if status, got := e.download(e.owner, f2["id"], 0); status != 200 || !bytes.Equal(got, data) {
			t.Fatalf("the other copy: %d", status)
		}
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": f2["id"]})
		if n := len(e.objects()); n != 1 {
			t.Fatalf("after deleting both: %d objects (the other org's remains)", n)
		}
	})
}

func TestTrashPurgeAndLegalHold(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		now := time.Now()
		e.clock.set(now)
		e.createBucket(e.owner, map[string]any{"name": "b"})
		e.createBucket(e.owner, map[string]any{"name": "quick", "trashRetentionSeconds": 3600})
		data := pngBytes(12, 12)
		f := e.mustUpload(e.owner, "b", upload{"a.png", "", data}, nil)
		held := e.mustUpload(e.owner, "b", upload{"held.png", "", pngBytes(13, 13)}, nil)
		q := e.mustUpload(e.owner, "quick", upload{"q.png", "", pngBytes(14, 14)}, nil)
		id := map[string]any{"id": f["id"]}

		d := e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { trashedAt purgeAt } }`, id)["trashFile"].(map[string]any)
		purgeAt, _ := time.Parse(time.RFC3339Nano, str(d["purgeAt"]))
		if d["trashedAt"] == nil || purgeAt.Sub(now) < 7*24*time.Hour-time.Second || purgeAt.Sub(now) > 7*24*time.Hour+time.Second {
			t.Fatalf("trash: %v", d)
		}
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": q["id"]})
		files := func(filter string) float64 {
			return e.ok(e.owner, `{ files(filter: {trashed: `+filter+`}) { totalCount } }`, nil)["files"].(map[string]any)["totalCount"].(float64)
		}
		if files("EXCLUDE") != 1 || files("ONLY") != 2 || files("INCLUDE") != 3 {
			t.Fatalf("trash filters: %v %v %v", files("EXCLUDE"), files("ONLY"), files("INCLUDE"))
		}
		u := e.ok(e.owner, `{ bucket(name: "b") { usage { fileCount liveBytes trashedBytes } } }`, nil)["bucket"].(map[string]any)["usage"].(map[string]any)
		if u["fileCount"] != float64(1) || u["trashedBytes"] != float64(len(data)) {
			t.Fatalf("usage with trash: %v", u)
		}
		// Restore brings it back; restoring into a taken name conflicts.
		e.ok(e.owner, `mutation($id: ID!) { restoreFile(id: $id) { trashedAt } }`, id)
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, id)
		e.mustUpload(e.owner, "b", upload{"a.png", "", pngBytes(3, 3)}, nil)
		e.fails(media.ECONFLICT, e.owner, `mutation($id: ID!) { restoreFile(id: $id) { id } }`, id)

		// Legal hold: admin only; blocks trash, delete, revision delete, replace without keeping.
		hid := map[string]any{"id": held["id"]}
		memberID := e.member("m@acme.test", media.RoleMember)
		member := e.newKey([]string{media.ScopeMediaRead, media.ScopeMediaDelete}, memberID)
		e.fails(media.EFORBIDDEN, member, `mutation($id: ID!) { setLegalHold(id: $id, hold: true) { id } }`, hid)
		d = e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: true, reason: "case 42") { legalHold legalHoldReason } }`, hid)["setLegalHold"].(map[string]any)
		if d["legalHold"] != true || d["legalHoldReason"] != "case 42" {
			t.Fatalf("hold: %v", d)
		}
		e.replace(e.owner, held["id"], pngBytes(15, 15), true)
		for _, m := range []string{
			`mutation($id: ID!) { trashFile(id: $id) { id } }`,
			`mutation($id: ID!) { deleteFile(id: $id) }`,
			`mutation($id: ID!) { deleteFile(id: $id, force: true) }`,
			`mutation($id: ID!) { deleteFileRevision(id: $id, revision: 1) { id } }`,
		} {
			e.fails(media.ECONFLICT, e.owner, m, hid)
		}
		if r := e.replace(e.owner, held["id"], pngBytes(16, 16), false); r.code() != media.ECONFLICT {
			t.Fatalf("replace without keeping a held file: %s", r.raw)
		}

		// The sweeper purges at the right moment, never held files.
		sweep := func() media.SweepReport {
			r, err := e.m.Service.Sweep(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := sweep(); r.Purged != 0 {
			t.Fatalf("purged too early: %+v", r)
		}
		later := now.Add(2 * time.Hour)
		e.clock.set(later)
		if r := sweep(); r.Purged != 1 { // the quick bucket's file
			t.Fatalf("after 2h: %+v", r)
		}
		e.fails(media.ENOTFOUND, e.owner, `query($id: ID!) { file(id: $id) { id } }`, map[string]any{"id": q["id"]})
		// Hold a trashed file: the sweeper skips it.
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: true) { id } }`, id)
		objectsBefore := len(e.objects())
		weekLater := now.Add(8 * 24 * time.Hour)
		e.clock.set(weekLater)
		if r := sweep(); r.Purged != 0 {
			t.Fatalf("purged a held file: %+v", r)
		}
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: false) { id } }`, id)
		if r := sweep(); r.Purged != 1 {
			t.Fatalf("after release: %+v", r)
		}
		if n := len(e.objects()); n != objectsBefore-1 {
			t.Fatalf("purge left bytes: %d objects, had %d", n, objectsBefore)
		}
		u = e.ok(e.owner, `{ bucket(name: "b") { usage { trashedBytes } } }`, nil)["bucket"].(map[string]any)["usage"].(map[string]any)
		if u["trashedBytes"] != float64(0) {
			t.Fatalf("usage after purge: %v", u)
		}
		// emptyTrash needs admin and purges at once.
		e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: false) { id } }`, hid)
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, hid)
		e.fails(media.EFORBIDDEN, member, `mutation { emptyTrash }`, nil)
		if d := e.ok(e.owner, `mutation { emptyTrash(bucket: "b") }`, nil); d["emptyTrash"] != float64(1) {
			t.Fatalf("emptyTrash: %v", d)
		}
	})
}

// TestReconciler: the leftovers of a crash between "bytes stored" and "row
// committed" (a PENDING row and its object), an object nothing references,
// and a row whose bytes vanished are each handled by the sweeper.
func TestReconciler(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		svc := e.m.Service
		e.createBucket(e.owner, map[string]any{"name": "b"})
		f := e.mustUpload(e.owner, "b", upload{"keep.png", "", pngBytes(9, 9)}, nil)

		// One sweeper at a time: while another replica holds the lock, a sweep is skipped.
		release, ok, err := e.m.DB.TryLock(ctx, "sweep")
		if err != nil || !ok {
			t.Fatalf("lock: %v %v", ok, err)
		}
		if r, err := svc.Sweep(ctx); err != nil || !r.Skipped {
			t.Fatalf("sweep under another's lock: %+v %v", r, err)
		}
		release()

		// A crash after Put: the pending row and the bytes exist, no file.
		crashed := &media.Blob{ID: media.NewID(media.PrefixBlob, time.Now()), OrgID: e.org.ID, State: media.BlobPending,
			Size: 3, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		crashed.StorageKey = string(e.org.ID) + "/" + string(crashed.ID)
		if err := e.m.DB.CreateBlob(ctx, crashed); err != nil {
			t.Fatal(err)
		}
		if err := e.m.Blobs.Put(ctx, crashed.StorageKey, strings.NewReader("abc"), 3, ""); err != nil {
			t.Fatal(err)
		}
		// An object with no row at all.
		if err := e.m.Blobs.Put(ctx, "stray/object", strings.NewReader("zz"), 2, ""); err != nil {
			t.Fatal(err)
		}
		// Young leftovers are left alone (they may be uploads in flight).
		r, err := svc.Sweep(ctx)
		if err != nil || r.Abandoned != 0 || r.Orphans != 0 || len(r.Missing) != 0 {
			t.Fatalf("young leftovers touched: %+v %v", r, err)
		}
		later := time.Now().Add(2 * time.Hour)
		e.clock.set(later)
		defer e.clock.reset()
		if r, err = svc.Sweep(ctx); err != nil || r.Abandoned != 1 || r.Orphans != 1 || len(r.Missing) != 0 {
			t.Fatalf("sweep: %+v %v", r, err)
		}
		if n := len(e.objects()); n != 1 {
			t.Fatalf("objects after sweep: %d", n)
		}
		// Bytes that vanish under a row are reported, not hidden.
		var k string
		if err := e.m.DB.Bun().NewRaw("SELECT b.storage_key FROM blobs b JOIN files f ON f.blob_id = b.id WHERE f.id = ?", f["id"]).Scan(ctx, &k); err != nil {
			t.Fatal(err)
		}
		if err := e.m.Blobs.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		if r, err = svc.Sweep(ctx); err != nil || len(r.Missing) != 1 {
			t.Fatalf("missing bytes not reported: %+v %v", r, err)
		}
		// Leave a consistent state for the invariant check.
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": f["id"]})
	})
}
