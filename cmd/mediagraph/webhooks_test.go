package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/mediagraph/mediagraph/media"
)

// receiver is a webhook endpoint on 127.0.0.1 that records what it gets
// and answers with status (200 unless set).
type receiver struct {
	*httptest.Server
	status atomic.Int32
	got    chan hookCall
}

type hookCall struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: make(chan hookCall, 256)}
	r.status.Store(200)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		st := int(r.status.Load())
		r.got <- hookCall{header: req.Header.Clone(), body: body, status: st}
		w.WriteHeader(st)
	}))
	t.Cleanup(r.Close)
	return r
}

// next waits for the next call.
func (r *receiver) next(t *testing.T) hookCall {
	t.Helper()
	select {
	case c := <-r.got:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("no webhook call")
	}
	return hookCall{}
}

func (r *receiver) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case c := <-r.got:
		t.Fatalf("unexpected webhook call: %s", c.body)
	case <-time.After(d):
	}
}

// hookBody is the body of a delivery.
type hookBody struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		FileID   string `json:"fileId"`
		BucketID string `json:"bucketId"`
		ActorID  string `json:"actorId"`
		File     *struct {
			Name string `json:"name"`
		} `json:"file"`
	} `json:"data"`
}

// verify checks a call's signature with the Standard Webhooks reference
// library (an implementation independent of the server's) and decodes it.
func (c hookCall) verify(t *testing.T, secret string) hookBody {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(c.body, c.header); err != nil {
		t.Fatalf("signature: %v (%s)", err, c.header)
	}
	var b hookBody
	if err := json.Unmarshal(c.body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// fastHooks retries webhooks quickly (tests cannot wait ten seconds).
func fastHooks(c *Config) {
	c.tuneMedia = func(mc *media.Config) {
		mc.Webhooks.FirstRetry, mc.Webhooks.Poll = 200*time.Millisecond, 50*time.Millisecond
	}
}

const createWebhookQ = `mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id url events bucket { name } active } } }`

func (e *env) webhook(input map[string]any) (id, secret string) {
	e.t.Helper()
	d := e.ok(e.owner, createWebhookQ, map[string]any{"i": input})["createWebhook"].(map[string]any)
	return str(d["webhook"].(map[string]any)["id"]), str(d["secret"])
}

func TestWebhookDeliveries(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := start(t, b, fastHooks)
			t.Cleanup(e.checkInvariants)
			recv := newReceiver(t)
			e.createBucket(e.owner, map[string]any{"name": "photos"})
			e.createBucket(e.owner, map[string]any{"name": "docs"})
			hook, secret := e.webhook(map[string]any{"url": recv.URL + "/hook", "events": []string{"CREATED", "TRASHED"}, "bucket": "photos"})
			if !strings.HasPrefix(secret, "whsec_") {
				t.Fatalf("secret %q", secret)
			}
			list := e.ok(e.owner, `{ webhooks { nodes { id url events bucket { name } active } } }`, nil)["webhooks"].(map[string]any)["nodes"].([]any)
			if len(list) != 1 || str(list[0].(map[string]any)["id"]) != hook {
				t.Errorf("webhooks: %v", list)
			}

			// Delivered, signed, with the event as JSON.
			f := str(e.mustUpload(e.owner, "photos", upload{"a.png", "", pngBytes(4, 4)}, nil)["id"])
			first := recv.next(t)
			body := first.verify(t, secret)
			if body.Type != "CREATED" || body.Data.FileID != f || body.Data.File == nil || body.Data.File.Name != "a.png" ||
				!strings.HasPrefix(body.ID, "evt_") {
				t.Errorf("body: %s", first.body)
			}
			// Filtered by type and bucket.
			e.mustUpload(e.owner, "docs", upload{"d.png", "", pngBytes(5, 5)}, nil)
			e.ok(e.owner, updateFileQ, map[string]any{"id": f, "i": map[string]any{"caption": "x"}})
			recv.none(t, 500*time.Millisecond)

			// A 500 is retried with the same webhook-id; the log shows both attempts.
			recv.status.Store(500)
			e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": f})
			failed := recv.next(t)
			recv.status.Store(200)
			retried := recv.next(t)
			if retried.header.Get("webhook-id") != failed.header.Get("webhook-id") || retried.verify(t, secret).Type != "TRASHED" {
				t.Errorf("retry: %s then %s", failed.header, retried.header)
			}
			var log []any
			for range 50 { // the attempt is logged just after the answer
				log = e.ok(e.owner, `query($id: ID!) { node(id: $id) { ... on Webhook { deliveries { nodes { eventId messageId attempt status error nextAttemptAt } } } } }`,
					map[string]any{"id": hook})["node"].(map[string]any)["deliveries"].(map[string]any)["nodes"].([]any)
				if len(log) == 3 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if len(log) != 3 {
				t.Fatalf("delivery log: %v", log)
			}
			last, prev := log[0].(map[string]any), log[1].(map[string]any)
			if last["status"] != 200.0 || last["attempt"] != 2.0 || prev["status"] != 500.0 || prev["nextAttemptAt"] == nil || str(prev["error"]) == "" {
				t.Errorf("delivery log: %v", log)
			}

			// Redelivery of a kept event, with its original webhook-id.
			e.ok(e.owner, `mutation($w: ID!, $e: ID!) { redeliverWebhookEvent(webhookId: $w, eventId: $e) { id } }`,
				map[string]any{"w": hook, "e": body.ID})
			again := recv.next(t)
			if again.verify(t, secret).ID != body.ID || again.header.Get("webhook-id") != first.header.Get("webhook-id") {
				t.Errorf("redelivery: %s", again.body)
			}
			e.fails(media.ENOTFOUND, e.owner, `mutation($w: ID!) { redeliverWebhookEvent(webhookId: $w, eventId: "evt_0000000000ZZZ") { id } }`,
				map[string]any{"w": hook})

			// Another organization sees none of it.
			other := e.otherOrg()
			e.fails(media.ENOTFOUND, other, `mutation($id: ID!) { deleteWebhook(id: $id) }`, map[string]any{"id": hook})
			if n := e.ok(other, `{ webhooks { nodes { id } } }`, nil)["webhooks"].(map[string]any)["nodes"].([]any); len(n) != 0 {
				t.Errorf("another organization lists %v", n)
			}
			e.ok(e.owner, `mutation($id: ID!) { deleteWebhook(id: $id) }`, map[string]any{"id": hook})
			e.mustUpload(e.owner, "photos", upload{"b.png", "", pngBytes(6, 6)}, nil)
			recv.none(t, 500*time.Millisecond)
		})
	}
}

// TestWebhookTargets: targets on private, loopback (outside the allowed
// 127.0.0.0/8) and link-local addresses are refused, as are URLs that are
// not plain http(s).
func TestWebhookTargets(t *testing.T) {
	e := start(t, backends[0])
	for _, u := range []string{
		"http://10.0.0.1/hook", "http://192.168.1.10/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]:8080/hook",
		"http://[fe80::1]/hook", "http://0.0.0.0/hook", "http://100.64.0.1/hook", "http://[::ffff:10.0.0.1]/hook",
		"ftp://127.0.0.1/hook", "http://user:pw@127.0.0.1/hook", "/hook", "http://[::]/hook",
	} {
		r := e.do(e.owner, createWebhookQ, map[string]any{"i": map[string]any{"url": u}})
		if r.code() != media.EINVALID || r.Errors[0].Extensions["field"] != "url" {
			t.Errorf("%s: %s", u, r.raw)
		}
	}
	e.webhook(map[string]any{"url": "http://127.0.0.1:9/hook"})
	if r := e.do(e.owner, `{ webhooks { nodes { id } } }`, nil); len(r.Errors) > 0 {
		t.Fatal(string(r.raw))
	}
}

// TestWebhookFailuresDisable: a webhook whose deliveries keep failing for
// their whole retry window is turned off, with the reason on it; turning
// it on again resumes deliveries.
func TestWebhookFailuresDisable(t *testing.T) {
	e := start(t, backends[0], func(c *Config) {
		c.tuneMedia = func(mc *media.Config) {
			mc.Webhooks.FirstRetry, mc.Webhooks.Poll = 50*time.Millisecond, 20*time.Millisecond
			mc.Webhooks.RetryWindow, mc.Webhooks.DisableAfter = 300*time.Millisecond, 2
		}
	})
	recv := newReceiver(t)
	recv.status.Store(503)
	e.createBucket(e.owner, map[string]any{"name": "photos"})
	hook, _ := e.webhook(map[string]any{"url": recv.URL})
	for i := range 2 {
		e.mustUpload(e.owner, "photos", upload{"f.png", "", pngBytes(4+i, 4)}, map[string]any{"name": "f" + string(rune('a'+i)) + ".png"})
	}
	var w map[string]any
	for range 200 {
		w = e.ok(e.owner, `query($id: ID!) { node(id: $id) { ... on Webhook { active disabledReason disabledAt } } }`, map[string]any{"id": hook})["node"].(map[string]any)
		if w["active"] == false {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if w["active"] != false || !strings.Contains(str(w["disabledReason"]), "503") || w["disabledAt"] == nil {
		t.Fatalf("not disabled: %v", w)
	}
	for len(recv.got) > 0 {
		<-recv.got
	}
	e.mustUpload(e.owner, "photos", upload{"g.png", "", pngBytes(9, 4)}, nil)
	recv.none(t, 300*time.Millisecond)
	recv.status.Store(200)
	e.ok(e.owner, `mutation($id: ID!) { updateWebhook(id: $id, input: {active: true}) { active } }`, map[string]any{"id": hook})
	e.mustUpload(e.owner, "photos", upload{"h.png", "", pngBytes(10, 4)}, nil)
	if c := recv.next(t); c.status != 200 {
		t.Errorf("after turning it on: %d", c.status)
	}
}

// TestWebhooksSurviveRestarts: deliveries pending when a server stops are
// made by the next one on the same database.
func TestWebhooksSurviveRestarts(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			slow := func(c *Config) {
				c.tuneMedia = func(mc *media.Config) { mc.Webhooks.FirstRetry, mc.Webhooks.Poll = time.Second, 50*time.Millisecond }
			}
			a := start(t, b, slow)
			recv := newReceiver(t)
			recv.status.Store(500)
			a.createBucket(a.owner, map[string]any{"name": "photos"})
			_, secret := a.webhook(map[string]any{"url": recv.URL})
			f := str(a.mustUpload(a.owner, "photos", upload{"a.png", "", pngBytes(4, 4)}, nil)["id"])
			recv.next(t) // the first attempt fails; the retry is a second away
			_ = a.m.HTTP.Close()
			_ = a.m.Close()
			recv.status.Store(200)
			restarted := start(t, backend{name: b.name, setup: func(t testing.TB, c *Config) {
				c.DatabaseURL, c.StorageURL, c.DataDir = a.m.Config.DatabaseURL, a.m.Config.StorageURL, a.m.Config.DataDir
			}}, slow)
			got := recv.next(t)
			if body := got.verify(t, secret); body.Data.FileID != f || got.status != 200 {
				t.Errorf("after the restart: %s", got.body)
			}
			recv.none(t, 1500*time.Millisecond)
			restarted.checkInvariants()
		})
	}
}

// TestWebhooksOncePerEventAcrossReplicas: two servers deliver each event once.
func TestWebhooksOncePerEventAcrossReplicas(t *testing.T) {
	a := start(t, backends[1], fastHooks)
	b := start(t, backend{name: "replica", setup: func(t testing.TB, c *Config) {
		c.DatabaseURL, c.StorageURL = a.m.Config.DatabaseURL, a.m.Config.StorageURL
	}}, fastHooks)
	recv := newReceiver(t)
	a.createBucket(a.owner, map[string]any{"name": "photos"})
	a.webhook(map[string]any{"url": recv.URL, "events": []string{"CREATED"}})
	var wg sync.WaitGroup
	failed := make(chan string, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := a
			if i%2 == 1 {
				e = b
			}
			if r := e.upload(a.owner, "photos", upload{"f.png", "", pngBytes(4+i, 4)}, map[string]any{"name": "f" + strings.Repeat("x", i) + ".png"}); len(r.Errors) > 0 {
				failed <- string(r.raw)
			}
		}()
	}
	wg.Wait()
	close(failed)
	for f := range failed {
		t.Fatal(f)
	}
	ids := map[string]int{}
	for range 20 {
		ids[recv.next(t).header.Get("webhook-id")]++
	}
	recv.none(t, 1500*time.Millisecond)
	if len(ids) != 20 {
		t.Errorf("deliveries per message: %v", ids)
	}
}
