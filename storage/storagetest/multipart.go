package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

// genBytes returns n bytes of the generator from offset off.
func genBytes(off uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = genByte(off + uint64(i))
	}
	return b
}

// uploads lists the multipart uploads under prefix.
func uploads(t *testing.T, b media.Blobs, prefix string) []media.MultipartInfo {
	t.Helper()
	var out []media.MultipartInfo
	if err := b.ListMultipart(context.Background(), prefix, func(u media.MultipartInfo) error {
		out = append(out, u)
		return nil
	}); err != nil {
		t.Fatalf("ListMultipart(%q): %v", prefix, err)
	}
	return out
}

func hasUpload(ups []media.MultipartInfo, key, id string) bool {
	return slices.ContainsFunc(ups, func(u media.MultipartInfo) bool { return u.Key == key && u.UploadID == id })
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := media.ErrorCode(err); got != code {
		t.Fatalf("%s: %v (%s), want %s", what, err, got, code)
	}
}

// testMultipart uploads an object of three parts (5 MiB, 5 MiB + 123, 1000
// bytes) through presigned part URLs with plain HTTP PUTs: out of order, in
// parallel, one part PUT twice, with the checks a client resuming and
// completing an upload session relies on.
func testMultipart(t *testing.T, b media.Blobs) {
	ctx := context.Background()
	const key = "mpu/a/obj"
	sizes := []int{media.MinPartSize, media.MinPartSize + 123, 1000}
	var offs []uint64
	var off uint64
	for _, n := range sizes {
		offs = append(offs, off)
		off += uint64(n)
	}
	part := func(i int) []byte { return genBytes(offs[i-1], sizes[i-1]) }
	var whole []byte
	for i := range sizes {
		whole = append(whole, part(i+1)...)
	}

	start := time.Now()
	id, err := b.CreateMultipart(ctx, key, "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	if id == "" {
		t.Fatal("empty upload id")
	}
	other, err := b.CreateMultipart(ctx, "mpu/b/obj", "")
	if err != nil {
		t.Fatal(err)
	}
	outside, err := b.CreateMultipart(ctx, "mpv/obj", "")
	if err != nil {
		t.Fatal(err)
	}
	if id == other || id == outside {
		t.Fatal("two uploads have the same id")
	}
	t.Cleanup(func() { _ = b.AbortMultipart(ctx, "mpv/obj", outside) })

	// Nothing uploaded yet: no parts, and no object.
	if parts, err := b.ListParts(ctx, key, id); err != nil || len(parts) != 0 {
		t.Fatalf("ListParts of a new upload: %v %v", parts, err)
	}

	presign := func(n int, size int) string {
		t.Helper()
		u, err := b.PresignPart(ctx, key, id, n, int64(size), time.Minute)
		if err != nil {
			t.Fatalf("PresignPart(%d): %v", n, err)
		}
		return u
	}
	urls := map[int]string{}
	for i, n := range sizes {
		urls[i+1] = presign(i+1, n)
	}

	// The last part first.
	_, etag3, err := httpPut(urls[3], part(3))
	if err != nil {
		t.Fatal(err)
	}
	// A part of another length than its URL was signed for is refused.
	if status, _, err := httpPut(urls[3], part(3)[1:]); !refused(status, err) {
		t.Fatalf("a part shorter than signed: %d %v", status, err)
	}
	if status, _, err := httpPut(urls[3], append(part(3), 1)); !refused(status, err) {
		t.Fatalf("a part longer than signed: %d %v", status, err)
	}
	// Then parts 1 and 2 in parallel, 2 with the wrong bytes...
	junk := bytes.Repeat([]byte{0xAB}, sizes[1])
	var wg sync.WaitGroup
	var mu sync.Mutex
	etags := map[int]string{3: etag3}
	var errs []error
	for n, body := range map[int][]byte{1: part(1), 2: junk} {
		wg.Go(func() {
			_, etag, err := httpPut(urls[n], body)
			mu.Lock()
			defer mu.Unlock()
			etags[n] = etag
			if err != nil {
				errs = append(errs, fmt.Errorf("part %d: %w", n, err))
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	// ...retried with the right ones: the last PUT wins.
	_, etag2, err := httpPut(urls[2], part(2))
	if err != nil {
		t.Fatal(err)
	}
	junkETag := etags[2]
	etags[2] = etag2
	for n := 1; n <= 3; n++ {
		if etags[n] == "" {
			t.Fatalf("the PUT of part %d answered no ETag", n)
		}
	}
	if junkETag == etag2 {
		t.Fatalf("two different part 2s have the same ETag %s", etag2)
	}

	// Resuming: the store lists what the PUTs answered.
	parts, err := b.ListParts(ctx, key, id)
	if err != nil {
		t.Fatal(err)
	}
	var want []media.Part
	for i, n := range sizes {
		want = append(want, media.Part{Number: i + 1, Size: int64(n), ETag: etags[i+1]})
	}
	if !slices.Equal(parts, want) {
		t.Fatalf("ListParts = %+v, want %+v", parts, want)
	}

	// In progress: listed under its prefix, with its initiation time.
	ups := uploads(t, b, "mpu/")
	if !hasUpload(ups, key, id) || !hasUpload(ups, "mpu/b/obj", other) || hasUpload(ups, "mpv/obj", outside) {
		t.Fatalf("ListMultipart(mpu/) = %+v", ups)
	}
	if ups := uploads(t, b, "mpu/a/"); len(ups) != 1 || ups[0].Key != key || ups[0].UploadID != id {
		t.Fatalf("ListMultipart(mpu/a/) = %+v", ups)
	} else if d := ups[0].Initiated.Sub(start); d < -time.Minute || d > time.Hour {
		t.Errorf("initiated %v, the upload started %v", ups[0].Initiated, start)
	}
	if ups := uploads(t, b, "mpu/c"); len(ups) != 0 {
		t.Fatalf("ListMultipart(mpu/c) = %+v", ups)
	}

	// Completions the store refuses leave the upload as it was.
	bad := slices.Clone(want)
	bad[1].ETag = junkETag
	wantCode(t, "Complete with a stale ETag", b.CompleteMultipart(ctx, key, id, bad), media.EINVALID)
	bad = slices.Clone(want)
	bad[0].ETag = `"0123456789abcdef0123456789abcdef"`
	wantCode(t, "Complete with a wrong ETag", b.CompleteMultipart(ctx, key, id, bad), media.EINVALID)
	bad = append(slices.Clone(want), media.Part{Number: 4, ETag: etag3})
	wantCode(t, "Complete with a missing part", b.CompleteMultipart(ctx, key, id, bad), media.EINVALID)
	bad = []media.Part{want[0], want[2], want[1]}
	wantCode(t, "Complete with parts out of order", b.CompleteMultipart(ctx, key, id, bad), media.EINVALID)
	if _, err := b.Stat(ctx, key); !media.IsNotFound(err) {
		t.Fatalf("after refused completions, Stat: %v", err)
	}
	if parts, err := b.ListParts(ctx, key, id); err != nil || !slices.Equal(parts, want) {
		t.Fatalf("after refused completions, ListParts = %+v, %v", parts, err)
	}
	// The upload is still usable: a part can be PUT again.
	if _, etag, err := httpPut(urls[3], part(3)); err != nil || etag != etag3 {
		t.Fatalf("PUT after refused completions: %q %v", etag, err)
	}

	if err := b.CompleteMultipart(ctx, key, id, want); err != nil {
		t.Fatal(err)
	}
	info, err := b.Stat(ctx, key)
	if err != nil || info.Size != int64(len(whole)) {
		t.Fatalf("completed object: %+v %v, want %d bytes", info, err, len(whole))
	}
	rc, err := b.Get(ctx, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil || n != int64(len(whole)) {
		t.Fatalf("reading the completed object: %d bytes, %v", n, err)
	}
	if sum := sha256.Sum256(whole); !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatal("the completed object's bytes differ")
	}
	// Across the boundary of parts 1 and 2.
	if rc, err := b.Get(ctx, key, int64(sizes[0])-2, 4); err != nil {
		t.Fatal(err)
	} else {
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, whole[sizes[0]-2:sizes[0]+2]) {
			t.Fatalf("range across parts: %x", got)
		}
	}

	// Completed: gone from the uploads, and its parts with it.
	_, err = b.ListParts(ctx, key, id)
	wantCode(t, "ListParts after Complete", err, media.ENOTFOUND)
	if ups := uploads(t, b, "mpu/"); hasUpload(ups, key, id) || !hasUpload(ups, "mpu/b/obj", other) {
		t.Fatalf("ListMultipart after Complete = %+v", ups)
	}
	// Completing again: NOT_FOUND (Disk), or success for a retry with the
	// same parts (versitygw; S3 may also answer a retry so), never a change.
	if err := b.CompleteMultipart(ctx, key, id, want); err != nil {
		wantCode(t, "Complete again", err, media.ENOTFOUND)
	}
	if err := b.AbortMultipart(ctx, key, id); err != nil {
		t.Fatalf("Abort after Complete: %v", err)
	}
	if status, _, err := httpPut(urls[1], part(1)); !refused(status, err) {
		t.Fatalf("a part PUT after Complete: %d %v", status, err)
	}
	if got, err := b.Stat(ctx, key); err != nil || got.Size != int64(len(whole)) {
		t.Fatalf("after a late part PUT: %+v %v", got, err)
	}

	// Aborted: no parts, not listed, and aborting again is fine.
	if _, _, err := httpPut(presignFor(t, b, "mpu/b/obj", other, 1, 10), make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := b.AbortMultipart(ctx, "mpu/b/obj", other); err != nil {
		t.Fatal(err)
	}
	_, err = b.ListParts(ctx, "mpu/b/obj", other)
	wantCode(t, "ListParts after Abort", err, media.ENOTFOUND)
	if ups := uploads(t, b, "mpu/"); len(ups) != 0 {
		t.Fatalf("ListMultipart after Abort = %+v", ups)
	}
	if err := b.AbortMultipart(ctx, "mpu/b/obj", other); err != nil {
		t.Fatalf("Abort again: %v", err)
	}
	if _, err := b.Stat(ctx, "mpu/b/obj"); !media.IsNotFound(err) {
		t.Fatalf("an aborted upload stored its object: %v", err)
	}
	// The uploads are no objects.
	if err := b.List(ctx, "", func(i media.BlobInfo) error {
		if i.Key != key && (strings.HasPrefix(i.Key, "mpu/") || strings.HasPrefix(i.Key, "mpv/") || strings.HasPrefix(i.Key, ".")) {
			t.Errorf("List shows %s", i.Key)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// refused reports a PUT the store refused: with a 4xx, or, for a large
// body, by closing the connection before reading it (versitygw answers
// early and resets the connection, so net/http may see no response).
func refused(status int, err error) bool {
	return err != nil && (status == 0 || status >= 400 && status < 500)
}

func presignFor(t *testing.T, b media.Blobs, key, id string, n int, size int64) string {
	t.Helper()
	u, err := b.PresignPart(context.Background(), key, id, n, size, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// testMultipartRefusals: parts too small, unknown uploads, an empty part list.
func testMultipartRefusals(t *testing.T, b media.Blobs) {
	ctx := context.Background()
	const key = "mpr/obj"
	id, err := b.CreateMultipart(ctx, key, "")
	if err != nil {
		t.Fatal(err)
	}
	_, e1, err := httpPut(presignFor(t, b, key, id, 1, 1000), genBytes(0, 1000))
	if err != nil {
		t.Fatal(err)
	}
	_, e2, err := httpPut(presignFor(t, b, key, id, 2, 10), genBytes(1000, 10))
	if err != nil {
		t.Fatal(err)
	}
	parts := []media.Part{{Number: 1, ETag: e1}, {Number: 2, ETag: e2}}
	wantCode(t, "Complete with a small part that is not the last", b.CompleteMultipart(ctx, key, id, parts), media.EINVALID)
	wantCode(t, "Complete with no parts", b.CompleteMultipart(ctx, key, id, nil), media.EINVALID)
	if _, err := b.Stat(ctx, key); !media.IsNotFound(err) {
		t.Fatalf("after a refused completion, Stat: %v", err)
	}
	// A single small part is a valid upload.
	if err := b.CompleteMultipart(ctx, key, id, parts[1:]); err != nil {
		t.Fatalf("Complete with one small part: %v", err)
	}
	rc, err := b.Get(ctx, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, genBytes(1000, 10)) {
		t.Fatalf("completed object: %x", got)
	}

	// An upload of another key is unknown.
	id2, err := b.CreateMultipart(ctx, "mpr/two", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.ListParts(ctx, "mpr/other", id2)
	wantCode(t, "ListParts of another key", err, media.ENOTFOUND)
	if err := b.AbortMultipart(ctx, "mpr/two", id2); err != nil {
		t.Fatal(err)
	}
	_, err = b.ListParts(ctx, "mpr/two", id2)
	wantCode(t, "ListParts after Abort", err, media.ENOTFOUND)
	wantCode(t, "Complete after Abort", b.CompleteMultipart(ctx, "mpr/two", id2, parts[1:]), media.ENOTFOUND)
	if ups := uploads(t, b, "mpr/"); len(ups) != 0 {
		t.Fatalf("ListMultipart(mpr/) = %+v", ups)
	}

	// Abort of an unknown upload is not an error.
	if err := b.AbortMultipart(ctx, "mpr/nope", id2); err != nil {
		t.Fatalf("Abort of an unknown upload: %v", err)
	}
	// A part URL of an aborted upload stores nothing (a store may refuse
	// to presign it already).
	if u, err := b.PresignPart(ctx, "mpr/two", id2, 1, 10, time.Minute); err != nil {
		wantCode(t, "PresignPart after Abort", err, media.ENOTFOUND)
	} else if status, _, err := httpPut(u, make([]byte, 10)); !refused(status, err) {
		t.Fatalf("a part PUT to an aborted upload: %d %v", status, err)
	}
	if _, err := b.Stat(ctx, "mpr/two"); !media.IsNotFound(err) {
		t.Fatalf("an aborted upload stored its object: %v", err)
	}
}

// testPartURLRefusals: a part URL changed in any field its signature
// covers is refused and stores nothing, even when it then names another
// upload that exists.
func testPartURLRefusals(t *testing.T, b media.Blobs) {
	ctx := context.Background()
	const key, otherKey = "mpt/obj", "mpt/oth"
	id, err := b.CreateMultipart(ctx, key, "")
	if err != nil {
		t.Fatal(err)
	}
	sameKey, err := b.CreateMultipart(ctx, key, "")
	if err != nil {
		t.Fatal(err)
	}
	otherID, err := b.CreateMultipart(ctx, otherKey, "")
	if err != nil {
		t.Fatal(err)
	}
	u := presignFor(t, b, key, id, 1, 10)
	toOtherKey := strings.Replace(u, "/"+key+"?", "/"+otherKey+"?", 1)
	if toOtherKey == u {
		t.Fatalf("the key is not the end of the path of %s", u)
	}
	uploadParam := []string{"upload", "uploadId"} // Disk, S3
	for name, bent := range map[string]string{
		"tampered signature": editParam(t, u, []string{"sig", "X-Amz-Signature"}, func(v string) string {
			return v[:len(v)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(v, "0")]
		}),
		"another part":              editParam(t, u, []string{"part", "partNumber"}, func(string) string { return "2" }),
		"another upload of the key": editParam(t, u, uploadParam, func(string) string { return url.QueryEscape(sameKey) }),
		"another key and its upload": editParam(t, toOtherKey, uploadParam, func(string) string {
			return url.QueryEscape(otherID)
		}),
		"another key": toOtherKey,
	} {
		if status, _, err := httpPut(bent, genBytes(0, 10)); !refused(status, err) {
			t.Errorf("%s: %d %v", name, status, err)
		}
	}
	for _, up := range []struct{ key, id string }{{key, id}, {key, sameKey}, {otherKey, otherID}} {
		if parts, err := b.ListParts(ctx, up.key, up.id); err != nil || len(parts) != 0 {
			t.Errorf("refused PUTs stored parts in %s: %+v %v", up.key, parts, err)
		}
	}
	// The URL as it was signed works.
	if _, _, err := httpPut(u, genBytes(0, 10)); err != nil {
		t.Fatal(err)
	}
	if parts, err := b.ListParts(ctx, key, id); err != nil || len(parts) != 1 || parts[0].Number != 1 || parts[0].Size != 10 {
		t.Fatalf("after the genuine PUT: %+v %v", parts, err)
	}
	for _, up := range []struct{ key, id string }{{key, id}, {key, sameKey}, {otherKey, otherID}} {
		if err := b.AbortMultipart(ctx, up.key, up.id); err != nil {
			t.Fatal(err)
		}
	}
	if ups := uploads(t, b, "mpt/"); len(ups) != 0 {
		t.Fatalf("ListMultipart(mpt/) = %+v", ups)
	}
	for _, k := range []string{key, otherKey} {
		if _, err := b.Stat(ctx, k); !media.IsNotFound(err) {
			t.Fatalf("Stat(%s): %v", k, err)
		}
	}
}

// editParam returns u with the value of its first query parameter named
// one of names (as it stands in u, escaped) replaced by edit's.
func editParam(t *testing.T, u string, names []string, edit func(string) string) string {
	t.Helper()
	base, query, _ := strings.Cut(u, "?")
	pairs := strings.Split(query, "&")
	for i, p := range pairs {
		name, val, _ := strings.Cut(p, "=")
		if slices.Contains(names, name) {
			pairs[i] = name + "=" + edit(val)
			return base + "?" + strings.Join(pairs, "&")
		}
	}
	t.Fatalf("%s has no parameter %v", u, names)
	return ""
}
