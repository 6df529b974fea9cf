package main

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mediagraph/mediagraph/server"
)

// Tracing is configured by the standard OpenTelemetry variables: with
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set,
// spans are exported over OTLP/HTTP, and the exporter, sampler, batching
// and resource read the rest of OTEL_* themselves (headers, timeout,
// compression, OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES). Without an endpoint nothing is installed: the
// global tracer provider stays OpenTelemetry's no-op one and no part of
// the server is wrapped for tracing.

// otlpEndpoint returns the configured OTLP endpoint for traces, or "" when
// tracing is off. An endpoint or protocol the exporter could not use is an
// error, so a typo does not silently lose every trace.
func otlpEndpoint() (string, error) {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") ||
		strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")) == "none" {
		return "", nil
	}
	name := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	endpoint := strings.TrimSpace(os.Getenv(name))
	if endpoint == "" {
		name = "OTEL_EXPORTER_OTLP_ENDPOINT"
		endpoint = strings.TrimSpace(os.Getenv(name))
	}
	if endpoint == "" {
		return "", nil
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s must be an http:// or https:// URL (such as http://collector:4318), not %q", name, endpoint)
	}
	if e := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); e != "" && e != "otlp" {
		return "", fmt.Errorf("OTEL_TRACES_EXPORTER must be otlp or none, not %q", e)
	}
	proto := cmp.Or(strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")), strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")))
	if proto != "" && proto != "http/protobuf" {
		return "", fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf (OTLP over HTTP, port 4318), not %q", proto)
	}
	return endpoint, nil
}

// openTracing sets up the tracer provider: the test's exporter if the
// configuration has one, else OTLP when the environment names an
// endpoint, else none.
func (m *Main) openTracing(ctx context.Context) error {
	exp, fromEnv := m.Config.spanExporter, false
	if exp == nil {
		endpoint, err := otlpEndpoint()
		if err != nil || endpoint == "" {
			return err
		}
		if exp, err = otlptracehttp.New(ctx); err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
		fromEnv = true
		m.Logger.Info("tracing", "exporter", "otlp", "endpoint", endpoint)
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", "mediagraph")),
		resource.WithFromEnv()) // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	if err != nil {
		return fmt.Errorf("tracing: resource: %w", err)
	}
	export := sdktrace.WithBatcher(exp)
	if !fromEnv {
		export = sdktrace.WithSyncer(exp) // a test reads spans as soon as they end
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(server.RequestIDSpans()), export)
	m.Tracing = tp
	if fromEnv {
		// For any library that asks the globals.
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(propagation.TraceContext{})
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			m.Logger.Warn("tracing", "err", err)
		}))
	}
	return nil
}

// closeTracing exports the spans still buffered.
func (m *Main) closeTracing() {
	if m.Tracing == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Tracing.Shutdown(ctx); err != nil {
		m.Logger.Warn("tracing: flushing spans", "err", err)
	}
}
