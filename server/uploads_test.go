package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"
)

// TestRawBodyNotesPartStarts checks that rawBody finds where each part's
// content begins, for bodies written by mime/multipart and by hand, read
// in pieces of every size (a delimiter split across reads).
func TestRawBodyNotesPartStarts(t *testing.T) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("operations", `{"query":"mutation { x }"}`)
	_ = mw.WriteField("map", `{"0":["variables.a"],"1":["variables.b"]}`)
	var want []int64
	for i, content := range []string{"first file\r\n--not the boundary\r\n", strings.Repeat("x", 70_000)} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%d"; filename="f%d"`, i, i))
		h.Set("Content-Type", "application/octet-stream")
		_, _ = mw.CreatePart(h)
		want = append(want, int64(buf.Len()))
		buf.WriteString(content)
	}
	_ = mw.Close()
	body := buf.Bytes()
	for _, piece := range []int{1, 2, 3, 7, 64, 4096, len(body)} {
		rb := newRawBody(&pieces{b: body, n: piece}, mw.Boundary())
		rb.scanFor(4)
		mr := multipart.NewReader(bufio.NewReader(rb), mw.Boundary())
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := rb.start(i)
			content, _ := io.ReadAll(p)
			if !ok || !bytes.Equal(body[got:got+int64(len(content))], content) {
				t.Fatalf("pieces of %d: part %d starts at %d (%v)", piece, i, got, ok)
			}
			if i >= 2 && got != want[i-2] {
				t.Fatalf("pieces of %d: file %d starts at %d, want %d", piece, i-2, got, want[i-2])
			}
		}
		// The last file's size follows from the request's length.
		last, _ := rb.start(3)
		if size := int64(len(body)) - last - int64(len("\r\n--"+mw.Boundary()+"--\r\n")); size != 70_000 {
			t.Fatalf("pieces of %d: last file %d bytes", piece, size)
		}
	}
}

type pieces struct {
	b []byte
	n int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), p.n)], p.b)
	p.b = p.b[n:]
	return n, nil
}
