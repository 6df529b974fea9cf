package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// bodyBudget bounds the request bytes held in memory: by all requests
// together, and by each client (its IP address). A request takes from the
// budget as its bytes arrive — never on what its Content-Length announces —
// so a client that declares 32 MiB and sends one byte holds one chunk. A
// read that finds no room waits at most wait, then the request is refused
// as busy; a body that stops arriving for idle is cut (a slow client
// cannot hold a connection, and its share of the budget, forever).
type bodyBudget struct {
	total     *semaphore.Weighted
	perClient int64
	wait      time.Duration
	idle      time.Duration

	mu      sync.Mutex
	clients map[string]*clientShare
}

type clientShare struct {
	sem  *semaphore.Weighted
	refs int
}

// meterChunk is how much budget a body takes at a time.
const meterChunk = 64 << 10

func newBodyBudget(total, perClient int64, wait, idle time.Duration) *bodyBudget {
	return &bodyBudget{total: semaphore.NewWeighted(total), perClient: min(perClient, total), wait: wait, idle: idle,
		clients: map[string]*clientShare{}}
}

// meter wraps r's body: reads extend its idle deadline and, while metering,
// take budget for the bytes they return. Release gives everything back.
func (b *bodyBudget) meter(w http.ResponseWriter, r *http.Request) *meteredBody {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	b.mu.Lock()
	c := b.clients[host]
	if c == nil {
		c = &clientShare{sem: semaphore.NewWeighted(b.perClient)}
		b.clients[host] = c
	}
	c.refs++
	b.mu.Unlock()
	m := &meteredBody{r: r.Body, b: b, host: host, client: c, rc: http.NewResponseController(w), ctx: r.Context(), metering: true}
	r.Body = m
	return m
}

// meteredBody is a request body read under a bodyBudget.
type meteredBody struct {
	r      io.ReadCloser
	b      *bodyBudget
	host   string
	client *clientShare
	rc     *http.ResponseController
	ctx    context.Context

	mu       sync.Mutex
	credit   int64 // taken, not yet read
	held     int64 // taken in all
	metering bool
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
	if m.metering {
		if m.credit == 0 {
			if err := m.take(meterChunk); err != nil {
				return 0, err
			}
		}
		if int64(len(p)) > m.credit {
			p = p[:m.credit]
		}
	}
	n, err := m.r.Read(p)
	if m.metering {
		m.credit -= int64(n)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		m.stalled = true
	}
	return n, err
}

// take waits (at most the budget's wait) for n bytes of the client's share
// and of the total.
func (m *meteredBody) take(n int64) error {
	ctx, cancel := context.WithTimeout(m.ctx, m.b.wait)
	defer cancel()
	if err := m.client.sem.Acquire(ctx, n); err != nil {
		m.busy = m.ctx.Err() == nil
		return errBusy
	}
	if err := m.b.total.Acquire(ctx, n); err != nil {
		m.client.sem.Release(n)
		m.busy = m.ctx.Err() == nil
		return errBusy
	}
	m.credit += n
	m.held += n
	return nil
}

// stopMetering ends the budget's count for bytes read from now on (they
// go to temporary files, not to memory); what was read stays held.
func (m *meteredBody) stopMetering() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.metering = false
	m.returnCredit()
}

func (m *meteredBody) returnCredit() {
	if m.credit > 0 {
		m.b.total.Release(m.credit)
		m.client.sem.Release(m.credit)
		m.held -= m.credit
		m.credit = 0
	}
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
	m.returnCredit()
	if m.held > 0 {
		m.b.total.Release(m.held)
		m.client.sem.Release(m.held)
		m.held = 0
	}
	m.b.mu.Lock()
	if m.client.refs--; m.client.refs == 0 {
		delete(m.b.clients, m.host)
	}
	m.b.mu.Unlock()
}

// state reports whether the body waited for room in vain or stalled.
func (m *meteredBody) state() (busy, stalled bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.busy, m.stalled
}
