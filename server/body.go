package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// bodyBudget bounds the request bytes held in memory: by all requests
// together, and by each client (its IP address; see clientKey). A body is
// charged for the bytes a read returned, after the read — never for what
// its Content-Length announces, nor for a read still waiting for bytes — so
// a client that declares 32 MiB and sends one byte holds one byte. A read
// that finds no room waits at most wait, then the request is refused as
// busy; a body that stops arriving for idle is cut (a slow client cannot
// hold a connection, and its share of the budget, forever).
//
// Three rules keep clients from crowding each other out:
//   - a client holds at most perClient bytes, whatever its number of
//     requests;
//   - a client sends at most maxBodies bodies at once (requests whose body
//     is not read to its end yet); more are refused at once, and their
//     connections closed, so stalled sockets cannot pile up;
//   - the last eighth of the budget (reserve) is kept for clients that
//     hold little (at most lightBytes, the size of an ordinary query): when
//     a few clients have filled the rest with large bodies, everyone
//     else's queries still have room.
type bodyBudget struct {
	general   *semaphore.Weighted // total less the reserve
	reserve   *semaphore.Weighted
	perClient int64
	maxBodies int
	wait      time.Duration
	idle      time.Duration
	trusted   []netip.Prefix

	mu      sync.Mutex
	clients map[string]*clientShare
	held    int64 // by all bodies
	bodies  int   // bodies not read to their end, of all clients
}

type clientShare struct {
	sem    *semaphore.Weighted // perClient bytes
	refs   int                 // metered bodies not released
	bodies int                 // of which not read to their end
	held   int64               // bytes held (under bodyBudget.mu)
}

const (
	// meterChunk is the most one read of a metered body returns, so that
	// one charge is small beside any share.
	meterChunk = 64 << 10
	// lightBytes is what a client may hold and still draw on the reserve.
	lightBytes = 64 << 10
	// DefaultMaxBodiesPerClient is how many bodies one client may send at
	// once: more than a browser's connections to a host, or an uploader's
	// parallel requests.
	DefaultMaxBodiesPerClient = 64
)

// newBodyBudget returns a budget of total bytes, an eighth of it kept for
// light clients (the rest is never less than perClient, so that one
// request of the largest size fits).
func newBodyBudget(total, perClient int64, maxBodies int, wait, idle time.Duration, trusted []netip.Prefix) *bodyBudget {
	reserve := total / 8
	general := max(total-reserve, perClient)
	if maxBodies <= 0 {
		maxBodies = DefaultMaxBodiesPerClient
	}
	return &bodyBudget{general: semaphore.NewWeighted(general), reserve: semaphore.NewWeighted(reserve),
		perClient: perClient, maxBodies: maxBodies, wait: wait, idle: idle, trusted: trusted,
		clients: map[string]*clientShare{}}
}

var errTooManyBodies = errors.New("too many requests from this address are sending bodies at once")

// meter wraps r's body: reads extend its idle deadline and, while metering,
// are charged for the bytes they return. Release gives everything back. A
// client that already sends maxBodies bodies gets errTooManyBodies.
func (b *bodyBudget) meter(w http.ResponseWriter, r *http.Request) (*meteredBody, error) {
	key := b.clientKey(r)
	b.mu.Lock()
	c := b.clients[key]
	if c == nil {
		c = &clientShare{sem: semaphore.NewWeighted(b.perClient)}
		b.clients[key] = c
	}
	if c.bodies >= b.maxBodies {
		b.mu.Unlock()
		return nil, errTooManyBodies
	}
	c.refs++
	c.bodies++
	b.bodies++
	b.mu.Unlock()
	m := &meteredBody{r: r.Body, b: b, key: key, client: c, rc: http.NewResponseController(w), ctx: r.Context(),
		length: r.ContentLength, metering: true}
	if r.ContentLength == 0 {
		m.bodyDone()
	}
	r.Body = m
	return m, nil
}

// clientKey is whom a request is counted against: the IP address it came
// from (an IPv6 client by its /64, which one host usually holds whole), or
// when that address is a trusted proxy the right-most address of
// X-Forwarded-For that is not one.
func (b *bodyBudget) clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap().WithZone("")
	if b.isTrusted(addr) {
		hops := r.Header.Values("X-Forwarded-For")
	walk:
		for i := len(hops) - 1; i >= 0; i-- {
			list := strings.Split(hops[i], ",")
			for j := len(list) - 1; j >= 0; j-- {
				hop, err := netip.ParseAddr(strings.TrimSpace(list[j]))
				if err != nil {
					break walk // garbage: the last trusted hop is the client
				}
				addr = hop.Unmap().WithZone("")
				if !b.isTrusted(addr) {
					break walk
				}
			}
		}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func (b *bodyBudget) isTrusted(a netip.Addr) bool {
	for _, p := range b.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// usage reports the bytes held and the bodies being received (for metrics).
func (b *bodyBudget) usage() (held int64, bodies int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held, b.bodies
}

// meteredBody is a request body read under a bodyBudget.
type meteredBody struct {
	r      io.ReadCloser
	b      *bodyBudget
	key    string
	client *clientShare
	rc     *http.ResponseController
	ctx    context.Context
	length int64 // Content-Length, or -1

	mu       sync.Mutex
	read     int64 // bytes read
	general  int64 // held from the general pool
	reserved int64 // held from the reserve
	metering bool
	done     bool // read to its end (no longer counts against maxBodies)
	busy     bool // waited for room in vain
	stalled  bool // the client stopped sending
	released bool
}

var errBusy = errors.New("the server is busy")

func (m *meteredBody) Read(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.released {
		return 0, io.ErrClosedPipe
	}
	if m.b.idle > 0 {
		_ = m.rc.SetReadDeadline(time.Now().Add(m.b.idle))
	}
	if m.metering && len(p) > meterChunk {
		p = p[:meterChunk]
	}
	n, err := m.r.Read(p)
	if n > 0 && m.metering {
		// The bytes are in p, which the caller holds already; they are
		// handed on only once charged.
		if terr := m.take(int64(n)); terr != nil {
			return 0, terr
		}
	}
	m.read += int64(n)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		m.stalled = true
	}
	if err == io.EOF || (m.length >= 0 && m.read >= m.length) {
		m.bodyDone()
	}
	return n, err
}

// take waits (at most the budget's wait) for n bytes of the client's share
// and of the general pool, or of the reserve if the client holds little.
func (m *meteredBody) take(n int64) error {
	b := m.b
	ctx, cancel := context.WithTimeout(m.ctx, b.wait)
	defer cancel()
	if err := m.client.sem.Acquire(ctx, n); err != nil {
		m.busy = m.ctx.Err() == nil
		return errBusy
	}
	b.mu.Lock()
	switch {
	case b.general.TryAcquire(n):
		m.general += n
	case m.client.held+n <= lightBytes && b.reserve.TryAcquire(n):
		m.reserved += n
	default:
		b.mu.Unlock()
		if err := b.general.Acquire(ctx, n); err != nil {
			m.client.sem.Release(n)
			m.busy = m.ctx.Err() == nil
			return errBusy
		}
		b.mu.Lock()
		m.general += n
	}
	m.client.held += n
	b.held += n
	b.mu.Unlock()
	return nil
}

// bodyDone marks the body read to its end: it no longer counts against
// the client's bodies at once (what it read stays held).
func (m *meteredBody) bodyDone() {
	if m.done {
		return
	}
	m.done = true
	m.b.mu.Lock()
	m.client.bodies--
	m.b.bodies--
	m.b.mu.Unlock()
}

// stopMetering ends the budget's count for bytes read from now on (they
// go to temporary files, not to memory); what was read stays held.
func (m *meteredBody) stopMetering() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.metering = false
}

// Close implements io.Closer.
func (m *meteredBody) Close() error { return m.r.Close() }

// release gives back everything the body took; it is called once the
// request is answered (nothing of the body is held any more).
func (m *meteredBody) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.released {
		return
	}
	m.released = true
	m.bodyDone()
	b := m.b
	b.general.Release(m.general)
	b.reserve.Release(m.reserved)
	m.client.sem.Release(m.general + m.reserved)
	b.mu.Lock()
	m.client.held -= m.general + m.reserved
	b.held -= m.general + m.reserved
	m.general, m.reserved = 0, 0
	if m.client.refs--; m.client.refs == 0 {
		delete(b.clients, m.key)
	}
	b.mu.Unlock()
}

// state reports whether the body waited for room in vain or stalled.
func (m *meteredBody) state() (busy, stalled bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.busy, m.stalled
}
