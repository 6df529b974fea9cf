package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mediagraph/mediagraph/media"
)

// wsMsg is one graphql-transport-ws message.
type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsClient is a graphql-transport-ws client: it answers pings, and queues
// what the server sends per subscription id.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn

	mu     sync.Mutex
	subs   map[string]chan wsMsg
	nextID int
	// done closes when the connection ends; err is why (a
	// websocket.CloseError for a close frame).
	done chan struct{}
	err  error
}

// dialWS opens a subscription connection to url (http://…) with the
// upgrade's header and sends connection_init with params. It returns the
// client once acknowledged, or the close status the server answered with.
func dialWS(t testing.TB, url string, header http.Header, params map[string]any) (*wsClient, websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(url, "http", "ws", 1)+"/graphql", &websocket.DialOptions{
		HTTPHeader: header, Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(16 << 20)
	c := &wsClient{t: t, conn: conn, subs: map[string]chan wsMsg{}, done: make(chan struct{})}
	acked := make(chan struct{})
	go c.read(acked)
	init := wsMsg{Type: "connection_init"}
	if params != nil {
		init.Payload, _ = json.Marshal(params)
	}
	c.send(init)
	select {
	case <-acked:
		t.Cleanup(func() { conn.Close(websocket.StatusNormalClosure, "") })
		return c, -1
	case <-c.done:
		return nil, websocket.CloseStatus(c.err)
	case <-time.After(10 * time.Second):
		t.Fatal("no connection_ack")
	}
	return nil, -1
}

func (c *wsClient) read(acked chan struct{}) {
	defer close(c.done)
	for {
		_, data, err := c.conn.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			for _, ch := range c.subs {
				close(ch)
			}
			c.subs = map[string]chan wsMsg{}
			c.mu.Unlock()
			return
		}
		var m wsMsg
		if err := json.Unmarshal(data, &m); err != nil {
			c.err = fmt.Errorf("not JSON: %s", data)
			return
		}
		switch m.Type {
		case "connection_ack":
			close(acked)
		case "ping":
			c.send(wsMsg{Type: "pong"})
		case "next", "error", "complete":
			c.mu.Lock()
			ch := c.subs[m.ID]
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}
}

func (c *wsClient) send(m wsMsg) {
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.conn.Write(ctx, websocket.MessageText, b)
}

// subscribe starts a subscription and returns the stream of its messages.
func (c *wsClient) subscribe(query string, vars map[string]any) *wsSub {
	c.mu.Lock()
	c.nextID++
	id := fmt.Sprint(c.nextID)
	ch := make(chan wsMsg, 1024)
	c.subs[id] = ch
	c.mu.Unlock()
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	c.send(wsMsg{ID: id, Type: "subscribe", Payload: payload})
	return &wsSub{c: c, id: id, ch: ch}
}

// closed waits up to d for the connection to end and returns its close
// status (-1 if it ended without one).
func (c *wsClient) closed(d time.Duration) websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.done:
		return websocket.CloseStatus(c.err)
	case <-time.After(d):
		c.t.Fatalf("the connection is still open after %s", d)
	}
	return -1
}

// wsSub is one subscription's messages.
type wsSub struct {
	c  *wsClient
	id string
	ch chan wsMsg
}

// fileEvent is FileEvent as the tests select it.
type fileEvent struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	FileID string `json:"fileId"`
	File   *struct {
		ID      string  `json:"id"`
		Name    string  `json:"name"`
		Caption *string `json:"caption"`
	} `json:"file"`
	Bucket *struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Actor *struct {
		Email string `json:"email"`
	} `json:"actor"`
	Target *struct {
		Typename string `json:"__typename"`
	} `json:"target"`
	At time.Time `json:"at"`
	// got is when the test received it.
	got time.Time
}

const fileEventFields = `id type fileId file { id name caption } bucket { name } actor { email } target { __typename } at`

// next returns the subscription's next event, failing the test if none
// arrives within d or the subscription fails.
func (s *wsSub) next(d time.Duration) *fileEvent {
	s.c.t.Helper()
	ev, err := s.tryNext(d)
	if err != nil {
		s.c.t.Fatal(err)
	}
	return ev
}

// tryNext is next that returns what went wrong.
func (s *wsSub) tryNext(d time.Duration) (*fileEvent, error) {
	select {
	case m, ok := <-s.ch:
		if !ok {
			return nil, fmt.Errorf("the connection ended: %v", s.c.err)
		}
		if m.Type != "next" {
			return nil, fmt.Errorf("subscription %s: %s %s", s.id, m.Type, m.Payload)
		}
		var out struct {
			Data struct {
				FileEvents *fileEvent `json:"fileEvents"`
			} `json:"data"`
			Errors []gqlError `json:"errors"`
		}
		if err := json.Unmarshal(m.Payload, &out); err != nil || out.Data.FileEvents == nil || len(out.Errors) > 0 {
			return nil, fmt.Errorf("bad event: %s", m.Payload)
		}
		out.Data.FileEvents.got = time.Now()
		return out.Data.FileEvents, nil
	case <-time.After(d):
		return nil, errors.New("no event within " + d.String())
	}
}

// none asserts that no event arrives within d.
func (s *wsSub) none(d time.Duration) {
	s.c.t.Helper()
	select {
	case m, ok := <-s.ch:
		if ok {
			s.c.t.Fatalf("unexpected %s: %s", m.Type, m.Payload)
		}
	case <-time.After(d):
	}
}

// failure waits for the subscription's error message and returns its
// first error's code.
func (s *wsSub) failure(d time.Duration) string {
	s.c.t.Helper()
	select {
	case m := <-s.ch:
		var errs []gqlError
		if m.Type == "next" {
			var out struct {
				Errors []gqlError `json:"errors"`
			}
			_ = json.Unmarshal(m.Payload, &out)
			errs = out.Errors
		} else if m.Type == "error" {
			_ = json.Unmarshal(m.Payload, &errs)
		}
		if len(errs) == 0 {
			s.c.t.Fatalf("want an error, got %s %s", m.Type, m.Payload)
		}
		c, _ := errs[0].Extensions["code"].(string)
		return c
	case <-time.After(d):
		s.c.t.Fatalf("no error within %s", d)
	}
	return ""
}

// stop ends the subscription.
func (s *wsSub) stop() { s.c.send(wsMsg{ID: s.id, Type: "complete"}) }

// events subscribes with key (in connectionParams) to fileEvents with
// vars. Without an "after" it resumes after the newest event written so
// far, so no event of what the test does next can be missed while the
// subscription starts.
func (e *env) events(key string, vars map[string]any) *wsSub {
	e.t.Helper()
	if _, ok := vars["after"]; !ok {
		if vars == nil {
			vars = map[string]any{}
		}
		vars["after"] = e.lastEvent()
	}
	c, code := dialWS(e.t, e.url, nil, map[string]any{"authorization": "Bearer " + key})
	if c == nil {
		e.t.Fatalf("connection refused with %d", code)
	}
	return c.subscribe(`subscription($bucket: String, $types: [FileEventType!], $after: ID) {
		fileEvents(bucket: $bucket, types: $types, after: $after) { `+fileEventFields+` } }`, vars)
}

// lastEvent is the id of the newest event written.
func (e *env) lastEvent() string {
	e.t.Helper()
	seq, err := e.m.DB.LastEventSeq(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return string(media.EventID(seq))
}
