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
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/mediagraph/mediagraph/media"
)

// preflightHeaders are the headers that prove a multipart request was made
// by script (a browser form cannot set them), which defeats CSRF.
var preflightHeaders = []string{"Apollo-Require-Preflight", "X-Apollo-Operation-Name", "GraphQL-Require-Preflight"}

// guardGraphQL checks a /graphql request before gqlgen sees it: the body
// size, and for multipart requests the CSRF preflight header, a declared
// Content-Length, the size of the operations and map parts, and the number
// of files. Malformed requests get a 4xx status and a coded error.
func (s *Server) guardGraphQL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			flags := &requestFlags{}
			cw := &codeWriter{ResponseWriter: w, flags: flags}
			next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), flagsKey{}, flags)))
			cw.finish()
			return
		}
		mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "multipart/form-data" {
			if r.ContentLength > s.cfg.MaxBodyBytes {
				s.tooLarge(w, r, s.cfg.MaxBodyBytes)
				return
			}
			held := r.ContentLength
			if held < 0 {
				held = s.cfg.MaxBodyBytes
			}
			if !s.holdMemory(w, r, held) {
				return
			}
			defer s.buffered.Release(held)
			body := &limitedBody{r: r.Body, n: s.cfg.MaxBodyBytes, limit: s.cfg.MaxBodyBytes}
			r.Body = body
			flags := &requestFlags{}
			cw := &codeWriter{ResponseWriter: w, body: body, flags: flags, tooLarge: func() { s.tooLarge(w, r, body.limit) }}
			next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), flagsKey{}, flags)))
			cw.finish()
			return
		}
		if !hasPreflight(r) {
			s.writeError(w, r, media.Invalid("", "multipart requests need a preflight header: Apollo-Require-Preflight: true (CSRF protection)"))
			return
		}
		if r.ContentLength < 0 {
			s.writeStatus(w, r, http.StatusLengthRequired, media.Invalid("", "multipart requests need a Content-Length header"))
			return
		}
		if r.ContentLength > s.cfg.MaxUploadBytes {
			s.tooLarge(w, r, s.cfg.MaxUploadBytes)
			return
		}
		if err := s.checkMultipartHead(r, params["boundary"]); err != nil {
			s.writeError(w, r, err)
			return
		}
		if r.ContentLength < s.cfg.MaxUploadMemory {
			// gqlgen buffers this request's files in memory.
			if !s.holdMemory(w, r, r.ContentLength) {
				return
			}
			defer s.buffered.Release(r.ContentLength)
		}
		flags := &requestFlags{}
		cw := &codeWriter{ResponseWriter: w, flags: flags}
		next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), flagsKey{}, flags)))
		cw.finish()
	})
}

// holdMemory waits until n more bytes of request bodies may be held in
// memory; false means the client went away first (nothing to answer).
func (s *Server) holdMemory(w http.ResponseWriter, r *http.Request, n int64) bool {
	if err := s.buffered.Acquire(r.Context(), n); err != nil {
		s.writeError(w, r, media.Errorf(media.EUNAVAILABLE, "the server is busy; retry"))
		return false
	}
	return true
}

func hasPreflight(r *http.Request) bool {
	for _, h := range preflightHeaders {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

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
	mr := multipart.NewReader(io.TeeReader(io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1<<20), &seen), boundary)
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
	ops, err := io.ReadAll(io.LimitReader(part, s.cfg.MaxBodyBytes+1))
	if err != nil || int64(len(ops)) > s.cfg.MaxBodyBytes {
		return media.Errorf(media.ETOOLARGE, "the operations part is larger than %d bytes", s.cfg.MaxBodyBytes)
	}
	if !json.Valid(ops) {
		return media.Invalid("operations", "the operations part is not valid JSON")
	}
	part, err = mr.NextPart()
	if err != nil || part.FormName() != "map" {
		return media.Invalid("map", "the second part of a multipart request must be map")
	}
	raw, err := io.ReadAll(io.LimitReader(part, 1<<20))
	if err != nil {
		return media.Invalid("map", "the map part could not be read")
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
	body     *limitedBody
	tooLarge func() // answers 413 for a body over its limit
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
	if c.body != nil && c.body.tripped {
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
	if c.status == http.StatusRequestEntityTooLarge && c.body != nil && c.body.tripped {
		c.Header().Del("Content-Length")
		c.tooLarge()
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
			c.Header().Del("Content-Length")
			c.ResponseWriter.WriteHeader(c.status)
			_, _ = c.ResponseWriter.Write(b)
			return
		}
	}
	c.ResponseWriter.WriteHeader(c.status)
	_, _ = c.ResponseWriter.Write(c.buf.Bytes())
}

const errDepthLimit = "DEPTH_LIMIT_EXCEEDED"

func init() { errcode.RegisterErrorType(errDepthLimit, errcode.KindProtocol) }

// depthLimit refuses operations nested deeper than max fields.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                          { return "DepthLimit" }
func (depthLimit) Validate(schema graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if depth(oc.Operation.SelectionSet, oc.Doc.Fragments, 0, d.max) > d.max {
		err := &gqlerror.Error{Message: "the operation is nested deeper than " + strconv.Itoa(d.max) + " levels"}
		errcode.Set(err, errDepthLimit)
		return err
	}
	return nil
}

func depth(set ast.SelectionSet, frags ast.FragmentDefinitionList, level, limit int) int {
	if level > limit {
		return level // deep enough to refuse; stop walking
	}
	deepest := level
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.SelectionSet) == 0 {
				d = level + 1
			} else {
				d = depth(s.SelectionSet, frags, level+1, limit)
			}
		case *ast.InlineFragment:
			d = depth(s.SelectionSet, frags, level, limit)
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil {
				d = depth(f.SelectionSet, frags, level, limit)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}
