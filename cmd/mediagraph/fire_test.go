package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
	"github.com/mediagraph/mediagraph/server"
)

// Regression tests for the hostile-load findings of issue 11: requests
// without a key that used to cost seconds of CPU or gigabytes of memory.
// Each has a bound: of time (a generous one, against seconds to hours
// before), of heap, or of work counted.

// boundedDo posts a JSON request without a key and fails if no answer
// comes within d.
func (e *env) boundedDo(d time.Duration, query string) *resp {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("no answer within %s: %v", d, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &resp{Status: res.StatusCode, raw: raw}
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	_ = json.Unmarshal(raw, &out)
	r.Data, r.Errors = out.Data, out.Errors
	return r
}

func reason(r *resp) string {
	if len(r.Errors) == 0 {
		return ""
	}
	s, _ := r.Errors[0].Extensions["reason"].(string)
	return s
}

// TestQueryCostIsBoundedBeforeValidation (findings 1 and 3): fragments
// that double at every level, and nested pages that multiply, are refused
// from one linear walk before anything else looks at them.
func TestQueryCostIsBoundedBeforeValidation(t *testing.T) {
	e := start(t, backends[0])
	var b strings.Builder
	b.WriteString("query { ...F40 }\nfragment F0 on Query { viewer { role } }\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i-1, i-1)
	}
	if r := e.boundedDo(10*time.Second, b.String()); r.Status != 422 || reason(r) != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("2^40 fields through fragments: %d %s", r.Status, r.raw)
	}
	nested := `{ files(first: 40) { nodes { bucket { files(first: 40) { nodes { bucket { files(first: 40) { nodes { id name tags } } } } } } } } }`
	if r := e.boundedDo(10*time.Second, nested); r.Status != 422 || reason(r) != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("nested pages: %d %s", r.Status, r.raw)
	}
	// What clients ask for passes (and answers UNAUTHENTICATED without a key).
	if r := e.boundedDo(10*time.Second, `{ files(first: 100) { nodes { id name bucket { name } } totalCount } }`); r.code() != media.EUNAUTHENTICATED {
		t.Fatalf("a page of files: %d %s", r.Status, r.raw)
	}
}

// TestQueryCostIsCheckedOnCachedDocuments (review G1): the cost of a
// document depends on its variables, so a document in the query cache is
// costed again for every request. The sequence bypassed the limit: n=30
// refused, n=1 answered (and the document cached), then n=100 answered.
func TestQueryCostIsCheckedOnCachedDocuments(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		q := `query($n: Int) { files(first: $n) { nodes { bucket { files(first: $n) { nodes { bucket { files(first: $n) { nodes { id } } } } } } } } }`
		refused := func(vars map[string]any, what string) {
			t.Helper()
			if r := e.do(e.owner, q, vars); r.Status != 422 || reason(r) != "COMPLEXITY_LIMIT_EXCEEDED" {
				t.Fatalf("%s: %d %.300s", what, r.Status, r.raw)
			}
		}
		refused(map[string]any{"n": 30}, "n=30, not cached yet")
		e.ok(e.owner, q, map[string]any{"n": 1})
		// The document is cached now (it passed); larger pages are still refused.
		refused(map[string]any{"n": 100}, "n=100 after n=1 cached the document")
		refused(map[string]any{"n": "100"}, `n="100" (a string gqlgen takes for an Int)`)
		e.ok(e.owner, q, map[string]any{"n": 2})
		// A default the request does not override counts as well.
		withDefault := strings.Replace(q, "$n: Int", "$n: Int = 100", 1)
		e.ok(e.owner, withDefault, map[string]any{"n": 1})
		refused(nil, "a default of 100")
	})
}

// heapPeak runs fn and returns how far the heap grew above where it was
// before, sampled every 2 ms. The collector runs often meanwhile, so the
// samples follow live memory rather than garbage waiting for a cycle
// (which the race detector's slower collection lets pile up).
func heapPeak(fn func()) int64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	base := int64(s[0].Value.Uint64())
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := int64(s[0].Value.Uint64()) - base; v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	fn()
	close(done)
	<-stopped
	return peak.Load()
}

// TestQueryCacheIsBoundedByBytes (finding 5): hundreds of large distinct
// queries without a key do not pin the heap.
func TestQueryCacheIsBoundedByBytes(t *testing.T) {
	e := start(t, backends[0])
	query := func(i int) string {
		var b strings.Builder
		b.WriteString("{")
		for j := range 1200 {
			fmt.Fprintf(&b, " q%d_%d: viewer { role }", i, j)
		}
		b.WriteString(" }")
		return b.String()
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range 300 {
		if r := e.boundedDo(30*time.Second, query(i)); r.code() != media.EUNAUTHENTICATED {
			t.Fatalf("query %d: %d %.300s", i, r.Status, r.raw)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("300 distinct %d-byte queries: the heap kept %.1f MiB", len(query(0)), float64(grew)/(1<<20))
	if grew > 64<<20 {
		t.Fatalf("the heap kept %.0f MiB after 300 distinct queries; the cache is bounded at 32 MiB", float64(grew)/(1<<20))
	}
}

// TestSlowBodiesHoldNothing (finding 2): clients that announce large
// bodies and send one byte take almost nothing from the shared memory
// budget — others are served — and are cut once they stall.
func TestSlowBodiesHoldNothing(t *testing.T) {
	e := start(t, backends[0], func(c *Config) { c.BodyIdleTimeout = time.Second })
	addr := e.m.Listener.Addr().String()
	var conns []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		// Each declares the largest JSON body allowed (4 MiB here): 80 MiB
		// together, more than the 64 MiB budget.
		fmt.Fprintf(c, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", 4<<20)
	}
	time.Sleep(200 * time.Millisecond) // let the server start reading them
	if r := e.boundedDo(5*time.Second, `{ viewer { role } }`); r.code() != media.EUNAUTHENTICATED {
		t.Fatalf("a request behind slow bodies: %d %s", r.Status, r.raw)
	}
	// The stalled ones are answered (408) and closed after the idle timeout.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("slow client %d was not cut: %v", i, err)
		}
		if res.StatusCode != http.StatusRequestTimeout {
			t.Errorf("slow client %d: %d", i, res.StatusCode)
		}
		c.Close()
	}
}

// loopback is a local address of 127.0.0.0/8 other than 127.0.0.1, so a
// test can be several clients (Linux answers on the whole block).
func loopback(last byte) net.IP { return net.IPv4(127, 0, 0, last) }

// dialFrom opens a connection to the test server from ip.
func (e *env) dialFrom(ip net.IP) net.Conn {
	e.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", e.m.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// postFrom posts a JSON body from ip with the owner key and returns the
// answer; it fails if none comes within a generous bound.
func (e *env) postFrom(ip net.IP, body []byte, header http.Header) *resp {
	e.t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.owner)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		e.t.Fatalf("no answer from %s: %v", ip, err)
	}
	return e.decode(res)
}

// viewerBody is a JSON request for the viewer's role, padded with spaces
// to size bytes.
func viewerBody(size int) []byte {
	b := []byte(`{"query":"{ viewer { role } }"}`)
	return append(b, bytes.Repeat([]byte(" "), max(size-len(b), 0))...)
}

// metric reads a gauge of the server's /metrics.
func (e *env) metric(name string) float64 {
	e.t.Helper()
	res, err := http.Get(e.url + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	e.t.Fatalf("no metric %s", name)
	return 0
}

// waitMetric waits (generously) until a gauge of /metrics satisfies ok.
func (e *env) waitMetric(name string, ok func(float64) bool, what string) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := e.metric(name)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %s stayed at %v", what, name, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readAnswer reads the answer on a raw connection (within a generous bound).
func readAnswer(c net.Conn) (*http.Response, []byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, raw, nil
}

// unavailable reports whether an answer is the coded 503 of a refused body.
func unavailable(res *http.Response, raw []byte) bool {
	var out struct{ Errors []gqlError }
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode == http.StatusServiceUnavailable && len(out.Errors) == 1 &&
		out.Errors[0].Extensions["code"] == media.EUNAVAILABLE
}

// TestTricklingBodiesFromManyAddresses (review G3): 1,100 sockets from five
// addresses, each announcing a 1 MiB body and sending one byte, hold one
// byte each and at most 64 bodies an address; the rest are refused at
// once (a coded 503, connection closed). A client at another address is
// served meanwhile, a 1 MiB body included.
func TestTricklingBodiesFromManyAddresses(t *testing.T) {
	e := start(t, backends[0], func(c *Config) { c.BodyIdleTimeout = 5 * time.Second })
	const addrs, perAddr, limit = 5, 220, server.DefaultMaxBodiesPerClient
	conns := make([][]net.Conn, addrs)
	defer func() {
		for _, cs := range conns {
			for _, c := range cs {
				c.Close()
			}
		}
	}()
	for i := range addrs * perAddr {
		a := i % addrs
		c := e.dialFrom(loopback(byte(2 + a)))
		conns[a] = append(conns[a], c)
		fmt.Fprintf(c, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", 1<<20)
	}
	// Every address is at its cap: 64 bodies each, one byte each.
	e.waitMetric("mediagraph_request_bodies", func(v float64) bool { return v == addrs*limit }, "bodies admitted")
	if held := e.metric("mediagraph_request_body_bytes"); held != addrs*limit {
		t.Fatalf("%d one-byte bodies hold %v bytes", addrs*limit, held)
	}
	// Another address is served, small and large requests alike.
	if r := e.postFrom(loopback(50), viewerBody(100), nil); r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("a query from another address: %d %.300s", r.Status, r.raw)
	}
	if r := e.postFrom(loopback(50), viewerBody(1<<20), nil); r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("a 1 MiB body from another address: %d %.300s", r.Status, r.raw)
	}
	// A trickling address gets no more.
	if r := e.postFrom(loopback(2), viewerBody(100), nil); r.Status != 503 || r.code() != media.EUNAVAILABLE {
		t.Fatalf("one more body from an address at its cap: %d %.300s", r.Status, r.raw)
	}
	// Each socket was either refused at once or, once idle, cut with 408.
	for a, cs := range conns {
		refused, cut := 0, 0
		for i, c := range cs {
			res, raw, err := readAnswer(c)
			switch {
			case err != nil:
				t.Fatalf("address %d socket %d: no answer: %v", a, i, err)
			case unavailable(res, raw) && res.Close:
				refused++
			case res.StatusCode == http.StatusRequestTimeout:
				cut++
			default:
				t.Fatalf("address %d socket %d: %d %s", a, i, res.StatusCode, raw)
			}
		}
		if cut != limit || refused != perAddr-limit {
			t.Errorf("address %d: %d cut, %d refused; want %d and %d", a, cut, refused, limit, perAddr-limit)
		}
	}
}

// stallFrom sends sent bytes of a JSON body announced as length bytes from
// ip, and leaves the rest unsent.
func (e *env) stallFrom(ip net.IP, length, sent int, header string) net.Conn {
	e.t.Helper()
	c := e.dialFrom(ip)
	fmt.Fprintf(c, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n", header, length)
	if _, err := c.Write(bytes.Repeat([]byte(" "), sent)); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// TestBodyShareIsPerClient (review G3): an address over its share of the
// body budget is refused (a coded 503) while another address, sending as
// much, is served; the share comes back when the address's bodies end.
func TestBodyShareIsPerClient(t *testing.T) {
	// 16 MiB: 2 MiB reserve; a client holds at most 4 MiB (one body of
	// MEDIAGRAPH_MAX_BODY_BYTES, 4 MiB in the harness).
	e := start(t, backends[0], func(c *Config) {
		c.tuneServer = func(s *server.Config) { s.MaxBufferedBytes, s.BodyWait = 16<<20, time.Second }
	})
	stalled := e.stallFrom(loopback(2), 4<<20, 3<<20, "")
	defer stalled.Close()
	e.waitMetric("mediagraph_request_body_bytes", func(v float64) bool { return v == 3<<20 }, "3 MiB from 127.0.0.2")
	if r := e.postFrom(loopback(2), viewerBody(2<<20), nil); r.Status != 503 || r.code() != media.EUNAVAILABLE {
		t.Fatalf("2 MiB more from the address holding 3 of its 4 MiB: %d %.300s", r.Status, r.raw)
	}
	if r := e.postFrom(loopback(3), viewerBody(2<<20), nil); r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("2 MiB from another address: %d %.300s", r.Status, r.raw)
	}
	stalled.Close()
	e.waitMetric("mediagraph_request_body_bytes", func(v float64) bool { return v == 0 }, "the stalled body ended")
	if r := e.postFrom(loopback(2), viewerBody(2<<20), nil); r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("2 MiB from 127.0.0.2 once its body ended: %d %.300s", r.Status, r.raw)
	}
}

// TestBodyReserveServesLightClients (review G3): four addresses, each
// within its share, fill the whole budget but its reserve with stalled
// bodies; a query from a fifth address is still served, a large body is
// not.
func TestBodyReserveServesLightClients(t *testing.T) {
	e := start(t, backends[0], func(c *Config) {
		c.tuneServer = func(s *server.Config) { s.MaxBufferedBytes, s.BodyWait = 16<<20, 5*time.Second }
	})
	// 16 MiB less the 2 MiB reserve: 14 MiB, 3.5 MiB from each of four.
	for a := range 4 {
		c := e.stallFrom(loopback(byte(2+a)), 4<<20, 7<<19, "")
		defer c.Close()
	}
	e.waitMetric("mediagraph_request_body_bytes", func(v float64) bool { return v == 14<<20 }, "14 MiB held")
	if r := e.postFrom(loopback(50), viewerBody(1000), nil); r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("a query with the budget full but for its reserve: %d %.300s", r.Status, r.raw)
	}
	// The reserve is for light clients only: a 1 MiB body finds no room.
	if r := e.postFrom(loopback(50), viewerBody(1<<20), nil); r.Status != 503 || r.code() != media.EUNAVAILABLE {
		t.Fatalf("a 1 MiB body with the budget full but for its reserve: %d %.300s", r.Status, r.raw)
	}
}

// TestTrustedProxies: behind a proxy listed in MEDIAGRAPH_TRUSTED_PROXIES
// the body limits count against the client X-Forwarded-For names (the
// right-most address that is not a trusted proxy, so a client cannot pose
// as another by adding to the header); without it the header is ignored.
func TestTrustedProxies(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		t.Run(fmt.Sprint("trusted=", trusted), func(t *testing.T) {
			e := start(t, backends[0], func(c *Config) {
				if trusted {
					c.TrustedProxies = "127.0.0.1, 10.0.0.0/8"
				}
				c.tuneServer = func(s *server.Config) { s.MaxBodiesPerClient = 2 }
			})
			for range 2 {
				c := e.stallFrom(loopback(1), 100, 1, "X-Forwarded-For: 198.51.100.7\r\n")
				defer c.Close()
			}
			e.waitMetric("mediagraph_request_bodies", func(v float64) bool { return v == 2 }, "two stalled bodies")
			xff := func(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }
			for _, v := range []string{"198.51.100.7", "198.51.100.8, 198.51.100.7", "198.51.100.7, 10.1.2.3"} {
				if r := e.postFrom(loopback(1), viewerBody(100), xff(v)); r.Status != 503 || r.code() != media.EUNAVAILABLE {
					t.Errorf("X-Forwarded-For: %s: %d %.300s", v, r.Status, r.raw)
				}
			}
			r := e.postFrom(loopback(1), viewerBody(100), xff("198.51.100.8"))
			if trusted && (r.Status != 200 || len(r.Errors) > 0) {
				t.Errorf("another client behind the proxy: %d %.300s", r.Status, r.raw)
			}
			if !trusted && r.Status != 503 {
				t.Errorf("X-Forwarded-For believed without trusted proxies: %d %.300s", r.Status, r.raw)
			}
		})
	}
}

// TestMultipartHeadIsBounded (finding 4): multipart requests without a key
// whose operations part is huge are refused after reading at most the
// operations limit, and many at once do not grow the heap with their size.
func TestMultipartHeadIsBounded(t *testing.T) {
	e := start(t, backends[0])
	const size = 30 << 20
	chunk := bytes.Repeat([]byte("a"), 64<<10)
	send := func() *http.Response {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			w, _ := mw.CreateFormField("operations")
			_, _ = io.WriteString(w, `{"query": "{ viewer { role } }", "variables": {"x": "`)
			for n := 0; n < size; n += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					break
				}
			}
			_, _ = io.WriteString(w, `"}}`)
			_ = mw.Close()
			pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", pr)
		req.ContentLength = size + 1024 // close enough: the server stops early
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Apollo-Require-Preflight", "true")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil // the server closed the connection after refusing
		}
		res.Body.Close()
		return res
	}
	send() // warm up
	grew := heapPeak(func() {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if res := send(); res != nil && res.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("a 30 MiB operations part: %d", res.StatusCode)
				}
			}()
		}
		wg.Wait()
	})
	t.Logf("8 multipart requests with 30 MiB operations parts: the heap grew by at most %.1f MiB", float64(grew)/(1<<20))
	if grew > 48<<20 {
		t.Fatalf("the heap grew by %.0f MiB; the operations part is capped at 1 MiB", float64(grew)/(1<<20))
	}
}

// TestExposureGuards (finding 10): a short signing secret stops the
// server; /metrics is public on a loopback address only, otherwise behind
// a token or on its own address; a malformed body is not echoed back.
func TestExposureGuards(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--signing-secret", "x"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "MEDIAGRAPH_SIGNING_SECRET") {
		t.Fatalf("a 1-byte signing secret: %v", err)
	}
	status := func(url, auth string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	e := start(t, backends[0], func(c *Config) { c.MetricsToken = "metrics-token-123" })
	if s := status(e.url+"/metrics", ""); s != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d", s)
	}
	if s := status(e.url+"/metrics", "Bearer metrics-token-123"); s != http.StatusOK {
		t.Errorf("/metrics with the token: %d", s)
	}
	e = start(t, backends[0], func(c *Config) { c.MetricsAddr = "127.0.0.1:0" })
	if s := status(e.url+"/metrics", ""); s != http.StatusNotFound {
		t.Errorf("/metrics on the main address when it has its own: %d", s)
	}
	if s := status("http://"+e.m.MetricsListener.Addr().String()+"/metrics", ""); s != http.StatusOK {
		t.Errorf("/metrics on its own address: %d", s)
	}
	// A body that is not JSON is refused without being repeated.
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(`{"query": "{ viewer { role } }", "password-in-the-body`))
	req.Header.Set("Content-Type", "application/json")
	r := e.send(req)
	if r.Status != http.StatusBadRequest || strings.Contains(string(r.raw), "password-in-the-body") {
		t.Fatalf("a malformed body: %d %s", r.Status, r.raw)
	}
}
