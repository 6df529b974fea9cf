package media

import (
	"context"
	"io"
	"strconv"
	"time"
)

// DownloadRequest is a request for a file's bytes (GET /files/{id}/{name}).
type DownloadRequest struct {
	ID ID
	// Rev is the revision asked for; "" means the current one.
	Rev string
	// Exp and Sig are the token of a signed URL, if any.
	Exp, Sig string
}

// Download is a file revision's content, ready to serve.
type Download struct {
	File     *File
	Revision int
	// Immutable is true when the request named the revision: its bytes never change.
	Immutable bool
	Size      int64
	MimeType  string
	Sha256    string
	ModTime   time.Time
	key       string
	// width, height and facts are what analysis found in the revision's
	// content (for variants).
	width, height *int
	facts         MediaFacts
}

// Download authorizes a request for a file's bytes: a PUBLIC file is served
// to anyone, a PRIVATE one with a valid, unexpired signature for that
// revision or to a caller of the same organization with media:read.
// Returns NOT_FOUND for everything else, exactly as for a missing file.
func (s *Service) Download(ctx context.Context, req DownloadRequest) (*Download, error) {
	return s.authorize(ctx, req, "file")
}

// authorize finds the revision a request for bytes (kind "file") or a
// rendition ("thumb:WxH", "variant:SPEC") names and checks the caller may read it.
func (s *Service) authorize(ctx context.Context, req DownloadRequest, kind string) (*Download, error) {
	notFound := Errorf(ENOTFOUND, "file not found")
	if !req.ID.Valid(PrefixFile) {
		return nil, notFound
	}
	f, err := s.Store.FileAnyOrg(ctx, req.ID)
	if IsNotFound(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	rev := f.Revision
	if req.Rev != "" {
		if rev, err = strconv.Atoi(req.Rev); err != nil || rev < 1 {
			return nil, notFound
		}
	}
	p := PrincipalFrom(ctx)
	member := false
	if p != nil && p.OrgID == f.OrgID && p.Can(ScopeMediaRead) {
		// A member reads what the policy lets it see (RESTRICTED buckets).
		if member, err = s.sees(ctx, p, f); err != nil {
			return nil, err
		}
	}
	switch {
	case member:
	case f.TrashedAt != nil:
		return nil, notFound
	case f.Visibility == VisibilityPublic:
	case s.validSignature(kind, f.ID, rev, req.Exp, req.Sig):
	default:
		return nil, notFound
	}
	r, err := s.Store.Revision(ctx, f.OrgID, f.ID, rev)
	if IsNotFound(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	b, err := s.Store.Blob(ctx, f.OrgID, r.BlobID)
	if err != nil {
		return nil, err
	}
	return &Download{File: f, Revision: rev, Immutable: req.Rev != "", Size: r.Size, MimeType: r.MimeType,
		Sha256: r.Sha256, ModTime: r.CreatedAt, key: b.StorageKey, width: b.Width, height: b.Height, facts: b.MediaFacts}, nil
}

// Open reads the download's bytes from offset; length < 0 reads to the end.
func (s *Service) Open(ctx context.Context, d *Download, offset, length int64) (io.ReadCloser, error) {
	return s.Blobs.Get(ctx, d.key, offset, length)
}

// Seeker is implemented by stores that can hand out a seekable file (the
// disk store), which lets the HTTP server use sendfile.
type Seeker interface {
	OpenSeeker(ctx context.Context, key string) (io.ReadSeekCloser, error)
}

// OpenSeeker returns the download's bytes as a seekable stream when the
// store offers one, or ok false.
func (s *Service) OpenSeeker(ctx context.Context, d *Download) (rs io.ReadSeekCloser, ok bool, err error) {
	sk, ok := s.Blobs.(Seeker)
	if !ok {
		return nil, false, nil
	}
	rs, err = sk.OpenSeeker(ctx, d.key)
	return rs, true, err
}
