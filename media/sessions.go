package media

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// PrefixUploadSession prefixes upload session ids.
const PrefixUploadSession = "ups"

// SessionState is where an upload session is in its life.
type SessionState string

const (
	// SessionOpen accepts bytes.
	SessionOpen SessionState = "OPEN"
	// SessionCompleting is being verified and committed by one request.
	SessionCompleting SessionState = "COMPLETING"
	// SessionCompleted made its file (FileID).
	SessionCompleted SessionState = "COMPLETED"
	// SessionAborted was abandoned by the client or failed verification.
	SessionAborted SessionState = "ABORTED"
	// SessionExpired was cleaned up by the sweeper after its expiry.
	SessionExpired SessionState = "EXPIRED"
)

// UploadSession is a large upload that the client writes straight to the
// object store, through the presigned part URLs of a multipart upload (one
// part, PUT like a whole file, up to SinglePutLimit); the server checks
// policy when it is created and verifies and commits the content when it
// is completed.
type UploadSession struct {
	ID        ID
	OrgID     ID
	BucketID  ID
	CreatedBy ID
	// BlobID is the id the blob will have; StorageKey is where the client
	// writes the bytes.
	BlobID     ID
	StorageKey string
	// MultipartID is the store's multipart upload id; "" for a single PUT.
	MultipartID string
	PartSize    int64
	Size        int64
	// MimeType is the type the client declared; the content must agree.
	MimeType       string
	ChecksumSha256 *string
	// File describes the file to make (path, name, texts, tags, visibility).
	File      SessionFile
	State     SessionState
	FileID    *ID
	ExpiresAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SessionFile is the descriptive part of an upload session's file.
type SessionFile struct {
	Path         string         `json:"path"`
	Name         string         `json:"name"`
	OriginalName string         `json:"originalName"`
	Tags         []string       `json:"tags,omitempty"`
	AltText      *string        `json:"altText,omitempty"`
	Caption      *string        `json:"caption,omitempty"`
	Copyright    *string        `json:"copyright,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
	Visibility   *Visibility    `json:"visibility,omitempty"`
	Replace      bool           `json:"replace,omitempty"`
	ExternalID   *string        `json:"externalId,omitempty"`
}

// Multipart reports whether the client uploads the session in several
// parts (method MULTIPART) rather than with one PUT. Either way the bytes
// go through a multipart upload of the store, whose part URLs stop working
// once it is completed or aborted: nothing can be written to the key after
// the server has verified it, nor after the session ended.
func (u *UploadSession) Multipart() bool { return u.PartCount() > 1 }

// PartCount is the number of parts of the session's upload (1 for a
// single PUT).
func (u *UploadSession) PartCount() int {
	if u.PartSize <= 0 {
		return 0
	}
	return int((u.Size + u.PartSize - 1) / u.PartSize)
}

// PartSizeOf is the size part n (from 1) must have.
func (u *UploadSession) PartSizeOf(n int) int64 {
	if n < u.PartCount() {
		return u.PartSize
	}
	return u.Size - int64(n-1)*u.PartSize
}

// SessionInput asks for an upload session.
type SessionInput struct {
	UploadInput
	// ChecksumSha256, if given, is the hex SHA-256 the content must have.
	ChecksumSha256 *string
}

// Limits of upload sessions.
const (
	// DefaultSinglePutLimit: sessions up to this size get one presigned
	// PUT, larger ones a multipart upload (Config.SinglePutLimit).
	DefaultSinglePutLimit = 64 << 20
	// DefaultSessionPartSize is the smallest part size the server chooses
	// (Config.SessionPartSize).
	DefaultSessionPartSize = 16 << 20
	// maxSessionParts bounds the number of parts (S3 allows 10,000); the
	// part size grows with the file to stay under it.
	maxSessionParts = 2000
	// MaxSessionSize is the largest file a session takes (S3's object limit).
	MaxSessionSize = 5 << 40
	// MaxPartsPage is the most part URLs one request returns.
	MaxPartsPage = 1000
)

// CreateUploadSession checks an upload against the bucket's policy (size
// limits, the declared type against the allow-list, the name, the quota
// including other open sessions) and starts a session the client uploads
// to directly.
// Returns FORBIDDEN without media:create, NOT_FOUND for an unknown bucket,
// BAD_USER_INPUT, CONFLICT if a file the caller can see has the name
// (without replace), PAYLOAD_TOO_LARGE,
// UNSUPPORTED_MEDIA_TYPE, QUOTA_EXCEEDED.
func (s *Service) CreateUploadSession(ctx context.Context, in SessionInput) (*UploadSession, error) {
	p, err := require(ctx, ScopeMediaCreate)
	if err != nil {
		return nil, err
	}
	if in.Bucket == "" {
		return nil, Invalid("bucket", "name a bucket")
	}
	f, err := s.newFile(p, in.UploadInput)
	if err != nil {
		return nil, err
	}
	if in.ChecksumSha256 != nil {
		c := strings.ToLower(*in.ChecksumSha256)
		if _, err := hex.DecodeString(c); err != nil || len(c) != 64 {
			return nil, Invalid("checksumSha256", "checksumSha256 must be 64 hexadecimal digits")
		}
		in.ChecksumSha256 = &c
	}
	declared := baseMIME(in.DeclaredType)
	if !validMIMEPattern(declared) || strings.Contains(declared, "*") {
		return nil, Invalid("mimeType", "mimeType must be a MIME type such as video/mp4")
	}
	switch {
	case in.Size <= 0:
		return nil, Invalid("size", "size must be positive")
	case in.Size > MaxSessionSize:
		return nil, Errorf(ETOOLARGE, "the file is %s; the limit is %s", humanBytes(in.Size), humanBytes(MaxSessionSize))
	}
	b, err := s.bucketByName(ctx, p, in.Bucket)
	if err != nil {
		return nil, err
	}
	// The declared type stands in for the sniffed one until completion,
	// which checks the content against both.
	sn := Sniffed{MimeType: declared, Type: ClassifyMIME(declared)}
	if err := s.checkContent(b, sn, in.Size, true); err != nil {
		return nil, err
	}
	if f.ExternalID != nil {
		if err := mayHoldExternalID(p, b); err != nil {
			return nil, err
		}
	}
	now := s.now()
	u := &UploadSession{ID: NewID(PrefixUploadSession, now), OrgID: p.OrgID, BucketID: b.ID, CreatedBy: p.UserID,
		BlobID: NewID(PrefixBlob, now), Size: in.Size, MimeType: declared, ChecksumSha256: in.ChecksumSha256,
		File: SessionFile{Path: f.Path, Name: f.Name, OriginalName: f.OriginalName, Tags: f.Tags, AltText: f.AltText,
			Caption: f.Caption, Copyright: f.Copyright, Metadata: f.Metadata, Visibility: in.Visibility, Replace: in.Replace,
			ExternalID: f.ExternalID},
		State: SessionOpen, ExpiresAt: now.Add(cmp.Or(s.Config.SessionTTL, DefaultConfig().SessionTTL)), CreatedAt: now, UpdatedAt: now}
	u.StorageKey = string(p.OrgID) + "/" + string(u.BlobID)
	err = s.Store.InTx(ctx, func(tx Store) error {
		b, err := tx.LockBucket(ctx, p.OrgID, b.ID)
		if err != nil {
			return err
		}
		if !in.Replace || !p.Can(ScopeMediaUpdate) {
			// Only a file the caller can see makes the name taken; the
			// file gets a free name at completion otherwise (see freeName).
			// Replacing one needs media:update: refused now, before any
			// byte is uploaded, rather than at completion.
			if _, err := s.in(tx).freeName(ctx, p, b.ID, f.Path, f.Name, "", nil); err != nil {
				if in.Replace && ErrorCode(err) == ECONFLICT {
					return Errorf(EFORBIDDEN, "replacing %s needs the media:update scope", f.Name)
				}
				return err
			}
			// Checked again on completion; this saves uploading first.
			if err := s.in(tx).checkExternalID(ctx, p, b, f.ExternalID, ""); err != nil {
				return err
			}
		}
		open, err := tx.OpenSessionBytes(ctx, p.OrgID, b.ID)
		if err != nil {
			return err
		}
		if err := checkQuota(ctx, tx, b, open+in.Size); err != nil {
			return err
		}
		u.PartSize = in.Size
		if in.Size > cmp.Or(s.Config.SinglePutLimit, DefaultSinglePutLimit) {
			u.PartSize = sessionPartSize(in.Size, max(cmp.Or(s.Config.SessionPartSize, DefaultSessionPartSize), MinPartSize))
		}
		if u.MultipartID, err = s.Blobs.CreateMultipart(ctx, u.StorageKey, declared); err != nil {
			return err
		}
		return tx.CreateUploadSession(ctx, u)
	})
	if err != nil {
		if u.MultipartID != "" {
			s.abortSessionUpload(ctx, u)
		}
		return nil, err
	}
	return u, nil
}

// sessionPartSize picks a part size: at least least, a whole number of
// MiB, and few enough parts.
func sessionPartSize(size, least int64) int64 {
	ps := least
	if need := (size + maxSessionParts - 1) / maxSessionParts; need > ps {
		ps = (need + mib - 1) / mib * mib
	}
	return ps
}

// UploadSession returns a session of the caller's.
// Returns NOT_FOUND unless the caller created it.
func (s *Service) UploadSession(ctx context.Context, id ID) (*UploadSession, error) {
	p, err := require(ctx, ScopeMediaCreate)
	if err != nil {
		return nil, err
	}
	if !id.Valid(PrefixUploadSession) {
		return nil, Errorf(ENOTFOUND, "upload session %s not found", id)
	}
	u, err := s.Store.UploadSession(ctx, p.OrgID, id)
	if err == nil && u.CreatedBy != p.UserID {
		err = Errorf(ENOTFOUND, "upload session %s not found", id)
	}
	return u, err
}

// SessionUploadURL returns the URL to PUT a single-PUT session's bytes to
// (the URL of its only part).
func (s *Service) SessionUploadURL(ctx context.Context, u *UploadSession) (*string, error) {
	if u.Multipart() || u.State != SessionOpen {
		return nil, nil
	}
	url, err := s.Blobs.PresignPart(ctx, u.StorageKey, u.MultipartID, 1, u.Size, u.ExpiresAt.Sub(s.now()))
	return &url, err
}

// SessionPart is one part to upload: its number, exact size and URL.
type SessionPart struct {
	Number int
	Size   int64
	URL    string
}

// SessionParts returns presigned URLs for up to first parts from number
// from (1-based), valid until the session expires.
// Returns BAD_USER_INPUT for a bad range.
func (s *Service) SessionParts(ctx context.Context, u *UploadSession, from, first int) ([]SessionPart, error) {
	if !u.Multipart() || u.State != SessionOpen {
		return []SessionPart{}, nil
	}
	if from < 1 || first < 0 || first > MaxPartsPage {
		return nil, Invalid("first", "ask for parts from 1, at most %d at a time", MaxPartsPage)
	}
	var out []SessionPart
	ttl := u.ExpiresAt.Sub(s.now())
	for n := from; n <= u.PartCount() && len(out) < first; n++ {
		size := u.PartSizeOf(n)
		url, err := s.Blobs.PresignPart(ctx, u.StorageKey, u.MultipartID, n, size, ttl)
		if err != nil {
			return nil, err
		}
		out = append(out, SessionPart{Number: n, Size: size, URL: url})
	}
	return out, nil
}

// SessionUploadedParts lists the parts the store already holds (to resume).
func (s *Service) SessionUploadedParts(ctx context.Context, u *UploadSession) ([]Part, error) {
	if !u.Multipart() || u.State != SessionOpen {
		return []Part{}, nil
	}
	parts, err := s.Blobs.ListParts(ctx, u.StorageKey, u.MultipartID)
	if IsNotFound(err) {
		return []Part{}, nil
	}
	return parts, err
}

// CompleteUploadSession verifies what the client stored and makes the file
// (or, with replace, a new revision): the size, the checksum if one was
// given, the type sniffed from the first bytes against the declared type
// and the bucket's policy, the quota and the name. For a multipart
// session, parts may name the parts to join (number and ETag); without
// them, the parts the store holds are joined. Completing a completed
// session again returns its file.
// Returns NOT_FOUND, BAD_USER_INPUT (missing parts, wrong size or
// checksum: the session is aborted unless only parts were missing or
// mismatched), CONFLICT (expired, aborted or being completed; name taken),
// and the upload errors.
func (s *Service) CompleteUploadSession(ctx context.Context, id ID, parts []Part) (*File, error) {
	u, err := s.UploadSession(ctx, id)
	if err != nil {
		return nil, err
	}
	p := PrincipalFrom(ctx)
	switch {
	case u.State == SessionCompleted && u.FileID != nil:
		return s.File(ctx, *u.FileID)
	case u.State != SessionOpen:
		return nil, Errorf(ECONFLICT, "upload session %s is %s", id, strings.ToLower(string(u.State)))
	case !s.now().Before(u.ExpiresAt):
		return nil, Errorf(ECONFLICT, "upload session %s expired at %s", id, u.ExpiresAt.Format(time.RFC3339))
	}
	ok, err := s.Store.SetUploadSessionState(ctx, u, SessionOpen, SessionCompleting, s.now())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, Errorf(ECONFLICT, "upload session %s is being completed by another request", id)
	}
	f, keepOpen, err := s.completeSession(ctx, p, u, parts)
	if err != nil {
		next := SessionAborted
		if keepOpen {
			next = SessionOpen
		}
		u.FileID = nil // the file was not committed
		if _, serr := s.Store.SetUploadSessionState(context.WithoutCancel(ctx), u, SessionCompleting, next, s.now()); serr != nil {
			s.Logger.ErrorContext(ctx, "resetting an upload session", "session_id", u.ID, "err", serr)
		}
		return nil, err
	}
	return f, nil
}

// completeSession does the work of CompleteUploadSession. keepOpen reports
// that the client can still fix the problem (parts missing or mismatched,
// the store unavailable) and the session should stay open.
func (s *Service) completeSession(ctx context.Context, p *Principal, u *UploadSession, parts []Part) (f *File, keepOpen bool, err error) {
	bs, err := s.Store.BucketsByIDs(ctx, p.OrgID, []ID{u.BucketID})
	if err != nil || len(bs) == 0 {
		return nil, false, cmp.Or(err, error(Errorf(ENOTFOUND, "the session's bucket no longer exists")))
	}
	b := bs[0]
	jctx, span := s.startSpan(ctx, "upload.join", attribute.Int64("upload.size", u.Size), attribute.Int("upload.parts", u.PartCount()))
	err = s.joinParts(jctx, u, parts)
	endSpan(span, err)
	if err != nil {
		return nil, !IsNotFound(err), err
	}
	info, err := s.Blobs.Stat(ctx, u.StorageKey)
	if IsNotFound(err) {
		return nil, true, Invalid("id", "nothing was uploaded to this session yet")
	}
	if err != nil {
		return nil, true, err
	}
	if info.Size != u.Size {
		// The signed URLs only take the exact size; this is a store
		// that does not enforce it.
		s.abortSessionUpload(ctx, u)
		return nil, false, Invalid("size", "the uploaded content is %d bytes; the session was for %d", info.Size, u.Size)
	}
	// From here the object exists under the key: record the blob so a
	// crash leaves a PENDING row the sweeper cleans up.
	blob := &Blob{ID: u.BlobID, OrgID: u.OrgID, StorageKey: u.StorageKey, State: BlobPending, CreatedAt: s.now(), Size: u.Size}
	if err := s.Store.CreateBlob(ctx, blob); err != nil {
		return nil, true, err
	}
	if err := s.verifyStored(ctx, b, u, blob); err != nil {
		switch ErrorCode(err) {
		case EINVALID, EUNSUPPORTED, ETOOLARGE:
			s.discardBlob(ctx, blob)
			return nil, false, err
		}
		// Not the content's fault (the store failed, say): keep the
		// bytes and let the client complete again.
		if derr := s.Store.DeleteBlobs(context.WithoutCancel(ctx), []ID{blob.ID}); derr != nil {
			s.Logger.WarnContext(ctx, "deleting a blob row; cleanup will retry", "blob_id", blob.ID, "err", derr)
		}
		return nil, true, err
	}
	nf := s.sessionFile(p, u)
	if nf.Visibility == "" {
		nf.Visibility = b.DefaultVisibility
	}
	sf := u.File
	describe, err := uploadDescription(UploadInput{Tags: sf.Tags, AltText: sf.AltText, Caption: sf.Caption,
		Copyright: sf.Copyright, Metadata: sf.Metadata, ExternalID: sf.ExternalID})
	if err != nil {
		s.discardBlob(ctx, blob)
		return nil, false, err
	}
	up := &staged{file: nf, bucket: b, blob: blob, replace: sf.Replace, describe: describe}
	fs, err := s.commitAll(ctx, p, []*staged{up}, func(ts *Service, fs []*File) error {
		u.FileID = &fs[0].ID
		ok, err := ts.Store.SetUploadSessionState(ctx, u, SessionCompleting, SessionCompleted, s.now())
		if err == nil && !ok {
			err = Errorf(ECONFLICT, "upload session %s is no longer being completed", u.ID)
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return fs[0], false, nil
}

// joinParts completes the multipart upload after checking that the parts
// cover the session exactly.
func (s *Service) joinParts(ctx context.Context, u *UploadSession, given []Part) error {
	stored, err := s.Blobs.ListParts(ctx, u.StorageKey, u.MultipartID)
	if IsNotFound(err) {
		// Joined already by an earlier attempt that failed later on.
		if info, serr := s.Blobs.Stat(ctx, u.StorageKey); serr == nil && info.Size == u.Size {
			return nil
		}
	}
	if err != nil {
		return err
	}
	if len(stored) == 0 {
		return Invalid("id", "nothing was uploaded to this session yet")
	}
	if given == nil {
		given = stored
	}
	byNumber := map[int]Part{}
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	var missing []string
	var join []Part
	seen := map[int]bool{}
	for _, g := range given {
		if g.Number < 1 || g.Number > u.PartCount() || seen[g.Number] {
			return Invalid("parts", "part %d is not a part of this session (1 to %d, each once)", g.Number, u.PartCount())
		}
		seen[g.Number] = true
	}
	for n := 1; n <= u.PartCount(); n++ {
		sp, ok := byNumber[n]
		if !ok || !seen[n] {
			missing = append(missing, fmt.Sprint(n))
			continue
		}
		if sp.Size != u.PartSizeOf(n) {
			return Invalid("parts", "part %d is %d bytes; it must be %d", n, sp.Size, u.PartSizeOf(n))
		}
		join = append(join, sp)
	}
	if len(missing) > 0 {
		if len(missing) > 20 {
			missing = append(missing[:20], "…")
		}
		return Invalid("parts", "parts %s of %d are not uploaded", strings.Join(missing, ", "), u.PartCount())
	}
	for _, g := range given {
		if g.ETag != "" && strings.Trim(g.ETag, `"`) != strings.Trim(byNumber[g.Number].ETag, `"`) {
			return Invalid("parts", "part %d's ETag %s does not match the stored part's; upload it again", g.Number, g.ETag)
		}
	}
	return s.Blobs.CompleteMultipart(ctx, u.StorageKey, u.MultipartID, join)
}

// verifyStored checks the stored object of a session: its size, its type
// (sniffed from the first bytes) against the declared type and the
// bucket's policy, and its SHA-256 (computed by reading it once, which
// dedupe and File.checksumSha256 need) against the client's.
func (s *Service) verifyStored(ctx context.Context, b *Bucket, u *UploadSession, blob *Blob) error {
	vctx, span := s.startSpan(ctx, "upload.verify", attribute.Int64("upload.size", u.Size))
	err := s.checkStored(vctx, b, u, blob)
	endSpan(span, err)
	if err != nil {
		return err
	}
	return s.analyzeBlob(ctx, b, blob)
}

// checkStored is verifyStored before analysis.
func (s *Service) checkStored(ctx context.Context, b *Bucket, u *UploadSession, blob *Blob) error {
	head := make([]byte, min(u.Size, SniffLimit))
	if _, err := s.readerAt(ctx, u.StorageKey).ReadAt(head, 0); err != nil && !(err == io.EOF && int64(len(head)) == u.Size) {
		return err
	}
	sn := Sniff(head, u.Size)
	if err := checkDeclared(u.MimeType, sn.MimeType); err != nil {
		return err
	}
	if err := s.checkContent(b, sn, u.Size, true); err != nil {
		return err
	}
	hash := sha256.New()
	if err := s.readAhead(ctx, u.StorageKey, u.Size, func(b []byte) { hash.Write(b) }); err != nil {
		return err
	}
	blob.Sha256 = hex.EncodeToString(hash.Sum(nil))
	if u.ChecksumSha256 != nil && *u.ChecksumSha256 != blob.Sha256 {
		return Invalid("checksumSha256", "the uploaded content's SHA-256 is %s, not %s", blob.Sha256, *u.ChecksumSha256)
	}
	if b.StripGPSMetadata && stripJPEGLocation(head) {
		// The client's checksum was of what it sent; the file keeps the
		// bytes without their location, written over the object.
		var rest io.ReadCloser = io.NopCloser(bytes.NewReader(nil))
		if int64(len(head)) < u.Size {
			var err error
			if rest, err = s.Blobs.Get(ctx, u.StorageKey, int64(len(head)), -1); err != nil {
				return err
			}
		}
		defer rest.Close()
		h := sha256.New()
		if err := s.Blobs.Put(ctx, u.StorageKey, io.TeeReader(io.MultiReader(bytes.NewReader(head), rest), h), u.Size, sn.MimeType); err != nil {
			return err
		}
		blob.Sha256 = hex.EncodeToString(h.Sum(nil))
	}
	blob.MimeType, blob.Width, blob.Height, blob.State = sn.MimeType, sn.Width, sn.Height, BlobReady
	return nil
}

// Reading a stored object back (to hash a session's upload) fetches
// readAheadChunk-byte ranges, readAheadWorkers at a time, so the store's
// latency overlaps the hashing; at most readAheadWorkers+1 chunks are held.
const (
	readAheadChunk   = 2 << 20
	readAheadWorkers = 4
)

// readAhead calls fn with the bytes of an object of size bytes, in order.
func (s *Service) readAhead(ctx context.Context, key string, size int64, fn func([]byte)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		buf []byte
		err error
	}
	free := make(chan []byte, readAheadWorkers+1)
	for range readAheadWorkers + 1 {
		free <- make([]byte, readAheadChunk)
	}
	queue := make(chan chan result, readAheadWorkers)
	go func() {
		defer close(queue)
		ra := s.readerAt(ctx, key)
		for off := int64(0); off < size; off += readAheadChunk {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			ch := make(chan result, 1)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
			go func() {
				b := buf[:min(readAheadChunk, size-off)]
				_, err := ra.ReadAt(b, off)
				if err == io.EOF && off+int64(len(b)) == size {
					err = nil
				}
				ch <- result{b, err}
			}()
		}
	}()
	for ch := range queue {
		r := <-ch
		if r.err != nil {
			return r.err
		}
		fn(r.buf)
		free <- r.buf[:cap(r.buf)]
	}
	return ctx.Err()
}

// sessionFile is the file a session makes.
func (s *Service) sessionFile(p *Principal, u *UploadSession) *File {
	now := s.now()
	uid := p.UserID
	sf := u.File
	f := &File{ID: NewID(PrefixFile, now), OrgID: p.OrgID, BucketID: u.BucketID, Path: sf.Path, Name: sf.Name,
		OriginalName: sf.OriginalName, AltText: sf.AltText, Caption: sf.Caption, Copyright: sf.Copyright,
		Metadata: sf.Metadata, Tags: sf.Tags, ExternalID: sf.ExternalID, Revision: 1, CreatedAt: now, UpdatedAt: now,
		CreatedBy: &uid, UpdatedBy: &uid}
	if f.Metadata == nil {
		f.Metadata = map[string]any{}
	}
	if f.Tags == nil {
		f.Tags = []string{}
	}
	if sf.Visibility != nil {
		f.Visibility = *sf.Visibility
	}
	return f
}

// AbortUploadSession ends an open session and deletes what was uploaded.
// Returns NOT_FOUND, CONFLICT if it is completed or being completed.
func (s *Service) AbortUploadSession(ctx context.Context, id ID) error {
	u, err := s.UploadSession(ctx, id)
	if err != nil {
		return err
	}
	switch u.State {
	case SessionAborted, SessionExpired:
		return nil
	case SessionOpen:
	default:
		return Errorf(ECONFLICT, "upload session %s is %s", id, strings.ToLower(string(u.State)))
	}
	ok, err := s.Store.SetUploadSessionState(ctx, u, SessionOpen, SessionAborted, s.now())
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(ECONFLICT, "upload session %s changed meanwhile; try again", id)
	}
	s.abortSessionUpload(ctx, u)
	return nil
}

// abortSessionUpload drops a session's parts and object; failures are
// left to the sweeper, which aborts uploads no open session knows.
func (s *Service) abortSessionUpload(ctx context.Context, u *UploadSession) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if u.MultipartID != "" {
		if err := s.Blobs.AbortMultipart(ctx, u.StorageKey, u.MultipartID); err != nil {
			s.Logger.WarnContext(ctx, "aborting a multipart upload; the sweeper will retry", "session_id", u.ID, "err", err)
		}
	}
	if err := s.Blobs.Delete(ctx, u.StorageKey); err != nil {
		s.Logger.WarnContext(ctx, "deleting a session's object; the sweeper will retry", "session_id", u.ID, "err", err)
	}
}

// expireSessions ends sessions whose time is up (and sessions whose
// completion died half-way), deleting their parts and objects.
func (s *Service) expireSessions(ctx context.Context) (int, error) {
	n := 0
	for {
		us, err := s.Store.ExpiredUploadSessions(ctx, s.now(), s.now().Add(-s.Config.CleanupAge), 100)
		if err != nil {
			return n, err
		}
		for _, u := range us {
			ok, err := s.Store.SetUploadSessionState(ctx, u, u.State, SessionExpired, s.now())
			if err != nil {
				return n, err
			}
			if ok {
				s.abortSessionUpload(ctx, u)
				n++
			}
		}
		if len(us) < 100 {
			return n, nil
		}
	}
}

// abortStrayMultipart aborts multipart uploads in the store that no open
// session knows and that are older than CleanupAge (their session row is
// gone, e.g. with its bucket, or was never committed).
func (s *Service) abortStrayMultipart(ctx context.Context) (int, error) {
	cutoff := s.now().Add(-s.Config.CleanupAge)
	var stray []MultipartInfo
	err := s.Blobs.ListMultipart(ctx, "", func(m MultipartInfo) error {
		if m.Initiated.Before(cutoff) {
			stray = append(stray, m)
		}
		return nil
	})
	if err != nil || len(stray) == 0 {
		return 0, err
	}
	keys := make([]string, len(stray))
	for i, m := range stray {
		keys[i] = m.Key
	}
	known, err := s.Store.BlobKeysExist(ctx, keys)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range stray {
		if known[m.Key] {
			continue
		}
		if err := s.Blobs.AbortMultipart(ctx, m.Key, m.UploadID); err != nil {
			return n, err
		}
		s.Logger.WarnContext(ctx, "aborted a multipart upload no session knew", "key", m.Key)
		n++
	}
	return n, nil
}
