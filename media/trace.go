package media

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Spans of the work an upload does, in this order: upload.store (sniff,
// checks, hash and stream the bytes to storage; upload.join and
// upload.verify for a session, whose bytes are stored already),
// upload.analyze, upload.commit. The Service speaks the OpenTelemetry trace
// API (an API, not an SDK: with no tracer set every call is a no-op), so
// the database and storage spans started under these nest beneath them.

// noopTracer is the Service's tracer until one is set.
var noopTracer = noop.NewTracerProvider().Tracer("")

// startSpan starts a span of the Service's work.
func (s *Service) startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	t := s.Tracer
	if t == nil {
		t = noopTracer
	}
	return t.Start(ctx, name, trace.WithAttributes(attrs...))
}

// endSpan ends a span with the outcome of its work: the error code in
// error.type, and an error status when the failure is the server's
// (INTERNAL, UNAVAILABLE) rather than the request's.
func endSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		code := ErrorCode(err)
		span.SetAttributes(attribute.String("error.type", code))
		if code == EINTERNAL || code == EUNAVAILABLE {
			span.RecordError(err)
			span.SetStatus(codes.Error, ErrorMessage(err))
		}
	}
	span.End()
}
