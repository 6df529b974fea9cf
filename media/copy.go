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
	// name is the name it takes there (see freeName).
	name string
}

// CopyFiles copies files, with their content (no bytes are duplicated:
// copies share the stored blob), metadata, texts, tags and visibility (not
// their external ids: a copy is another file), into
// a folder of the same or another bucket of the organization. Copying a
// folder keeps its subfolders. All or nothing: every name is checked for
// conflicts, and the target's policy and quota for every file, before
// anything is written. The copies are the caller's.
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
	now := s.now()
	out := make([]*File, 0, len(srcs))
	err = s.inTx(ctx, func(ts *Service) error {
		tx := ts.Store
		places, err := ts.placements(ctx, p, srcs, in.TargetBucket, func(f *File) string { return relative[f.ID] })
		if err != nil {
			return err
		}
		if err := ts.checkPlacements(ctx, p, places, true); err != nil {
			return err
		}
		for _, pl := range places {
			blob, err := tx.ReadyBlobBySha256(ctx, p.OrgID, pl.src.Sha256, pl.src.Size) // locks it against release
			if err != nil {
				return err
			}
			c := *pl.src
			c.ID, c.BucketID, c.Path, c.Name, c.BlobID, c.Revision = NewID(PrefixFile, now), pl.bucket.ID, pl.path, pl.name, blob.ID, 1
			c.Metadata = cloneMap(pl.src.Metadata)
			c.Tags = slices.Clone(pl.src.Tags)
			// A copy is another file: the client's id names the original.
			c.LegalHold, c.LegalHoldReason, c.TrashedAt, c.PurgeAt, c.UploadedInto, c.ExternalID = false, nil, nil, nil, nil, nil
			c.CreatedAt, c.UpdatedAt, c.CreatedBy, c.UpdatedBy = now, now, &p.UserID, &p.UserID
			if err := tx.CreateFile(ctx, &c, newRevision(&c, p, now)); err != nil {
				return err
			}
			ts.emit(p, EventCreated, &c, nil)
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
// nothing: names, policy and quota are checked for the whole batch first,
// on rows locked for the move; a file's external id goes with it and must
// be free in the target bucket. Moving a file within its bucket changes a
// descriptive field; moving it to another bucket changes who can see it
// and takes it out of its bucket (CONTRACT §6).
// Returns FORBIDDEN without media:update or those rights, NOT_FOUND,
// CONFLICT for a taken name or a file under legal hold leaving its bucket,
// and the policy errors.
func (s *Service) MoveFiles(ctx context.Context, in MoveInput) ([]*File, error) {
	p, err := require(ctx, ScopeMediaUpdate)
	if err != nil {
		return nil, err
	}
	target, err := NormalizePath("targetPath", in.TargetPath)
	if err != nil {
		return nil, err
	}
	if _, err := s.batchFiles(ctx, p, in.IDs); err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]*File, 0, len(in.IDs))
	err = s.inTx(ctx, func(ts *Service) error {
		tx := ts.Store
		// Locks are taken in one order everywhere: buckets (by the
		// placements' checks, below) after the files, each set by id.
		ids := slices.Clone(in.IDs)
		slices.Sort(ids)
		locked := map[ID]*File{}
		for _, id := range slices.Compact(ids) {
			f, err := ts.lockFile(ctx, p, id, ActDescribe)
			if err != nil {
				return err
			}
			if f.TrashedAt != nil {
				return Errorf(ECONFLICT, "file %s is in the trash; restore it first", f.ID)
			}
			locked[id] = f
		}
		srcs := make([]*File, len(in.IDs))
		for i, id := range in.IDs {
			srcs[i] = locked[id]
		}
		places, err := ts.placements(ctx, p, srcs, in.TargetBucket, func(*File) string { return target })
		if err != nil {
			return err
		}
		for _, pl := range places {
			if pl.bucket.ID == pl.src.BucketID {
				continue
			}
			if err := ts.allow(ctx, p, pl.src, ActExpose); err != nil {
				return err
			}
			if pl.src.LegalHold {
				return legalHold(pl.src, "leave its bucket")
			}
		}
		if err := ts.checkPlacements(ctx, p, places, false); err != nil {
			return err
		}
		for _, pl := range places {
			f := *pl.src
			f.BucketID, f.Path, f.Name, f.UpdatedAt, f.UpdatedBy = pl.bucket.ID, pl.path, pl.name, now, &p.UserID
			if err := tx.UpdateFile(ctx, &f, nil); err != nil {
				return err
			}
			ts.emit(p, EventUpdated, &f, nil)
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
		out[i] = placement{src: f, bucket: b, path: path(f), name: f.Name}
	}
	return out, nil
}

// checkPlacements checks a batch in the transaction s works in: target
// buckets locked, each file allowed there (type, size, pixels; only when it
// changes bucket, or always for copies), quota for the bytes added, and
// every target name free (see freeName; the name a file gets is set on its
// placement) and unique within the batch, as the external id of every file
// that changes bucket.
func (s *Service) checkPlacements(ctx context.Context, p *Principal, places []placement, copying bool) error {
	added := map[ID]int64{}
	buckets := map[ID]*Bucket{}
	names := map[string]bool{}
	extIDs := map[string]bool{}
	order := make([]ID, 0, len(places))
	for _, pl := range places {
		order = append(order, pl.bucket.ID)
	}
	slices.Sort(order)
	for _, id := range slices.Compact(order) {
		b, err := s.Store.LockBucket(ctx, p.OrgID, id)
		if err != nil {
			return err
		}
		buckets[id] = b
	}
	for i := range places {
		pl := &places[i]
		b := buckets[pl.bucket.ID]
		moving := pl.src.BucketID != b.ID
		if copying || moving {
			sn := Sniffed{MimeType: pl.src.MimeType, Type: pl.src.Type, Width: pl.src.Width, Height: pl.src.Height}
			if err := s.checkContent(b, sn, pl.src.Size, false); err != nil {
				return withPrefix(err, pl.src.Name)
			}
			added[b.ID] += pl.src.Size
		}
		if moving && pl.src.ExternalID != nil {
			// The external id goes with the file, so it must be free there.
			if err := s.checkExternalID(ctx, p, b, pl.src.ExternalID, pl.src.ID); err != nil {
				return withPrefix(err, pl.src.Name)
			}
			key := string(b.ID) + "\x00" + *pl.src.ExternalID
			if extIDs[key] {
				return ExternalIDTaken(b.Name, *pl.src.ExternalID)
			}
			extIDs[key] = true
		}
		if !moving && !copying && pl.src.Path == pl.path {
			continue // already there
		}
		self := pl.src.ID
		if copying {
			self = ""
		}
		name, err := s.freeName(ctx, p, b.ID, pl.path, pl.name, self)
		if err != nil {
			return err
		}
		key := string(b.ID) + "\x00" + pl.path + "\x00" + name
		if names[key] {
			return &Error{Code: ECONFLICT, Field: "ids", Message: fmt.Sprintf("two files named %q would land in %s", name, pl.path)}
		}
		names[key] = true
		pl.name = name
	}
	for id, n := range added {
		if err := checkQuota(ctx, s.Store, buckets[id], n); err != nil {
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
