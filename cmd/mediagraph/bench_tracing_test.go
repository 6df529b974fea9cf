package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestBenchTracingOverhead measures what tracing costs a hot request, a
// page of 25 files (with their tags and signed URLs) served in-process (no network), as a Go
// benchmark (testing.Benchmark) on each backend, in three set-ups:
//
//   - off: no OTLP endpoint, as a server runs by default — nothing
//     installed, the global provider OpenTelemetry's no-op one;
//   - unsampled: every instrumentation installed with an SDK provider
//     that samples nothing (OTEL_TRACES_SAMPLER=always_off);
//   - on: every span recorded and handed to an exporter that drops it.
//
// Each runs five times, alternating; the median is reported.
func TestBenchTracingOverhead(t *testing.T) {
	benchOnly(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { benchTracing(t, b) })
	}
}

func benchTracing(t *testing.T, be backend) {
	const query = `{"query":"{ files(bucket: \"hot\", first: 25) { edges { node { id name size mimeType tags url } } pageInfo { endCursor } } }"}`
	type setup struct {
		name    string
		sampler string
		export  bool
		e       *env
		runs    []testing.BenchmarkResult
	}
	setups := []*setup{{name: "off"}, {name: "unsampled", sampler: "always_off", export: true}, {name: "on", sampler: "always_on", export: true}}
	for _, s := range setups {
		t.Setenv("OTEL_TRACES_SAMPLER", s.sampler)
		s.e = start(t, be, func(c *Config) {
			if s.export {
				c.spanExporter = tracetest.NewNoopExporter()
			}
		})
		if (s.e.m.Tracing != nil) != s.export {
			t.Fatalf("%s: tracing %v", s.name, s.e.m.Tracing != nil)
		}
		s.e.createBucket(s.e.owner, map[string]any{"name": "hot"})
		for i := range 25 {
			s.e.ok(s.e.owner, `mutation($i: UploadFileBase64Input!) { uploadFileBase64(input: $i) { id } }`,
				map[string]any{"i": map[string]any{"bucket": "hot", "name": fmt.Sprintf("f%d.png", i), "mimeType": "image/png",
					"tags": []string{"a", "b"}, "data": base64.StdEncoding.EncodeToString(pngBytes(i+1, 1))}})
		}
	}
	for round := 0; round < 5; round++ {
		for _, s := range setups {
			h, key := s.e.m.HTTP.Handler, s.e.owner
			r := testing.Benchmark(func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(query))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+key)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 || strings.Contains(w.Body.String(), `"errors"`) {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
			s.runs = append(s.runs, r)
		}
	}
	base := 0.0
	for _, s := range setups {
		slices.SortFunc(s.runs, func(a, b testing.BenchmarkResult) int { return int(a.NsPerOp() - b.NsPerOp()) })
		med := s.runs[len(s.runs)/2]
		ns := float64(med.NsPerOp())
		if base == 0 {
			base = ns
		}
		var all []string
		for _, r := range s.runs {
			all = append(all, time.Duration(r.NsPerOp()).Round(time.Microsecond).String())
		}
		t.Logf("%-9s %s/op (%+.1f %%), %d allocs/op, %d B/op; runs %s", s.name,
			time.Duration(med.NsPerOp()).Round(time.Microsecond), 100*(ns-base)/base, med.AllocsPerOp(), med.AllocedBytesPerOp(),
			fmt.Sprint(all))
	}
}
