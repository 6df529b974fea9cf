package main

import (
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

func TestBuckets(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		b := e.createBucket(e.owner, map[string]any{"name": "photos", "access": "RESTRICTED", "defaultVisibility": "PUBLIC",
			"maxFileSize": 1 << 20, "allowedMimeTypes": []string{"image/*", "application/pdf"}, "quotaBytes": 1 << 30,
			"typeLimits": []map[string]any{{"type": "IMAGE", "maxSize": 512 << 10}}})
		if b["access"] != "RESTRICTED" || b["defaultVisibility"] != "PUBLIC" || b["maxFileSize"] != float64(1<<20) ||
			len(b["allowedMimeTypes"].([]any)) != 2 || b["quotaBytes"] != float64(1<<30) || len(b["typeLimits"].([]any)) != 1 {
			t.Fatalf("created bucket: %v", b)
		}
		e.fails(media.ECONFLICT, e.owner, `mutation { createBucket(input: {name: "photos"}) { id } }`, nil)
		for _, bad := range []string{"", "Photos", "../x", "a/b", "-x", string(make([]byte, 64))} {
			e.fails(media.EINVALID, e.owner, `mutation($n: String!) { createBucket(input: {name: $n}) { id } }`, map[string]any{"n": bad})
		}
		e.fails(media.EINVALID, e.owner, `mutation { createBucket(input: {name: "x", allowedMimeTypes: ["image"]}) { id } }`, nil)
		e.fails(media.EINVALID, e.owner, `mutation { createBucket(input: {name: "x", maxFileSize: -1}) { id } }`, nil)

		// Update changes what is given; null removes a limit.
		d := e.ok(e.owner, `mutation { updateBucket(input: {name: "photos", maxFileSize: null, access: ORGANIZATION}) { access maxFileSize quotaBytes defaultVisibility } }`, nil)
		u := d["updateBucket"].(map[string]any)
		if u["access"] != "ORGANIZATION" || u["maxFileSize"] != nil || u["quotaBytes"] != float64(1<<30) || u["defaultVisibility"] != "PUBLIC" {
			t.Fatalf("updated: %v", u)
		}
		e.fails(media.ENOTFOUND, e.owner, `mutation { updateBucket(input: {name: "nope"}) { id } }`, nil)

		// Listing pages by name.
		for _, n := range []string{"a1", "a2", "a3"} {
			e.createBucket(e.owner, map[string]any{"name": n})
		}
		d = e.ok(e.owner, `{ buckets(first: 2) { totalCount nodes { name } pageInfo { hasNextPage endCursor } } }`, nil)
		bs := d["buckets"].(map[string]any)
		if bs["totalCount"] != float64(4) || len(bs["nodes"].([]any)) != 2 || bs["pageInfo"].(map[string]any)["hasNextPage"] != true {
			t.Fatalf("buckets page 1: %v", bs)
		}
		d = e.ok(e.owner, `query($a: String) { buckets(first: 5, after: $a) { nodes { name } pageInfo { hasNextPage hasPreviousPage } } }`,
			map[string]any{"a": bs["pageInfo"].(map[string]any)["endCursor"]})
		bs = d["buckets"].(map[string]any)
		if names := bs["nodes"].([]any); len(names) != 2 || names[0].(map[string]any)["name"] != "a3" || names[1].(map[string]any)["name"] != "photos" {
			t.Fatalf("buckets page 2: %v", bs)
		}

		// A bucket with files is only deleted with force, which removes the bytes too.
		e.mustUpload(e.owner, "a1", upload{"x.png", "", pngBytes(8, 8)}, nil)
		e.fails(media.ECONFLICT, e.owner, `mutation { deleteBucket(name: "a1") }`, nil)
		if len(e.objects()) != 1 {
			t.Fatal("expected one stored object")
		}
		e.ok(e.owner, `mutation { deleteBucket(name: "a1", force: true) }`, nil)
		if len(e.objects()) != 0 {
			t.Fatalf("force delete left bytes: %v", e.objects())
		}
		e.ok(e.owner, `mutation { deleteBucket(name: "a2") }`, nil)
		e.fails(media.ENOTFOUND, e.owner, `{ bucket(name: "a2") { id } }`, nil)
	})
}

func TestBucketUsageAndQuota(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		a, big := pngBytes(10, 10), pngBytes(20, 20)
		e.createBucket(e.owner, map[string]any{"name": "small", "quotaBytes": len(a) + len(big)/2})
		e.mustUpload(e.owner, "small", upload{"a.png", "", a}, nil)
		d := e.ok(e.owner, `{ bucket(name: "small") { usage { fileCount liveBytes trashedBytes revisionBytes } } }`, nil)
		u := d["bucket"].(map[string]any)["usage"].(map[string]any)
		if u["fileCount"] != float64(1) || u["liveBytes"] != float64(len(a)) || u["trashedBytes"] != float64(0) || u["revisionBytes"] != float64(0) {
			t.Fatalf("usage: %v", u)
		}
		if r := e.upload(e.owner, "small", upload{"big.png", "", big}, nil); r.code() != media.EQUOTA {
			t.Fatalf("over quota: %s", r.raw)
		}
	})
}
