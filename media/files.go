package media

import (
	"bytes"
	"context"
	"io"
	"time"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// File returns a file by id; trashed files resolve too.
// Returns NOT_FOUND if it does not exist or is not visible to the caller,
// exactly as for an id of another organization.
func (s *Service) File(ctx context.Context, id ID) (*File, error) {
	_, f, err := s.fileFor(ctx, ScopeMediaRead, id)
	return f, err
}

// fileFor returns the caller, which must hold scope, and a file of its
// organization. Returns UNAUTHENTICATED, FORBIDDEN, NOT_FOUND.
func (s *Service) fileFor(ctx context.Context, scope string, id ID) (*Principal, *File, error) {
	p, err := require(ctx, scope)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.file(ctx, p, id)
	return p, f, err
}

// deletableFile is fileFor, and the caller may delete the file (rule 6).
func (s *Service) deletableFile(ctx context.Context, scope string, id ID) (*Principal, *File, error) {
	p, f, err := s.fileFor(ctx, scope, id)
	if err == nil {
		err = s.mayDelete(ctx, p, f)
	}
	return p, f, err
}

// file returns a file the caller may see (RESTRICTED buckets included),
// trashed or not. Returns NOT_FOUND.
func (s *Service) file(ctx context.Context, p *Principal, id ID) (*File, error) {
	if !id.Valid(PrefixFile) {
		return nil, Errorf(ENOTFOUND, "file %s not found", id)
	}
	fs, err := s.Store.ListFiles(ctx, FileQuery{OrgID: p.OrgID, IDs: []ID{id}, Filter: FileFilter{Trashed: TrashInclude},
		Audience: audienceOf(p), Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, Errorf(ENOTFOUND, "file %s not found", id)
	}
	return fs[0], nil
}

// audienceOf is whom file reads answer for: nil (everything in the
// organization) for admins and owners, the user otherwise.
func audienceOf(p *Principal) *Audience {
	if p.Role.IsAdmin() {
		return nil
	}
	return &Audience{UserID: p.UserID}
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
	}
	return nil, notFound
}

// DeleteFile deletes a file at once: its row, its revisions, and the bytes no
// other revision uses.
// Returns NOT_FOUND, FORBIDDEN unless the caller uploaded it or is an admin,
// CONFLICT if it is under legal hold.
func (s *Service) DeleteFile(ctx context.Context, id ID, force bool) (ID, error) {
	p, f, err := s.deletableFile(ctx, ScopeMediaDelete, id)
	if err != nil {
		return "", err
	}
	if f.LegalHold {
		return "", legalHold(f, "be deleted")
	}
	// CONTRACT rule 5: a file in use is only deleted with force, which
	// detaches it everywhere (its attachments go with it). Usages the caller
	// cannot see count too.
	n, err := s.Store.CountUsages(ctx, p.OrgID, f.ID)
	if err != nil {
		return "", err
	}
	if n > 0 && !force {
		places := "places"
		if n == 1 {
			places = "place"
		}
		return "", Errorf(ECONFLICT, "file %s is used in %d %s (posts, comments or messages); pass force: true to detach it everywhere and delete it", f.ID, n, places)
	}
	return s.deleteFile(ctx, f)
}

func (s *Service) deleteFile(ctx context.Context, f *File) (ID, error) {
	var blobIDs []ID
	err := s.Store.InTx(ctx, func(tx Store) error {
		var err error
		blobIDs, err = tx.DeleteFile(ctx, f.OrgID, f.ID)
		return err
	})
	if err != nil {
		return "", err
	}
	s.releaseBlobs(ctx, blobIDs)
	return f.ID, nil
}

// releaseBlobs deletes the blobs among ids that nothing uses any more. Each
// is claimed (marked PENDING under a row lock that uploads deduplicating
// against it also take), then its bytes go, then its row: a crash in
// between leaves a PENDING row that Cleanup finishes, never bytes that
// nothing points at, and never a row pointing at deleted bytes.
func (s *Service) releaseBlobs(ctx context.Context, ids []ID) {
	for _, id := range ids {
		b, ok, err := s.Store.ClaimUnreferencedBlob(ctx, id)
		if err != nil {
			s.Logger.ErrorContext(ctx, "releasing a blob; cleanup will retry", "blob_id", id, "err", err)
			continue
		}
		if ok {
			s.discardBlob(ctx, b)
		}
	}
}

// discardBlob deletes a PENDING blob's bytes and then its row. It runs even
// if ctx was cancelled (the client went away mid-upload). On failure the
// row stays PENDING and Cleanup removes both later.
func (s *Service) discardBlob(ctx context.Context, b *Blob) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.deleteThumbnails(ctx, b); err != nil {
		s.Logger.WarnContext(ctx, "deleting thumbnails; the sweeper will retry", "blob_id", b.ID, "err", err)
		return
	}
	// A failed Put may still have written the object (e.g. the store
	// committed but the response was lost): always try to delete.
	if err := s.Blobs.Delete(ctx, b.StorageKey); err != nil {
		s.Logger.WarnContext(ctx, "deleting blob bytes; cleanup will retry", "blob_id", b.ID, "err", err)
		return
	}
	if err := s.Store.DeleteBlob(ctx, b.ID); err != nil {
		s.Logger.WarnContext(ctx, "deleting blob row; cleanup will retry", "blob_id", b.ID, "err", err)
	}
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
			if err := s.Store.DeleteBlob(ctx, b.ID); err != nil {
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
