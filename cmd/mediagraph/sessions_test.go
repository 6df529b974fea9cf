package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

const sessionFields = `id state method size mimeType path name expiresAt uploadUrl partSize partCount
	parts { number size url } uploadedParts { number size etag } file { id } bucket { name }`

const createSession = `mutation($i: CreateUploadSessionInput!) { createUploadSession(input: $i) { ` + sessionFields + ` } }`

const completeSession = `mutation($id: ID!, $parts: [CompletedPartInput!]) { completeUploadSession(id: $id, parts: $parts) {
	id name path mimeType size checksumSha256 width height tags altText visibility metadata } }`

// randomBytes returns n reproducible random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// put PUTs body to a presigned URL and returns the status and ETag.
func put(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("ETag")
}

func (e *env) session(key string, input map[string]any) map[string]any {
	e.t.Helper()
	return e.ok(key, createSession, map[string]any{"i": input})["createUploadSession"].(map[string]any)
}

func (e *env) sessionByID(key string, id any) map[string]any {
	e.t.Helper()
	return e.ok(key, `query($id: ID!) { uploadSession(id: $id) { `+sessionFields+` } }`, map[string]any{"id": id})["uploadSession"].(map[string]any)
}

// smallParts makes sessions above 5 MiB multipart with 5 MiB parts, so tests
// exercise multipart uploads without moving hundreds of megabytes.
func (e *env) smallParts() {
	e.m.Service.Config.SinglePutLimit = media.MinPartSize
	e.m.Service.Config.SessionPartSize = media.MinPartSize
}

func TestUploadSessionSinglePut(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b", "defaultVisibility": "PUBLIC"})
		data := pngBytes(300, 200)
		sum := sha(data)
		s := e.session(e.owner, map[string]any{"bucket": "b", "path": "/big/", "name": "photo.png", "size": len(data),
			"mimeType": "image/png", "checksumSha256": sum, "tags": []string{"a"}, "altText": "alt", "metadata": map[string]any{"k": "v"}})
		if s["method"] != "PUT" || s["state"] != "OPEN" || s["partSize"] != nil || s["uploadUrl"] == nil || len(s["parts"].([]any)) != 0 {
			t.Fatalf("session: %v", s)
		}
		// Nothing uploaded yet: the client is told, the session stays open.
		e.fails("BAD_USER_INPUT", e.owner, completeSession, map[string]any{"id": s["id"]})
		// The URL takes exactly the declared size.
		if code, _ := put(t, str(s["uploadUrl"]), append(bytes.Clone(data), 0)); code < 400 {
			t.Fatalf("a PUT of another size was accepted: %d", code)
		}
		if code, _ := put(t, str(s["uploadUrl"]), data); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		// Two completions at once: one commits; the other waits its turn
		// (CONFLICT) or, arriving later, gets the same file.
		var wg sync.WaitGroup
		results := make([]*resp, 2)
		for i := range results {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = e.do(e.owner, completeSession, map[string]any{"id": s["id"]}) }()
		}
		wg.Wait()
		var f map[string]any
		for _, r := range results {
			switch {
			case len(r.Errors) == 0:
				got := r.Data["completeUploadSession"].(map[string]any)
				if f != nil && got["id"] != f["id"] {
					t.Fatalf("two files from one session: %v %v", f["id"], got["id"])
				}
				f = got
			case r.code() != "CONFLICT":
				t.Fatalf("concurrent completion: %s", r.raw)
			}
		}
		if f == nil {
			t.Fatal("no completion succeeded")
		}
		if f["checksumSha256"] != sum || f["mimeType"] != "image/png" || f["path"] != "/big/" || f["name"] != "photo.png" ||
			f["width"].(float64) != 300 || f["height"].(float64) != 200 || f["altText"] != "alt" || len(f["tags"].([]any)) != 1 ||
			f["visibility"] != "PUBLIC" || f["metadata"].(map[string]any)["k"] != "v" {
			t.Fatalf("file: %v", f)
		}
		if got := e.stored(str(f["id"])); !bytes.Equal(got, data) {
			t.Fatal("stored bytes differ")
		}
		// Completing again (a retry after a lost response) returns the same file.
		again := e.ok(e.owner, completeSession, map[string]any{"id": s["id"]})["completeUploadSession"].(map[string]any)
		if again["id"] != f["id"] {
			t.Fatalf("second complete made another file: %v", again)
		}
		s = e.sessionByID(e.owner, s["id"])
		if s["state"] != "COMPLETED" || s["uploadUrl"] != nil || s["file"].(map[string]any)["id"] != f["id"] {
			t.Fatalf("completed session: %v", s)
		}
		// Another organization cannot see or complete it; another member cannot either.
		other := e.otherOrg()
		e.fails("NOT_FOUND", other, `query($id: ID!) { uploadSession(id: $id) { id } }`, map[string]any{"id": s["id"]})
		e.fails("NOT_FOUND", other, completeSession, map[string]any{"id": s["id"]})
		member := e.newKey([]string{"media:read", "media:create"}, e.member("m@acme.test", media.RoleMember))
		e.fails("NOT_FOUND", member, `mutation($id: ID!) { abortUploadSession(id: $id) }`, map[string]any{"id": s["id"]})
	})
}

func TestUploadSessionMultipart(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.smallParts()
		e.createBucket(e.owner, map[string]any{"name": "b"})
		data := randomBytes(2*media.MinPartSize+12345, 1)
		s := e.session(e.owner, map[string]any{"bucket": "b", "name": "movie.bin", "size": len(data),
			"mimeType": "application/octet-stream", "checksumSha256": sha(data)})
		if s["method"] != "MULTIPART" || s["partCount"].(float64) != 3 || s["partSize"].(float64) != media.MinPartSize || s["uploadUrl"] != nil {
			t.Fatalf("session: %v", s)
		}
		parts := s["parts"].([]any)
		part := func(n int) []byte {
			lo := (n - 1) * media.MinPartSize
			return data[lo:min(lo+media.MinPartSize, len(data))]
		}
		etags := map[int]string{}
		send := func(n int, body []byte) {
			t.Helper()
			p := parts[n-1].(map[string]any)
			if int(p["number"].(float64)) != n || int(p["size"].(float64)) != len(part(n)) {
				t.Fatalf("part %d: %v", n, p)
			}
			code, etag := put(t, str(p["url"]), body)
			if code != 200 {
				t.Fatalf("PUT part %d: %d", n, code)
			}
			etags[n] = etag
		}
		// Out of order, and part 1 twice: first wrong bytes, then the right ones (a retry).
		send(3, part(3))
		send(1, randomBytes(media.MinPartSize, 99))
		send(1, part(1))
		// A part of the wrong size is refused by the signed URL.
		if code, _ := put(t, str(parts[1].(map[string]any)["url"]), part(3)); code < 400 {
			t.Fatalf("a part of the wrong size was accepted: %d", code)
		}
		// Completing with a part missing says which, and the session stays open.
		r := e.fails("BAD_USER_INPUT", e.owner, completeSession, map[string]any{"id": s["id"]})
		if !bytes.Contains(r.raw, []byte("parts 2 of 3")) {
			t.Fatalf("missing part not named: %s", r.raw)
		}
		// Resume: the session says what is stored, with the ETags the PUTs returned.
		up := e.sessionByID(e.owner, s["id"])["uploadedParts"].([]any)
		if len(up) != 2 || up[0].(map[string]any)["number"].(float64) != 1 || up[1].(map[string]any)["number"].(float64) != 3 ||
			up[0].(map[string]any)["etag"] != etags[1] {
			t.Fatalf("uploaded parts: %v (etags %v)", up, etags)
		}
		send(2, part(2))
		// A stale ETag (of the first, replaced PUT of part 1) is refused.
		list := []map[string]any{{"number": 1, "etag": "\"0123456789abcdef0123456789abcdef\""}, {"number": 2, "etag": etags[2]}, {"number": 3, "etag": etags[3]}}
		e.fails("BAD_USER_INPUT", e.owner, completeSession, map[string]any{"id": s["id"], "parts": list})
		list[0]["etag"] = etags[1]
		f := e.ok(e.owner, completeSession, map[string]any{"id": s["id"], "parts": list})["completeUploadSession"].(map[string]any)
		if f["checksumSha256"] != sha(data) || int(f["size"].(float64)) != len(data) {
			t.Fatalf("file: %v", f)
		}
		if got := e.stored(str(f["id"])); !bytes.Equal(got, data) {
			t.Fatal("stored bytes differ")
		}
	})
}

func TestUploadSessionFailures(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.smallParts()
		e.createBucket(e.owner, map[string]any{"name": "b", "quotaBytes": 20 << 20})
		e.createBucket(e.owner, map[string]any{"name": "img", "allowedMimeTypes": []string{"image/*"}, "maxFileSize": 1 << 20})
		data := randomBytes(1000, 2)

		// Policy, name and quota are checked when the session is created.
		e.fails("UNSUPPORTED_MEDIA_TYPE", e.owner, createSession, map[string]any{"i": map[string]any{"bucket": "img", "name": "v.mp4", "size": 1000, "mimeType": "video/mp4"}})
		e.fails("PAYLOAD_TOO_LARGE", e.owner, createSession, map[string]any{"i": map[string]any{"bucket": "img", "name": "p.png", "size": 2 << 20, "mimeType": "image/png"}})
		e.fails("BAD_USER_INPUT", e.owner, createSession, map[string]any{"i": map[string]any{"bucket": "b", "name": "x", "size": 0, "mimeType": "image/png"}})
		e.fails("BAD_USER_INPUT", e.owner, createSession, map[string]any{"i": map[string]any{"bucket": "b", "name": "x", "size": 10, "mimeType": "image/png", "checksumSha256": "zz"}})
		e.fails("BAD_USER_INPUT", e.owner, createSession, map[string]any{"i": map[string]any{"bucket": "b", "name": "../..", "size": 10, "mimeType": "image/png"}})
		e.fails("NOT_FOUND", e.otherOrg(), createSession, map[string]any{"i": map[string]any{"bucket": "b", "name": "x", "size": 10, "mimeType": "image/png"}})
		// The default type limits are for uploads through the API; a
		// bucket's own type limits apply to sessions too.
		e.createBucket(e.owner, map[string]any{"name": "films"})
		e.createBucket(e.owner, map[string]any{"name": "clips", "typeLimits": []map[string]any{{"type": "VIDEO", "maxSize": 1 << 20}}})
		film := e.session(e.owner, map[string]any{"bucket": "films", "name": "long.mp4", "size": 3 << 30, "mimeType": "video/mp4"})
		e.ok(e.owner, `mutation($id: ID!) { abortUploadSession(id: $id) }`, map[string]any{"id": film["id"]})
		e.fails("PAYLOAD_TOO_LARGE", e.owner, createSession, map[string]any{"i": map[string]any{"bucket": "clips", "name": "c.mp4", "size": 2 << 20, "mimeType": "video/mp4"}})
		e.mustUpload(e.owner, "b", upload{"taken.bin", "", data}, nil)
		e.fails("CONFLICT", e.owner, createSession, map[string]any{"i": map[string]any{"bucket": "b", "name": "taken.bin", "size": 10, "mimeType": "application/octet-stream"}})
		big := e.session(e.owner, map[string]any{"bucket": "b", "name": "big.bin", "size": 15 << 20, "mimeType": "application/octet-stream"})
		// The open session's bytes count against the quota until it ends.
		e.fails("QUOTA_EXCEEDED", e.owner, createSession, map[string]any{"i": map[string]any{"bucket": "b", "name": "more.bin", "size": 6 << 20, "mimeType": "application/octet-stream"}})

		// Abort: the parts go, the session ends, completing it is refused.
		if code, _ := put(t, str(big["parts"].([]any)[0].(map[string]any)["url"]), randomBytes(media.MinPartSize, 3)); code != 200 {
			t.Fatalf("PUT: %d", code)
		}
		e.ok(e.owner, `mutation($id: ID!) { abortUploadSession(id: $id) }`, map[string]any{"id": big["id"]})
		if s := e.sessionByID(e.owner, big["id"]); s["state"] != "ABORTED" || len(s["parts"].([]any)) != 0 {
			t.Fatalf("aborted session: %v", s)
		}
		e.fails("CONFLICT", e.owner, completeSession, map[string]any{"id": big["id"]})
		if n := e.multipartUploads(); n != 0 {
			t.Fatalf("%d multipart uploads left after abort", n)
		}
		e.session(e.owner, map[string]any{"bucket": "b", "name": "more.bin", "size": 6 << 20, "mimeType": "application/octet-stream"})
		e.ok(e.owner, `mutation($id: ID!) { abortUploadSession(id: $id) }`, map[string]any{"id": e.lastSession()})

		// A wrong checksum: BAD_USER_INPUT, no file, nothing stored.
		s := e.session(e.owner, map[string]any{"bucket": "b", "name": "sum.bin", "size": len(data), "mimeType": "application/octet-stream",
			"checksumSha256": hex.EncodeToString(make([]byte, 32))})
		put(t, str(s["uploadUrl"]), data)
		r := e.fails("BAD_USER_INPUT", e.owner, completeSession, map[string]any{"id": s["id"]})
		if r.Errors[0].Extensions["field"] != "checksumSha256" {
			t.Fatalf("checksum error: %s", r.raw)
		}
		if st := e.sessionByID(e.owner, s["id"])["state"]; st != "ABORTED" {
			t.Fatalf("state after a bad checksum: %v", st)
		}
		// A store that took another size (the signed URLs refuse one; a
		// store might not): completion checks the part sizes, and the
		// session stays open for the right bytes.
		s = e.session(e.owner, map[string]any{"bucket": "b", "name": "size.bin", "size": len(data), "mimeType": "application/octet-stream"})
		var key, uploadID string
		if err := e.m.DB.Bun().NewRaw("SELECT storage_key, multipart_id FROM upload_sessions WHERE id = ?", s["id"]).Scan(ctx, &key, &uploadID); err != nil {
			t.Fatal(err)
		}
		short, err := e.m.Blobs.PresignPart(ctx, key, uploadID, 1, 999, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		put(t, short, data[:999])
		if r := e.fails("BAD_USER_INPUT", e.owner, completeSession, map[string]any{"id": s["id"]}); r.Errors[0].Extensions["field"] != "parts" {
			t.Fatalf("size mismatch: %s", r.raw)
		}
		if st := e.sessionByID(e.owner, s["id"])["state"]; st != "OPEN" {
			t.Fatalf("state after a wrong-sized part: %v", st)
		}
		e.ok(e.owner, `mutation($id: ID!) { abortUploadSession(id: $id) }`, map[string]any{"id": s["id"]})
		// Content that contradicts the declared type is refused on completion.
		s = e.session(e.owner, map[string]any{"bucket": "b", "name": "lie.png", "size": len(data), "mimeType": "image/png"})
		put(t, str(s["uploadUrl"]), data)
		e.fails("UNSUPPORTED_MEDIA_TYPE", e.owner, completeSession, map[string]any{"id": s["id"]})
		if n := e.fileCount("b"); n != 1 {
			t.Fatalf("files after failed sessions: %d", n)
		}

		// Expiry: completing is refused, and the sweeper aborts the upload.
		s = e.session(e.owner, map[string]any{"bucket": "b", "name": "late.bin", "size": 11 << 20, "mimeType": "application/octet-stream"})
		put(t, str(s["parts"].([]any)[0].(map[string]any)["url"]), randomBytes(media.MinPartSize, 4))
		svc := e.m.Service
		later := time.Now().Add(25 * time.Hour)
		e.clock.set(later)
		defer e.clock.reset()
		e.fails("CONFLICT", e.owner, completeSession, map[string]any{"id": s["id"]})
		rep, err := svc.Sweep(ctx)
		if err != nil || rep.ExpiredSessions != 1 {
			t.Fatalf("sweep: %+v %v", rep, err)
		}
		if st := e.sessionByID(e.owner, s["id"])["state"]; st != "EXPIRED" {
			t.Fatalf("state after expiry: %v", st)
		}
		if n := e.multipartUploads(); n != 0 {
			t.Fatalf("%d multipart uploads left after expiry", n)
		}
		// A multipart upload no session knows (its row went with a crash) is aborted once old.
		if _, err := e.m.Blobs.CreateMultipart(ctx, string(e.org.ID)+"/stray", ""); err != nil {
			t.Fatal(err)
		}
		e.clock.set(later.Add(2 * time.Hour))
		if rep, err = svc.Sweep(ctx); err != nil || rep.StrayUploads != 1 {
			t.Fatalf("stray upload: %+v %v", rep, err)
		}
	})
}

// multipartUploads counts the multipart uploads in progress in the store.
func (e *env) multipartUploads() int {
	e.t.Helper()
	n := 0
	if err := e.m.Blobs.ListMultipart(context.Background(), "", func(media.MultipartInfo) error { n++; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// lastSession returns the id of the newest upload session.
func (e *env) lastSession() string {
	e.t.Helper()
	var id string
	if err := e.m.DB.Bun().NewRaw("SELECT id FROM upload_sessions ORDER BY created_at DESC, id DESC LIMIT 1").Scan(context.Background(), &id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) fileCount(bucket string) int {
	e.t.Helper()
	d := e.ok(e.owner, `query($b: String!) { files(bucket: $b) { totalCount } }`, map[string]any{"b": bucket})
	return int(d["files"].(map[string]any)["totalCount"].(float64))
}
