package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/mediagraph/mediagraph/media"
)

// uploadTransport serves multipart requests (the GraphQL multipart request
// spec) so that files reach storage while the request arrives. When the
// operation is one upload mutation in which every file is used once
// (streamable), it is executed as soon as the operations and map parts are
// read, and each file is a media.Incoming read straight from the request
// body when the service stores it: no temporary file, no second pass. The
// service stores files in order; a file it asks for before the ones sent
// ahead of it finds those set aside (in memory for a request under
// MaxUploadMemory, else in temporary files). Any other multipart request
// goes to gqlgen's transport unchanged, which reads every file first.
type uploadTransport struct {
	readAhead  transport.MultipartForm
	maxMemory  int64
	tokenLimit int
}

var _ graphql.Transport = uploadTransport{}

// Supports implements graphql.Transport.
func (t uploadTransport) Supports(r *http.Request) bool { return t.readAhead.Supports(r) }

// streamingFields are the mutations that store their files in order and
// read each once (media's stageAll).
var streamingFields = map[string]bool{"uploadFile": true, "uploadFiles": true, "replaceFileContent": true,
	"createPost": true, "createComment": true, "sendMessage": true}

// Do implements graphql.Transport.
func (t uploadTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	_, mp, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	boundary := mp["boundary"]
	body := newRawBody(r.Body, boundary)
	mr := multipart.NewReader(bufio.NewReaderSize(body, 64<<10), boundary)
	params, files, ok := readHead(mr)
	if ok && !validPaths(params.Variables, files) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		writeJSON(w, &graphql.Response{Errors: gqlerror.List{{Message: "a path of the map does not lead into the variables",
			Extensions: map[string]any{"code": media.EINVALID}}}})
		return
	}
	if !ok || !t.streamable(params, files) {
		// gqlgen reads the body again from its start.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body.stopRecording()), r.Body), r.Body}
		t.readAhead.Do(w, r, exec)
		return
	}
	body.stopRecording()
	body.scanFor(2 + len(files))
	q := &uploadQueue{mr: mr, body: body, length: r.ContentLength, closing: int64(len("\r\n--" + boundary + "--\r\n")),
		slots: map[string]*filePart{}, pending: len(files), parts: 2, inMemory: r.ContentLength < t.maxMemory}
	defer q.close()
	for key, paths := range files {
		f := &filePart{q: q, key: key}
		q.slots[key] = f
		if gerr := params.AddUpload(graphql.Upload{File: f, Size: -1}, key, paths[0]); gerr != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			writeJSON(w, &graphql.Response{Errors: gqlerror.List{gerr}})
			return
		}
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	w.Header().Set("Content-Type", "application/json")
	rc, gerr := exec.CreateOperationContext(r.Context(), params)
	if gerr != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(r.Context(), rc), gerr)
		if errcode.GetErrorKind(gerr) == errcode.KindProtocol {
			w.WriteHeader(http.StatusUnprocessableEntity)
		}
		writeJSON(w, resp)
		return
	}
	responses, ctx := exec.DispatchOperation(r.Context(), rc)
	resp := responses(ctx)
	if q.failed() {
		// The body was malformed or could not be read: the upload failed
		// with it (see guardGraphQL's codeWriter for the final status).
		w.WriteHeader(http.StatusUnprocessableEntity)
	}
	writeJSON(w, resp)
}

func writeJSON(w io.Writer, resp *graphql.Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		panic(fmt.Errorf("unable to marshal %s: %w", string(resp.Data), err))
	}
	_, _ = w.Write(b)
}

// readHead reads the operations and map parts, which the spec puts first
// (guardGraphQL has checked their sizes).
func readHead(mr *multipart.Reader) (*graphql.RawParams, map[string][]string, bool) {
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "operations" {
		return nil, nil, false
	}
	var params graphql.RawParams
	dec := json.NewDecoder(io.LimitReader(part, maxOperationsBytes+1))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		return nil, nil, false
	}
	part, err = mr.NextPart()
	if err != nil || part.FormName() != "map" {
		return nil, nil, false
	}
	files := map[string][]string{}
	if err := json.NewDecoder(io.LimitReader(part, maxMapBytes+1)).Decode(&files); err != nil || len(files) == 0 {
		return nil, nil, false
	}
	return &params, files, true
}

// validPaths reports whether every path of the map leads into the
// variables as graphql.RawParams.AddUpload walks them (which panics on a
// list index out of range or a path through a value of another kind).
func validPaths(vars map[string]any, files map[string][]string) bool {
	for _, paths := range files {
		for _, path := range paths {
			segs := strings.Split(path, ".")
			if len(segs) < 2 || segs[0] != "variables" {
				return false
			}
			var at any = vars
			for i, seg := range segs[1:] {
				last := i == len(segs)-2
				if n, err := strconv.Atoi(seg); err == nil {
					list, ok := at.([]any)
					if !ok || n < 0 || n >= len(list) {
						return false
					}
					at = list[n]
				} else {
					obj, ok := at.(map[string]any)
					if !ok || obj == nil || (!last && obj[seg] == nil) {
						return false
					}
					at = obj[seg]
				}
			}
		}
	}
	return true
}

// streamable reports whether the operation can run while its files
// arrive: a mutation of one upload field (no directives) whose every file
// is a distinct variable path, into a variable the field refers to once,
// so each part is read once and the field reads all of them before its
// changes commit. Anything else (persisted queries, several fields, a file
// used twice, paths into variables the field does not use) reads ahead.
func (t uploadTransport) streamable(p *graphql.RawParams, files map[string][]string) bool {
	if p.Query == "" {
		return false
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, t.tokenLimit)
	if err != nil {
		return false
	}
	op := doc.Operations.ForName(p.OperationName)
	if op == nil || op.Operation != ast.Mutation || len(op.SelectionSet) != 1 {
		return false
	}
	f, ok := op.SelectionSet[0].(*ast.Field)
	if !ok || len(f.Directives) > 0 || !streamingFields[f.Name] {
		return false
	}
	refs := map[string]int{}
	var count func(v *ast.Value)
	count = func(v *ast.Value) {
		if v == nil {
			return
		}
		if v.Kind == ast.Variable {
			refs[v.Raw]++
		}
		for _, c := range v.Children {
			count(c.Value)
		}
	}
	for _, a := range f.Arguments {
		count(a.Value)
	}
	seen := map[string]bool{}
	for _, paths := range files {
		if len(paths) != 1 || seen[paths[0]] {
			return false
		}
		seen[paths[0]] = true
		name, _, _ := strings.Cut(strings.TrimPrefix(paths[0], "variables."), ".")
		if refs[name] != 1 {
			return false
		}
	}
	return true
}

// uploadQueue hands out the file parts of one request as they arrive.
type uploadQueue struct {
	mu      sync.Mutex
	mr      *multipart.Reader
	body    *rawBody
	length  int64 // the request's Content-Length
	closing int64 // the length of the closing delimiter and its CRLF
	slots   map[string]*filePart
	pending int             // files of the map not arrived yet
	cur     *multipart.Part // the part arrived last, its content not read
	curSlot *filePart
	parts   int  // parts arrived, operations and map included
	ended   bool // the multipart body ended
	err     error
	bodyErr bool // err is the request's: malformed or unreadable
	closed  bool

	inMemory bool // parts set aside go to memory, not temporary files
	temps    []*os.File
}

// filePart is one file of the map: the graphql.Upload's File, and the
// media.Incoming the service opens.
type filePart struct {
	q                     *uploadQueue
	key                   string
	arrived, opened       bool
	filename, contentType string
	hint                  int64 // the size the request's framing implies, or -1
	aside                 io.Reader
	asideSize             int64
	content               io.Reader
}

var _ media.Incoming = (*filePart)(nil)

// Open implements media.Incoming: it waits for the part's header, setting
// aside the parts that arrive before it.
func (f *filePart) Open() (media.IncomingContent, error) {
	q := f.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if f.opened {
		return media.IncomingContent{}, media.Invalid("file", "the file of part %q is read twice", f.key)
	}
	f.opened = true
	for !f.arrived {
		var err error
		switch {
		case q.cur == nil:
			err = q.next(true)
		case q.curSlot.opened:
			err = media.Invalid("file", "the file of part %q is opened before the one of part %q is read", f.key, q.curSlot.key)
		default:
			err = q.setAside()
		}
		if err != nil {
			return media.IncomingContent{}, err
		}
	}
	out := media.IncomingContent{Filename: f.filename, ContentType: f.contentType, Size: -1}
	if f.aside != nil {
		out.Content, out.Size = f.aside, f.asideSize
	} else {
		out.Content = &partStream{f: f}
	}
	f.content = out.Content
	return out, nil
}

// Read reads the part for a reader of the graphql.Upload that does not
// open it (media does).
func (f *filePart) Read(p []byte) (int, error) {
	if f.content == nil {
		if _, err := f.Open(); err != nil {
			return 0, err
		}
	}
	return f.content.Read(p)
}

// Seek implements io.Seeker for graphql.Upload; a part read from the
// request cannot seek.
func (f *filePart) Seek(int64, int) (int64, error) {
	return 0, errors.New("a file read from the request cannot seek")
}

// next reads the next part's header (the current part's content is read
// or set aside). With need, the end of the body is an error: a file of
// the map never came.
func (q *uploadQueue) next(need bool) error {
	if q.err != nil {
		return q.err
	}
	if q.closed {
		return media.Invalid("file", "the request is over")
	}
	if q.ended {
		if need {
			return q.fail(media.Invalid("file", "the request ended before all the files of its map (%d missing)", q.pending), true)
		}
		return nil
	}
	p, err := q.mr.NextPart()
	if err == io.EOF {
		q.ended = true
		return q.next(need)
	}
	if err != nil {
		return q.fail(readFailure(err), true)
	}
	q.parts++
	f := q.slots[p.FormName()]
	switch {
	case f == nil:
		return q.fail(media.Invalid("map", "the request has a part %q that is not in its map", p.FormName()), true)
	case f.arrived:
		return q.fail(media.Invalid("map", "the request sends part %q twice", p.FormName()), true)
	}
	f.arrived, f.filename, f.contentType, f.hint = true, p.FileName(), p.Header.Get("Content-Type"), -1
	if q.pending--; q.pending == 0 {
		// The last file: its content ends where the closing delimiter
		// begins, if the client sent nothing else.
		if start, ok := q.body.start(q.parts - 1); ok && q.length-start-q.closing >= 0 {
			f.hint = q.length - start - q.closing
		}
	}
	q.cur, q.curSlot = p, f
	return nil
}

// setAside reads the current part to memory or a temporary file, for the
// service to read when it opens it.
func (q *uploadQueue) setAside() error {
	f, p := q.curSlot, q.cur
	q.cur, q.curSlot = nil, nil
	if q.inMemory {
		b, err := io.ReadAll(p)
		if err != nil {
			return q.fail(readFailure(err), true)
		}
		f.aside, f.asideSize = bytes.NewReader(b), int64(len(b))
		return nil
	}
	tmp, err := os.CreateTemp("", uploadTempPrefix+"*")
	if err != nil {
		return q.fail(err, false)
	}
	q.temps = append(q.temps, tmp)
	n, err := io.Copy(tmp, p)
	if err != nil {
		return q.fail(readFailure(err), true)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return q.fail(err, false)
	}
	f.aside, f.asideSize = tmp, n
	return nil
}

// uploadTempPrefix names the temporary files parts are set aside in.
const uploadTempPrefix = "mediagraph-upload-"

// fail makes err the queue's for good; byBody says it is the request's.
func (q *uploadQueue) fail(err error, byBody bool) error {
	if q.err == nil {
		q.err, q.bodyErr = err, byBody
	}
	return q.err
}

// failed reports whether the request's body failed the upload.
func (q *uploadQueue) failed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bodyErr
}

// close ends the queue when the request is answered: reads fail from now
// on, and the temporary files are removed.
func (q *uploadQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for _, f := range q.temps {
		f.Close()
		os.Remove(f.Name())
	}
}

// readFailure is a failure to read the request body, for the client.
func readFailure(err error) error {
	var e *media.Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return media.Invalid("file", "the request ended inside a file")
	}
	return &media.Error{Code: media.EINVALID, Field: "file", Message: "the file could not be read from the request", Err: err}
}

// partStream is the content of a part read straight from the body.
type partStream struct {
	f    *filePart
	done bool
}

// SizeHint is the size the request's framing implies for the part, or -1
// (media passes it on to storage).
func (s *partStream) SizeHint() int64 { return s.f.hint }

// Read fills p as far as the part goes. At the part's end it reads the
// next part's header, so that a request that goes wrong right after its
// last file fails the upload before anything is committed.
func (s *partStream) Read(p []byte) (int, error) {
	q := s.f.q
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case s.done:
		return 0, io.EOF
	case q.closed:
		return 0, media.Invalid("file", "the request is over")
	case q.err != nil:
		return 0, q.err
	}
	n := 0
	for n < len(p) {
		k, err := q.cur.Read(p[n:])
		n += k
		if err == io.EOF {
			s.done = true
			q.cur, q.curSlot = nil, nil
			if err := q.next(false); err != nil {
				return n, err
			}
			return n, io.EOF
		}
		if err != nil {
			return n, q.fail(readFailure(err), true)
		}
	}
	return n, nil
}

// rawBody reads the request body under the multipart reader: until told
// to stop, it records what it read (for gqlgen's transport to read again),
// and it notes where the content of each of the first parts begins — after
// the first CRLF CRLF that follows each delimiter — which mime/multipart
// does not tell. A note that is wrong (a body framed unusually) only makes
// a size hint wrong, which storage corrects at a cost.
type rawBody struct {
	r      io.Reader
	pos    int64
	rec    *bytes.Buffer
	delim  []byte // CRLF "--" boundary
	want   int    // notes to take before scanning stops
	starts []int64
	header bool   // inside a part's header
	carry  []byte // the end of the last read, where a match may begin
	at     int64  // the position of carry[0]
}

func newRawBody(r io.Reader, boundary string) *rawBody {
	// The first delimiter has no CRLF before it: start with one.
	return &rawBody{r: r, rec: &bytes.Buffer{}, delim: []byte("\r\n--" + boundary), want: math.MaxInt,
		carry: []byte("\r\n"), at: -2}
}

func (b *rawBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		if b.rec != nil {
			b.rec.Write(p[:n])
		}
		if len(b.starts) < b.want {
			b.scan(p[:n])
		}
		b.pos += int64(n)
	}
	return n, err
}

// stopRecording ends the recording and returns what it holds.
func (b *rawBody) stopRecording() []byte {
	rec := b.rec
	b.rec = nil
	if rec == nil {
		return nil
	}
	return rec.Bytes()
}

// scanFor stops scanning once n parts' starts are noted.
func (b *rawBody) scanFor(n int) { b.want = n }

// start returns where the content of part i (from 0) begins in the body.
func (b *rawBody) start(i int) (int64, bool) {
	if i < len(b.starts) {
		return b.starts[i], true
	}
	return 0, false
}

var crlfCRLF = []byte("\r\n\r\n")

func (b *rawBody) scan(chunk []byte) {
	buf := append(b.carry, chunk...)
	off := 0
	for len(b.starts) < b.want {
		if !b.header {
			i := bytes.Index(buf[off:], b.delim)
			if i < 0 {
				break
			}
			end := off + i + len(b.delim)
			if end == len(buf) {
				off += i // what follows the delimiter is still to come
				break
			}
			if c := buf[end]; c != '-' && c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				off += i + 1 // the boundary's text inside content, not a delimiter
				continue
			}
			b.header, off = true, end
			continue
		}
		j := bytes.Index(buf[off:], crlfCRLF)
		if j < 0 {
			break
		}
		off += j + len(crlfCRLF)
		b.starts = append(b.starts, b.at+int64(off))
		b.header = false
	}
	from := max(off, len(buf)-len(b.delim))
	b.at += int64(from)
	b.carry = append(b.carry[:0:0], buf[from:]...)
}
