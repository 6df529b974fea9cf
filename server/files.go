package server

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mediagraph/mediagraph/media"
)

// serveFile is GET/HEAD /files/{id}/{name}: the bytes of a file, with
// ranges, conditional requests and safe headers. The name in the path is
// for humans and caches; the id decides. Anything the caller may not read
// answers 404, exactly like a missing file.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d, err := s.media.Download(r.Context(), media.DownloadRequest{
		ID: media.ID(r.PathValue("id")), Rev: q.Get("rev"), Exp: q.Get("exp"), Sig: q.Get("sig")})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("ETag", `"`+d.Sha256+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", contentType(d.MimeType))
	h.Set("Content-Disposition", disposition(d.MimeType, d.File.Name))
	if scriptable(d.MimeType) {
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox")
	}
	cacheHeaders(h, d)
	s.stream(w, r, d)
}

// stream serves stored content: the file itself where the store offers
// one (sendfile), else ranged reads.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, d *media.Download) {
	var content io.ReadSeekCloser = &blobSeeker{ctx: r.Context(), svc: s.media, d: d}
	if f, ok, err := s.media.OpenSeeker(r.Context(), d); ok {
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		content = f
	}
	defer content.Close()
	coalesceRanges(r, d.Size)
	http.ServeContent(w, r, "", d.ModTime, content)
}

// Ranges a download serves: overlapping or touching ranges are merged, and
// when more than maxRanges remain, so are ranges closer than rangeGap (RFC
// 9110 lets a server coalesce them); a request that still has more than
// maxRanges gets the whole file instead. A Range header cannot turn one
// download into thousands of reads of the store.
const (
	maxRanges = 16
	rangeGap  = 64 << 10
)

// coalesceRanges rewrites r's Range header as sorted, merged ranges, or
// drops it when too many remain. A header it cannot read is left for
// http.ServeContent to judge.
func coalesceRanges(r *http.Request, size int64) {
	h := r.Header.Get("Range")
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || size <= 0 {
		return
	}
	type span struct{ start, end int64 } // [start, end)
	var spans []span
	for _, part := range strings.Split(spec, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return
		}
		var sp span
		switch {
		case a == "": // the last b bytes
			n, err := strconv.ParseInt(b, 10, 64)
			if err != nil || n <= 0 {
				return
			}
			sp = span{max(size-n, 0), size}
		default:
			start, err := strconv.ParseInt(a, 10, 64)
			if err != nil || start < 0 {
				return
			}
			end := size
			if b != "" {
				e, err := strconv.ParseInt(b, 10, 64)
				if err != nil || e < start {
					return
				}
				end = min(e+1, size)
			}
			if start >= size {
				continue // unsatisfiable; the others may be served
			}
			sp = span{start, end}
		}
		spans = append(spans, sp)
	}
	if len(spans) == 0 {
		return // ServeContent answers 416
	}
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.start, y.start) })
	merge := func(gap int64) []span {
		out := []span{spans[0]}
		for _, sp := range spans[1:] {
			if last := &out[len(out)-1]; sp.start <= last.end+gap {
				last.end = max(last.end, sp.end)
				continue
			}
			out = append(out, sp)
		}
		return out
	}
	merged := merge(0) // overlapping and touching ranges, always
	if len(merged) > maxRanges {
		merged = merge(rangeGap)
	}
	if len(merged) > maxRanges {
		r.Header.Del("Range")
		return
	}
	parts := make([]string, len(merged))
	for i, sp := range merged {
		parts[i] = strconv.FormatInt(sp.start, 10) + "-" + strconv.FormatInt(sp.end-1, 10)
	}
	r.Header.Set("Range", "bytes="+strings.Join(parts, ","))
}

// cacheHeaders lets caches keep PUBLIC revision-pinned content for good.
func cacheHeaders(h http.Header, d *media.Download) {
	switch {
	case d.File.Visibility == media.VisibilityPrivate:
		h.Set("Cache-Control", "private, max-age=300")
	case d.Immutable:
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	default:
		h.Set("Cache-Control", "public, max-age=300, must-revalidate")
	}
	h.Set("Vary", "Authorization")
}

// serveThumbnail is GET/HEAD /files/{id}/thumbnail/{box}: a resized
// rendition of an image, authorized like the file itself; sizes outside
// the allowed set answer 404.
func (s *Server) serveThumbnail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t, err := s.media.Thumbnail(r.Context(), media.ThumbnailRequest{Box: r.PathValue("box"), DownloadRequest: media.DownloadRequest{
		ID: media.ID(r.PathValue("id")), Rev: q.Get("rev"), Exp: q.Get("exp"), Sig: q.Get("sig")}})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("ETag", `"`+t.Download.Sha256[:32]+"-"+r.PathValue("box")+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", t.ContentType)
	cacheHeaders(h, t.Download)
	http.ServeContent(w, r, "", t.Download.ModTime, bytes.NewReader(t.Data))
}

// serveVariant is GET/HEAD /files/{id}/variant/{spec}: a transformed
// image, authorized like the file itself; a spec that is not the
// canonical spelling of a variant of that image answers 404.
func (s *Server) serveVariant(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	spec := r.PathValue("spec")
	v, err := s.media.Variant(r.Context(), media.VariantRequest{Spec: spec, DownloadRequest: media.DownloadRequest{
		ID: media.ID(r.PathValue("id")), Rev: q.Get("rev"), Exp: q.Get("exp"), Sig: q.Get("sig")}})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("ETag", `"`+v.Download.Sha256[:32]+"-"+spec+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", v.ContentType)
	cacheHeaders(h, v.Download)
	if v.Stored != nil {
		s.stream(w, r, v.Stored)
		return
	}
	http.ServeContent(w, r, "", v.Download.ModTime, bytes.NewReader(v.Data))
}

// blobSeeker is the io.ReadSeeker http.ServeContent wants, over ranged reads
// of the object store: seeking is free, and each read position opens one
// ranged GET that streams (nothing is buffered whole).
type blobSeeker struct {
	ctx    context.Context
	svc    *media.Service
	d      *media.Download
	offset int64
	rc     io.ReadCloser
}

func (b *blobSeeker) Read(p []byte) (int, error) {
	if b.offset >= b.d.Size {
		return 0, io.EOF
	}
	if b.rc == nil {
		rc, err := b.svc.Open(b.ctx, b.d, b.offset, b.d.Size-b.offset)
		if err != nil {
			return 0, err
		}
		b.rc = rc
	}
	n, err := b.rc.Read(p)
	b.offset += int64(n)
	if errors.Is(err, io.EOF) && b.offset < b.d.Size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *blobSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.offset
	case io.SeekEnd:
		offset += b.d.Size
	}
	if offset < 0 {
		return 0, errors.New("seek before start")
	}
	if skip := offset - b.offset; skip != 0 {
		// A short way ahead on an open stream: read past it rather than
		// ask the store again.
		if b.rc != nil && skip > 0 && skip <= rangeGap {
			n, err := io.CopyN(io.Discard, b.rc, skip)
			b.offset += n
			if err == nil {
				return offset, nil
			}
		}
		b.Close()
		b.offset = offset
	}
	return offset, nil
}

func (b *blobSeeker) Close() error {
	if b.rc == nil {
		return nil
	}
	err := b.rc.Close()
	b.rc = nil
	return err
}

func contentType(mt string) string {
	if strings.HasPrefix(mt, "text/") {
		return mt + "; charset=utf-8"
	}
	return mt
}

// scriptable reports types a browser may run script in if opened directly.
func scriptable(mt string) bool {
	return mt == "image/svg+xml" || mt == "text/html" || mt == "application/xhtml+xml" ||
		strings.HasSuffix(mt, "/xml") || strings.HasSuffix(mt, "+xml") || mt == "application/pdf" || mt == "text/javascript"
}

// disposition shows media and PDFs inline and offers everything else as a
// download. The name is given twice, as RFC 6266 advises: an ASCII fallback
// in filename and the exact UTF-8 name in filename* (RFC 8187).
func disposition(mt, name string) string {
	kind := "attachment"
	if strings.HasPrefix(mt, "image/") || strings.HasPrefix(mt, "video/") || strings.HasPrefix(mt, "audio/") ||
		mt == "application/pdf" || mt == "text/plain" {
		kind = "inline" // SVG included: the CSP above sandboxes it
	}
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	return kind + `; filename="` + fallback + `"; filename*=UTF-8''` + extValue(name)
}

// extValue percent-encodes every byte that is not an RFC 8187 attr-char.
func extValue(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
