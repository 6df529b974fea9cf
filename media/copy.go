package media

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"
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
// CONFLICT for a name taken by a file the caller can see (see freeName) or
// asked for twice, UNSUPPORTED_MEDIA_TYPE, PAYLOAD_TOO_LARGE,
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
		single, err := s.fileAtPath(ctx, p, b, *in.SourcePath)
		if err != nil {
			return nil, err
		}
		if single != nil {
			srcs, relative[single.ID] = []*File{single}, target
			break
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
			return nil, Invalid("sourcePath", "bucket %q has no file %s and no files in folder %s", b.Name, strings.TrimSuffix(from, "/"), from)
		}
		for _, f := range srcs {
			relative[f.ID] = target + strings.TrimPrefix(f.Path, from)
		}
	default:
		return nil, Invalid("ids", "give ids, or sourceBucket and sourcePath")
	}
	var targetBucket *Bucket
	if in.TargetBucket != nil {
		if targetBucket, err = s.bucketByName(ctx, p, *in.TargetBucket); err != nil {
			return nil, err
		}
	}
	now := s.now()
	var out []*File
	err = s.inTxNaming(ctx, func(ts *Service) error {
		tx := ts.Store
		out = make([]*File, 0, len(srcs))
		places, err := ts.placements(ctx, p, srcs, targetBucket, func(f *File) string { return relative[f.ID] })
		if err != nil {
			return err
		}
		// The target buckets are locked (checkPlacements), then the blobs
		// the copies reuse, against their release, in the one order (see
		// lockBuckets).
		if err := ts.checkPlacements(ctx, p, places, true); err != nil {
			return err
		}
		cs := make([]content, len(places))
		for i, pl := range places {
			cs[i] = content{pl.src.Sha256, pl.src.Size}
		}
		blobs, err := ts.lockBlobs(ctx, p.OrgID, cs)
		if err != nil {
			return err
		}
		for i, pl := range places {
			blob := blobs[cs[i]]
			if blob == nil {
				return fileNotFound(pl.src.ID) // purged since it was read
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
// CONFLICT for a name taken by a file the caller can see (see freeName) or
// asked for twice, or a file under legal hold leaving its bucket,
// and the policy errors.
func (s *Service) MoveFiles(ctx context.Context, in MoveInput) ([]*File, error) {
	p, err := require(ctx, ScopeMediaUpdate)
	if err != nil {
		return nil, err
	}
	folder, err := NormalizePath("targetPath", in.TargetPath)
	if err != nil {
		return nil, err
	}
	read, err := s.batchFiles(ctx, p, in.IDs)
	if err != nil {
		return nil, err
	}
	var target *Bucket
	if in.TargetBucket != nil {
		if target, err = s.bucketByName(ctx, p, *in.TargetBucket); err != nil {
			return nil, err
		}
	}
	// Locks are taken in the one order (see lockBuckets): the target
	// bucket and the buckets the files are in, then the files, each set by
	// id. A file that moved to another bucket before its lock was taken
	// sends the transaction round again with that bucket locked too.
	var buckets []ID
	if target != nil {
		buckets = append(buckets, target.ID)
	}
	for _, f := range read {
		buckets = append(buckets, f.BucketID)
	}
	ids := slices.Clone(in.IDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	now := s.now()
	var out []*File
	var moved *File
	for try := 1; ; try++ {
		moved = nil
		err = s.inTxNaming(ctx, func(ts *Service) error {
			tx := ts.Store
			out = make([]*File, 0, len(in.IDs))
			locked, err := ts.lockBuckets(ctx, p.OrgID, buckets)
			if err != nil {
				return err
			}
			files := map[ID]*File{}
			for _, id := range ids {
				f, err := ts.lockFile(ctx, p, id, ActDescribe)
				if err != nil {
					return err
				}
				if f.TrashedAt != nil {
					return Errorf(ECONFLICT, "file %s is in the trash; restore it first", f.ID)
				}
				if locked[f.BucketID] == nil {
					moved = f
					return errRelock
				}
				files[id] = f
			}
			srcs := make([]*File, len(in.IDs))
			for i, id := range in.IDs {
				srcs[i] = files[id]
			}
			places, err := ts.placements(ctx, p, srcs, target, func(*File) string { return folder })
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
		if moved == nil || try == 3 {
			break
		}
		buckets = append(buckets, moved.BucketID)
	}
	if moved != nil {
		return nil, Errorf(ECONFLICT, "file %s keeps moving to other buckets; try again", moved.ID)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// fileAtPath returns the live file a source path names ("/a/b/photo.jpg":
// photo.jpg in /a/b/) if the caller can see one there, and nil otherwise:
// for a path ending in "/", or naming no visible file, which is then a
// folder. Returns BAD_USER_INPUT for a path that is neither.
func (s *Service) fileAtPath(ctx context.Context, p *Principal, b *Bucket, raw string) (*File, error) {
	i := strings.LastIndexByte(raw, '/')
	name := norm.NFC.String(raw[i+1:])
	if name == "" {
		return nil, nil
	}
	dir, err := NormalizePath("sourcePath", raw[:i+1])
	if err != nil {
		return nil, err
	}
	fs, err := s.Store.FilesAt(ctx, p.OrgID, []FilePlace{{BucketID: b.ID, Path: dir, Name: name}})
	if err != nil || len(fs) == 0 {
		return nil, err
	}
	if ok, err := s.sees(ctx, p, fs[0]); err != nil || !ok {
		return nil, err
	}
	return fs[0], nil
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

// placements resolves each file's target bucket (target, or nil for the
// file's own) and folder.
func (s *Service) placements(ctx context.Context, p *Principal, srcs []*File, target *Bucket, path func(*File) string) ([]placement, error) {
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
	// The names asked for first: two files of the batch asking for one
	// name is a CONFLICT whatever else holds it.
	asked := claims{}
	naming := make([]bool, len(places))
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
		key := place(b.ID, pl.path, pl.name)
		if asked[key] {
			return &Error{Code: ECONFLICT, Field: "ids", Message: fmt.Sprintf("two files named %q would land in %s", pl.name, pl.path)}
		}
		asked[key], naming[i] = true, true
	}
	for i := range places {
		pl := &places[i]
		if !naming[i] {
			continue
		}
		self := pl.src.ID
		if copying {
			self = ""
		}
		name, err := s.freeName(ctx, p, pl.bucket.ID, pl.path, pl.name, self, asked)
		if err != nil {
			return err
		}
		asked[place(pl.bucket.ID, pl.path, name)] = true
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
