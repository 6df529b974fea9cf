package media

import (
	"bytes"
	"context"
	"io"
	"slices"
	"time"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// File returns a file by id; trashed files resolve too.
// Returns NOT_FOUND if it does not exist or is not visible to the caller,
// exactly as for an id of another organization.
func (s *Service) File(ctx context.Context, id ID) (*File, error) {
	_, f, err := s.fileFor(ctx, id, ActRead)
	return f, err
}

// FilesByIDs loads files for a batch of ids, in key order; nil where the
// caller cannot see one.
func (s *Service) FilesByIDs(ctx context.Context, ids []ID) ([]*File, error) {
	p, err := require(ctx, ScopeMediaRead)
	if err != nil {
		return nil, err
	}
	valid := validIDs(ids, PrefixFile)
	if len(valid) == 0 {
		return make([]*File, len(ids)), nil
	}
	fs, err := s.Store.ListFiles(ctx, FileQuery{OrgID: p.OrgID, IDs: valid, Filter: FileFilter{Trashed: TrashInclude},
		Audience: audienceOf(p)})
	if err != nil {
		return nil, err
	}
	return inKeyOrder(ids, fs, func(f *File) ID { return f.ID }), nil
}

// UsersByIDs loads users of the caller's organization, in key order.
func (s *Service) UsersByIDs(ctx context.Context, ids []ID) ([]*User, error) {
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, Errorf(EUNAUTHENTICATED, "an API key is required")
	}
	us, err := s.Store.UsersByIDs(ctx, p.OrgID, validIDs(ids, PrefixUser))
	if err != nil {
		return nil, err
	}
	return inKeyOrder(ids, us, func(u *User) ID { return u.ID }), nil
}

func validIDs(ids []ID, prefix string) []ID {
	out := make([]ID, 0, len(ids))
	for _, id := range ids {
		if id.Valid(prefix) {
			out = append(out, id)
		}
	}
	return out
}

// Node resolves any global id the caller may see: *File, *Bucket, *User,
// *Organization or *APIKey. Returns NOT_FOUND otherwise.
func (s *Service) Node(ctx context.Context, id ID) (Node, error) {
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, Errorf(EUNAUTHENTICATED, "an API key is required")
	}
	notFound := Errorf(ENOTFOUND, "%s not found", id)
	switch id.Prefix() {
	case PrefixFile:
		return s.File(ctx, id)
	case PrefixBucket:
		bs, err := s.BucketsByIDs(ctx, []ID{id})
		if err != nil {
			return nil, err
		}
		if bs[0] == nil {
			return nil, notFound
		}
		return bs[0], nil
	case PrefixUser:
		us, err := s.UsersByIDs(ctx, []ID{id})
		if err != nil {
			return nil, err
		}
		if us[0] == nil {
			return nil, notFound
		}
		return us[0], nil
	case PrefixOrganization:
		if id != p.OrgID {
			return nil, notFound
		}
		return s.Store.Organization(ctx, id)
	case PrefixPost, PrefixComment, PrefixMessage:
		t, err := s.resolveTarget(ctx, p, id)
		if err != nil {
			return nil, err
		}
		return t.value, nil
	case PrefixConversation:
		return s.Conversation(ctx, id)
	case PrefixAPIKey:
		if !id.Valid(PrefixAPIKey) {
			return nil, notFound
		}
		k, err := s.Store.APIKey(ctx, p.OrgID, id)
		if IsNotFound(err) {
			return nil, notFound
		}
		if err != nil {
			return nil, err
		}
		if k.UserID != p.UserID && !p.Can(ScopeAdmin) {
			return nil, notFound
		}
		return k, nil
	case PrefixWebhook:
		if !p.Can(ScopeAdmin) {
			return nil, notFound
		}
		return s.Webhook(ctx, id)
	}
	return nil, notFound
}

// DeleteFile deletes a file at once (see DeleteFiles).
// Returns NOT_FOUND, FORBIDDEN unless the caller may destroy it (CONTRACT
// §6), CONFLICT if it is in use (without force) or under legal hold.
func (s *Service) DeleteFile(ctx context.Context, id ID, force bool) (ID, error) {
	if _, err := s.DeleteFiles(ctx, []ID{id}, force); err != nil {
		return "", err
	}
	return id, nil
}

// DeleteFiles deletes files at once, all or nothing: their rows, their
// revisions, and the bytes no other revision uses. A file in use is only
// deleted with force, which detaches it everywhere (CONTRACT rule 5);
// usages the caller cannot see count too. It returns the ids, in order.
// Returns BAD_USER_INPUT for more than MaxBulkIDs ids or one given twice,
// and for the first file refused: NOT_FOUND, FORBIDDEN unless the caller
// may destroy it (CONTRACT §6), CONFLICT if it is under legal hold or in
// use (without force).
func (s *Service) DeleteFiles(ctx context.Context, ids []ID, force bool) ([]ID, error) {
	var blobIDs []ID
	_, err := s.changeFiles(ctx, ScopeMediaDelete, ids, ActDestroy, func(tx *Service, p *Principal, fs []*File) error {
		for _, f := range fs {
			if f.LegalHold {
				return legalHold(f, "be deleted")
			}
		}
		if !force {
			uses, err := tx.Store.CountUsages(ctx, p.OrgID, ids)
			if err != nil {
				return err
			}
			for _, f := range fs {
				if n := uses[f.ID]; n > 0 {
					places := "places"
					if n == 1 {
						places = "place"
					}
					return Errorf(ECONFLICT, "file %s is used in %d %s (posts, comments or messages); pass force: true to detach it everywhere and delete it", f.ID, n, places)
				}
			}
		}
		for _, f := range fs {
			tx.emit(p, EventDeleted, f, nil)
		}
		var err error
		blobIDs, err = tx.Store.DeleteFiles(ctx, p.OrgID, ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.releaseBlobs(ctx, blobIDs)
	return slices.Clone(ids), nil
}

// purgeFile deletes a file if it is still in the trash, not under legal
// hold, and due (its purge time is before due; nil: any time), deciding on
// the row locked as it is now: a restore or hold that won the race is kept.
// It reports whether the file was deleted.
func (s *Service) purgeFile(ctx context.Context, orgID, id ID, due *time.Time) (bool, error) {
	var blobIDs []ID
	deleted := false
	err := s.inTx(ctx, func(ts *Service) error {
		f, err := ts.Store.LockFile(ctx, orgID, id)
		if err != nil {
			return err
		}
		if f.TrashedAt == nil || f.LegalHold || (due != nil && (f.PurgeAt == nil || f.PurgeAt.After(*due))) {
			return nil
		}
		ts.emit(PrincipalFrom(ctx), EventDeleted, f, nil)
		blobIDs, err = ts.Store.DeleteFiles(ctx, orgID, []ID{id})
		deleted = err == nil
		return err
	})
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.releaseBlobs(ctx, blobIDs)
	return deleted, nil
}

// releaseBlobs deletes the blobs among ids that nothing uses any more.
// They are claimed (marked PENDING under row locks that uploads
// deduplicating against them also take), then their bytes go, then their
// rows: a crash in between leaves PENDING rows that Cleanup finishes,
// never bytes that nothing points at, and never a row pointing at deleted
// bytes. The database work is a bounded number of queries, whatever the
// number of blobs.
func (s *Service) releaseBlobs(ctx context.Context, ids []ID) {
	if len(ids) == 0 {
		return
	}
	bs, err := s.Store.ClaimUnreferencedBlobs(ctx, ids)
	if err != nil {
		s.Logger.ErrorContext(ctx, "releasing blobs; cleanup will retry", "blob_ids", ids, "err", err)
		return
	}
	s.discardBlobs(ctx, bs)
}

// discardBlob deletes a PENDING blob's bytes and then its row (see discardBlobs).
func (s *Service) discardBlob(ctx context.Context, b *Blob) { s.discardBlobs(ctx, []*Blob{b}) }

// discardBlobs deletes PENDING blobs' bytes and then their rows (in one
// statement). It runs even if ctx was cancelled (the client went away
// mid-upload). A blob whose bytes could not be deleted stays PENDING, and
// Cleanup removes both later.
func (s *Service) discardBlobs(ctx context.Context, bs []*Blob) {
	ctx = context.WithoutCancel(ctx)
	gone := make([]ID, 0, len(bs))
	for _, b := range bs {
		if s.discardBytes(ctx, b) {
			gone = append(gone, b.ID)
		}
	}
	if len(gone) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Store.DeleteBlobs(ctx, gone); err != nil {
		s.Logger.WarnContext(ctx, "deleting blob rows; cleanup will retry", "blob_ids", gone, "err", err)
	}
}

// discardBytes deletes a blob's thumbnails and bytes, and reports whether
// they are gone.
func (s *Service) discardBytes(ctx context.Context, b *Blob) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.deleteThumbnails(ctx, b); err != nil {
		s.Logger.WarnContext(ctx, "deleting thumbnails; the sweeper will retry", "blob_id", b.ID, "err", err)
		return false
	}
	// A failed Put may still have written the object (e.g. the store
	// committed but the response was lost): always try to delete.
	if err := s.Blobs.Delete(ctx, b.StorageKey); err != nil {
		s.Logger.WarnContext(ctx, "deleting blob bytes; cleanup will retry", "blob_id", b.ID, "err", err)
		return false
	}
	return true
}

// Cleanup removes blobs left pending for longer than Config.CleanupAge: the
// remains of uploads that died between storing bytes and committing the row,
// and of deletes that died between their steps. It returns how many it removed.
func (s *Service) Cleanup(ctx context.Context) (int, error) {
	n := 0
	for {
		blobs, err := s.Store.StalePendingBlobs(ctx, s.now().Add(-s.Config.CleanupAge), 100)
		if err != nil {
			return n, err
		}
		for _, b := range blobs {
			if err := s.Blobs.Delete(ctx, b.StorageKey); err != nil {
				return n, err
			}
			if err := s.Store.DeleteBlobs(ctx, []ID{b.ID}); err != nil {
				return n, err
			}
			n++
		}
		if len(blobs) < 100 {
			return n, nil
		}
	}
}

// Nodes resolves ids as Node does, in order, with nil for each id that does
// not exist or is not visible. Files, buckets and users are loaded in one
// query per kind.
func (s *Service) Nodes(ctx context.Context, ids []ID) ([]Node, error) {
	if len(ids) > MaxPageSize {
		return nil, Invalid("ids", "at most %d ids at once", MaxPageSize)
	}
	if PrincipalFrom(ctx) == nil {
		return nil, Errorf(EUNAUTHENTICATED, "an API key is required")
	}
	byPrefix := map[string][]ID{}
	for _, id := range ids {
		byPrefix[id.Prefix()] = append(byPrefix[id.Prefix()], id)
	}
	found := map[ID]Node{}
	for prefix, group := range byPrefix {
		switch prefix {
		case PrefixFile:
			fs, err := s.FilesByIDs(ctx, group)
			if err != nil {
				return nil, err
			}
			for i, f := range fs {
				if f != nil {
					found[group[i]] = f
				}
			}
		case PrefixBucket:
			bs, err := s.BucketsByIDs(ctx, group)
			if err != nil {
				return nil, err
			}
			for i, b := range bs {
				if b != nil {
					found[group[i]] = b
				}
			}
		case PrefixUser:
			us, err := s.UsersByIDs(ctx, group)
			if err != nil {
				return nil, err
			}
			for i, u := range us {
				if u != nil {
					found[group[i]] = u
				}
			}
		default:
			for _, id := range group {
				n, err := s.Node(ctx, id)
				if err != nil && !IsNotFound(err) {
					return nil, err
				}
				if err == nil {
					found[id] = n
				}
			}
		}
	}
	out := make([]Node, len(ids))
	for i, id := range ids {
		out[i] = found[id]
	}
	return out, nil
}
