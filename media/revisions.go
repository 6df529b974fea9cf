package media

import (
	"context"
	"io"

	"go.opentelemetry.io/otel/attribute"
)

// addRevision makes a stored blob the new content of f, a file locked in
// the transaction s works in (see in): a new revision numbered after the
// current one, checked against the bucket's quota. dropPrevious also
// deletes the previous revision and returns its blob in released, for
// release after the commit. dup reports that blob was a duplicate of
// stored content and must be discarded after the commit.
func (s *Service) addRevision(ctx context.Context, p *Principal, b *Bucket, f *File, blob *Blob,
	dropPrevious bool) (out *File, dup bool, released ID, err error) {
	if f.TrashedAt != nil {
		return nil, false, "", Errorf(ECONFLICT, "file %s is in the trash; restore it first", f.ID)
	}
	if err := checkQuota(ctx, s.Store, b, blob.Size); err != nil {
		return nil, false, "", err
	}
	id, dup, err := settle(ctx, s.Store, blob)
	if err != nil {
		return nil, false, "", err
	}
	prev := f.Revision
	now := s.now()
	f.BlobID, f.Revision, f.UpdatedAt, f.UpdatedBy = id, prev+1, now, &p.UserID
	setContent(f, blob)
	if err := s.Store.AddRevision(ctx, f, newRevision(f, p, now)); err != nil {
		return nil, false, "", err
	}
	s.emit(p, EventRevisionAdded, f, nil)
	if dropPrevious {
		if released, err = s.Store.DeleteRevision(ctx, f.OrgID, f.ID, prev); err != nil {
			return nil, false, "", err
		}
	}
	return f, dup, released, nil
}

// ReplaceContent gives a file new content as a new revision. With
// keepPrevious false the previous revision is deleted and its bytes are
// released if nothing else uses them, which destroys content: it needs the
// rights of a delete too (CONTRACT §6). The new content is checked against
// the bucket's policy like an upload.
// Returns NOT_FOUND, FORBIDDEN without media:update (and, keepPrevious
// false, media:delete and delete rights), CONFLICT if the file is in the
// trash or (keepPrevious false) under legal hold, and the upload errors.
func (s *Service) ReplaceContent(ctx context.Context, id ID, content io.Reader, size int64, declared string, keepPrevious bool) (*File, error) {
	p, f, err := s.fileFor(ctx, id, ActRevise)
	if err != nil {
		return nil, err
	}
	checks := func(ts *Service, f *File) error {
		if keepPrevious {
			return nil
		}
		if _, err := require(ctx, ScopeMediaDelete); err != nil {
			return err
		}
		if err := ts.allow(ctx, p, f, ActDestroy); err != nil {
			return err
		}
		if f.LegalHold {
			return legalHold(f, "have its previous revision discarded")
		}
		return nil
	}
	if err := checks(s, f); err != nil {
		return nil, err
	}
	b, err := s.bucketOf(ctx, p, f)
	if err != nil {
		return nil, err
	}
	in := UploadInput{Content: content, Size: size, DeclaredType: declared}
	if err := openIncoming(&in); err != nil {
		return nil, err
	}
	blob, err := s.storeContent(ctx, p, b, in.Content, in.Size, in.DeclaredType)
	if err != nil {
		return nil, err
	}
	var out *File
	var released ID
	dup := false
	cctx, span := s.startSpan(ctx, "upload.commit", attribute.Int("upload.files", 1))
	err = s.inTx(cctx, func(ts *Service) error {
		ctx := cctx
		b, err := ts.Store.LockBucket(ctx, p.OrgID, b.ID)
		if err != nil {
			return err
		}
		f, err := ts.lockFile(ctx, p, id, ActRevise)
		if err != nil {
			return err
		}
		if f.BucketID != b.ID {
			return Errorf(ECONFLICT, "file %s moved to another bucket meanwhile; try again", id)
		}
		if err := checks(ts, f); err != nil {
			return err
		}
		out, dup, released, err = ts.addRevision(ctx, p, b, f, blob, !keepPrevious)
		return err
	})
	endSpan(span, err)
	if err != nil || dup {
		s.discardBlob(ctx, blob)
	}
	if err != nil {
		return nil, err
	}
	if released != "" {
		s.releaseBlobs(ctx, []ID{released})
	}
	return out, nil
}

// RestoreRevision makes revision n's content current again as a new
// revision; all history is kept and no bytes are copied.
// Returns NOT_FOUND (file or revision), FORBIDDEN without media:update,
// CONFLICT for a trashed file, QUOTA_EXCEEDED.
func (s *Service) RestoreRevision(ctx context.Context, id ID, n int) (*File, error) {
	p, f, err := s.fileFor(ctx, id, ActRevise)
	if err != nil {
		return nil, err
	}
	var out *File
	err = s.inTx(ctx, func(ts *Service) error {
		tx := ts.Store
		b, err := tx.LockBucket(ctx, p.OrgID, f.BucketID)
		if err != nil {
			return err
		}
		if f, err = ts.lockFile(ctx, p, id, ActRevise); err != nil {
			return err
		}
		if f.BucketID != b.ID {
			return Errorf(ECONFLICT, "file %s moved to another bucket meanwhile; try again", id)
		}
		r, err := tx.Revision(ctx, p.OrgID, id, n)
		if IsNotFound(err) {
			return Invalid("revision", "file %s has no revision %d", id, n)
		}
		if err != nil {
			return err
		}
		blob, err := tx.Blob(ctx, p.OrgID, r.BlobID)
		if err != nil {
			return err
		}
		// The blob is in use by revision n, so it is READY and settle
		// finds it (and locks it) rather than marking anything.
		out, _, _, err = ts.addRevision(ctx, p, b, f, blob, false)
		return err
	})
	return out, err
}

// DeleteRevision deletes an old revision and releases its bytes if nothing
// else uses them. The current revision cannot be deleted.
// Returns NOT_FOUND, FORBIDDEN unless the caller may destroy the file
// (CONTRACT §6), CONFLICT for the current revision or a file under legal hold.
func (s *Service) DeleteRevision(ctx context.Context, id ID, n int) (*File, error) {
	var blobID ID
	f, err := s.changeFile(ctx, ScopeMediaDelete, id, ActDestroy, func(tx *Service, p *Principal, f *File) error {
		switch {
		case f.LegalHold:
			return legalHold(f, "have revisions deleted")
		case n == f.Revision:
			return Errorf(ECONFLICT, "revision %d is the current content of file %s; restore or upload another revision first", n, id)
		}
		var err error
		blobID, err = tx.Store.DeleteRevision(ctx, p.OrgID, id, n)
		if IsNotFound(err) {
			return Invalid("revision", "file %s has no revision %d", id, n)
		}
		tx.emit(p, EventUpdated, f, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.releaseBlobs(ctx, []ID{blobID})
	return f, nil
}

// Revisions lists a file's revisions, oldest first.
func (s *Service) Revisions(ctx context.Context, f *File) ([]*Revision, error) {
	p, err := require(ctx, ScopeMediaRead)
	if err != nil {
		return nil, err
	}
	rs, err := s.Store.Revisions(ctx, p.OrgID, f.ID)
	for _, r := range rs {
		r.File = f
	}
	return rs, err
}

// RevisionURL returns the download URL of a revision from Revisions.
func (s *Service) RevisionURL(ctx context.Context, r *Revision, expiresIn *int) (string, error) {
	if _, err := require(ctx, ScopeMediaRead); err != nil {
		return "", err
	}
	return s.fileURL(r.File, r.Number, expiresIn)
}

// bucketOf returns the bucket of a file of the caller's organization.
func (s *Service) bucketOf(ctx context.Context, p *Principal, f *File) (*Bucket, error) {
	bs, err := s.bucketsOf(ctx, p, []*File{f})
	if err != nil {
		return nil, err
	}
	return bs[f.BucketID], nil
}

// bucketsOf returns the buckets of files of the caller's organization, by
// id, in one query. Returns NOT_FOUND if one is gone.
func (s *Service) bucketsOf(ctx context.Context, p *Principal, fs []*File) (map[ID]*Bucket, error) {
	ids := make([]ID, len(fs))
	for i, f := range fs {
		ids[i] = f.BucketID
	}
	bs, err := s.Store.BucketsByIDs(ctx, p.OrgID, compactIDs(ids))
	if err != nil {
		return nil, err
	}
	out := make(map[ID]*Bucket, len(bs))
	for _, b := range bs {
		out[b.ID] = b
	}
	for _, f := range fs {
		if out[f.BucketID] == nil {
			return nil, Errorf(ENOTFOUND, "bucket not found")
		}
	}
	return out, nil
}
