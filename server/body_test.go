package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func bodyRequest(addr string, body io.Reader, length int64) (http.ResponseWriter, *http.Request) {
	r := httptest.NewRequest(http.MethodPost, "/graphql", body)
	r.RemoteAddr = addr
	r.ContentLength = length
	return httptest.NewRecorder(), r
}

// trickle is a body that sends one byte, then nothing until closed.
type trickle struct {
	sent   bool
	closed chan struct{}
}

func (t *trickle) Read(p []byte) (int, error) {
	if !t.sent {
		t.sent = true
		p[0] = '{'
		return 1, nil
	}
	<-t.closed
	return 0, io.ErrUnexpectedEOF
}

// TestBodyBudget (review G3): a body is charged for the bytes it
// returned, not for a read waiting for more; one client sends a bounded
// number of bodies at once; and clients that hold little draw on a
// reserve the others cannot fill.
func TestBodyBudget(t *testing.T) {
	t.Run("charged for bytes read", func(t *testing.T) {
		b := newBodyBudget(1<<20, 256<<10, 1000, time.Second, 0, nil)
		stop := make(chan struct{})
		var bodies []*meteredBody
		reading := make(chan struct{}, 500)
		for range 500 {
			w, r := bodyRequest("127.0.0.2:1234", &trickle{closed: stop}, 1<<20)
			m, err := b.meter(w, r)
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, m)
			go func() {
				var one [1]byte
				_, _ = m.Read(one[:]) // the byte
				reading <- struct{}{}
				_, _ = io.ReadAll(m) // waits for more
			}()
		}
		for range 500 {
			<-reading
		}
		// 500 bodies waiting for more of a declared 1 MiB: one byte each.
		if held, n := b.usage(); held != 500 || n != 500 {
			t.Fatalf("500 one-byte bodies hold %d bytes in %d bodies; want 500 in 500", held, n)
		}
		close(stop)
		for _, m := range bodies {
			m.release()
		}
		if held, n := b.usage(); held != 0 || n != 0 || len(b.clients) != 0 {
			t.Fatalf("after release: %d bytes, %d bodies, %d clients", held, n, len(b.clients))
		}
	})

	t.Run("bodies per client", func(t *testing.T) {
		b := newBodyBudget(1<<20, 256<<10, 3, time.Second, 0, nil)
		var open []*meteredBody
		for range 3 {
			w, r := bodyRequest("127.0.0.2:1", strings.NewReader("{}"), 2)
			m, err := b.meter(w, r)
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, m)
		}
		w, r := bodyRequest("127.0.0.2:2", strings.NewReader("{}"), 2)
		if _, err := b.meter(w, r); !errors.Is(err, errTooManyBodies) {
			t.Fatalf("a fourth body from one address: %v", err)
		}
		w, r = bodyRequest("127.0.0.3:2", strings.NewReader("{}"), 2)
		other, err := b.meter(w, r)
		if err != nil {
			t.Fatalf("another address: %v", err)
		}
		other.release()
		// A body read to its end no longer counts, though it is held
		// until its request is answered.
		if raw, err := io.ReadAll(open[0]); err != nil || string(raw) != "{}" {
			t.Fatalf("read %q, %v", raw, err)
		}
		w, r = bodyRequest("127.0.0.2:3", strings.NewReader("{}"), 2)
		m, err := b.meter(w, r)
		if err != nil {
			t.Fatalf("after one body was read: %v", err)
		}
		for _, m := range append(open, m) {
			m.release()
		}
	})

	t.Run("share and reserve", func(t *testing.T) {
		// 1 MiB: 128 KiB reserve, 896 KiB general, 256 KiB a client.
		b := newBodyBudget(1<<20, 256<<10, 10, 200*time.Millisecond, 0, nil)
		read := func(addr string, n int) (*meteredBody, error) {
			w, r := bodyRequest(addr+":1", bytes.NewReader(make([]byte, n)), int64(n))
			m, err := b.meter(w, r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(m)
			return m, err
		}
		var held []*meteredBody
		defer func() {
			for _, m := range held {
				m.release()
			}
		}()
		// One client holds its share; one byte more is refused as busy.
		m, err := read("127.0.0.2", 256<<10)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, m)
		m, err = read("127.0.0.2", 1)
		held = append(held, m)
		if busy, _ := m.state(); !errors.Is(err, errBusy) || !busy {
			t.Fatalf("a byte over the share: %v", err)
		}
		// Two more clients fill the general pool (3 × 256 KiB, plus 128 KiB).
		for _, a := range []string{"127.0.0.3", "127.0.0.4"} {
			if m, err = read(a, 256<<10); err != nil {
				t.Fatal(err)
			}
			held = append(held, m)
		}
		if m, err = read("127.0.0.5", 128<<10); err != nil {
			t.Fatal(err)
		}
		held = append(held, m)
		// A heavy client gets no more from the reserve…
		m, err = read("127.0.0.5", 1)
		held = append(held, m)
		if !errors.Is(err, errBusy) {
			t.Fatalf("a heavy client over the general pool: %v", err)
		}
		// …but clients holding little do, up to lightBytes each.
		for _, a := range []string{"127.0.0.6", "127.0.0.7"} {
			if m, err = read(a, 60<<10); err != nil {
				t.Fatalf("a light client with the general pool full: %v", err)
			}
			held = append(held, m)
		}
		m, err = read("127.0.0.7", 8<<10) // 68 KiB: no longer light
		held = append(held, m)
		if !errors.Is(err, errBusy) {
			t.Fatalf("a client past lightBytes took from the reserve: %v", err)
		}
	})
}

func TestClientKey(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	b := newBodyBudget(1<<20, 1<<18, 0, time.Second, 0, trusted)
	plain := newBodyBudget(1<<20, 1<<18, 0, time.Second, 0, nil)
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
		budget *bodyBudget
	}{
		{"192.0.2.1:5555", nil, "192.0.2.1", b},
		{"192.0.2.1:5555", []string{"198.51.100.9"}, "192.0.2.1", b}, // not from a proxy: ignored
		{"[2001:db8:1:2:3:4:5:6]:443", nil, "2001:db8:1:2::/64", b},
		{"[2001:db8:1:2:ffff::1]:443", nil, "2001:db8:1:2::/64", b}, // the same /64
		{"[::ffff:192.0.2.1]:80", nil, "192.0.2.1", b},
		{"10.1.1.1:80", []string{"198.51.100.9"}, "198.51.100.9", b},
		{"10.1.1.1:80", []string{"203.0.113.5, 198.51.100.9"}, "198.51.100.9", b}, // the client's own claim is not believed
		{"10.1.1.1:80", []string{"198.51.100.9, 10.2.2.2"}, "198.51.100.9", b},    // through two proxies
		{"10.1.1.1:80", []string{"198.51.100.9", "10.2.2.2"}, "198.51.100.9", b},  // in two headers
		{"10.1.1.1:80", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3", b},            // all trusted: the left-most
		{"10.1.1.1:80", []string{"198.51.100.9, garbage"}, "10.1.1.1", b},         // garbage: the last proxy
		{"10.1.1.1:80", nil, "10.1.1.1", b},
		{"[::1]:80", []string{"2001:db8::7"}, "2001:db8::/64", b},
		{"10.1.1.1:80", []string{"198.51.100.9"}, "10.1.1.1", plain}, // no trusted proxies
	} {
		r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := tc.budget.clientKey(r); got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}
