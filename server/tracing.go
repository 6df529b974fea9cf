package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mediagraph/mediagraph/media"
)

// Tracing is on when Options.TracerProvider is set, and then there is:
//
//   - a span per HTTP request (otelhttp; websockets excepted, they live for
//     hours), continuing a trace the client's traceparent header started;
//   - a span per GraphQL operation ("mutation UploadPhoto"), subscriptions
//     excepted;
//   - a span per resolver (Mutation.uploadFile, File.bucket) that is a root
//     field or outside any list, so their number follows the document, not
//     the data — the queries of resolvers inside lists show up under
//     whichever span their batch started in;
//   - and, from the other packages, spans of upload phases, SQL queries and
//     storage calls beneath those.
//
// Off, none of it is installed and requests take the path they took
// before tracing existed.

// RequestIDAttribute is the span attribute that carries the request id
// (X-Request-Id) on every span started inside a request.
const RequestIDAttribute = "mediagraph.request_id"

// RequestIDSpans returns the span processor that puts the id of the
// request a span is started in on the span (RequestIDAttribute); tracer
// providers of the server include it, so spans of libraries (SQL, S3) get
// it too.
func RequestIDSpans() sdktrace.SpanProcessor { return requestIDSpans{} }

type requestIDSpans struct{}

func (requestIDSpans) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) {
	if id := RequestID(parent); id != "" {
		s.SetAttributes(attribute.String(RequestIDAttribute, id))
	}
}
func (requestIDSpans) OnEnd(sdktrace.ReadOnlySpan)      {}
func (requestIDSpans) Shutdown(context.Context) error   { return nil }
func (requestIDSpans) ForceFlush(context.Context) error { return nil }

// LogHandler returns h with the request's id (request_id) and, when the
// request is traced, its trace id (trace_id) added to every record logged
// with the request's context.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}

// traceHTTP returns h with a span per request, named by the route's
// pattern ("GET /files/{id}/{name}").
func traceHTTP(tp trace.TracerProvider, h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, "", otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		// The server's metrics are Prometheus'; otelhttp's stay off.
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
}

// graphQLTracing is the gqlgen extension that makes the operation and
// resolver spans.
type graphQLTracing struct{ tracer trace.Tracer }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.FieldInterceptor
} = graphQLTracing{}

func (graphQLTracing) ExtensionName() string                          { return "Tracing" }
func (graphQLTracing) Validate(schema graphql.ExecutableSchema) error { return nil }

func (t graphQLTracing) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
		return next(ctx)
	}
	kind := string(oc.Operation.Operation)
	name := kind
	attrs := []attribute.KeyValue{attribute.String("graphql.operation.type", kind)}
	if oc.Operation.Name != "" {
		name += " " + oc.Operation.Name
		attrs = append(attrs, attribute.String("graphql.operation.name", oc.Operation.Name))
	}
	ctx, span := t.tracer.Start(ctx, name, trace.WithAttributes(attrs...))
	respond := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := respond(ctx)
		if resp != nil {
			for _, e := range resp.Errors {
				if c, _ := e.Extensions["code"].(string); c == media.EINTERNAL || c == media.EUNAVAILABLE {
					span.SetStatus(codes.Error, c)
					break
				}
			}
			if len(resp.Errors) > 0 {
				span.SetAttributes(attribute.Int("graphql.errors", len(resp.Errors)))
			}
		}
		span.End()
		return resp
	}
}

func (t graphQLTracing) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !fc.IsResolver || inList(fc) {
		return next(ctx)
	}
	if oc := graphql.GetOperationContext(ctx); oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		return next(ctx) // events are delivered outside any request
	}
	ctx, span := t.tracer.Start(ctx, fc.Object+"."+fc.Field.Name, trace.WithAttributes(
		attribute.String("graphql.field.path", fc.Path().String())))
	res, err := next(ctx)
	if err != nil {
		code := media.ErrorCode(err)
		var ie internalError
		if errors.As(err, &ie) {
			code = media.EINTERNAL
		}
		span.SetAttributes(attribute.String("error.type", code))
		if code == media.EINTERNAL || code == media.EUNAVAILABLE {
			span.RecordError(err)
			span.SetStatus(codes.Error, code)
		}
	}
	span.End()
	return res, err
}

// inList reports whether a field is resolved once per element of a list.
func inList(fc *graphql.FieldContext) bool {
	for p := fc.Parent; p != nil; p = p.Parent {
		if p.Index != nil {
			return true
		}
	}
	return false
}
