package main

import (
	"bytes"
	"sync"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

func TestCopyAndMove(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "src"})
		e.createBucket(e.owner, map[string]any{"name": "imgs", "allowedMimeTypes": []string{"image/*"}})
		a, b := pngBytes(7, 7), pngBytes(8, 8)
		fa := e.mustUpload(e.owner, "src", upload{"a.png", "", a}, map[string]any{"path": "/events/", "tags": []string{"x"}, "altText": "A"})
		fb := e.mustUpload(e.owner, "src", upload{"b.png", "", b}, map[string]any{"path": "/events/2026/"})
		doc := e.mustUpload(e.owner, "src", upload{"d.pdf", "", pdfBytes()}, map[string]any{"path": "/docs/"})
		copyQ := `mutation($i: CopyFilesInput!) { copyFiles(input: $i) { id name path bucket { name } tags altText checksumSha256 revision } }`

		// A folder with its subfolders, into another bucket.
		d := e.ok(e.owner, copyQ, map[string]any{"i": map[string]any{"sourceBucket": "src", "sourcePath": "/events", "targetBucket": "imgs", "targetPath": "/copied"}})
		copies := d["copyFiles"].([]any)
		if len(copies) != 2 {
			t.Fatalf("copies: %v", copies)
		}
		paths := map[string]string{}
		for _, c := range copies {
			m := c.(map[string]any)
			paths[str(m["name"])] = str(m["path"])
			if m["bucket"].(map[string]any)["name"] != "imgs" || m["id"] == fa["id"] || m["revision"] != float64(1) {
				t.Fatalf("copy: %v", m)
			}
			if m["name"] == "a.png" && (m["altText"] != "A" || len(m["tags"].([]any)) != 1) {
				t.Fatalf("copy lost its metadata: %v", m)
			}
		}
		if paths["a.png"] != "/copied/" || paths["b.png"] != "/copied/2026/" {
			t.Fatalf("copied paths: %v", paths)
		}
		// No bytes were duplicated, and a copy survives its original.
		if n := len(e.objects()); n != 3 {
			t.Fatalf("objects after copy: %d", n)
		}
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": fa["id"]})
		for _, c := range copies {
			if status, got := e.download(e.owner, c.(map[string]any)["id"], 0); status != 200 || (!bytes.Equal(got, a) && !bytes.Equal(got, b)) {
				t.Fatalf("copy unreadable after its original was deleted: %d", status)
			}
		}
		// All or nothing: a PDF is refused by the image bucket, so nothing is copied.
		e.fails(media.EUNSUPPORTED, e.owner, copyQ, map[string]any{"i": map[string]any{"ids": []any{fb["id"], doc["id"]}, "targetBucket": "imgs", "targetPath": "/x"}})
		// A name taken in the target folder conflicts, for the whole batch.
		fc := e.mustUpload(e.owner, "src", upload{"c.png", "", pngBytes(9, 9)}, nil)
		e.fails(media.ECONFLICT, e.owner, copyQ, map[string]any{"i": map[string]any{"ids": []any{fc["id"], fb["id"]}, "targetBucket": "imgs", "targetPath": "/copied/2026"}})
		if n := e.ok(e.owner, `{ files(bucket: "imgs") { totalCount } }`, nil)["files"].(map[string]any)["totalCount"]; n != float64(2) {
			t.Fatalf("a failed copy left files: %v", n)
		}
		// Another organization's ids are NOT_FOUND.
		other := e.otherOrg()
		e.fails(media.ENOTFOUND, other, copyQ, map[string]any{"i": map[string]any{"ids": []any{fb["id"]}, "targetPath": "/"}})

		// Move: within a bucket and across buckets, all or nothing.
		moveQ := `mutation($i: MoveFilesInput!) { moveFiles(input: $i) { id path bucket { name } } }`
		d = e.ok(e.owner, moveQ, map[string]any{"i": map[string]any{"ids": []any{fb["id"], doc["id"]}, "targetPath": "/archive"}})
		for _, m := range d["moveFiles"].([]any) {
			if m.(map[string]any)["path"] != "/archive/" || m.(map[string]any)["bucket"].(map[string]any)["name"] != "src" {
				t.Fatalf("moved: %v", m)
			}
		}
		e.fails(media.EUNSUPPORTED, e.owner, moveQ, map[string]any{"i": map[string]any{"ids": []any{fb["id"], doc["id"]}, "targetBucket": "imgs", "targetPath": "/"}})
		d = e.ok(e.owner, `query($id: ID!) { file(id: $id) { path bucket { name } } }`, map[string]any{"id": fb["id"]})
		if d["file"].(map[string]any)["path"] != "/archive/" {
			t.Fatalf("a failed move moved a file: %v", d)
		}
		e.ok(e.owner, moveQ, map[string]any{"i": map[string]any{"ids": []any{fb["id"]}, "targetBucket": "imgs", "targetPath": "/"}})
		e.fails(media.EINVALID, e.owner, moveQ, map[string]any{"i": map[string]any{"ids": []any{doc["id"]}, "targetPath": "/../x"}})
	})
}

// TestConcurrentCopyAndDelete: copies racing deletes of the same content
// never leave a file whose bytes are gone, nor bytes nothing uses.
func TestConcurrentCopyAndDelete(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		data := pngBytes(11, 11)
		var wg sync.WaitGroup
		for round := range 4 {
			f := e.mustUpload(e.owner, "b", upload{"orig.png", "", data}, map[string]any{"path": "/r" + string(rune('a'+round))})
			wg.Add(2)
			go func() {
				defer wg.Done()
				e.do(e.owner, `mutation($i: CopyFilesInput!) { copyFiles(input: $i) { id } }`,
					map[string]any{"i": map[string]any{"ids": []any{f["id"]}, "targetPath": "/copies/" + string(rune('a'+round))}})
			}()
			go func() {
				defer wg.Done()
				e.do(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": f["id"]})
			}()
			wg.Wait()
		}
		// Every remaining file downloads; the invariant check (after the
		// test) verifies rows and objects match.
		d := e.ok(e.owner, `{ files(bucket: "b", first: 100) { nodes { id } } }`, nil)
		for _, n := range d["files"].(map[string]any)["nodes"].([]any) {
			if status, got := e.download(e.owner, n.(map[string]any)["id"], 0); status != 200 || !bytes.Equal(got, data) {
				t.Fatalf("file %v: %d", n, status)
			}
		}
	})
}
