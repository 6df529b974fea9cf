package media

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"golang.org/x/text/unicode/norm"
)

// Field limits for descriptive text.
const (
	maxTextBytes     = 4096
	maxMetadataBytes = 16 << 10
)

// UploadInput is one file to store.
type UploadInput struct {
	Bucket string
	Path   string
	// Name is the name the file gets; it is sanitized before use.
	Name string
	// OriginalName is the file name the client sent (a multipart part's
	// filename), kept as given (cleaned of invisible characters) as the
	// file's original name; "" means Name.
	OriginalName string
	// Content is the bytes; Incoming content is opened when the file's turn comes,
	// its header filling Name, OriginalName and DeclaredType if empty.
	Content io.Reader
	// Size is the exact number of bytes Content yields, or -1 if that is
	// not known before they are read.
	Size int64
	// DeclaredType is the client's claim about the content, if any.
	DeclaredType string
	Tags         []string
	AltText      *string
	Caption      *string
	Copyright    *string
	Metadata     map[string]any
	Visibility   *Visibility
	Replace      bool
	// AttachTo attaches the new file to a post, comment or message (the
	// caller must be allowed to attach to it now). Without Bucket, the file
	// goes to the built-in RESTRICTED attachments bucket.
	AttachTo *ID
	// ExternalID is the client's own id for the file, unique in the bucket.
	ExternalID *string
}

// storeContent checks content against a bucket's policy and stores it under
// a new PENDING blob: the size limits, the sniffed type (which must agree
// with a declared one), the allow-list, the pixel limit; the SHA-256 is
// computed while the bytes stream to storage. A size of -1 means the length
// is not known yet (Incoming content): the limits are then applied
// as the bytes arrive, and storage gets the size hint the content gives.
// The blob returned is marked READY in memory only: the caller commits it
// (settle) or discards it.
func (s *Service) storeContent(ctx context.Context, p *Principal, b *Bucket, r io.Reader, size int64, declared string) (*Blob, error) {
	sctx, span := s.startSpan(ctx, "upload.store", attribute.Int64("upload.size", size))
	blob, err := s.streamContent(sctx, p, b, r, size, declared)
	if err == nil {
		span.SetAttributes(attribute.String("blob.id", string(blob.ID)), attribute.String("blob.mime_type", blob.MimeType))
	}
	endSpan(span, err)
	if err != nil {
		return nil, err
	}
	if err := s.analyzeBlob(ctx, b, blob); err != nil {
		s.discardBlob(ctx, blob)
		return nil, err
	}
	return blob, nil
}

// streamContent is the part of storeContent before analysis: the checks,
// the hash and the bytes streamed to storage.
func (s *Service) streamContent(ctx context.Context, p *Principal, b *Bucket, r io.Reader, size int64, declared string) (*Blob, error) {
	if size == 0 {
		return nil, Invalid("file", "the file is empty")
	}
	if size > 0 {
		if err := s.checkSize(b, TypeOther, size, false, false); err != nil {
			return nil, err
		}
	}
	hint := int64(-1)
	if h, ok := r.(sizeHinter); ok && size < 0 {
		hint = h.SizeHint()
	}
	// whole is the content read again from its start, if it can be.
	var whole io.ReaderAt
	if ra, ok := r.(interface {
		io.ReaderAt
		io.Seeker
	}); ok && size > 0 {
		whole = ra
	}
	head := make([]byte, SniffLimit)
	if size > 0 {
		head = head[:min(size, SniffLimit)]
	}
	n, err := io.ReadFull(r, head)
	switch {
	case size < 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
		// The whole content fits the head: its size is known now.
		if n == 0 {
			return nil, Invalid("file", "the file is empty")
		}
		head, size, r = head[:n], int64(n), bytesReader(nil)
		if err := s.checkSize(b, TypeOther, size, false, false); err != nil {
			return nil, err
		}
		whole = bytes.NewReader(head)
	case err != nil:
		return nil, readError(err)
	}
	// Location data goes before anything is stored (the metadata of a
	// JPEG is at its start, in head); the bytes then differ from the
	// upload's, so they are streamed from head on.
	stripped := b.StripGPSMetadata && stripJPEGLocation(head)
	// Content that can be read again (gqlgen's temporary file or memory
	// buffer, a part set aside, a small file) is hashed first and handed
	// to storage whole, which can then send it without copying it into
	// buffers of its own.
	var seekable *io.SectionReader
	hash := sha256.New()
	if whole != nil && !stripped {
		seekable = io.NewSectionReader(whole, 0, size)
		if n, err := io.Copy(hash, seekable); err != nil || n != size {
			return nil, readError(cmp.Or(err, io.ErrUnexpectedEOF))
		}
		if _, err := seekable.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
	}
	sn := Sniff(head, size)
	if err := checkDeclared(declared, sn.MimeType); err != nil {
		return nil, err
	}
	// rest is what follows head, read as it arrives: its reads are
	// counted, refused past the size limit, and their failure remembered
	// (it is the client's, not the store's).
	var rest *arriving
	if size > 0 {
		if err := s.checkContent(b, sn, size, false); err != nil {
			return nil, err
		}
	} else {
		if err := s.checkAllowed(b, sn); err != nil {
			return nil, err
		}
		if err := s.checkPixels(sn); err != nil {
			return nil, err
		}
		limit, what := s.sizeLimit(b, sn.Type, true, false)
		rest = &arriving{r: r, left: limit - int64(len(head)), tooLarge: s.tooLarge(-1, limit, what)}
		r = rest
	}
	// Two stores, one outcome: record the blob as pending (while its bytes
	// start to go to storage: an object whose row never got written is an
	// orphan the sweeper removes), store the bytes, then (the caller)
	// commit the file and mark the blob ready in one transaction.
	now := s.now()
	blob := &Blob{ID: NewID(PrefixBlob, now), OrgID: p.OrgID, State: BlobPending, CreatedAt: now,
		MimeType: sn.MimeType, Size: max(size, 0), Width: sn.Width, Height: sn.Height}
	blob.StorageKey = string(p.OrgID) + "/" + string(blob.ID)
	pending := *blob
	created := make(chan error, 1)
	go func() { created <- s.Store.CreateBlob(ctx, &pending) }()
	var content io.Reader = seekable
	putCtx := ctx
	switch {
	case seekable != nil:
		putCtx = WithContentSHA256(ctx, hex.EncodeToString(hash.Sum(nil)))
	case size < 0:
		content = io.TeeReader(io.MultiReader(bytesReader(head), r), hash)
		if hint >= 0 {
			putCtx = WithSizeHint(ctx, hint)
		}
	default:
		content = io.TeeReader(io.MultiReader(bytesReader(head), r), hash)
	}
	err = s.Blobs.Put(putCtx, blob.StorageKey, content, size, sn.MimeType)
	if cerr := <-created; cerr != nil {
		s.discardBlob(ctx, blob)
		return nil, cerr
	}
	if err != nil {
		s.discardBlob(ctx, blob)
		if rest != nil && rest.err != nil {
			err = rest.err
		}
		return nil, readError(err)
	}
	if rest != nil {
		blob.Size = int64(len(head)) + rest.n
	}
	blob.Sha256 = hex.EncodeToString(hash.Sum(nil))
	blob.State = BlobReady
	return blob, nil
}

// arriving reads content of unknown length: it counts the bytes, fails
// with tooLarge once they pass the limit, and keeps the first error.
type arriving struct {
	r        io.Reader
	n        int64 // bytes read
	left     int64 // bytes allowed still
	tooLarge error
	err      error // the first read error (not io.EOF)
}

func (a *arriving) Read(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	n, err := a.r.Read(p)
	a.n += int64(n)
	if a.left -= int64(n); a.left < 0 {
		a.err = a.tooLarge
		return 0, a.err
	}
	if err != nil && err != io.EOF {
		a.err = err
	}
	return n, err
}

// settle makes a stored blob the content to commit, inside tx: if the
// organization already stores identical bytes, that blob is used (and
// locked against deletion until tx ends) and dup reports that ours must be
// discarded after the commit; otherwise ours is marked READY. Two uploads of
// the same new content at the same moment both keep their blob (there is no
// unique index on the checksum); later uploads reuse the first.
func settle(ctx context.Context, tx Store, blob *Blob) (id ID, dup bool, err error) {
	same, err := tx.ReadyBlobBySha256(ctx, blob.OrgID, blob.Sha256, blob.Size)
	switch {
	case err == nil:
		return same.ID, true, nil
	case !IsNotFound(err):
		return "", false, err
	}
	return blob.ID, false, tx.UpdateBlob(ctx, blob)
}

// setContent copies a blob's content facts onto a file.
func setContent(f *File, b *Blob) {
	f.MimeType, f.Type, f.Size, f.Sha256 = b.MimeType, classify(b), b.Size, b.Sha256
	f.Width, f.Height, f.Duration, f.MediaFacts = b.Width, b.Height, b.Duration, b.MediaFacts
}

func classify(b *Blob) FileType {
	if b.MimeType == MIMELottie {
		return TypeLottie
	}
	return ClassifyMIME(b.MimeType)
}

// newRevision describes f's current content as its revision f.Revision.
func newRevision(f *File, p *Principal, now time.Time) *Revision {
	uid := p.UserID
	return &Revision{ID: NewID(PrefixRevision, now), OrgID: f.OrgID, FileID: f.ID, Number: f.Revision, BlobID: f.BlobID,
		Size: f.Size, MimeType: f.MimeType, Sha256: f.Sha256, Width: f.Width, Height: f.Height, Duration: f.Duration,
		CreatedAt: now, CreatedBy: &uid}
}

// newFile validates the descriptive part of an upload.
func (s *Service) newFile(p *Principal, in UploadInput) (*File, error) {
	name, err := SanitizeName("name", in.Name)
	if err != nil {
		return nil, err
	}
	path, err := NormalizePath("path", in.Path)
	if err != nil {
		return nil, err
	}
	tags, err := NormalizeTags("tags", in.Tags)
	if err != nil {
		return nil, err
	}
	for field, v := range map[string]*string{"altText": in.AltText, "caption": in.Caption, "copyright": in.Copyright} {
		if err := checkText(field, v); err != nil {
			return nil, err
		}
	}
	meta, err := checkMetadata("metadata", in.Metadata)
	if err != nil {
		return nil, err
	}
	ext, err := normalizeExternalID("externalId", in.ExternalID)
	if err != nil {
		return nil, err
	}
	vis := VisibilityPrivate
	if in.Visibility != nil {
		if !in.Visibility.Valid() {
			return nil, Invalid("visibility", "visibility must be PUBLIC or PRIVATE")
		}
		vis = *in.Visibility
	}
	now := s.now()
	uid := p.UserID
	original := strings.Map(func(r rune) rune {
		if isInvisible(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(cmp.Or(in.OriginalName, in.Name), ""))
	return &File{ID: NewID(PrefixFile, now), OrgID: p.OrgID, Path: path, Name: name,
		OriginalName: truncateUTF8(norm.NFC.String(original), MaxPathBytes), Visibility: vis,
		AltText: in.AltText, Caption: in.Caption, Copyright: in.Copyright, Metadata: meta, Tags: tags,
		ExternalID: ext, Revision: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: &uid, UpdatedBy: &uid}, nil
}

func checkText(field string, v *string) error {
	if v != nil && (len(*v) > maxTextBytes || !utf8.ValidString(*v) || strings.ContainsRune(*v, 0)) {
		return Invalid(field, "%s must be valid UTF-8 of at most %d bytes, without NUL characters", field, maxTextBytes)
	}
	return nil
}

func checkMetadata(field string, m map[string]any) (map[string]any, error) {
	if m == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, Invalid(field, "metadata must be a JSON object")
	}
	if len(b) > maxMetadataBytes {
		return nil, Invalid(field, "metadata is %d bytes of JSON; the limit is %d", len(b), maxMetadataBytes)
	}
	if bytes.Contains(b, []byte(`\u0000`)) {
		return nil, Invalid(field, "metadata may not contain NUL characters")
	}
	return m, nil
}

// checkSize applies the server's, the bucket's and (when known) the type's
// size limits. Upload sessions (large files straight to storage) have the
// server's session limit and only the bucket's own type limits; the default
// type limits are for uploads through the API.
func (s *Service) checkSize(b *Bucket, t FileType, size int64, typed, session bool) error {
	if limit, what := s.sizeLimit(b, t, typed, session); size > limit {
		return s.tooLarge(size, limit, what)
	}
	return nil
}

const serverLimit = "the server's upload limit"

// sizeLimit is the size limit checkSize applies, and what sets it.
func (s *Service) sizeLimit(b *Bucket, t FileType, typed, session bool) (int64, string) {
	limit, what := s.Config.MaxUploadSize, serverLimit
	if session {
		limit, what = cmp.Or(s.Config.MaxSessionSize, MaxSessionSize), "the server's limit for upload sessions"
	}
	if b.MaxFileSize != nil && *b.MaxFileSize < limit {
		limit, what = *b.MaxFileSize, fmt.Sprintf("bucket %q's limit", b.Name)
	}
	if typed {
		tl, ok := b.TypeLimits[t]
		if !ok && !session {
			tl, ok = DefaultTypeLimits[t]
		}
		if ok && tl < limit {
			limit, what = tl, fmt.Sprintf("the limit for %s files", strings.ToLower(string(t)))
		}
	}
	return limit, what
}

// tooLarge is the error for a file of size bytes (-1: larger than the
// limit, still arriving) over a limit.
func (s *Service) tooLarge(size, limit int64, what string) error {
	hint := ""
	if what == serverLimit && (size < 0 || size <= cmp.Or(s.Config.MaxSessionSize, MaxSessionSize)) {
		hint = "; upload larger files with createUploadSession"
	}
	if size < 0 {
		return Errorf(ETOOLARGE, "the file is over %s; %s is %s%s", humanBytes(limit), what, humanBytes(limit), hint)
	}
	return Errorf(ETOOLARGE, "the file is %s; %s is %s%s", humanBytes(size), what, humanBytes(limit), hint)
}

// checkContent applies the bucket's allow-list, the size limits for the
// type and the pixel limit.
func (s *Service) checkContent(b *Bucket, sn Sniffed, size int64, session bool) error {
	if err := s.checkAllowed(b, sn); err != nil {
		return err
	}
	if err := s.checkSize(b, sn.Type, size, true, session); err != nil {
		return err
	}
	return s.checkPixels(sn)
}

// checkAllowed applies the bucket's allow-list.
func (s *Service) checkAllowed(b *Bucket, sn Sniffed) error {
	if len(b.AllowedMimeTypes) > 0 && !slices.ContainsFunc(b.AllowedMimeTypes, func(p string) bool { return MatchMIME(p, sn.MimeType) }) {
		return Errorf(EUNSUPPORTED, "bucket %q does not accept %s files; it accepts %s", b.Name, sn.MimeType, strings.Join(b.AllowedMimeTypes, ", "))
	}
	return nil
}

// checkPixels applies the pixel limit to an image's header dimensions.
func (s *Service) checkPixels(sn Sniffed) error {
	if sn.Width != nil && sn.Height != nil {
		if px := int64(*sn.Width) * int64(*sn.Height); px > s.Config.MaxImagePixels {
			return Errorf(ETOOLARGE, "the image is %d×%d pixels; the limit is %d megapixels", *sn.Width, *sn.Height, s.Config.MaxImagePixels/1_000_000)
		}
	}
	return nil
}

func nameTaken(path, name string) error {
	return &Error{Code: ECONFLICT, Field: "name",
		Message: fmt.Sprintf("a file named %q already exists in %s; choose another name", name, path)}
}

func checkQuota(ctx context.Context, tx Store, b *Bucket, add int64) error {
	if b.QuotaBytes == nil {
		return nil
	}
	u, err := tx.BucketUsage(ctx, b.OrgID, b.ID)
	if err != nil {
		return err
	}
	if u.TotalBytes()+add > *b.QuotaBytes {
		return Errorf(EQUOTA, "bucket %q holds %s of its %s quota; %s more does not fit",
			b.Name, humanBytes(u.TotalBytes()), humanBytes(*b.QuotaBytes), humanBytes(add))
	}
	return nil
}

// readError turns a failure to read the client's upload into a client error.
// Errors that already carry a code (storage unavailable, size limits) pass.
func readError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return Invalid("file", "the upload ended before its declared size")
	}
	var tooLarge interface{ TooLarge() bool }
	if errors.As(err, &tooLarge) && tooLarge.TooLarge() {
		return Errorf(ETOOLARGE, "the upload is larger than allowed")
	}
	return err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= mib && n%mib == 0:
		return fmt.Sprintf("%d MiB", n/mib)
	case n >= mib:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
