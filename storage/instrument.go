package storage

import (
	"context"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mediagraph/mediagraph/media"
)

// Instrument returns b with every call counted and timed in reg:
//
//	mediagraph_storage_operations_total{operation, outcome}
//	mediagraph_storage_operation_duration_seconds{operation}
//
// operation is the method (put, get, stat, delete, list, create_multipart,
// presign_part, list_parts, complete_multipart, abort_multipart,
// list_multipart, ping, open_seeker) and outcome "ok" or the error code, so
// the series are bounded whatever the keys. A get is timed until the
// object is open, not until it is read. With a tracer, each call is also
// a span ("storage.put", …) that the S3 API calls it makes nest under.
// The result is a media.Seeker when b is one.
func Instrument(b media.Blobs, reg prometheus.Registerer, tracer trace.Tracer) media.Blobs {
	m := &instrumented{b: b, tracer: tracer,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mediagraph_storage_operations_total",
			Help: "Object store calls by operation and outcome (ok or the error code)."}, []string{"operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mediagraph_storage_operation_duration_seconds",
			Help:    "Object store call latency by operation (a get until the object is open).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18)}, []string{"operation"}),
	}
	reg.MustRegister(m.calls, m.duration)
	if sk, ok := b.(media.Seeker); ok {
		return &instrumentedSeeker{instrumented: m, sk: sk}
	}
	return m
}

type instrumented struct {
	b        media.Blobs
	tracer   trace.Tracer
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

var _ media.Blobs = (*instrumented)(nil)

// start begins a call of op on key; the function it returns ends it.
func (m *instrumented) start(ctx context.Context, op, key string) (context.Context, func(error)) {
	t0 := time.Now()
	var span trace.Span
	if m.tracer != nil {
		ctx, span = m.tracer.Start(ctx, "storage."+op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("storage.operation", op), attribute.String("storage.key", key)))
	}
	return ctx, func(err error) {
		outcome := "ok"
		if err != nil {
			outcome = media.ErrorCode(err)
		}
		m.calls.WithLabelValues(op, outcome).Inc()
		m.duration.WithLabelValues(op).Observe(time.Since(t0).Seconds())
		if span == nil {
			return
		}
		if err != nil {
			span.SetAttributes(attribute.String("error.type", outcome))
			if outcome != media.ENOTFOUND {
				span.RecordError(err)
				span.SetStatus(codes.Error, media.ErrorMessage(err))
			}
		}
		span.End()
	}
}

func (m *instrumented) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	ctx, end := m.start(ctx, "put", key)
	err := m.b.Put(ctx, key, r, size, contentType)
	end(err)
	return err
}

func (m *instrumented) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	ctx, end := m.start(ctx, "get", key)
	rc, err := m.b.Get(ctx, key, offset, length)
	end(err)
	return rc, err
}

func (m *instrumented) Stat(ctx context.Context, key string) (media.BlobInfo, error) {
	ctx, end := m.start(ctx, "stat", key)
	info, err := m.b.Stat(ctx, key)
	end(err)
	return info, err
}

func (m *instrumented) Delete(ctx context.Context, key string) error {
	ctx, end := m.start(ctx, "delete", key)
	err := m.b.Delete(ctx, key)
	end(err)
	return err
}

func (m *instrumented) List(ctx context.Context, prefix string, fn func(media.BlobInfo) error) error {
	ctx, end := m.start(ctx, "list", prefix)
	err := m.b.List(ctx, prefix, fn)
	end(err)
	return err
}

func (m *instrumented) CreateMultipart(ctx context.Context, key, contentType string) (string, error) {
	ctx, end := m.start(ctx, "create_multipart", key)
	id, err := m.b.CreateMultipart(ctx, key, contentType)
	end(err)
	return id, err
}

func (m *instrumented) PresignPart(ctx context.Context, key, uploadID string, number int, size int64, expires time.Duration) (string, error) {
	ctx, end := m.start(ctx, "presign_part", key)
	u, err := m.b.PresignPart(ctx, key, uploadID, number, size, expires)
	end(err)
	return u, err
}

func (m *instrumented) ListParts(ctx context.Context, key, uploadID string) ([]media.Part, error) {
	ctx, end := m.start(ctx, "list_parts", key)
	ps, err := m.b.ListParts(ctx, key, uploadID)
	end(err)
	return ps, err
}

func (m *instrumented) CompleteMultipart(ctx context.Context, key, uploadID string, parts []media.Part) error {
	ctx, end := m.start(ctx, "complete_multipart", key)
	err := m.b.CompleteMultipart(ctx, key, uploadID, parts)
	end(err)
	return err
}

func (m *instrumented) AbortMultipart(ctx context.Context, key, uploadID string) error {
	ctx, end := m.start(ctx, "abort_multipart", key)
	err := m.b.AbortMultipart(ctx, key, uploadID)
	end(err)
	return err
}

func (m *instrumented) ListMultipart(ctx context.Context, prefix string, fn func(media.MultipartInfo) error) error {
	ctx, end := m.start(ctx, "list_multipart", prefix)
	err := m.b.ListMultipart(ctx, prefix, fn)
	end(err)
	return err
}

func (m *instrumented) Ping(ctx context.Context) error {
	ctx, end := m.start(ctx, "ping", "")
	err := m.b.Ping(ctx)
	end(err)
	return err
}

// instrumentedSeeker is an instrumented store that hands out seekable
// files (the disk store).
type instrumentedSeeker struct {
	*instrumented
	sk media.Seeker
}

func (m *instrumentedSeeker) OpenSeeker(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	ctx, end := m.start(ctx, "open_seeker", key)
	f, err := m.sk.OpenSeeker(ctx, key)
	end(err)
	return f, err
}
