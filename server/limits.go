package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

// preflightHeaders are the headers that prove a multipart request was made
// by script (a browser form cannot set them), which defeats CSRF.
var preflightHeaders = []string{"Apollo-Require-Preflight", "X-Apollo-Operation-Name", "GraphQL-Require-Preflight"}

// guardGraphQL checks a /graphql request before gqlgen sees it: the body
// size, and for multipart requests the CSRF preflight header, a declared
// Content-Length, the size of the operations and map parts, and the number
// of files. Request bodies are read under the body budget (see bodyBudget).
// Malformed requests get a 4xx status and a coded error.
func (s *Server) guardGraphQL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flags := &requestFlags{}
		cw := &codeWriter{ResponseWriter: w, flags: flags, srv: s, req: r}
		if r.Method == http.MethodPost {
			body, err := s.budget.meter(w, r)
			if err != nil {
				// Refused before a byte of the body is read: the
				// connection is closed rather than drained.
				w.Header().Set("Connection", "close")
				w.Header().Set("Retry-After", "1")
				_ = http.NewResponseController(w).SetReadDeadline(time.Now())
				s.writeError(w, r, media.Errorf(media.EUNAVAILABLE, "%s; retry", err.Error()))
				return
			}
			defer body.release()
			cw.meter = body
			mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mt != "multipart/form-data" {
				if r.ContentLength > s.cfg.MaxBodyBytes {
					s.tooLarge(w, r, s.cfg.MaxBodyBytes)
					return
				}
				cw.limited = &limitedBody{r: r.Body, n: s.cfg.MaxBodyBytes, limit: s.cfg.MaxBodyBytes}
				r.Body = cw.limited
			} else {
				switch {
				case !hasPreflight(r):
					s.writeError(w, r, media.Invalid("", "multipart requests need a preflight header: Apollo-Require-Preflight: true (CSRF protection)"))
					return
				case r.ContentLength < 0:
					s.writeStatus(w, r, http.StatusLengthRequired, media.Invalid("", "multipart requests need a Content-Length header"))
					return
				case r.ContentLength > s.cfg.MaxUploadBytes:
					s.tooLarge(w, r, s.cfg.MaxUploadBytes)
					return
				}
				if err := s.checkMultipartHead(r, params["boundary"]); err != nil {
					if !cw.answerBody() {
						s.writeError(w, r, err)
					}
					return
				}
				if r.ContentLength >= s.cfg.MaxUploadMemory {
					// gqlgen spills this request's files to temporary
					// files: only the head read so far stays in memory.
					body.stopMetering()
				}
			}
		}
		next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), flagsKey{}, flags)))
		cw.finish()
	})
}

func hasPreflight(r *http.Request) bool {
	for _, h := range preflightHeaders {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

// maxOperationsBytes and maxMapBytes cap the operations and map parts of
// a multipart request: they hold the query, variables and file paths; the
// files come in their own parts.
const (
	maxOperationsBytes = 1 << 20
	maxMapBytes        = 64 << 10
)

func (s *Server) tooLarge(w http.ResponseWriter, r *http.Request, limit int64) {
	s.writeError(w, r, media.Errorf(media.ETOOLARGE, "the request body is larger than %d bytes", limit))
}

// checkMultipartHead reads the operations and map parts (which the spec puts
// first), checks them, and puts the bytes it read back in front of the body.
func (s *Server) checkMultipartHead(r *http.Request, boundary string) error {
	if boundary == "" {
		return media.Invalid("", "the multipart request has no boundary")
	}
	var seen bytes.Buffer
	opsLimit := min(s.cfg.MaxBodyBytes, maxOperationsBytes)
	mr := multipart.NewReader(io.TeeReader(io.LimitReader(r.Body, opsLimit+maxMapBytes+64<<10), &seen), boundary)
	defer func() {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(seen.Bytes()), r.Body), r.Body}
	}()

	part, err := mr.NextPart()
	if err != nil || part.FormName() != "operations" {
		return media.Invalid("operations", "the first part of a multipart request must be operations")
	}
	ops, err := io.ReadAll(io.LimitReader(part, opsLimit+1))
	if err != nil || int64(len(ops)) > opsLimit {
		return media.Errorf(media.ETOOLARGE, "the operations part is larger than %d bytes", opsLimit)
	}
	if !json.Valid(ops) {
		return media.Invalid("operations", "the operations part is not valid JSON")
	}
	part, err = mr.NextPart()
	if err != nil || part.FormName() != "map" {
		return media.Invalid("map", "the second part of a multipart request must be map")
	}
	raw, err := io.ReadAll(io.LimitReader(part, maxMapBytes+1))
	if err != nil || len(raw) > maxMapBytes {
		return media.Invalid("map", "the map part could not be read, or is larger than %d bytes", maxMapBytes)
	}
	var m map[string][]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return media.Invalid("map", `the map part must be a JSON object of file keys to lists of paths, such as {"0": ["variables.input.file"]}`)
	}
	if len(m) > s.cfg.MaxUploadFiles {
		return media.Errorf(media.ETOOLARGE, "a request may carry at most %d files", s.cfg.MaxUploadFiles)
	}
	for key, paths := range m {
		if len(paths) == 0 {
			return media.Invalid("map", "map entry %q lists no paths", key)
		}
		for _, p := range paths {
			if !strings.HasPrefix(p, "variables.") {
				return media.Invalid("map", "map entry %q must point into variables", key)
			}
		}
	}
	return nil
}

// limitedBody is http.MaxBytesReader that remembers whether it tripped.
type limitedBody struct {
	r       io.ReadCloser
	n       int64 // bytes left
	limit   int64
	tripped bool
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n <= 0 {
		l.tripped = true
		return 0, errors.New("request body too large")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.n {
		l.tripped = true
		return int(l.n), errors.New("request body too large")
	}
	l.n -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error { return l.r.Close() }

// codeWriter adds extensions.code to the transport errors gqlgen writes
// itself (a body that is not JSON, a bad multipart form), which have a 4xx
// status but no code; turns an oversized body into 413; and gives a 422 to
// requests that failed as a whole on the client's input (validation,
// variables, limits), which gqlgen answers with 200 on some paths.
type codeWriter struct {
	http.ResponseWriter
	srv     *Server
	req     *http.Request
	limited *limitedBody // JSON bodies
	meter   *meteredBody // POST bodies
	flags   *requestFlags
	status  int
	buf     *bytes.Buffer
	written bool
}

// requestFlags records, through the error presenter, what kinds of errors
// a request produced.
type requestFlags struct {
	userInput atomic.Bool // gqlgen refused the client's input
	resolver  atomic.Bool // a resolver returned an error
}

type flagsKey struct{}

func flagsFrom(ctx context.Context) *requestFlags {
	f, _ := ctx.Value(flagsKey{}).(*requestFlags)
	return f
}

func (c *codeWriter) WriteHeader(status int) {
	if c.written || c.buf != nil {
		return
	}
	if c.limited != nil && c.limited.tripped {
		status = http.StatusRequestEntityTooLarge
	} else if status == http.StatusOK && c.flags != nil && c.flags.userInput.Load() && !c.flags.resolver.Load() {
		status = http.StatusUnprocessableEntity
	}
	c.status = status
	if status >= 400 {
		c.buf = &bytes.Buffer{}
		return
	}
	c.ResponseWriter.WriteHeader(status)
	c.written = true
}

func (c *codeWriter) Write(p []byte) (int, error) {
	if !c.written && c.buf == nil {
		c.WriteHeader(http.StatusOK)
	}
	if c.buf != nil {
		return c.buf.Write(p)
	}
	return c.ResponseWriter.Write(p)
}

func (c *codeWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok && c.buf == nil {
		f.Flush()
	}
}

func (c *codeWriter) finish() {
	if c.buf == nil {
		return
	}
	c.Header().Del("Content-Length")
	if c.answerBody() {
		return
	}
	if c.status == http.StatusRequestEntityTooLarge && c.limited != nil && c.limited.tripped {
		c.srv.tooLarge(c.ResponseWriter, c.req, c.limited.limit)
		return
	}
	var resp struct {
		Errors []map[string]any `json:"errors"`
		Data   any              `json:"data,omitempty"`
	}
	if err := json.Unmarshal(c.buf.Bytes(), &resp); err == nil && len(resp.Errors) > 0 {
		code := media.EINVALID
		if c.status == http.StatusRequestEntityTooLarge {
			code = media.ETOOLARGE
		}
		changed := false
		for _, e := range resp.Errors {
			ext, _ := e["extensions"].(map[string]any)
			if ext == nil {
				e["extensions"] = map[string]any{"code": code}
				changed = true
			}
		}
		if changed {
			b, _ := json.Marshal(resp)
			c.ResponseWriter.WriteHeader(c.status)
			_, _ = c.ResponseWriter.Write(b)
			return
		}
	}
	c.ResponseWriter.WriteHeader(c.status)
	_, _ = c.ResponseWriter.Write(c.buf.Bytes())
}

// answerBody answers a request whose body could not be read in full
// because the server had no room for it (503, retry) or the client stopped
// sending (408), and reports whether it did.
func (c *codeWriter) answerBody() bool {
	if c.meter == nil {
		return false
	}
	switch busy, stalled := c.meter.state(); {
	case busy:
		c.srv.writeError(c.ResponseWriter, c.req, media.Errorf(media.EUNAVAILABLE, "the server is busy; retry"))
	case stalled:
		c.srv.writeStatus(c.ResponseWriter, c.req, http.StatusRequestTimeout, media.Invalid("", "the request body stopped arriving"))
	default:
		return false
	}
	return true
}
