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
// Returns NOT_FOUND, FORBIDDEN unless the caller uploaded it or is an admin,
// CONFLICT if it is under legal hold.
func (s *Service) Trash(ctx context.Context, id ID) (*File, error) {
	p, f, err := s.deletableFile(ctx, ScopeMediaDelete, id)
	if err != nil {
		return nil, err
	}
	if f.LegalHold {
		return nil, legalHold(f, "be trashed")
	}
	if f.TrashedAt != nil {
		return f, nil
	}
	b, err := s.bucketOf(ctx, p, f)
	if err != nil {
		return nil, err
	}
	now := s.now()
	purge := now.Add(TrashRetentionOf(b))
	f.TrashedAt, f.PurgeAt, f.UpdatedAt, f.UpdatedBy = &now, &purge, now, &p.UserID
	return f, s.Store.SetFileState(ctx, f)
}

// Restore takes a file out of the trash, into the folder it was in.
// Returns NOT_FOUND, FORBIDDEN, CONFLICT if its name is taken there now
// (rename the other file, or this one after restoring it elsewhere).
func (s *Service) Restore(ctx context.Context, id ID) (*File, error) {
	p, f, err := s.deletableFile(ctx, ScopeMediaDelete, id)
	if err != nil {
		return nil, err
	}
	if f.TrashedAt == nil {
		return f, nil
	}
	now := s.now()
	f.TrashedAt, f.PurgeAt, f.UpdatedAt, f.UpdatedBy = nil, nil, now, &p.UserID
	if err := s.Store.SetFileState(ctx, f); err != nil {
		if ErrorCode(err) == ECONFLICT {
			return nil, Errorf(ECONFLICT, "cannot restore: a file named %q now exists in %s; rename or move it first", f.Name, f.Path)
		}
		return nil, err
	}
	return f, nil
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
	q := FileQuery{OrgID: p.OrgID, Filter: FileFilter{Trashed: TrashOnly},
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
			if f.LegalHold {
				continue
			}
			if _, err := s.deleteFile(ctx, f); err != nil {
				return n, err
			}
			n++
		}
		if len(fs) < q.Limit {
			return n, nil
		}
		last := fs[len(fs)-1]
		q.After = &FileKey{Time: last.CreatedAt, ID: last.ID}
	}
}

// SetLegalHold puts a file under legal hold, or releases it. While held it
// cannot be trashed, deleted, purged, or lose revisions.
// Returns FORBIDDEN without admin, NOT_FOUND, BAD_USER_INPUT for a bad reason.
func (s *Service) SetLegalHold(ctx context.Context, id ID, hold bool, reason *string) (*File, error) {
	p, err := require(ctx, ScopeAdmin)
	if err != nil {
		return nil, err
	}
	if err := checkText("reason", reason); err != nil {
		return nil, err
	}
	f, err := s.file(ctx, p, id)
	if err != nil {
		return nil, err
	}
	f.LegalHold, f.LegalHoldReason = hold, reason
	if !hold {
		f.LegalHoldReason = nil
	}
	f.UpdatedAt, f.UpdatedBy = s.now(), &p.UserID
	return f, s.Store.SetFileState(ctx, f)
}

// TrashRetentionOf returns how long a bucket keeps trashed files.
func TrashRetentionOf(b *Bucket) time.Duration {
	if b.TrashRetention != nil {
		return *b.TrashRetention
	}
	return DefaultTrashRetention
}
