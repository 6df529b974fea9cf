package media

import (
	"context"
	"time"
)

// DefaultTrashRetention is how long trashed files are kept before the
// sweeper purges them, unless their bucket says otherwise.
const DefaultTrashRetention = 7 * 24 * time.Hour

// Trash moves a file to the trash (see TrashFiles).
// Returns NOT_FOUND, FORBIDDEN unless the caller may destroy it (CONTRACT
// §6), CONFLICT if it is under legal hold.
func (s *Service) Trash(ctx context.Context, id ID) (*File, error) {
	return one(s.TrashFiles(ctx, []ID{id}))
}

// TrashFiles moves files to the trash, all or nothing. Each is purged
// after its bucket's retention (default 7 days); until then restoreFile
// brings it back. Trashing a trashed file changes nothing.
// Returns BAD_USER_INPUT for more than MaxBulkIDs ids or one given twice,
// and for the first file refused: NOT_FOUND, FORBIDDEN unless the caller
// may destroy it (CONTRACT §6), CONFLICT if it is under legal hold.
func (s *Service) TrashFiles(ctx context.Context, ids []ID) ([]*File, error) {
	return s.changeFiles(ctx, ScopeMediaDelete, ids, ActDestroy, func(tx *Service, p *Principal, fs []*File) error {
		var trash []*File
		for _, f := range fs {
			if f.LegalHold {
				return legalHold(f, "be trashed")
			}
			if f.TrashedAt == nil {
				trash = append(trash, f)
			}
		}
		if len(trash) == 0 {
			return nil
		}
		buckets, err := tx.bucketsOf(ctx, p, trash)
		if err != nil {
			return err
		}
		now := s.now()
		for _, f := range trash {
			purge := now.Add(TrashRetentionOf(buckets[f.BucketID]))
			f.TrashedAt, f.PurgeAt, f.UpdatedAt, f.UpdatedBy = &now, &purge, now, &p.UserID
			tx.emit(p, EventTrashed, f, nil)
		}
		return tx.Store.SetFilesState(ctx, trash)
	})
}

// Restore takes a file out of the trash (see RestoreFiles).
// Returns NOT_FOUND, FORBIDDEN, CONFLICT if a file the caller can see has
// its name there now (rename or move that one first).
func (s *Service) Restore(ctx context.Context, id ID) (*File, error) {
	return one(s.RestoreFiles(ctx, []ID{id}))
}

// RestoreFiles takes files out of the trash, each into the folder it was
// in, all or nothing. If a file the caller cannot see has a file's name
// there now, it comes back under a free name, as if that file did not
// exist. Restoring a file that is not trashed changes nothing.
// Returns BAD_USER_INPUT for more than MaxBulkIDs ids or one given twice,
// and for the first file refused: NOT_FOUND, FORBIDDEN, CONFLICT if a
// file the caller can see (or another file of the batch) has its name
// there now.
func (s *Service) RestoreFiles(ctx context.Context, ids []ID) ([]*File, error) {
	return s.changeFiles(ctx, ScopeMediaDelete, ids, ActDestroy, func(tx *Service, p *Principal, fs []*File) error {
		var back []*File
		for _, f := range fs {
			if f.TrashedAt != nil {
				back = append(back, f)
			}
		}
		if len(back) == 0 {
			return nil
		}
		wishes := make([]nameWish, len(back))
		asked := claims{}
		for i, f := range back {
			taken := Errorf(ECONFLICT, "cannot restore file %s: a file named %q now exists in %s; rename or move it first", f.ID, f.Name, f.Path)
			key := place(f.BucketID, f.Path, f.Name)
			if asked[key] {
				return taken // an earlier file of the batch comes back under that name
			}
			asked[key] = true
			wishes[i] = nameWish{FilePlace: FilePlace{BucketID: f.BucketID, Path: f.Path, Name: f.Name}, self: f.ID, taken: taken}
		}
		names, err := tx.freeNames(ctx, p, wishes, asked)
		if err != nil {
			return err
		}
		now := s.now()
		for i, f := range back {
			if names[i] != f.Name {
				f.Name, f.UpdatedAt, f.UpdatedBy = names[i], now, &p.UserID
				if err := tx.Store.UpdateFile(ctx, f, nil); err != nil {
					return err
				}
			}
			f.TrashedAt, f.PurgeAt, f.UpdatedAt, f.UpdatedBy = nil, nil, now, &p.UserID
			tx.emit(p, EventRestored, f, nil)
		}
		return tx.Store.SetFilesState(ctx, back)
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

// SetLegalHold puts a file under legal hold, or releases it (see SetLegalHolds).
// Returns FORBIDDEN without admin, NOT_FOUND, BAD_USER_INPUT for a bad reason.
func (s *Service) SetLegalHold(ctx context.Context, id ID, hold bool, reason *string) (*File, error) {
	return one(s.SetLegalHolds(ctx, []ID{id}, hold, reason))
}

// SetLegalHolds puts files under legal hold, or releases them, all or
// nothing. While held a file cannot be trashed, deleted, purged, lose
// revisions or leave its bucket.
// Returns FORBIDDEN without admin, BAD_USER_INPUT for a bad reason, more
// than MaxBulkIDs ids or one given twice, NOT_FOUND for the first file
// that is not there.
func (s *Service) SetLegalHolds(ctx context.Context, ids []ID, hold bool, reason *string) ([]*File, error) {
	if err := checkText("reason", reason); err != nil {
		return nil, err
	}
	return s.changeFiles(ctx, ScopeAdmin, ids, ActRead, func(tx *Service, p *Principal, fs []*File) error {
		now := s.now()
		for _, f := range fs {
			f.LegalHold, f.LegalHoldReason = hold, reason
			if !hold {
				f.LegalHoldReason = nil
			}
			f.UpdatedAt, f.UpdatedBy = now, &p.UserID
			tx.emit(p, EventUpdated, f, nil)
		}
		return tx.Store.SetFilesState(ctx, fs)
	})
}

// TrashRetentionOf returns how long a bucket keeps trashed files.
func TrashRetentionOf(b *Bucket) time.Duration {
	if b.TrashRetention != nil {
		return *b.TrashRetention
	}
	return DefaultTrashRetention
}
