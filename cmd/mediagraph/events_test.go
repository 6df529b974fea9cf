package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mediagraph/mediagraph/media"
)

// eventWait bounds how long a test waits for an event. Events arrive in
// milliseconds (the figures are in docs/BENCHMARKS.md); the bound only
// keeps a slow machine from failing the suite.
const eventWait = 5 * time.Second

func TestSubscriptionConnections(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		// No key, a malformed one, an unknown one: closed with 4401.
		for _, params := range []map[string]any{nil, {"authorization": "sk_x"}, {"authorization": "Bearer sk_unknown"}} {
			if c, code := dialWS(t, e.url, nil, params); c != nil || code != 4401 {
				t.Errorf("params %v: want close 4401, got %d", params, code)
			}
		}
		// The key in the upgrade's Authorization header, or in connectionParams.
		c, _ := dialWS(t, e.url, http.Header{"Authorization": {"Bearer " + e.owner}}, nil)
		if c == nil {
			t.Fatal("a key in the upgrade's header is refused")
		}
		s := c.subscribe(`subscription { fileEvents { id type } }`, nil)
		s.none(100 * time.Millisecond)
		// A key without media:read subscribes to nothing.
		noRead := e.newKey([]string{media.ScopeContentRead}, "")
		c2, _ := dialWS(t, e.url, nil, map[string]any{"authorization": "Bearer " + noRead})
		if code := c2.subscribe(`subscription { fileEvents { id } }`, nil).failure(eventWait); code != media.EFORBIDDEN {
			t.Errorf("without media:read: %s", code)
		}
		// Bad arguments.
		if code := c.subscribe(`subscription { fileEvents(after: "evt_ZZZZZZZZZZZZZ") { id } }`, nil).failure(eventWait); code != media.EINVALID {
			t.Errorf("unknown after: %s", code)
		}
		if code := c.subscribe(`subscription { fileEvents(bucket: "nope") { id } }`, nil).failure(eventWait); code != media.ENOTFOUND {
			t.Errorf("unknown bucket: %s", code)
		}
		// At most 32 subscriptions on one connection: of 33, one is refused
		// (which one depends on the order they start in).
		c3, _ := dialWS(t, e.url, nil, map[string]any{"authorization": "Bearer " + e.owner})
		var many []*wsSub
		for range 33 {
			many = append(many, c3.subscribe(`subscription { fileEvents { id } }`, nil))
		}
		refused := 0
		deadline := time.After(eventWait)
		for refused == 0 {
			select {
			case <-deadline:
				t.Fatal("33 subscriptions on one connection")
			case <-time.After(10 * time.Millisecond):
			}
			for _, s := range many {
				select {
				case m := <-s.ch:
					if m.Type == "next" && strings.Contains(string(m.Payload), "SUBSCRIPTION_LIMIT_EXCEEDED") {
						refused++
					}
				default:
				}
			}
		}
		// A message over the read limit ends the connection (1009).
		c3.send(wsMsg{ID: "big", Type: "subscribe", Payload: []byte(`{"query":"` + strings.Repeat("x", 100<<10) + `"}`)})
		if code := c3.closed(eventWait); code != websocket.StatusMessageTooBig {
			t.Errorf("oversized message: close %d", code)
		}
		// Subscriptions are not served over POST (they would hold the request).
		e.fails(media.EINVALID, e.owner, `subscription { fileEvents { id } }`, nil)
		// Browsers may connect from the server's own origin only (by default).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, res, err := websocket.Dial(ctx, strings.Replace(e.url, "http", "ws", 1)+"/graphql", &websocket.DialOptions{
			HTTPHeader: http.Header{"Origin": {"https://evil.example"}}, Subprotocols: []string{"graphql-transport-ws"}})
		if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin upgrade: %v %v", res, err)
		}
		_, _, err = websocket.Dial(ctx, strings.Replace(e.url, "http", "ws", 1)+"/graphql", &websocket.DialOptions{
			HTTPHeader: http.Header{"Origin": {e.url}}, Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Errorf("same-origin upgrade: %v", err)
		}
	})
}

// TestFileEventsOfEveryChange makes one change of each kind and checks
// that the subscriber hears of each, in order, with the file as it is
// now — and of nothing that rolled back.
func TestFileEventsOfEveryChange(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "photos"})
		sub := e.events(e.owner, nil)
		var slowest time.Duration
		expect := func(typ, fileID string, hasFile bool) *fileEvent {
			t.Helper()
			start := time.Now()
			ev := sub.next(eventWait)
			slowest = max(slowest, time.Since(start))
			if ev.Type != typ || ev.FileID != fileID || (ev.File != nil) != hasFile {
				t.Fatalf("want %s of %s (file: %v), got %+v", typ, fileID, hasFile, ev)
			}
			if ev.Actor == nil || ev.Actor.Email != "owner@acme.test" || ev.Bucket == nil {
				t.Errorf("%s: actor %+v bucket %+v", typ, ev.Actor, ev.Bucket)
			}
			return ev
		}
		f := e.mustUpload(e.owner, "photos", upload{"a.png", "", pngBytes(4, 4)}, nil)
		id := str(f["id"])
		created := expect("CREATED", id, true)
		if created.File.Name != "a.png" || created.Bucket.Name != "photos" {
			t.Errorf("CREATED: %+v", created)
		}
		e.ok(e.owner, updateFileQ, map[string]any{"id": id, "i": map[string]any{"caption": "first"}})
		if ev := expect("UPDATED", id, true); ev.File.Caption == nil || *ev.File.Caption != "first" {
			t.Errorf("UPDATED carries the file as it is now: %+v", ev.File)
		}
		r := e.multipart(e.owner, `mutation($id: ID!, $f: Upload!) { replaceFileContent(id: $id, file: $f) { revision } }`,
			map[string]any{"id": id, "f": nil}, map[string]upload{"0": {"b.png", "", pngBytes(5, 5)}}, map[string][]string{"0": {"variables.f"}})
		if len(r.Errors) > 0 {
			t.Fatal(string(r.raw))
		}
		expect("REVISION_ADDED", id, true)
		post := str(e.ok(e.owner, `mutation { createPost(input: {title: "p"}) { id } }`, nil)["createPost"].(map[string]any)["id"])
		e.ok(e.owner, attachQ, map[string]any{"t": post, "f": id})
		if ev := expect("ATTACHED", id, true); ev.Target == nil || ev.Target.Typename != "Post" {
			t.Errorf("ATTACHED target: %+v", ev.Target)
		}
		e.ok(e.owner, `mutation($t: ID!, $f: ID!) { detachFiles(targetId: $t, fileIds: [$f]) { __typename } }`, map[string]any{"t": post, "f": id})
		expect("DETACHED", id, true)
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": id})
		expect("TRASHED", id, true)
		e.ok(e.owner, `mutation($id: ID!) { restoreFile(id: $id) { id } }`, map[string]any{"id": id})
		expect("RESTORED", id, true)

		// Changes that fail write no event: a name conflict, a batch whose
		// second file is refused (the first is rolled back), a held file's trash.
		if r := e.upload(e.owner, "photos", upload{"a.png", "", pngBytes(6, 6)}, nil); r.code() != media.ECONFLICT {
			t.Fatalf("conflict: %s", r.raw)
		}
		r = e.multipart(e.owner, `mutation($in: [UploadFileInput!]!) { uploadFiles(inputs: $in) { id } }`,
			map[string]any{"in": []any{map[string]any{"bucket": "photos", "file": nil}, map[string]any{"bucket": "nope", "file": nil}}},
			map[string]upload{"0": {"c.png", "", pngBytes(7, 7)}, "1": {"d.png", "", pngBytes(8, 8)}},
			map[string][]string{"0": {"variables.in.0.file"}, "1": {"variables.in.1.file"}})
		if len(r.Errors) == 0 {
			t.Fatalf("batch: %s", r.raw)
		}
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": id})
		if ev := expect("DELETED", id, false); ev.ID <= created.ID {
			t.Errorf("ids increase: %s after %s", ev.ID, created.ID)
		}
		sub.none(200 * time.Millisecond)
		t.Logf("slowest delivery: %s", slowest)
	})
}

func TestFileEventFilters(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "photos"})
		e.createBucket(e.owner, map[string]any{"name": "docs"})
		photos := e.events(e.owner, map[string]any{"bucket": "photos"})
		trash := e.events(e.owner, map[string]any{"types": []string{"TRASHED", "RESTORED"}})
		p := str(e.mustUpload(e.owner, "photos", upload{"p.png", "", pngBytes(4, 4)}, nil)["id"])
		d := str(e.mustUpload(e.owner, "docs", upload{"d.png", "", pngBytes(5, 5)}, nil)["id"])
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": d})
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": p})
		if ev := photos.next(eventWait); ev.Type != "CREATED" || ev.FileID != p {
			t.Errorf("photos: %+v", ev)
		}
		if ev := photos.next(eventWait); ev.Type != "TRASHED" || ev.FileID != p {
			t.Errorf("photos: %+v", ev)
		}
		photos.none(200 * time.Millisecond)
		if ev := trash.next(eventWait); ev.Type != "TRASHED" || ev.FileID != d {
			t.Errorf("types: %+v", ev)
		}
		if ev := trash.next(eventWait); ev.Type != "TRASHED" || ev.FileID != p {
			t.Errorf("types: %+v", ev)
		}
		trash.none(200 * time.Millisecond)
		c, _ := dialWS(t, e.url, nil, map[string]any{"authorization": "Bearer " + e.owner})
		if code := c.subscribe(`subscription { fileEvents(types: [NOPE]) { id } }`, nil).failure(eventWait); code == "" {
			t.Error("an unknown type is accepted")
		}
	})
}

// TestFileEventsResume drops a connection, misses two events, and
// resumes after the last one it had: the two come first, in order, then
// live ones.
func TestFileEventsResume(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "photos"})
		c, _ := dialWS(t, e.url, nil, map[string]any{"authorization": "Bearer " + e.owner})
		sub := c.subscribe(`subscription($a: ID) { fileEvents(after: $a) { `+fileEventFields+` } }`, map[string]any{"a": e.lastEvent()})
		a := str(e.mustUpload(e.owner, "photos", upload{"a.png", "", pngBytes(4, 4)}, nil)["id"])
		seen := sub.next(eventWait)
		c.conn.Close(websocket.StatusNormalClosure, "bye")
		c.closed(eventWait)

		b := str(e.mustUpload(e.owner, "photos", upload{"b.png", "", pngBytes(5, 5)}, nil)["id"])
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": a})

		again := e.events(e.owner, map[string]any{"after": seen.ID})
		for _, want := range []struct{ typ, file string }{{"CREATED", b}, {"TRASHED", a}} {
			if ev := again.next(eventWait); ev.Type != want.typ || ev.FileID != want.file {
				t.Errorf("replay: want %s %s, got %+v", want.typ, want.file, ev)
			}
		}
		e.ok(e.owner, `mutation($id: ID!) { restoreFile(id: $id) { id } }`, map[string]any{"id": a})
		if ev := again.next(eventWait); ev.Type != "RESTORED" || ev.FileID != a {
			t.Errorf("live after replay: %+v", ev)
		}
		again.none(200 * time.Millisecond)
	})
}

// TestFileEventsFollowThePolicy checks each delivery against CONTRACT §6
// at that moment: the actors of the authorization matrix each subscribe,
// the owner changes every file, and each actor hears of exactly the files
// it can see — then a post turns PRIVATE and its files' events stop
// reaching the bystander, and a detached file's event reaches it by id only.
func TestFileEventsFollowThePolicy(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		w := newWorld(t, e)
		actors := []string{"owner", "admin", "m1", "m2", "outsider"}
		subs := map[string]*wsSub{}
		for _, a := range actors {
			subs[a] = e.events(w.keys[a], nil)
		}
		names := []string{"org", "res", "resW", "resP", "resMsg"}
		for _, name := range names {
			e.ok(e.owner, updateFileQ, map[string]any{"id": w.files[name], "i": map[string]any{"caption": "c-" + name}})
		}
		// A marker every insider sees ends each actor's stream.
		marker := str(e.mustUpload(e.owner, "org", upload{"marker.png", "", pngBytes(20, 20)}, nil)["id"])
		for _, a := range actors[:4] {
			got := map[string]bool{}
			for {
				ev := subs[a].next(eventWait)
				if ev.FileID == marker {
					break
				}
				if ev.File == nil {
					t.Errorf("%s: UPDATED of %s without the file", a, ev.FileID)
				}
				got[ev.FileID] = true
			}
			for _, name := range names {
				if want := w.sees(t, a, name); got[w.files[name]] != want {
					t.Errorf("%s hears of %s: %v, sees it: %v", a, name, got[w.files[name]], want)
				}
			}
		}
		subs["outsider"].none(300 * time.Millisecond)

		// m2 sees resW through the WORKSPACE post; the post turns PRIVATE.
		e.ok(w.keys["m1"], `mutation($id: ID!) { updatePost(id: $id, input: {visibility: PRIVATE}) { id } }`, map[string]any{"id": w.postW})
		e.ok(e.owner, updateFileQ, map[string]any{"id": w.files["resW"], "i": map[string]any{"caption": "after"}})
		e.mustUpload(e.owner, "org", upload{"marker2.png", "", pngBytes(21, 21)}, nil)
		if ev := subs["m2"].next(eventWait); ev.FileID == w.files["resW"] {
			t.Errorf("m2 still hears of a file of a post it cannot see: %+v", ev)
		}
		// Back to WORKSPACE; m1 detaches resW: m2 hears of it by id only,
		// since it no longer sees the file.
		e.ok(w.keys["m1"], `mutation($id: ID!) { updatePost(id: $id, input: {visibility: WORKSPACE}) { id } }`, map[string]any{"id": w.postW})
		e.ok(w.keys["m1"], `mutation($t: ID!, $f: ID!) { detachFiles(targetId: $t, fileIds: [$f]) { __typename } }`, map[string]any{"t": w.postW, "f": w.files["resW"]})
		ev := subs["m2"].next(eventWait)
		if ev.Type != "DETACHED" || ev.FileID != w.files["resW"] || ev.File != nil {
			t.Errorf("m2 on the detach: %+v", ev)
		}
		// The uploader still sees it.
		for {
			ev := subs["m1"].next(eventWait)
			if ev.Type == "DETACHED" {
				if ev.File == nil {
					t.Error("the uploader lost the file")
				}
				break
			}
		}
		// A deleted restricted file: those who could see it hear of it by
		// id; the bystander, who could not, does not.
		e.ok(w.keys["m1"], `mutation($id: ID!) { deleteFile(id: $id, force: true) }`, map[string]any{"id": w.files["res"]})
		e.mustUpload(e.owner, "org", upload{"marker3.png", "", pngBytes(22, 22)}, nil)
		if ev := subs["m2"].next(eventWait); ev.FileID == w.files["res"] {
			t.Errorf("m2 hears of the deletion of a file it never saw: %+v", ev)
		}
		for _, a := range []string{"m1", "admin"} {
			for {
				ev := subs[a].next(eventWait)
				if ev.FileID == w.files["res"] && ev.Type == "DELETED" {
					if ev.File != nil {
						t.Errorf("%s: DELETED carries a file", a)
					}
					break
				}
			}
		}
	})
}

// TestSubscriptionsEndWithRights: a connection whose key is revoked, or
// whose user is demoted or removed, is closed with 4403.
func TestSubscriptionsEndWithRights(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		admin := e.member("admin@acme.test", media.RoleAdmin)
		keyOf := func(user string) (string, string) {
			k := e.newKey([]string{media.ScopeMediaRead}, user)
			var id string
			if err := e.m.DB.Bun().NewRaw("SELECT id FROM api_keys WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT 1", user).
				Scan(context.Background(), &id); err != nil {
				t.Fatal(err)
			}
			return k, id
		}
		watch := func(key string) *wsClient {
			c, _ := dialWS(t, e.url, nil, map[string]any{"authorization": "Bearer " + key})
			if c == nil {
				t.Fatal("refused")
			}
			c.subscribe(`subscription { fileEvents { id } }`, nil)
			return c
		}
		closes := func(what string, c *wsClient, change func()) {
			t.Helper()
			start := time.Now()
			change()
			if code := c.closed(5 * time.Second); code != 4403 {
				t.Errorf("%s: close %d", what, code)
			}
			t.Logf("%s: closed %s after the change", what, time.Since(start))
		}
		k, id := keyOf(admin)
		c := watch(k)
		other, _ := keyOf(admin)
		bystander := watch(other)
		closes("revoked", c, func() { e.ok(e.owner, `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, map[string]any{"id": id}) })
		k, _ = keyOf(admin)
		c = watch(k)
		closes("demoted", c, func() {
			e.ok(e.owner, `mutation($u: ID!) { updateMemberRole(userId: $u, role: MEMBER) { id } }`, map[string]any{"u": admin})
		})
		if code := bystander.closed(5 * time.Second); code != 4403 {
			t.Errorf("the demoted user's other key: %d", code)
		}
		k, _ = keyOf(admin)
		c = watch(k)
		closes("removed", c, func() { e.ok(e.owner, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": admin}) })
		if c, code := dialWS(t, e.url, nil, map[string]any{"authorization": "Bearer " + k}); c != nil || code != 4401 {
			t.Errorf("a removed user's key reconnects: %d", code)
		}
	})
}

// TestFileEventsStayInTheirOrganization: another organization's
// subscriber hears only of its own files.
func TestFileEventsStayInTheirOrganization(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		other := e.otherOrg()
		e.createBucket(e.owner, map[string]any{"name": "photos"})
		e.createBucket(other, map[string]any{"name": "photos"})
		theirs := e.events(other, nil)
		bucketByName := e.events(other, map[string]any{"bucket": "photos"})
		mine := str(e.mustUpload(e.owner, "photos", upload{"a.png", "", pngBytes(4, 4)}, nil)["id"])
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": mine})
		own := str(e.mustUpload(other, "photos", upload{"b.png", "", pngBytes(5, 5)}, nil)["id"])
		for _, s := range []*wsSub{theirs, bucketByName} {
			if ev := s.next(eventWait); ev.FileID != own {
				t.Errorf("another organization's event: %+v", ev)
			}
			s.none(200 * time.Millisecond)
		}
		// Its resume cursor replays nothing of ours either.
		replay := e.events(other, map[string]any{"after": string(media.EventID(0))})
		if ev := replay.next(eventWait); ev.FileID != own {
			t.Errorf("replay crosses organizations: %+v", ev)
		}
		replay.none(200 * time.Millisecond)
	})
}

// TestEventsAcrossReplicas runs two servers on one PostgreSQL and S3: an
// event caused on one reaches a subscriber on the other, and a key revoked
// on one is refused by the other at once and its connections there close.
func TestEventsAcrossReplicas(t *testing.T) {
	var pg backend
	for _, b := range backends {
		if b.name == "postgres+s3" {
			pg = b
		}
	}
	a := start(t, pg)
	b := start(t, backend{name: "replica", setup: func(t testing.TB, c *Config) {
		c.DatabaseURL, c.StorageURL = a.m.Config.DatabaseURL, a.m.Config.StorageURL
	}})
	b.owner, b.org = a.owner, a.org
	a.createBucket(a.owner, map[string]any{"name": "photos"})
	sub := b.events(a.owner, nil)
	t0 := time.Now()
	id := str(a.mustUpload(a.owner, "photos", upload{"a.png", "", pngBytes(4, 4)}, nil)["id"])
	if ev := sub.next(eventWait); ev.FileID != id || ev.Type != "CREATED" {
		t.Fatalf("from the other replica: %+v", ev)
	}
	t.Logf("an event from the other replica arrived %s after the upload started", time.Since(t0))

	key := a.newKey([]string{media.ScopeMediaRead}, "")
	var keyID string
	if err := a.m.DB.Bun().NewRaw("SELECT id FROM api_keys ORDER BY created_at DESC, id DESC LIMIT 1").Scan(context.Background(), &keyID); err != nil {
		t.Fatal(err)
	}
	c, _ := dialWS(t, b.url, nil, map[string]any{"authorization": "Bearer " + key})
	c.subscribe(`subscription { fileEvents { id } }`, nil)
	b.ok(key, `{ viewer { role } }`, nil)
	a.ok(a.owner, `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, map[string]any{"id": keyID})
	b.fails(media.EUNAUTHENTICATED, key, `{ viewer { role } }`, nil)
	if code := c.closed(5 * time.Second); code != 4403 {
		t.Errorf("revoked on the other replica: close %d", code)
	}
}

// TestEventRetention: the sweeper deletes events past the retention (the
// newest one stays, to mark where the sequence is), and resuming after one
// that is gone is BAD_USER_INPUT, which tells the client to reload.
func TestEventRetention(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "photos"})
		first := e.lastEvent()
		for i := range 3 {
			e.mustUpload(e.owner, "photos", upload{"f.png", "", pngBytes(4+i, 4)}, map[string]any{"name": fmt.Sprintf("f%d.png", i)})
		}
		kept := e.lastEvent()
		old := time.Now().Add(-25 * time.Hour)
		if _, err := e.m.DB.Bun().NewRaw("UPDATE file_events SET at = ?", old).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		r, err := e.m.Service.Sweep(context.Background())
		if err != nil || r.ExpiredEvents != 2 {
			t.Fatalf("sweep: %+v %v", r, err)
		}
		c, _ := dialWS(t, e.url, nil, map[string]any{"authorization": "Bearer " + e.owner})
		if code := c.subscribe(`subscription($a: ID) { fileEvents(after: $a) { id } }`, map[string]any{"a": first}).failure(eventWait); code != media.EINVALID {
			t.Errorf("after an expired event: %s", code)
		}
		sub := e.events(e.owner, map[string]any{"after": kept})
		e.mustUpload(e.owner, "photos", upload{"g.png", "", pngBytes(9, 4)}, nil)
		if ev := sub.next(eventWait); ev.Type != "CREATED" || ev.ID <= kept {
			t.Errorf("after the newest kept event: %+v", ev)
		}
	})
}
