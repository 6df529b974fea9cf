package media

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// maxBatch caps the files one copy or move touches.
const maxBatch = 1000

// CopyInput names the files to copy and where to.
type CopyInput struct {
	// IDs, or SourceBucket and SourcePath (a folder and everything below it).
	IDs          []ID
	SourceBucket *string
	SourcePath   *string
	// TargetBucket defaults to each file's own bucket.
	TargetBucket *string
	TargetPath   string
}

// MoveInput names the files to move and where to.
type MoveInput struct {
	IDs          []ID
	TargetBucket *string
	TargetPath   string
}

// placement is one file's destination in a batch.
type placement struct {
	src    *File
	bucket *Bucket
	path   string
}

// CopyFiles copies files, with their content (no bytes are duplicated:
// copies share the stored blob), metadata, texts, tags and visibility, into
// a folder of the same or another bucket of the organization. Copying a
// folder keeps its subfolders. All or nothing: every name is checked for
// conflicts, and the target's policy and quota for every file, before
// anything is written.
// Returns FORBIDDEN without media:create, NOT_FOUND, BAD_USER_INPUT,
// CONFLICT for a taken name, UNSUPPORTED_MEDIA_TYPE, PAYLOAD_TOO_LARGE,
// QUOTA_EXCEEDED.
func (s *Service) CopyFiles(ctx context.Context, in CopyInput) ([]*File, error) {
	p, err := require(ctx, ScopeMediaCreate)
	if err != nil {
		return nil, err
	}
	target, err := NormalizePath("targetPath", in.TargetPath)
	if err != nil {
		return nil, err
	}
	var srcs []*File
	relative := map[ID]string{} // a copied folder's files keep their place below it
	switch {
	case len(in.IDs) > 0 && in.SourceBucket == nil && in.SourcePath == nil:
		if srcs, err = s.batchFiles(ctx, p, in.IDs); err != nil {
			return nil, err
		}
		for _, f := range srcs {
			relative[f.ID] = target
		}
	case len(in.IDs) == 0 && in.SourceBucket != nil && in.SourcePath != nil:
		b, err := s.bucketByName(ctx, p, *in.SourceBucket)
		if err != nil {
			return nil, err
		}
		from, err := NormalizePath("sourcePath", *in.SourcePath)
		if err != nil {
			return nil, err
		}
		srcs, err = s.Store.ListFiles(ctx, FileQuery{OrgID: p.OrgID, BucketID: &b.ID, Filter: FileFilter{PathPrefix: &from},
			Order: FileOrder{Field: OrderName, Direction: Asc}, Limit: maxBatch + 1, Audience: audienceOf(p)})
		if err != nil {
			return nil, err
		}
		if len(srcs) > maxBatch {
			return nil, Invalid("sourcePath", "a copy may touch at most %d files", maxBatch)
		}
		if len(srcs) == 0 {
			return nil, Invalid("sourcePath", "folder %s of bucket %q holds no files", from, b.Name)
		}
		for _, f := range srcs {
			relative[f.ID] = target + strings.TrimPrefix(f.Path, from)
		}
	default:
		return nil, Invalid("ids", "give ids, or sourceBucket and sourcePath")
	}
	places, err := s.placements(ctx, p, srcs, in.TargetBucket, func(f *File) string { return relative[f.ID] })
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]*File, 0, len(places))
	err = s.Store.InTx(ctx, func(tx Store) error {
		if err := s.checkPlacements(ctx, tx, p, places, true); err != nil {
			return err
		}
		for _, pl := range places {
			blob, err := tx.ReadyBlobBySha256(ctx, p.OrgID, pl.src.Sha256, pl.src.Size) // locks it against release
			if err != nil {
				return err
			}
			c := *pl.src
			c.ID, c.BucketID, c.Path, c.BlobID, c.Revision = NewID(PrefixFile, now), pl.bucket.ID, pl.path, blob.ID, 1
			c.Metadata = cloneMap(pl.src.Metadata)
			c.Tags = slices.Clone(pl.src.Tags)
			c.LegalHold, c.LegalHoldReason, c.TrashedAt, c.PurgeAt = false, nil, nil, nil
			c.CreatedAt, c.UpdatedAt, c.CreatedBy, c.UpdatedBy = now, now, &p.UserID, &p.UserID
			if err := tx.CreateFile(ctx, &c, newRevision(&c, p, now)); err != nil {
				return err
			}
			out = append(out, &c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MoveFiles moves files to a folder of the same or another bucket, all or
// nothing: names, policy and quota are checked for the whole batch first.
// Returns FORBIDDEN without media:update, NOT_FOUND, CONFLICT for a taken
// name or a file under legal hold moving buckets, and the policy errors.
func (s *Service) MoveFiles(ctx context.Context, in MoveInput) ([]*File, error) {
	p, err := require(ctx, ScopeMediaUpdate)
	if err != nil {
		return nil, err
	}
	target, err := NormalizePath("targetPath", in.TargetPath)
	if err != nil {
		return nil, err
	}
	srcs, err := s.batchFiles(ctx, p, in.IDs)
	if err != nil {
		return nil, err
	}
	places, err := s.placements(ctx, p, srcs, in.TargetBucket, func(*File) string { return target })
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]*File, 0, len(places))
	err = s.Store.InTx(ctx, func(tx Store) error {
		if err := s.checkPlacements(ctx, tx, p, places, false); err != nil {
			return err
		}
		for _, pl := range places {
			f := *pl.src
			f.BucketID, f.Path, f.UpdatedAt, f.UpdatedBy = pl.bucket.ID, pl.path, now, &p.UserID
			if err := tx.UpdateFile(ctx, &f, nil); err != nil {
				return err
			}
			out = append(out, &f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// batchFiles loads the caller's live files by id; any missing one is NOT_FOUND.
func (s *Service) batchFiles(ctx context.Context, p *Principal, ids []ID) ([]*File, error) {
	if len(ids) == 0 || len(ids) > maxBatch {
		return nil, Invalid("ids", "give 1 to %d file ids", maxBatch)
	}
	byID, err := s.FilesByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, f := range byID {
		switch {
		case f == nil:
			return nil, Errorf(ENOTFOUND, "file %s not found", ids[i])
		case f.TrashedAt != nil:
			return nil, Errorf(ECONFLICT, "file %s is in the trash; restore it first", f.ID)
		}
	}
	return byID, nil
}

// placements resolves each file's target bucket and folder.
func (s *Service) placements(ctx context.Context, p *Principal, srcs []*File, targetBucket *string, path func(*File) string) ([]placement, error) {
	var target *Bucket
	if targetBucket != nil {
		b, err := s.bucketByName(ctx, p, *targetBucket)
		if err != nil {
			return nil, err
		}
		target = b
	}
	out := make([]placement, len(srcs))
	for i, f := range srcs {
		b := target
		if b == nil {
			var err error
			if b, err = s.bucketOf(ctx, p, f); err != nil {
				return nil, err
			}
		}
		out[i] = placement{src: f, bucket: b, path: path(f)}
	}
	return out, nil
}

// checkPlacements checks a batch inside its transaction: target buckets
// locked, each file allowed there (type, size, pixels; only when it changes
// bucket, or always for copies), quota for the bytes added, and every
// target name free and unique within the batch.
func (s *Service) checkPlacements(ctx context.Context, tx Store, p *Principal, places []placement, copying bool) error {
	added := map[ID]int64{}
	buckets := map[ID]*Bucket{}
	names := map[string]bool{}
	for _, pl := range places {
		if _, ok := buckets[pl.bucket.ID]; !ok {
			b, err := tx.LockBucket(ctx, p.OrgID, pl.bucket.ID)
			if err != nil {
				return err
			}
			buckets[b.ID] = b
		}
		b := buckets[pl.bucket.ID]
		moving := pl.src.BucketID != b.ID
		if copying || moving {
			sn := Sniffed{MimeType: pl.src.MimeType, Type: pl.src.Type, Width: pl.src.Width, Height: pl.src.Height}
			if err := s.checkContent(b, sn, pl.src.Size, false); err != nil {
				return withPrefix(err, pl.src.Name)
			}
			added[b.ID] += pl.src.Size
		}
		if !moving && !copying && pl.src.Path == pl.path {
			continue // already there
		}
		key := string(b.ID) + "\x00" + pl.path + "\x00" + pl.src.Name
		if names[key] {
			return &Error{Code: ECONFLICT, Field: "ids", Message: fmt.Sprintf("two files named %q would land in %s", pl.src.Name, pl.path)}
		}
		names[key] = true
		if err := s.checkNameFree(ctx, tx, b, pl.path, pl.src.Name); err != nil {
			return err
		}
	}
	for id, n := range added {
		if err := checkQuota(ctx, tx, buckets[id], n); err != nil {
			return err
		}
	}
	return nil
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
