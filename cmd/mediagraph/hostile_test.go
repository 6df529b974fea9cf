package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

// TestHostileRequests sends malformed and abusive requests: each gets a
// coded error (a 4xx status where the request is malformed at the HTTP or
// multipart level), nothing is created, and the server keeps serving.
func TestHostileRequests(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		img := pngBytes(4, 4)
		preflight := http.Header{"Apollo-Require-Preflight": {"true"}}
		uploadVars := map[string]any{"input": map[string]any{"bucket": "b", "file": nil}}
		oneFile := map[string]upload{"0": {"a.png", "", img}}
		fileMap := map[string][]string{"0": {"variables.input.file"}}

		cases := []struct {
			name   string
			send   func() *resp
			status int
			code   string
		}{
			{"malformed JSON", func() *resp {
				return e.post(e.owner, "application/json", strings.NewReader(`{"query": "{ viewer { role } }"`), nil)
			}, 400, media.EINVALID},
			{"not GraphQL", func() *resp {
				return e.post(e.owner, "application/json", strings.NewReader(`{"query": "{ viewer { role "}`), nil)
			}, 422, media.EINVALID},
			{"multipart without preflight", func() *resp {
				ct, body := multipartBody(uploadMutation, uploadVars, oneFile, fileMap)
				return e.post(e.owner, ct, bytes.NewReader(body), nil)
			}, 400, media.EINVALID},
			{"multipart without Content-Length", func() *resp {
				ct, body := multipartBody(uploadMutation, uploadVars, oneFile, fileMap)
				req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", struct{ *bytes.Reader }{bytes.NewReader(body)})
				req.ContentLength = -1
				req.Header.Set("Content-Type", ct)
				req.Header.Set("Apollo-Require-Preflight", "true")
				req.Header.Set("Authorization", "Bearer "+e.owner)
				return e.send(req)
			}, 411, media.EINVALID},
			{"map pointing at a non-Upload variable", func() *resp {
				vars := map[string]any{"input": map[string]any{"bucket": "b", "file": nil, "name": "x.png"}}
				ct, body := multipartBody(uploadMutation, vars, oneFile, map[string][]string{"0": {"variables.input.name"}})
				return e.post(e.owner, ct, bytes.NewReader(body), preflight)
			}, 422, media.EINVALID},
			{"map pointing outside variables", func() *resp {
				ct, body := multipartBody(uploadMutation, uploadVars, oneFile, map[string][]string{"0": {"query"}})
				return e.post(e.owner, ct, bytes.NewReader(body), preflight)
			}, 400, media.EINVALID},
			{"map that is not JSON", func() *resp {
				ct, body := multipartBodyRaw(uploadMutation, uploadVars, `{"0": [`, img)
				return e.post(e.owner, ct, bytes.NewReader(body), preflight)
			}, 400, media.EINVALID},
			{"too many files", func() *resp {
				files, m := map[string]upload{}, map[string][]string{}
				var inputs []any
				for i := range 6 {
					k := fmt.Sprint(i)
					files[k] = upload{k + ".png", "", img}
					m[k] = []string{fmt.Sprintf("variables.inputs.%d.file", i)}
					inputs = append(inputs, map[string]any{"bucket": "b", "file": nil})
				}
				ct, body := multipartBody(`mutation($inputs: [UploadFileInput!]!) { uploadFiles(inputs: $inputs) { id } }`,
					map[string]any{"inputs": inputs}, files, m)
				return e.post(e.owner, ct, bytes.NewReader(body), preflight)
			}, 413, media.ETOOLARGE},
			{"oversized JSON body", func() *resp {
				big := `{"query": "{ viewer { role } }", "variables": {"x": "` + strings.Repeat("a", 5<<20) + `"}}`
				return e.post(e.owner, "application/json", strings.NewReader(big), nil)
			}, 413, media.ETOOLARGE},
			{"oversized body without Content-Length", func() *resp {
				big := `{"query": "{ viewer { role } }", "variables": {"x": "` + strings.Repeat("a", 5<<20) + `"}}`
				req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", struct{ *strings.Reader }{strings.NewReader(big)})
				req.ContentLength = -1
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+e.owner)
				return e.send(req)
			}, 413, media.ETOOLARGE},
			{"deep nesting", func() *resp {
				q := "{ files { nodes { bucket { files { nodes { bucket { files { nodes { bucket { files { nodes { bucket { files { nodes { id } } } } } } } } } } } } } } }"
				return e.do(e.owner, q, nil)
			}, 422, media.EINVALID},
			{"10,000 aliases", func() *resp {
				var sb strings.Builder
				sb.WriteString("{")
				for i := range 10000 {
					fmt.Fprintf(&sb, " a%d: viewer { role }", i)
				}
				sb.WriteString(" }")
				return e.do(e.owner, sb.String(), nil)
			}, 422, media.EINVALID},
			{"wrong argument type", func() *resp {
				return e.do(e.owner, `query($f: Int) { files(first: $f) { totalCount } }`, map[string]any{"f": "ten"})
			}, 422, media.EINVALID},
			{"unknown field", func() *resp {
				return e.do(e.owner, `{ viewer { password } }`, nil)
			}, 422, media.EINVALID},
			{"mutation over GET", func() *resp {
				req, _ := http.NewRequest(http.MethodGet, e.url+`/graphql?query=mutation{deleteBucket(name:"b")}`, nil)
				req.Header.Set("Authorization", "Bearer "+e.owner)
				return e.send(req)
			}, 406, media.EINVALID},
		}
		for _, c := range cases {
			r := c.send()
			if r.Status != c.status || r.code() != c.code {
				t.Errorf("%s: want %d %s, got %d %s", c.name, c.status, c.code, r.Status, r.raw)
			}
			if r.Status == 200 {
				t.Errorf("%s: answered 200", c.name)
			}
		}
		// The server still serves, nothing was created, and the bucket is still there.
		d := e.ok(e.owner, `{ files { totalCount } bucket(name: "b") { name } }`, nil)
		if d["files"].(map[string]any)["totalCount"] != float64(0) || len(e.objects()) != 0 {
			t.Fatalf("hostile requests created something: %v, %d objects", d, len(e.objects()))
		}
	})
}

// multipartBodyRaw builds a multipart body with a raw map part.
func multipartBodyRaw(query string, vars map[string]any, rawMap string, file []byte) (string, []byte) {
	ct, _ := multipartBody(query, vars, nil, nil)
	boundary := ct[strings.Index(ct, "boundary=")+len("boundary="):]
	var b bytes.Buffer
	ops := fmt.Sprintf(`{"query": %q, "variables": {"input": {"bucket": "b", "file": null}}}`, query)
	fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n%s\r\n", boundary, ops)
	fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n%s\r\n", boundary, rawMap)
	fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n", boundary)
	b.Write(file)
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return ct, b.Bytes()
}

func TestHealthAndMetrics(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		// Outside dev mode: no introspection, no playground, no hints about the schema.
		e.fails(media.EINVALID, e.owner, `{ __schema { queryType { name } } }`, nil)
		for _, q := range []string{`{ viewr { role } }`, `{ files(filter: {trashd: ONLY}) { totalCount } }`} {
			if r := e.do(e.owner, q, nil); strings.Contains(string(r.raw), "Did you mean") {
				t.Errorf("schema hint: %s", r.raw)
			}
		}
		for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/": 404} {
			res, err := http.Get(e.url + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("%s: %d, want %d", path, res.StatusCode, want)
			}
		}
	})
}

// TestNULAndControlCharacters: text the databases refuse never reaches them.
func TestNULAndControlCharacters(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		f := e.mustUpload(e.owner, "b", upload{"a.png", "", pngBytes(2, 2)}, nil)
		q := `mutation($id: ID!, $i: UpdateFileInput!) { updateFile(id: $id, input: $i) { id } }`
		for _, in := range []map[string]any{
			{"altText": "a\x00b"}, {"caption": "\x00"}, {"metadata": map[string]any{"k": "v\x00"}}, {"metadata": map[string]any{"k\x00": 1}},
			{"tags": []string{"a\x00"}}, {"name": "\x00"}, {"path": "/a\x00/"},
		} {
			e.fails(media.EINVALID, e.owner, q, map[string]any{"id": f["id"], "i": in})
		}
		for _, filter := range []map[string]any{{"nameContains": "a\x00"}, {"mimeTypes": []string{"image/png\x00"}}, {"createdBy": "usr_\x00"}, {"tagsAny": []string{"\x00"}}} {
			e.fails(media.EINVALID, e.owner, `query($f: FileFilter) { files(filter: $f) { totalCount } }`, map[string]any{"f": filter})
		}
		e.fails(media.ENOTFOUND, e.owner, `query($id: ID!) { file(id: $id) { id } }`, map[string]any{"id": "file_\x00"})
		e.fails(media.ENOTFOUND, e.owner, `query($n: String!) { bucket(name: $n) { id } }`, map[string]any{"n": "b\x00"})
		e.fails(media.EINVALID, e.owner, `query($p: String) { tags(prefix: $p) { name } }`, map[string]any{"p": "\x00"})
		e.fails(media.EINVALID, e.owner, `mutation { createBucket(input: {name: "x", allowedMimeTypes: ["image/png\u0000"]}) { id } }`, nil)
		d := e.ok(e.owner, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{"bkt_\x00", "usr_\x00", "file_\x00", "org_\x00", "key_\x00"}})
		for _, n := range d["nodes"].([]any) {
			if n != nil {
				t.Fatalf("nodes: %v", d)
			}
		}
	})
}
