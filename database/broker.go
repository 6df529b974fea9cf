package database

import (
	"context"
	"sync"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// broker announces changes to every server sharing the database: on
// PostgreSQL through LISTEN/NOTIFY (one listening connection per process,
// whatever the number of listeners), on SQLite — one process — in process.
// A notification is a hint, never the data: listeners read the tables, and
// are called with "" whenever notifications may have been missed (at start
// and after every reconnection), so that they catch up.
type broker struct {
	mu        sync.Mutex
	listeners map[string]map[*listener]struct{}
	running   bool               // the PostgreSQL listening loop
	conn      *pgdriver.Listener // its current connection
	closed    bool               // the database was closed: the loop ends
	// gen counts the channels that got their first listener, so that a
	// connection made while one was added is made again.
	gen int
}

// close ends the listening loop.
func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.conn != nil {
		b.conn.Close()
	}
}

func (b *broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

type listener struct{ fn func(string) }

func newBroker() *broker {
	return &broker{listeners: map[string]map[*listener]struct{}{}}
}

// deliver calls channel's listeners with payload.
func (b *broker) deliver(channel, payload string) {
	b.mu.Lock()
	ls := make([]*listener, 0, len(b.listeners[channel]))
	for l := range b.listeners[channel] {
		ls = append(ls, l)
	}
	b.mu.Unlock()
	for _, l := range ls {
		l.fn(payload)
	}
}

// resync returns the channels listened to and their generation, and
// calls every listener with "" (notifications may have been missed).
func (b *broker) resync() ([]string, int) {
	b.mu.Lock()
	gen := b.gen
	var chans []string
	var ls []*listener
	for c, set := range b.listeners {
		chans = append(chans, c)
		for l := range set {
			ls = append(ls, l)
		}
	}
	b.mu.Unlock()
	for _, l := range ls {
		l.fn("")
	}
	return chans, gen
}

// Publish announces payload on channel to every server's listeners once
// the transaction d works in commits (at once outside one): PostgreSQL's
// NOTIFY is transactional; on SQLite the announcement waits for the commit.
func (d *DB) Publish(ctx context.Context, channel, payload string) error {
	if d.dialect == Postgres {
		_, err := d.idb.ExecContext(ctx, "SELECT pg_notify(?, ?)", channel, payload)
		return wrap(err, "notification")
	}
	if d.committed != nil {
		*d.committed = append(*d.committed, func() { d.broker.deliver(channel, payload) })
		return nil
	}
	d.broker.deliver(channel, payload)
	return nil
}

// Listen calls fn with each payload published on channel by any server,
// and with "" when it starts listening and whenever notifications may have
// been lost, until ctx ends. fn must not block.
func (d *DB) Listen(ctx context.Context, channel string, fn func(payload string)) {
	b := d.broker
	l := &listener{fn: fn}
	b.mu.Lock()
	if b.listeners[channel] == nil {
		b.listeners[channel] = map[*listener]struct{}{}
	}
	if len(b.listeners[channel]) == 0 {
		b.gen++
		if b.conn != nil {
			b.conn.Close() // reconnect, listening to this channel too
		}
	}
	b.listeners[channel][l] = struct{}{}
	start := d.dialect == Postgres && !b.running
	if start {
		b.running = true
	}
	b.mu.Unlock()
	if start {
		go d.listenLoop()
	}
	fn("")
	<-ctx.Done()
	b.mu.Lock()
	delete(b.listeners[channel], l)
	b.mu.Unlock()
}

// listenReconnect is how long a quiet listening connection is trusted:
// after that it is replaced (a connection can die without a word).
const listenReconnect = 30 * time.Second

// listenLoop keeps one PostgreSQL connection listening to every channel
// anyone listens to, for the life of the process, reconnecting (and
// telling listeners to catch up) when it fails or has been quiet a while.
func (d *DB) listenLoop() {
	ctx := context.Background()
	wait := time.Duration(0)
	for {
		time.Sleep(wait)
		wait = min(max(2*wait, 100*time.Millisecond), 5*time.Second)
		if d.broker.isClosed() {
			return
		}
		chans, gen := d.broker.resync()
		if len(chans) == 0 {
			continue
		}
		ln := pgdriver.NewListener(d.db)
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := ln.Listen(lctx, chans...)
		cancel()
		if err != nil {
			ln.Close()
			continue
		}
		d.broker.mu.Lock()
		if d.broker.closed {
			d.broker.mu.Unlock()
			ln.Close()
			return
		}
		if d.broker.gen != gen { // a channel was added meanwhile
			d.broker.mu.Unlock()
			ln.Close()
			wait = 0
			continue
		}
		d.broker.conn = ln
		d.broker.mu.Unlock()
		// Events committed while the connection was being made.
		d.broker.resync()
		for {
			channel, payload, err := ln.ReceiveTimeout(ctx, listenReconnect)
			if err != nil {
				break
			}
			wait = 0
			d.broker.deliver(channel, payload)
		}
		d.broker.mu.Lock()
		d.broker.conn = nil
		d.broker.mu.Unlock()
		ln.Close()
	}
}
