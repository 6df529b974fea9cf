// Package server is mediagraph's HTTP surface: /graphql, the playground,
// the blob route of the disk backend, health, readiness and metrics.
package server

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/trace"

	"github.com/mediagraph/mediagraph/auth"
	"github.com/mediagraph/mediagraph/graph"
	"github.com/mediagraph/mediagraph/loader"
	"github.com/mediagraph/mediagraph/media"
	"github.com/mediagraph/mediagraph/resolvers"
)

// Config holds the HTTP limits.
type Config struct {
	// Dev turns on the playground and introspection.
	Dev bool
	// MaxBodyBytes caps a JSON request body (base64 uploads included).
	MaxBodyBytes int64
	// MaxUploadBytes caps a whole multipart request.
	MaxUploadBytes int64
	// MaxUploadMemory: multipart requests smaller than this are buffered in
	// memory by gqlgen; larger ones spill each file to a temporary file.
	MaxUploadMemory int64
	// MaxUploadFiles caps the files in one multipart request.
	MaxUploadFiles int
	// MaxBufferedBytes bounds the request bodies held in memory at once
	// across all requests (JSON bodies, multipart requests under
	// MaxUploadMemory, and the head of larger ones), counted as they
	// arrive. An eighth of it is kept for clients holding little (ordinary
	// queries); one client may hold a quarter of the rest (at least one
	// request of either limit, the budget growing to fit it). Reads wait
	// up to BodyWait for room, then the request is refused as busy (503).
	MaxBufferedBytes int64
	BodyWait         time.Duration
	// MaxBodiesPerClient caps the requests one client sends bodies for at
	// once (bodies not read to their end); more are refused (503) and
	// their connections closed.
	MaxBodiesPerClient int
	// TrustedProxies are the addresses of reverse proxies: for a request
	// from one, the client is the right-most address of X-Forwarded-For
	// that is not a trusted proxy (otherwise the connection's address).
	TrustedProxies []netip.Prefix
	// BodyIdleTimeout cuts a request whose body stops arriving for that long.
	BodyIdleTimeout time.Duration
	// ComplexityLimit caps the fields an operation would resolve (a list's
	// fields count once per element; see costLimit).
	ComplexityLimit int
	// DepthLimit caps how deeply fields nest.
	DepthLimit int
	// TokenLimit caps the tokens the parser reads from one query.
	TokenLimit int
	// QueryCacheBytes bounds the memory of cached parsed queries (and, an
	// eighth of it, of persisted queries).
	QueryCacheBytes int64
	// LoaderWait is how long dataloaders collect keys before a batch.
	LoaderWait time.Duration
	// MetricsPublic serves /metrics to anyone; MetricsToken, if set, to
	// requests with "Authorization: Bearer TOKEN" only. Neither: no /metrics.
	MetricsPublic bool
	MetricsToken  string
	// WebsocketOrigins are the origins (host patterns, as coder/websocket
	// reads them) besides the server's own from which browsers may open
	// subscriptions.
	WebsocketOrigins []string
	// MaxSubscriptions caps the subscriptions one websocket runs at once.
	MaxSubscriptions int
}

// DefaultConfig returns production defaults.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:       16 << 20,
		MaxUploadBytes:     110 << 20,
		MaxUploadMemory:    8 << 20,
		MaxUploadFiles:     20,
		MaxBufferedBytes:   64 << 20,
		BodyWait:           10 * time.Second,
		BodyIdleTimeout:    15 * time.Second,
		MaxBodiesPerClient: DefaultMaxBodiesPerClient,
		ComplexityLimit:    20000,
		DepthLimit:         12,
		TokenLimit:         15000,
		QueryCacheBytes:    32 << 20,
		LoaderWait:         loader.DefaultWait,
		MaxSubscriptions:   32,
	}
}

// Server routes HTTP requests.
type Server struct {
	cfg    Config
	media  *media.Service
	logger *slog.Logger
	mux    *http.ServeMux
	// budget meters the request bodies held in memory.
	budget *bodyBudget
	// wsConns are the open websocket connections.
	wsMu      sync.Mutex
	wsConns   map[*wsConn]struct{}
	wsPinging bool
	// transfers counts uploads and downloads; tracer is nil when tracing
	// is off.
	transfers *transferMetrics
	tracer    trace.TracerProvider
}

// Options are the optional handlers a Server mounts.
type Options struct {
	// Blobs serves /_blob/ (presigned URLs of the disk backend), if set.
	Blobs http.Handler
	// Playground serves / in dev mode, if set.
	Playground http.Handler
	// Registry collects metrics; a new one (with Go and process metrics) if nil.
	Registry *prometheus.Registry
	// TracerProvider, if set, traces requests, GraphQL operations and
	// resolvers (see tracing.go); nil leaves tracing out altogether.
	TracerProvider trace.TracerProvider
}

// New returns a Server for svc.
func New(svc *media.Service, cfg Config, logger *slog.Logger, opts Options) *Server {
	largest := max(cfg.MaxBodyBytes, cfg.MaxUploadMemory)
	total := max(cfg.MaxBufferedBytes, largest)
	perClient := max(largest, (total-total/8)/4)
	s := &Server{cfg: cfg, media: svc, logger: logger, mux: http.NewServeMux(), wsConns: map[*wsConn]struct{}{},
		budget: newBodyBudget(total, perClient, cfg.MaxBodiesPerClient, cfg.BodyWait, cfg.BodyIdleTimeout, cfg.TrustedProxies)}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediagraph_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "mediagraph_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route"})
	reg.MustRegister(requests, duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediagraph_request_body_bytes", Help: "Request body bytes held in memory (the body budget in use).",
		}, func() float64 { held, _ := s.budget.usage(); return float64(held) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediagraph_request_bodies", Help: "Request bodies being received (not read to their end).",
		}, func() float64 { _, n := s.budget.usage(); return float64(n) }))
	s.transfers = newTransferMetrics(reg)
	s.tracer = opts.TracerProvider
	measure := func(route string, h http.Handler) http.Handler {
		return promhttp.InstrumentHandlerCounter(requests.MustCurryWith(prometheus.Labels{"route": route}),
			promhttp.InstrumentHandlerDuration(duration.MustCurryWith(prometheus.Labels{"route": route}), h))
	}
	instrument := func(route string, h http.Handler) http.Handler {
		h = measure(route, h)
		if s.tracer != nil {
			h = traceHTTP(s.tracer, h)
		}
		return h
	}

	gql := s.graphQL()
	h := instrument("graphql", auth.Middleware(svc, s.writeError, s.guardGraphQL(gql)))
	ws := measure("graphql_ws", s.withWebsocket(gql))
	s.mux.Handle("/graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebsocket(r) {
			ws.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	s.mux.Handle("GET /files/{id}/{name}", instrument("files",
		s.transfers.countDownloads("files", auth.Optional(svc, http.HandlerFunc(s.serveFile)))))
	s.mux.Handle("GET /files/{id}/thumbnail/{box}", instrument("thumbnails",
		s.transfers.countDownloads("thumbnails", auth.Optional(svc, http.HandlerFunc(s.serveThumbnail)))))
	s.mux.Handle("GET /files/{id}/variant/{spec}", instrument("variants",
		s.transfers.countDownloads("variants", auth.Optional(svc, http.HandlerFunc(s.serveVariant)))))
	if opts.Blobs != nil {
		s.mux.Handle("/_blob/", instrument("blob", opts.Blobs))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := svc.Ready(ctx); err != nil {
			logger.WarnContext(ctx, "not ready", "err", err)
			http.Error(w, "not ready: "+media.ErrorMessage(err), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{}); cfg.MetricsToken != "" {
		s.mux.Handle("GET /metrics", bearer(cfg.MetricsToken, metrics))
	} else if cfg.MetricsPublic {
		s.mux.Handle("GET /metrics", metrics)
	}
	if cfg.Dev && opts.Playground != nil {
		// "/" without a method: "GET /" would conflict with "/_blob/".
		s.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			opts.Playground.ServeHTTP(w, r)
		}))
	}
	return s
}

// bearer serves h only to requests that carry the token.
func bearer(token string, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			http.Error(w, "metrics need the metrics token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	withRequestID(s.mux).ServeHTTP(w, r)
}

func (s *Server) graphQL() http.Handler {
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{Media: s.media}})
	srv := handler.New(es)
	srv.AddTransport(s.websocketTransport())
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.AddTransport(uploadTransport{readAhead: transport.MultipartForm{MaxUploadSize: s.cfg.MaxUploadBytes, MaxMemory: s.cfg.MaxUploadMemory},
		maxMemory: s.cfg.MaxUploadMemory, tokenLimit: s.cfg.TokenLimit})
	// Documents are cached once they passed the limits and validation,
	// within a budget of bytes, not of entries.
	docs := newDocCache(s.cfg.QueryCacheBytes)
	srv.SetQueryCache(docs)
	srv.SetParserTokenLimit(s.cfg.TokenLimit)
	srv.SetDisableSuggestion(true)
	if s.cfg.Dev {
		srv.Use(extension.Introspection{})
	}
	// Persisted queries first: they fill in the query the limits then see.
	srv.Use(extension.AutomaticPersistedQuery{Cache: newAPQCache(s.cfg.QueryCacheBytes / 8)})
	srv.Use(costLimit{schema: es.Schema(), maxNodes: int64(s.cfg.ComplexityLimit), maxDepth: s.cfg.DepthLimit,
		tokenLimit: s.cfg.TokenLimit, cache: docs})
	srv.SetErrorPresenter(presenter(s.logger))
	srv.SetRecoverFunc(recoverFunc)
	if s.tracer != nil {
		srv.Use(graphQLTracing{tracer: s.tracer.Tracer("github.com/mediagraph/mediagraph/server")})
	}
	srv.AroundFields(s.resolveField)
	// Loaders are made per operation, and for subscriptions per event, so
	// nothing is answered from an earlier operation's or event's cache.
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if isSubscription(ctx) {
			ctx, refused := s.limitSubscriptions(ctx)
			if refused != nil {
				return graphql.OneShot(refused)
			}
			return next(ctx) // loaders are made per event (below)
		}
		l := loader.New(s.media, s.cfg.LoaderWait)
		if operationIs(ctx, ast.Query) {
			l.PrimeCaller(ctx)
		}
		return next(loader.With(ctx, l))
	})
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		if isSubscription(ctx) {
			ctx = loader.With(ctx, loader.New(s.media, s.cfg.LoaderWait))
		}
		return next(ctx)
	})
	return srv
}
