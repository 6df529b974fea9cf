package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

func TestReadFilesAndNodes(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		b := e.createBucket(e.owner, map[string]any{"name": "b"})
		var ids []string
		for i := range 7 {
			f := e.mustUpload(e.owner, "b", upload{fmt.Sprintf("f%d.png", i), "", pngBytes(i+1, 1)}, nil)
			ids = append(ids, str(f["id"]))
		}
		d := e.ok(e.owner, `query($id: ID!) { file(id: $id) { id name } node(id: $id) { id ... on File { name } } }`, map[string]any{"id": ids[0]})
		if d["file"].(map[string]any)["name"] != "f0.png" || d["node"].(map[string]any)["name"] != "f0.png" {
			t.Fatalf("file/node: %v", d)
		}
		d = e.ok(e.owner, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{ids[1], "file_nope", str(b["id"])}})
		ns := d["nodes"].([]any)
		if ns[0].(map[string]any)["id"] != ids[1] || ns[1] != nil || ns[2].(map[string]any)["id"] != b["id"] {
			t.Fatalf("nodes: %v", ns)
		}
		// Walk every page with first/after: newest first, each file once.
		var seen []string
		var after any
		for pages := 0; ; pages++ {
			d = e.ok(e.owner, `query($a: String) { files(bucket: "b", first: 3, after: $a) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, map[string]any{"a": after})
			c := d["files"].(map[string]any)
			if c["totalCount"] != float64(7) {
				t.Fatalf("totalCount: %v", c["totalCount"])
			}
			for _, edge := range c["edges"].([]any) {
				seen = append(seen, str(edge.(map[string]any)["node"].(map[string]any)["id"]))
			}
			pi := c["pageInfo"].(map[string]any)
			if pi["hasNextPage"] != true {
				break
			}
			after = pi["endCursor"]
			if pages > 5 {
				t.Fatal("paging does not end")
			}
		}
		want := make([]string, len(ids))
		for i, id := range ids {
			want[len(ids)-1-i] = id
		}
		if !reflect.DeepEqual(seen, want) {
			t.Fatalf("paging: got %v want %v", seen, want)
		}
		e.fails(media.EINVALID, e.owner, `{ files(first: 101) { totalCount } }`, nil)
		e.fails(media.EINVALID, e.owner, `{ files(after: "garbage") { totalCount } }`, nil)

		// deleteFile removes the row and the bytes.
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": ids[0]})
		e.fails(media.ENOTFOUND, e.owner, `query($id: ID!) { file(id: $id) { id } }`, map[string]any{"id": ids[0]})
		if len(e.objects()) != 6 {
			t.Fatalf("objects after delete: %d", len(e.objects()))
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "shared-name"})
		mine := e.mustUpload(e.owner, "shared-name", upload{"a.png", "", pngBytes(2, 2)}, nil)
		other := e.otherOrg()
		e.createBucket(other, map[string]any{"name": "shared-name"})
		theirs := e.mustUpload(other, "shared-name", upload{"b.png", "", pngBytes(3, 3)}, nil)
		theirID := str(theirs["id"])
		unknown := "file_" + "0000000000000000000000000z"

		// An id of another organization answers exactly like one that does not exist.
		same := func(query string, vars func(id string) map[string]any) {
			t.Helper()
			a, b := e.do(e.owner, query, vars(theirID)), e.do(e.owner, query, vars(unknown))
			if a.code() != b.code() || a.Status != b.Status || !reflect.DeepEqual(a.Data, b.Data) {
				t.Fatalf("%s: other org %d %s vs unknown %d %s", query, a.Status, a.raw, b.Status, b.raw)
			}
			if a.code() != media.ENOTFOUND && a.code() != "" {
				t.Fatalf("%s: %s", query, a.raw)
			}
		}
		one := func(id string) map[string]any { return map[string]any{"id": id} }
		same(`query($id: ID!) { file(id: $id) { id } }`, one)
		same(`query($id: ID!) { node(id: $id) { id } }`, one)
		same(`query($id: ID!) { nodes(ids: [$id]) { id } }`, one)
		same(`mutation($id: ID!) { deleteFile(id: $id) }`, one)
		same(`mutation($id: ID!) { deleteFile(id: $id, force: true) }`, one)
		e.fails(media.ENOTFOUND, e.owner, `query($id: ID!) { file(id: $id) { id } }`, one(theirID))

		// Listings, buckets and node lookups of other kinds stay inside the org.
		d := e.ok(e.owner, `{ files { totalCount nodes { id } } buckets { totalCount } }`, nil)
		if d["files"].(map[string]any)["totalCount"] != float64(1) || d["buckets"].(map[string]any)["totalCount"] != float64(1) {
			t.Fatalf("listing crosses orgs: %v", d)
		}
		dv := e.ok(other, `{ viewer { organization { id } user { id } } buckets { nodes { id } } }`, nil)
		otherOrgID := dv["viewer"].(map[string]any)["organization"].(map[string]any)["id"]
		otherUserID := dv["viewer"].(map[string]any)["user"].(map[string]any)["id"]
		otherBucketID := dv["buckets"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["id"]
		for _, id := range []any{otherOrgID, otherUserID, otherBucketID} {
			e.fails(media.ENOTFOUND, e.owner, `query($id: ID!) { node(id: $id) { id } }`, one(str(id)))
		}
		// The other org's file is untouched.
		d = e.ok(other, `query($id: ID!) { file(id: $id) { name } }`, one(theirID))
		if d["file"].(map[string]any)["name"] != "b.png" {
			t.Fatal("other org's file changed")
		}
		// A cursor from another org's listing is refused.
		d = e.ok(other, `{ files(first: 1) { pageInfo { endCursor } } }`, nil)
		cur := d["files"].(map[string]any)["pageInfo"].(map[string]any)["endCursor"]
		e.fails(media.EINVALID, e.owner, `query($a: String) { files(after: $a) { totalCount } }`, map[string]any{"a": cur})
		// Keys of another org cannot be revoked.
		e.fails(media.ENOTFOUND, e.owner, `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, one("key_0000000000000000000000000z"))
		_ = mine
	})
}

// failingBlobs fails Put after consuming part of the content, as a storage
// outage in the middle of an upload would.
type failingBlobs struct {
	media.Blobs
	failPut bool
}

func (f *failingBlobs) Put(ctx context.Context, key string, r io.Reader, size int64, ct string) error {
	if f.failPut {
		_, _ = io.CopyN(io.Discard, r, size/2)
		return media.Unavailable("object storage", errors.New("injected failure"))
	}
	return f.Blobs.Put(ctx, key, r, size, ct)
}

// failingStore fails creating the file row after the bytes are stored.
func TestNoOrphansAfterFailedUpload(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		svc := e.m.Service
		realBlobs := svc.Blobs
		img := pngBytes(16, 16)

		svc.Blobs = &failingBlobs{Blobs: realBlobs, failPut: true}
		if r := e.upload(e.owner, "b", upload{"a.png", "", img}, nil); r.code() != media.EUNAVAILABLE {
			t.Fatalf("storage failure: %s", r.raw)
		}
		svc.Blobs = realBlobs

		e.faults.set(media.Unavailable("database", errors.New("injected")), nil)
		if r := e.upload(e.owner, "b", upload{"a.png", "", img}, nil); r.code() != media.EUNAVAILABLE {
			t.Fatalf("database failure: %s", r.raw)
		}
		// An unexpected error is INTERNAL, with a request id and no details.
		e.faults.set(errors.New("pq: secret SQL detail"), nil)
		r := e.upload(e.owner, "b", upload{"a.png", "", img}, nil)
		if r.code() != media.EINTERNAL || r.Errors[0].Extensions["requestId"] == nil || strings.Contains(string(r.raw), "SQL") {
			t.Fatalf("internal error: %s", r.raw)
		}
		e.faults.set(nil, nil)

		d := e.ok(e.owner, `{ files { totalCount } }`, nil)
		if d["files"].(map[string]any)["totalCount"] != float64(0) || len(e.objects()) != 0 {
			t.Fatalf("failed uploads left %v files and %d objects", d, len(e.objects()))
		}
		// And the same upload then succeeds.
		e.mustUpload(e.owner, "b", upload{"a.png", "", img}, nil)
	})
}
