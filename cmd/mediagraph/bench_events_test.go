package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestBenchEvents measures what idle subscriptions cost the server and
// how fast events reach them, on a server process of its own (PostgreSQL
// + versitygw): 1,000 subscriptions, one per websocket connection and
// then ten per connection; after a ping round, uploads, each heard by all
// 1,000 subscribers.
func TestBenchEvents(t *testing.T) {
	benchOnly(t)
	for _, perConn := range []int{1, 10} {
		t.Run(fmt.Sprintf("%d per connection", perConn), func(t *testing.T) {
			benchEvents(t, 1000, perConn)
		})
	}
}

func benchEvents(t *testing.T, n, perConn int) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics := l.Addr().String()
	l.Close()
	s := startServer(t, "MEDIAGRAPH_METRICS_ADDR="+metrics)
	idle, _ := s.rss(t)
	subs := make([]*wsSub, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i += perConn {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, code := dialWS(t, s.url, nil, map[string]any{"authorization": "Bearer " + s.key})
			if c == nil {
				t.Errorf("refused: %d", code)
				return
			}
			for j := i; j < i+perConn; j++ {
				subs[j] = c.subscribe(`subscription { fileEvents(bucket: "bench") { id type fileId file { id name size } } }`, nil)
			}
		}()
	}
	wg.Wait()
	// Idle through one round of pings (every 25 s), which the clients answer.
	time.Sleep(30 * time.Second)
	withSubs, _ := s.rss(t)
	for _, p := range []string{"heap", "goroutine"} {
		res, err := http.Get("http://" + metrics + "/debug/pprof/" + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		_ = os.WriteFile(filepath.Join(benchDir(t), fmt.Sprintf("events-%d.%s.pprof", perConn, p)), b, 0o644)
	}

	const events = 20
	var lat []time.Duration
	for i := range events {
		t0 := time.Now()
		s.uploadMultipart(t, fmt.Sprintf("e%d.bin", i), 1024, func(w io.Writer) { _, _ = w.Write(make([]byte, 1024)) })
		for _, sub := range subs {
			if _, err := sub.tryNext(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
	}
	after, peak := s.rss(t)
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(100 * time.Microsecond) }
	t.Logf("events: %d idle subscriptions, %d per connection: server RSS %.1f MiB idle, %.1f MiB with them after a ping round "+
		"(%.1f MiB more, %.1f KiB each); after %d events %.1f MiB (peak %.1f)",
		n, perConn, idle, withSubs, withSubs-idle, (withSubs-idle)*1024/float64(n), events, after, peak)
	t.Logf("events: from the start of an upload to its event at each of the %d subscribers: p50 %s, p90 %s, p99 %s, max %s",
		n, q(0.5), q(0.9), q(0.99), lat[len(lat)-1].Round(100*time.Microsecond))
}
