package server

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/mediagraph/mediagraph/media"
)

// FuzzMultipartHead: whatever the body, the head check answers a coded
// error or nothing, never panics, and hands gqlgen the body unchanged.
func FuzzMultipartHead(f *testing.F) {
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"query\":\"{ viewer { role } }\"}\r\n--B\r\n" +
		"Content-Disposition: form-data; name=\"map\"\r\n\r\n{\"0\":[\"variables.f\"]}\r\n--B\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a\"\r\n\r\nxyz\r\n--B--\r\n"))
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{}\r\n--B--\r\n"))
	f.Add([]byte("--B\r\n\r\n--B--"))
	s := &Server{cfg: DefaultConfig()}
	s.cfg.MaxBodyBytes = 4 << 10
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/graphql", bytes.NewReader(body))
		err := s.checkMultipartHead(r, "B")
		if err != nil {
			if c := media.ErrorCode(err); c != media.EINVALID && c != media.ETOOLARGE {
				t.Fatalf("%v", err)
			}
			return
		}
		rest, _ := io.ReadAll(r.Body)
		if !bytes.Equal(rest, body) {
			t.Fatal("the body handed on differs from the one sent")
		}
	})
}

// FuzzCostLimit: any document is costed without panicking, in one walk
// of its selection sets.
func FuzzCostLimit(f *testing.F) {
	f.Add("{ files(first: 10) { nodes { id bucket { name } } } }")
	f.Add(exponentialFragments(8))
	f.Add("query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
	f.Add("{ __schema { types { fields { type { ofType { name } } } } } }")
	c := testLimit()
	f.Fuzz(func(t *testing.T, q string) {
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, 2000)
		if err != nil {
			return
		}
		_, w := c.check(doc, map[string]any{"n": 5.0})
		if sets := strings.Count(q, "{"); w.steps > sets {
			t.Fatalf("walked %d selection sets of a document with %d", w.steps, sets)
		}
	})
}
