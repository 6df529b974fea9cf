package server

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/mediagraph/mediagraph/media"
)

// Close codes of graphql-transport-ws that the server sends.
const (
	// CloseUnauthorized: no key, or a key that does not authenticate.
	CloseUnauthorized = 4401
	// CloseForbidden: the key lost rights while connected (revoked, its
	// user demoted or removed, its scopes changed).
	CloseForbidden = 4403
	// CloseUnavailable: keys cannot be checked now; retry.
	CloseUnavailable = 1013
)

// Websocket limits.
const (
	wsReadLimit    = 64 << 10 // one client message (a subscribe with its query)
	wsInitTimeout  = 10 * time.Second
	wsPingInterval = 25 * time.Second
)

// wsConn is what the server knows of one websocket connection: the
// upgrade's Authorization header, the accepted connection (to close it
// with a code of our own) and its live subscriptions.
type wsConn struct {
	authorization string
	subs          atomic.Int32

	mu   sync.Mutex
	conn transport.WebsocketConn
}

type wsConnKey struct{}

func wsConnFrom(ctx context.Context) *wsConn {
	c, _ := ctx.Value(wsConnKey{}).(*wsConn)
	return c
}

// closeWith closes the connection with code and reason.
func (c *wsConn) closeWith(code int, reason string) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		_ = conn.WriteClose(code, reason)
	}
}

// wsAccept is gqlgen's coder/websocket adapter, remembering the accepted
// connection in the request's wsConn.
type wsAccept struct {
	transport.CoderWebsocketImplementation
}

func (a wsAccept) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := a.CoderWebsocketImplementation.Accept(w, r, o)
	if c := wsConnFrom(r.Context()); c != nil && err == nil {
		c.mu.Lock()
		c.conn = conn
		c.mu.Unlock()
	}
	return conn, err
}

// isWebsocket reports whether r asks to upgrade to a websocket.
func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// websocketTransport serves subscriptions over graphql-transport-ws (and
// the older graphql-ws) on GET /graphql. Browsers may connect from the
// server's own origin and from Config.WebsocketOrigins; clients that send
// no Origin (mobile apps, servers) always may.
func (s *Server) websocketTransport() transport.Websocket {
	limit := int64(wsReadLimit)
	return transport.Websocket{
		Implementation: wsAccept{transport.CoderWebsocketImplementation{AcceptOptions: websocket.AcceptOptions{
			OriginPatterns: s.cfg.WebsocketOrigins,
		}}},
		InitFunc:    s.wsInit,
		InitTimeout: wsInitTimeout,
		// Pings come from one goroutine for all connections (see
		// pingWebsockets), not from a goroutine and a ticker for each.
		PayloadReadLimit: &limit,
		ErrorFunc: func(ctx context.Context, err error) {
			s.logger.DebugContext(ctx, "websocket", "err", err)
		},
	}
}

// withWebsocket prepares an upgrade request for the websocket transport
// and keeps its connection in the server's set while it is open.
func (s *Server) withWebsocket(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &wsConn{authorization: r.Header.Get("Authorization")}
		s.wsMu.Lock()
		s.wsConns[c] = struct{}{}
		if !s.wsPinging {
			s.wsPinging = true
			go s.pingWebsockets()
		}
		s.wsMu.Unlock()
		defer func() {
			s.wsMu.Lock()
			delete(s.wsConns, c)
			s.wsMu.Unlock()
		}()
		next.ServeHTTP(&upgradeWriter{ResponseWriter: w}, r.WithContext(context.WithValue(r.Context(), wsConnKey{}, c)))
	})
}

// upgradeWriter keeps the first answer to a refused upgrade (coder's 403
// for a foreign origin, say) rather than gqlgen's generic 400 after it.
type upgradeWriter struct {
	http.ResponseWriter
	answered bool
}

func (u *upgradeWriter) WriteHeader(code int) {
	if !u.answered {
		u.answered = true
		u.ResponseWriter.WriteHeader(code)
	}
}

func (u *upgradeWriter) Write(p []byte) (int, error) {
	if u.answered {
		return len(p), nil
	}
	u.answered = true
	return u.ResponseWriter.Write(p)
}

func (u *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(u.ResponseWriter).Hijack()
}

// pingWebsockets keeps the open connections alive while there are any:
// every wsPingInterval it sends graphql-transport-ws connections a ping,
// which they must answer within two intervals (gqlgen clears the read
// deadline on the pong) or be cut, and graphql-ws connections a keep-alive.
func (s *Server) pingWebsockets() {
	t := time.NewTicker(wsPingInterval)
	defer t.Stop()
	for range t.C {
		s.wsMu.Lock()
		if len(s.wsConns) == 0 {
			s.wsPinging = false
			s.wsMu.Unlock()
			return
		}
		conns := make([]*wsConn, 0, len(s.wsConns))
		for c := range s.wsConns {
			conns = append(conns, c)
		}
		s.wsMu.Unlock()
		for _, c := range conns {
			c.ping()
		}
	}
}

var (
	wsPing      = map[string]string{"type": "ping"}
	wsKeepAlive = map[string]string{"type": "ka"}
)

func (c *wsConn) ping() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return
	}
	msg := wsKeepAlive
	if conn.Subprotocol() == "graphql-transport-ws" {
		msg = wsPing
		if d, ok := conn.(transport.WebsocketReadDeadliner); ok {
			_ = d.SetReadDeadline(time.Now().Add(2 * wsPingInterval))
		}
	}
	// Writes are safe beside gqlgen's (coder/websocket serialises them);
	// a peer that does not read blocks only this write until the deadline
	// cuts it.
	go func() { _ = conn.WriteJSON(msg) }()
}

// CloseWebsockets closes every open websocket with 1001 (going away), so
// that clients reconnect to another replica; http.Server's Shutdown and
// Close leave such hijacked connections alone.
func (s *Server) CloseWebsockets() {
	s.wsMu.Lock()
	conns := make([]*wsConn, 0, len(s.wsConns))
	for c := range s.wsConns {
		conns = append(conns, c)
	}
	s.wsMu.Unlock()
	for _, c := range conns {
		c.closeWith(int(websocket.StatusGoingAway), "the server is shutting down")
	}
}

// wsInit authenticates a connection with the key in connectionParams
// ("authorization": "Bearer sk_…") or the upgrade's Authorization header:
// without a valid key it is closed with 4401. While it is open, a change of
// the key's rights (on any server) closes it with 4403 within seconds.
func (s *Server) wsInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	c := wsConnFrom(ctx)
	if c == nil {
		return transport.WithWebsocketCloseCode(ctx, CloseUnauthorized), nil, errors.New("no connection")
	}
	h := payload.Authorization()
	if h == "" {
		h = c.authorization
	}
	scheme, key, _ := strings.Cut(strings.TrimSpace(h), " ")
	key = strings.TrimSpace(key)
	if !strings.EqualFold(scheme, "Bearer") || key == "" {
		ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, CloseUnauthorized), "unauthorized")
		return ctx, nil, errors.New(`send the API key as connectionParams {"authorization": "Bearer sk_…"}`)
	}
	p, err := s.media.Authenticate(ctx, key)
	switch {
	case media.ErrorCode(err) == media.EUNAUTHENTICATED:
		ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, CloseUnauthorized), "unauthorized")
		return ctx, nil, errors.New(media.ErrorMessage(err))
	case err != nil:
		s.logger.WarnContext(ctx, "websocket authentication", "err", err)
		ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, CloseUnavailable), "unavailable")
		return ctx, nil, errors.New("keys cannot be checked now; retry")
	}
	ctx = media.WithPrincipal(ctx, p)
	s.media.Watch(ctx, key, p, func() { c.closeWith(CloseForbidden, "forbidden: the key's rights changed") })
	return ctx, nil, nil
}

// isSubscription reports whether ctx's operation is a subscription.
// Transport errors (a body that is not JSON) are dispatched before there
// is an operation, and GetOperationContext would panic on them.
func isSubscription(ctx context.Context) bool {
	return operationIs(ctx, ast.Subscription)
}

// operationIs reports whether ctx's operation is of kind op.
func operationIs(ctx context.Context, op ast.Operation) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	oc := graphql.GetOperationContext(ctx)
	return oc.Operation != nil && oc.Operation.Operation == op
}

// limitSubscriptions caps the subscriptions one connection runs at once.
func (s *Server) limitSubscriptions(ctx context.Context) (context.Context, *graphql.Response) {
	c := wsConnFrom(ctx)
	if c == nil {
		return ctx, &graphql.Response{Errors: gqlerror.List{{Message: "subscriptions run over a websocket (graphql-transport-ws) on GET /graphql",
			Extensions: map[string]any{"code": media.EINVALID}}}}
	}
	if int(c.subs.Add(1)) > s.cfg.MaxSubscriptions {
		c.subs.Add(-1)
		return ctx, &graphql.Response{Errors: gqlerror.List{{
			Message:    "this connection already runs the most subscriptions it may; complete one or open another connection",
			Extensions: map[string]any{"code": "SUBSCRIPTION_LIMIT_EXCEEDED"}}}}
	}
	context.AfterFunc(ctx, func() { c.subs.Add(-1) })
	return ctx, nil
}
