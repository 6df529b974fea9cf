package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/internal/testenv"
)

// streamingUpload is a multipart GraphQL upload of size bytes made by fill
// into bucket, to the server at base with key, streamed (the client never
// holds the file).
func streamingUpload(base, key, bucket, name string, size int64, fill func(w io.Writer)) *http.Request {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	ops := `{"query":"mutation($f: Upload!) { uploadFile(input: {bucket: \"` + bucket + `\", name: \"` + name + `\", file: $f}) { id size } }","variables":{"f":null}}`
	_ = mw.WriteField("operations", ops)
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="0"; filename="`+name+`"`)
	h.Set("Content-Type", "application/octet-stream")
	_, _ = mw.CreatePart(h)
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(head.Bytes())
		fill(pw)
		_, _ = io.WriteString(pw, tail)
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", pr)
	req.ContentLength = int64(head.Len()) + size + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Apollo-Require-Preflight", "true")
	req.Header.Set("Authorization", "Bearer "+key)
	return req
}

func (e *env) streamUpload(name string, size int64, fill func(w io.Writer)) *resp {
	e.t.Helper()
	return e.send(streamingUpload(e.url, e.owner, "mem", name, size, fill))
}

// TestUploadMemoryIsBounded uploads many large files at once and checks
// that the heap does not grow with their size or number (each streams from
// its request to storage through small buffers), and that none goes
// through a temporary file.
func TestUploadMemoryIsBounded(t *testing.T) {
	testenv.VersityGW(t) // started before TMPDIR changes: it outlives this test
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "mem"})
		// Warm up the server's pools and the SDK once.
		e.streamUpload("warm.bin", 2<<20, func(w io.Writer) { pattern(w, 2<<20, 1) })
		const files, size = 8, 24 << 20
		runtime.GC()
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(sample)
		base := sample[0].Value.Uint64()
		var peak, tmpPeak atomic.Int64
		done := make(chan struct{})
		go func() {
			s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			for {
				metrics.Read(s)
				if v := int64(s[0].Value.Uint64()) - int64(base); v > peak.Load() {
					peak.Store(v)
				}
				if n := dirSize(tmp); n > tmpPeak.Load() {
					tmpPeak.Store(n)
				}
				select {
				case <-done:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		}()
		var wg sync.WaitGroup
		for i := range files {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.streamUpload(fmt.Sprintf("f%d.bin", i), size, func(w io.Writer) { pattern(w, size, uint64(10+i)) })
				if len(r.Errors) > 0 {
					t.Errorf("upload %d: %s", i, r.raw)
				}
			}()
		}
		wg.Wait()
		close(done)
		// Each upload's copy and hash buffers are small, and S3 gets one
		// streamed PUT per file. Buffering whole parts (8 MiB each, as
		// streams of unknown length without a size hint need) would
		// exceed this by far.
		const bound = 40 << 20
		t.Logf("%d × %d MiB uploads at once: heap grew by at most %.1f MiB; temporary files peaked at %.0f MiB",
			files, size>>20, float64(peak.Load())/(1<<20), float64(tmpPeak.Load())/(1<<20))
		if peak.Load() > bound {
			t.Errorf("heap grew by %.1f MiB during the uploads; the bound is %d MiB", float64(peak.Load())/(1<<20), bound>>20)
		}
		if tmpPeak.Load() != 0 || dirSize(tmp) != 0 {
			t.Errorf("streamed uploads went through temporary files (%d bytes at the peak)", tmpPeak.Load())
		}
	})
}

// pattern writes n bytes that differ for every seed (no dedupe, no
// compression), 1 MiB at a time.
func pattern(w io.Writer, n int64, seed uint64) {
	buf := make([]byte, 1<<20)
	for off := int64(0); off < n; off += int64(len(buf)) {
		fillPattern(buf, seed, uint64(off))
		_, _ = w.Write(buf[:min(int64(len(buf)), n-off)])
	}
}

func fillPattern(buf []byte, seed, off uint64) {
	for i := 0; i+8 <= len(buf); i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], (seed<<40)^(off+uint64(i))*0x9E3779B97F4A7C15)
	}
}

// dirSize sums the temporary files uploads are set aside in (by gqlgen,
// for requests read ahead, or by the server's own transport) in dir.
func dirSize(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, d := range entries {
		if fi, err := d.Info(); err == nil && !d.IsDir() && (strings.HasPrefix(d.Name(), "gqlgen-") || strings.HasPrefix(d.Name(), "mediagraph-upload-")) {
			n += fi.Size()
		}
	}
	return n
}
