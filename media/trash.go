package media

import (
	"context"
	"time"
)

// DefaultTrashRetention is how long trashed files are kept before the
// sweeper purges them, unless their bucket says otherwise.
const DefaultTrashRetention = 7 * 24 * time.Hour

// Trash moves a file to the trash. It is purged after its bucket's
// retention (default 7 days); until then restoreFile brings it back.
// Trashing a trashed file changes nothing.
// Returns NOT_FOUND, FORBIDDEN unless the caller may destroy it (CONTRACT
// §6), CONFLICT if it is under legal hold.
func (s *Service) Trash(ctx context.Context, id ID) (*File, error) {
	return s.changeFile(ctx, ScopeMediaDelete, id, ActDestroy, func(tx *Service, p *Principal, f *File) error {
		if f.LegalHold {
			return legalHold(f, "be trashed")
		}
		if f.TrashedAt != nil {
			return nil
		}
		b, err := tx.bucketOf(ctx, p, f)
		if err != nil {
			return err
		}
		now := s.now()
		purge := now.Add(TrashRetentionOf(b))
		f.TrashedAt, f.PurgeAt, f.UpdatedAt, f.UpdatedBy = &now, &purge, now, &p.UserID
		tx.emit(p, EventTrashed, f, nil)
		return tx.Store.SetFileState(ctx, f)
	})
}

// Restore takes a file out of the trash, into the folder it was in. If a
// file the caller cannot see has its name there now, it comes back under a
// free name, as if that file did not exist.
// Returns NOT_FOUND, FORBIDDEN, CONFLICT if a file the caller can see has
// its name there now (rename or move that one first).
func (s *Service) Restore(ctx context.Context, id ID) (*File, error) {
	return s.changeFile(ctx, ScopeMediaDelete, id, ActDestroy, func(tx *Service, p *Principal, f *File) error {
		if f.TrashedAt == nil {
			return nil
		}
		name, err := tx.freeName(ctx, p, f.BucketID, f.Path, f.Name, f.ID, nil)
		if ErrorCode(err) == ECONFLICT {
			return Errorf(ECONFLICT, "cannot restore: a file named %q now exists in %s; rename or move it first", f.Name, f.Path)
		}
		if err != nil {
			return err
		}
		now := s.now()
		if name != f.Name {
			f.Name, f.UpdatedAt, f.UpdatedBy = name, now, &p.UserID
			if err := tx.Store.UpdateFile(ctx, f, nil); err != nil {
				return err
			}
		}
		f.TrashedAt, f.PurgeAt, f.UpdatedAt, f.UpdatedBy = nil, nil, now, &p.UserID
		tx.emit(p, EventRestored, f, nil)
		return tx.Store.SetFileState(ctx, f)
	})
}

// EmptyTrash purges every trashed file of a bucket (or of the
// organization) now, except files under legal hold. It returns how many
// files it purged.
// Returns FORBIDDEN without admin (it deletes other people's files),
// NOT_FOUND for an unknown bucket.
func (s *Service) EmptyTrash(ctx context.Context, bucket *string) (int, error) {
	p, err := require(ctx, ScopeAdmin)
	if err != nil {
		return 0, err
	}
	q := FileQuery{OrgID: p.OrgID, Filter: FileFilter{Trashed: TrashOnly, LegalHold: new(false)},
		Order: FileOrder{Field: OrderCreatedAt, Direction: Asc}, Limit: 100}
	if bucket != nil {
		b, err := s.bucketByName(ctx, p, *bucket)
		if err != nil {
			return 0, err
		}
		q.BucketID = &b.ID
	}
	n := 0
	for {
		fs, err := s.Store.ListFiles(ctx, q)
		if err != nil {
			return n, err
		}
		for _, f := range fs {
			ok, err := s.purgeFile(ctx, p.OrgID, f.ID, nil)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
		if len(fs) < q.Limit {
			return n, nil
		}
		last := fs[len(fs)-1]
		q.After = &FileKey{Time: last.CreatedAt, ID: last.ID}
	}
}

// SetLegalHold puts a file under legal hold, or releases it. While held it
// cannot be trashed, deleted, purged, lose revisions or leave its bucket.
// Returns FORBIDDEN without admin, NOT_FOUND, BAD_USER_INPUT for a bad reason.
func (s *Service) SetLegalHold(ctx context.Context, id ID, hold bool, reason *string) (*File, error) {
	if err := checkText("reason", reason); err != nil {
		return nil, err
	}
	return s.changeFile(ctx, ScopeAdmin, id, ActRead, func(tx *Service, p *Principal, f *File) error {
		f.LegalHold, f.LegalHoldReason = hold, reason
		if !hold {
			f.LegalHoldReason = nil
		}
		f.UpdatedAt, f.UpdatedBy = s.now(), &p.UserID
		tx.emit(p, EventUpdated, f, nil)
		return tx.Store.SetFileState(ctx, f)
	})
}

// TrashRetentionOf returns how long a bucket keeps trashed files.
func TrashRetentionOf(b *Bucket) time.Duration {
	if b.TrashRetention != nil {
		return *b.TrashRetention
	}
	return DefaultTrashRetention
}
