package server

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Lines logged with a request's context carry its request id and, when it
// is traced, the trace id; others carry neither.
func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewTextHandler(&buf, nil))).With("part", "test")
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(RequestIDSpans()), sdktrace.WithSyncer(exp))

	ctx := context.WithValue(context.Background(), requestIDKey{}, "req123")
	ctx, span := tp.Tracer("t").Start(ctx, "op")
	log.InfoContext(ctx, "inside")
	span.End()
	log.InfoContext(context.Background(), "outside")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log: %q", buf.String())
	}
	want := "request_id=req123 trace_id=" + span.SpanContext().TraceID().String()
	if !strings.Contains(lines[0], want) || !strings.Contains(lines[0], "part=test") {
		t.Errorf("line of the request: %s; want %s", lines[0], want)
	}
	if strings.Contains(lines[1], "request_id") || strings.Contains(lines[1], "trace_id") {
		t.Errorf("line outside a request: %s", lines[1])
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || len(spans[0].Attributes) != 1 || spans[0].Attributes[0].Value.AsString() != "req123" {
		t.Errorf("span attributes: %v", spans)
	}
}
