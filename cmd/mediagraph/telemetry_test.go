package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/mediagraph/mediagraph/server"
)

// traced runs fn on each backend against a server whose spans go to an
// in-memory exporter.
func traced(t *testing.T, fn func(t *testing.T, e *env, spans *tracetest.InMemoryExporter)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			e := start(t, b, func(c *Config) { c.spanExporter = exp })
			t.Cleanup(e.checkInvariants)
			fn(t, e, exp)
		})
	}
}

// sendUpload uploads a file in a multipart request and returns the
// response's request id.
func sendUpload(t *testing.T, e *env, bucket string, f upload) string {
	t.Helper()
	query := strings.Replace(uploadMutation, "mutation(", "mutation Upload(", 1)
	ct, body := multipartBody(query, map[string]any{"input": map[string]any{"bucket": bucket, "file": nil}},
		map[string]upload{"0": f}, map[string][]string{"0": {"variables.input.file"}})
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+e.owner)
	req.Header.Set("Apollo-Require-Preflight", "true")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || bytes.Contains(raw, []byte(`"errors"`)) {
		t.Fatalf("upload: %d %s", res.StatusCode, raw)
	}
	id := res.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id")
	}
	return id
}

// spanTree is the spans of one request, by id.
type spanTree struct {
	spans    []tracetest.SpanStub
	children map[trace.SpanID][]tracetest.SpanStub
}

// requestSpans waits for the spans of the request with id rid, the HTTP
// server span last among them, and indexes them.
func requestSpans(t *testing.T, exp *tracetest.InMemoryExporter, rid string) *spanTree {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var mine []tracetest.SpanStub
		root := false
		for _, s := range exp.GetSpans() {
			for _, a := range s.Attributes {
				if string(a.Key) == server.RequestIDAttribute && a.Value.AsString() == rid {
					mine = append(mine, s)
					root = root || s.SpanKind == trace.SpanKindServer
				}
			}
		}
		if root {
			tr := &spanTree{spans: mine, children: map[trace.SpanID][]tracetest.SpanStub{}}
			for _, s := range mine {
				tr.children[s.Parent.SpanID()] = append(tr.children[s.Parent.SpanID()], s)
			}
			return tr
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server span for request %s among %d spans", rid, len(exp.GetSpans()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// child returns the one child of parent named name.
func (tr *spanTree) child(t *testing.T, parent tracetest.SpanStub, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	var names []string
	for _, c := range tr.children[parent.SpanContext.SpanID()] {
		names = append(names, c.Name)
		if c.Name == name {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%q has %d children named %q; its children: %v", parent.Name, len(found), name, names)
	}
	return found[0]
}

// under returns the names of the spans below parent, at any depth, of the
// instrumentation scope named scope ("" for any).
func (tr *spanTree) under(parent tracetest.SpanStub, scope string) []string {
	var out []string
	for _, c := range tr.children[parent.SpanContext.SpanID()] {
		if scope == "" || c.InstrumentationScope.Name == scope {
			out = append(out, c.Name)
		}
		out = append(out, tr.under(c, scope)...)
	}
	return out
}

func has(names []string, want string) bool {
	for _, n := range names {
		if n == want {
			return true
		}
	}
	return false
}

const (
	bunScope = "github.com/uptrace/bun"
	awsScope = "go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-sdk-go-v2/otelaws"
)

// One upload is one trace: the HTTP request, the GraphQL operation, the
// uploadFile resolver, and beneath it the phases of the upload with the
// SQL queries and storage calls each made (and on S3 the S3 API calls of
// those), every span carrying the request id.
func TestTracingUploadSpanTree(t *testing.T) {
	traced(t, func(t *testing.T, e *env, exp *tracetest.InMemoryExporter) {
		e.createBucket(e.owner, map[string]any{"name": "traced"})
		exp.Reset()
		rid := sendUpload(t, e, "traced", upload{"photo.png", "image/png", pngBytes(40, 30)})
		tr := requestSpans(t, exp, rid)

		var root tracetest.SpanStub
		for _, s := range tr.spans {
			if s.SpanKind == trace.SpanKindServer {
				root = s
			}
		}
		if root.Parent.IsValid() {
			t.Errorf("the HTTP span has a parent: %v", root.Parent)
		}
		if root.Name != "POST /graphql" {
			t.Errorf("HTTP span named %q", root.Name)
		}
		op := tr.child(t, root, "mutation Upload")
		field := tr.child(t, op, "Mutation.uploadFile")
		store := tr.child(t, field, "upload.store")
		analyze := tr.child(t, field, "upload.analyze")
		commit := tr.child(t, field, "upload.commit")
		if !(store.EndTime.Before(analyze.StartTime) || store.EndTime.Equal(analyze.StartTime)) ||
			analyze.EndTime.After(commit.StartTime) {
			t.Errorf("phases overlap: store %v–%v, analyze %v–%v, commit %v", store.StartTime, store.EndTime,
				analyze.StartTime, analyze.EndTime, commit.StartTime)
		}
		// The pending blob row, then its bytes.
		if sql := tr.under(store, bunScope); !has(sql, "INSERT") {
			t.Errorf("no INSERT under upload.store: %v", sql)
		}
		put := tr.child(t, store, "storage.put")
		if reads := tr.under(analyze, ""); !has(reads, "storage.get") {
			t.Errorf("analysis read nothing from storage: %v", reads)
		}
		if sql := tr.under(commit, bunScope); !has(sql, "INSERT") || !has(sql, "UPDATE") {
			t.Errorf("the commit's queries: %v", sql)
		}
		// Authentication happens before GraphQL, under the HTTP span.
		if sql := tr.under(root, bunScope); len(sql) < 4 {
			t.Errorf("SQL spans in the request: %v", sql)
		}
		s3 := tr.under(root, awsScope)
		if e.m.Config.DatabaseURL[:8] == "postgres" {
			if calls := tr.under(put, awsScope); !has(calls, "S3.PutObject") {
				t.Errorf("no S3.PutObject under storage.put: %v", calls)
			}
			if calls := tr.under(analyze, awsScope); !has(calls, "S3.GetObject") {
				t.Errorf("no S3.GetObject under upload.analyze: %v", calls)
			}
		} else if len(s3) > 0 {
			t.Errorf("S3 spans on disk storage: %v", s3)
		}
		for _, s := range tr.spans {
			if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
				t.Errorf("span %q is in another trace", s.Name)
			}
		}
		// Every span of the trace carries the request id (requestSpans
		// found them by it): none of the trace is without it.
		var ofTrace int
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID() == root.SpanContext.TraceID() {
				ofTrace++
			}
		}
		if ofTrace != len(tr.spans) {
			t.Errorf("%d spans in the trace, %d with the request id", ofTrace, len(tr.spans))
		}
	})
}

// A request that carries a traceparent header continues the caller's trace.
func TestTracingContinuesTraceparent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	e := start(t, backends[0], func(c *Config) { c.spanExporter = exp })
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(`{"query":"{ viewer { organization { name } } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.owner)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	tr := requestSpans(t, exp, res.Header.Get("X-Request-Id"))
	for _, s := range tr.spans {
		if got := s.SpanContext.TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("span %q in trace %s", s.Name, got)
		}
	}
	if !has(namesOf(tr.spans), "Query.viewer") {
		t.Errorf("no resolver span: %v", namesOf(tr.spans))
	}
}

func namesOf(spans []tracetest.SpanStub) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// metricLine matches a sample of the text exposition format.
var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// sample is one series of /metrics.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func scrape(t *testing.T, e *env) []sample {
	t.Helper()
	res, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out []sample
	for _, line := range strings.Split(string(raw), "\n") {
		m := metricLine.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(line, "#") {
			continue
		}
		s := sample{name: m[1], labels: map[string]string{}}
		for _, l := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[l[1]] = l[2]
		}
		s.value, _ = strconv.ParseFloat(m[3], 64)
		out = append(out, s)
	}
	return out
}

// value returns the sample named name with exactly these labels, or -1.
func value(samples []sample, name string, labels map[string]string) float64 {
	for _, s := range samples {
		if s.name != name || len(s.labels) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && s.labels[k] == v
		}
		if match {
			return s.value
		}
	}
	return -1
}

// After uploads on each route and downloads, /metrics has the series of
// uploads (bytes, duration, outcome by route), downloads (bytes and count
// by status), storage calls, the connection pool and the sweeper, and no
// label of any mediagraph series holds an id.
func TestMetricsSeries(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "m", "allowedMimeTypes": []string{"image/*"}})
		png := pngBytes(20, 10)
		f := e.mustUpload(e.owner, "m", upload{"a.png", "image/png", png}, nil)
		if r := e.upload(e.owner, "m", upload{"a.txt", "text/plain", []byte("hello")}, nil); r.code() != "UNSUPPORTED_MEDIA_TYPE" {
			t.Fatalf("text into an image bucket: %s", r.raw)
		}
		e.ok(e.owner, `mutation($i: UploadFileBase64Input!) { uploadFileBase64(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"bucket": "m", "name": "b.png", "mimeType": "image/png", "data": base64.StdEncoding.EncodeToString(pngBytes(3, 3))}})
		u := e.ok(e.owner, `query($id: ID!) { file(id: $id) { url } }`, map[string]any{"id": f["id"]})["file"].(map[string]any)["url"].(string)
		get := func(u, rangeHeader string) int {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("Authorization", "Bearer "+e.owner)
			if rangeHeader != "" {
				req.Header.Set("Range", rangeHeader)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res.StatusCode
		}
		if s := get(u, ""); s != 200 {
			t.Fatalf("download: %d", s)
		}
		if s := get(u, "bytes=0-9"); s != 206 {
			t.Fatalf("ranged download: %d", s)
		}
		if s := get(e.url+"/files/file_nope/x.png", ""); s != 404 {
			t.Fatalf("missing file: %d", s)
		}
		e.m.sweep(context.Background())

		ms := scrape(t, e)
		want := []struct {
			name   string
			labels map[string]string
			value  float64 // -2: any value present
		}{
			{"mediagraph_uploads_total", map[string]string{"route": "multipart", "outcome": "ok"}, 1},
			{"mediagraph_uploads_total", map[string]string{"route": "multipart", "outcome": "UNSUPPORTED_MEDIA_TYPE"}, 1},
			{"mediagraph_uploads_total", map[string]string{"route": "base64", "outcome": "ok"}, 1},
			{"mediagraph_upload_bytes_total", map[string]string{"route": "multipart"}, float64(len(png))},
			{"mediagraph_upload_duration_seconds_count", map[string]string{"route": "multipart"}, 2},
			{"mediagraph_upload_duration_seconds_count", map[string]string{"route": "base64"}, 1},
			{"mediagraph_downloads_total", map[string]string{"route": "files", "status": "200"}, 1},
			{"mediagraph_downloads_total", map[string]string{"route": "files", "status": "206"}, 1},
			{"mediagraph_downloads_total", map[string]string{"route": "files", "status": "404"}, 1},
			{"mediagraph_download_bytes_total", map[string]string{"route": "files", "status": "200"}, float64(len(png))},
			{"mediagraph_download_bytes_total", map[string]string{"route": "files", "status": "206"}, 10},
			{"mediagraph_storage_operations_total", map[string]string{"operation": "put", "outcome": "ok"}, 2},
			{"mediagraph_storage_operation_duration_seconds_count", map[string]string{"operation": "put"}, 2},
			{"mediagraph_storage_operations_total", map[string]string{"operation": "get", "outcome": "ok"}, -2},
			{"mediagraph_storage_operations_total", map[string]string{"operation": "list", "outcome": "ok"}, -2},
			{"mediagraph_sweeps_total", map[string]string{"outcome": "ran"}, 1},
			{"mediagraph_sweep_duration_seconds_count", map[string]string{}, 1},
			{"mediagraph_sweep_purged_files_total", map[string]string{}, 0},
			{"mediagraph_sweep_abandoned_blobs_total", map[string]string{}, 0},
			{"mediagraph_sweep_expired_sessions_total", map[string]string{}, 0},
			{"mediagraph_sweep_stray_uploads_total", map[string]string{}, 0},
			{"mediagraph_blobs_missing", map[string]string{}, 0},
			{"mediagraph_http_requests_total", map[string]string{"route": "files", "code": "200"}, 1},
			{"go_sql_open_connections", map[string]string{"db_name": e.m.DB.Dialect()}, -2},
			{"go_sql_max_open_connections", map[string]string{"db_name": e.m.DB.Dialect()}, -2},
			{"go_sql_wait_count_total", map[string]string{"db_name": e.m.DB.Dialect()}, -2},
		}
		for _, w := range want {
			got := value(ms, w.name, w.labels)
			switch {
			case got == -1:
				t.Errorf("no series %s%v", w.name, w.labels)
			case w.value != -2 && got != w.value:
				t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
			}
		}
		if v := value(ms, "mediagraph_sweep_last_run_timestamp_seconds", map[string]string{}); v < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("last sweep at %v", v)
		}
		if v := value(ms, "go_sql_max_open_connections", map[string]string{"db_name": "sqlite"}); v != -1 && v != 1 {
			t.Errorf("SQLite pool of %v connections", v)
		}
		// Bounded labels: no id, key or name of anything in a label value.
		ids := regexp.MustCompile(`_[0-9a-z]{26}$|\.png|/`)
		for _, s := range ms {
			if !strings.HasPrefix(s.name, "mediagraph_") {
				continue
			}
			for k, v := range s.labels {
				if ids.MatchString(v) || strings.Contains(v, string(e.org.ID)) {
					t.Errorf("%s has label %s=%q", s.name, k, v)
				}
			}
		}
	})
}

// Without OTEL_EXPORTER_OTLP_ENDPOINT no tracer provider is installed: the
// global one stays OpenTelemetry's no-op default and the server has none.
// With it, spans of requests reach the collector over OTLP/HTTP, and an
// endpoint or protocol the exporter cannot use refuses to start.
func TestTracingFromEnvironment(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
		e := start(t, backends[0])
		if e.m.Tracing != nil {
			t.Error("a tracer provider without an endpoint")
		}
		e.mustUpload(e.owner, mustBucket(e), upload{"a.png", "image/png", pngBytes(4, 4)}, nil)
		if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
			t.Error("the global tracer provider is an SDK one")
		}
		_, span := otel.Tracer("test").Start(context.Background(), "probe")
		if span.IsRecording() || span.SpanContext().IsValid() {
			t.Error("the global tracer provider records spans")
		}
		span.End()
	})
	t.Run("refused", func(t *testing.T) {
		for env, v := range map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT":        "collector:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://collector",
		} {
			t.Run(env, func(t *testing.T) {
				t.Setenv(env, v)
				if err := migrateIn(t.TempDir()); err == nil || !strings.Contains(err.Error(), env) {
					t.Errorf("%s=%s: %v", env, v, err)
				}
			})
		}
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
		t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
		if err := migrateIn(t.TempDir()); err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
			t.Errorf("grpc: %v", err)
		}
	})
	t.Run("otlp", func(t *testing.T) {
		var mu sync.Mutex
		var names []string
		var service string
		collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var req collectortrace.ExportTraceServiceRequest
			if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
				http.Error(w, "bad export", http.StatusBadRequest)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, rs := range req.ResourceSpans {
				for _, a := range rs.Resource.Attributes {
					if a.Key == "service.name" {
						service = a.Value.GetStringValue()
					}
				}
				for _, ss := range rs.ScopeSpans {
					for _, s := range ss.Spans {
						names = append(names, s.Name)
					}
				}
			}
			w.Header().Set("Content-Type", "application/x-protobuf")
			out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
			_, _ = w.Write(out)
		}))
		defer collector.Close()
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
		t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
		e := start(t, backends[0])
		if e.m.Tracing == nil {
			t.Fatal("no tracer provider with an endpoint")
		}
		if otel.GetTracerProvider() != trace.TracerProvider(e.m.Tracing) {
			t.Error("the SDK provider is not the global one")
		}
		e.ok(e.owner, `query Who { viewer { organization { name } } }`, nil)
		if err := e.m.Tracing.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, want := range []string{"POST /graphql", "query Who", "Query.viewer", "SELECT"} {
			if !has(names, want) {
				t.Errorf("no %q span exported: %v", want, names)
			}
		}
		if service != "mediagraph" {
			t.Errorf("service.name %q", service)
		}
	})
}

// migrateIn runs `mediagraph migrate` on an embedded database in dir.
func migrateIn(dir string) error {
	return run(context.Background(), []string{"migrate", "-data-dir", dir, "-dev", "false"}, io.Discard, io.Discard)
}

// mustBucket makes a bucket and returns its name.
func mustBucket(e *env) string {
	name := uniqueName("b")
	e.createBucket(e.owner, map[string]any{"name": name})
	return name
}
