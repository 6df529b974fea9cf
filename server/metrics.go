package server

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediagraph/mediagraph/media"
)

// uploadRoutes are the mutations that upload bytes, by the route the
// bytes take: in a multipart request, in base64 in JSON, or straight to
// storage through an upload session.
var uploadRoutes = map[string]string{
	"uploadFile":            "multipart",
	"uploadFiles":           "multipart",
	"replaceFileContent":    "multipart",
	"uploadFileBase64":      "base64",
	"completeUploadSession": "session",
}

// transferMetrics counts uploads and downloads. Labels are routes,
// outcomes (error codes) and HTTP statuses only, so the series are few
// whatever the traffic.
type transferMetrics struct {
	uploads       *prometheus.CounterVec
	uploadBytes   *prometheus.CounterVec
	uploadSeconds *prometheus.HistogramVec
	downloads     *prometheus.CounterVec
	downloadBytes *prometheus.CounterVec
}

func newTransferMetrics(reg prometheus.Registerer) *transferMetrics {
	m := &transferMetrics{
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mediagraph_uploads_total",
			Help: "Upload mutations by route (multipart, base64, session) and outcome (ok or the error code)."},
			[]string{"route", "outcome"}),
		uploadBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mediagraph_upload_bytes_total",
			Help: "Bytes of the files successful upload mutations made, by route."}, []string{"route"}),
		uploadSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mediagraph_upload_duration_seconds",
			Help:    "Time upload mutations took to store, analyse and commit, by route (for multipart, after the request body arrived).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"route"}),
		downloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mediagraph_downloads_total",
			Help: "Answers of the download routes (files, thumbnails) by HTTP status."}, []string{"route", "status"}),
		downloadBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mediagraph_download_bytes_total",
			Help: "Body bytes the download routes (files, thumbnails) sent, by HTTP status."}, []string{"route", "status"}),
	}
	reg.MustRegister(m.uploads, m.uploadBytes, m.uploadSeconds, m.downloads, m.downloadBytes)
	return m
}

// resolveField is the server's field middleware, the one (each further
// field middleware costs an allocation per field resolved): it marks
// uncoded resolver errors INTERNAL (markInternal) and counts and times the
// upload mutations.
func (s *Server) resolveField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Object != "Mutation" {
		return markInternal(ctx, next)
	}
	route, ok := uploadRoutes[fc.Field.Name]
	if !ok {
		return markInternal(ctx, next)
	}
	start := time.Now()
	res, err := markInternal(ctx, next)
	s.transfers.uploaded(route, time.Since(start), res, err)
	return res, err
}

// uploaded records an upload mutation that took d and returned res, err.
func (m *transferMetrics) uploaded(route string, d time.Duration, res any, err error) {
	m.uploadSeconds.WithLabelValues(route).Observe(d.Seconds())
	if err != nil {
		m.uploads.WithLabelValues(route, media.ErrorCode(err)).Inc()
		return
	}
	var size int64
	switch v := res.(type) {
	case *media.File:
		size = v.Size
	case []*media.File:
		for _, f := range v {
			size += f.Size
		}
	}
	m.uploads.WithLabelValues(route, "ok").Inc()
	m.uploadBytes.WithLabelValues(route).Add(float64(size))
}

// countDownloads returns h with its answers counted by status, and the
// bytes of their bodies.
func (m *transferMetrics) countDownloads(route string, h http.Handler) http.Handler {
	downloads, bytes := m.downloads.MustCurryWith(prometheus.Labels{"route": route}),
		m.downloadBytes.MustCurryWith(prometheus.Labels{"route": route})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		status := strconv.Itoa(statusOr200(cw.status))
		downloads.WithLabelValues(status).Inc()
		bytes.WithLabelValues(status).Add(float64(cw.n))
	})
}

func statusOr200(s int) int {
	if s == 0 {
		return http.StatusOK
	}
	return s
}

// countingWriter counts the body bytes written through it. It keeps
// io.ReaderFrom, so a file still goes out with sendfile.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
	}
	w.n += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
