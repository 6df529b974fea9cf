package media

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// Every upload route (uploadFile, uploadFiles, uploadFileBase64, the files
// of createPost, createComment and sendMessage, completeUploadSession)
// works in two steps: stage stores each file's bytes under a new PENDING
// blob, then one transaction (commitAll) makes them files or revisions and
// does whatever else the request does (attach, create the post…). If
// anything fails, the transaction rolls back and only the blobs the request
// staged are discarded: nothing that existed before is touched.

// staged is an upload whose bytes are stored, waiting for its commit.
type staged struct {
	file    *File
	bucket  *Bucket
	blob    *Blob
	replace bool
	// describe holds the descriptive fields the upload gave, which a
	// replace applies to the existing file ("upload this again").
	describe FileUpdate
	// into is the content the file is uploaded into, if any: the file is
	// attached to it and its author may destroy the file.
	into *target
}

// Upload stores a file: the content is sniffed, checked against the
// bucket's policy, hashed while it streams to storage under a generated
// key, and the file row is committed only once the bytes are stored; on any
// failure nothing is left behind. Identical content already stored in the
// organization is reused. With Replace, a file of that name in the folder
// that the caller can see gets a new revision instead of a CONFLICT
// (media:update); a file the caller cannot see is as if it did not exist,
// and the new file gets a free name beside it.
// Returns FORBIDDEN without media:create, NOT_FOUND for an unknown bucket
// or target, BAD_USER_INPUT, CONFLICT if the name is taken in that folder,
// PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, QUOTA_EXCEEDED.
func (s *Service) Upload(ctx context.Context, in UploadInput) (*File, error) {
	fs, err := s.UploadMany(ctx, []UploadInput{in})
	if err != nil {
		return nil, err
	}
	return fs[0], nil
}

// UploadMany uploads several files, each as Upload does, all or nothing.
func (s *Service) UploadMany(ctx context.Context, ins []UploadInput) ([]*File, error) {
	if len(ins) == 0 {
		return nil, Invalid("inputs", "give at least one file")
	}
	p, err := require(ctx, ScopeMediaCreate)
	if err != nil {
		return nil, err
	}
	ups, err := s.stageAll(ctx, p, ins, nil)
	if err != nil {
		return nil, err
	}
	return s.commitAll(ctx, p, ups, func(ts *Service, fs []*File) error {
		for i, u := range ups {
			if u.into != nil {
				if err := ts.attach(ctx, p, u.into.id, []ID{fs[i].ID}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// stageAll stages uploads (into content, if into is set). On failure the
// ones staged already are discarded.
func (s *Service) stageAll(ctx context.Context, p *Principal, ins []UploadInput, into *target) ([]*staged, error) {
	ups := make([]*staged, 0, len(ins))
	for i, in := range ins {
		u, err := s.stage(ctx, p, in, into)
		if err != nil {
			s.discard(ctx, ups)
			if len(ins) > 1 {
				err = withPrefix(err, fmt.Sprintf("file %d", i+1))
			}
			return nil, err
		}
		ups = append(ups, u)
	}
	return ups, nil
}

// stage checks an upload and stores its bytes. The right to upload into
// content (CONTRACT rule 3) is checked before any byte is stored, and again
// when the file is attached.
func (s *Service) stage(ctx context.Context, p *Principal, in UploadInput, into *target) (*staged, error) {
	if in.AttachTo != nil {
		if _, err := require(ctx, ScopeContentWrite); err != nil {
			return nil, err
		}
		tg, err := s.resolveTarget(ctx, p, *in.AttachTo)
		if err != nil {
			return nil, withField(err, "attachTo")
		}
		if !tg.editors() {
			return nil, Errorf(EFORBIDDEN, "only the author of %s may upload files to it", tg.id)
		}
		into = tg
	}
	f, err := s.newFile(p, in)
	if err != nil {
		return nil, err
	}
	describe, err := uploadDescription(in)
	if err != nil {
		return nil, err
	}
	bucket := in.Bucket
	if bucket == "" {
		if into == nil {
			return nil, Invalid("bucket", "name a bucket, or attachTo a post, comment or message")
		}
		if err := s.ensureAttachmentsBucket(ctx, p); err != nil {
			return nil, err
		}
		bucket = AttachmentsBucket
	}
	b, err := s.bucketByName(ctx, p, bucket)
	if err != nil {
		return nil, err
	}
	f.BucketID = b.ID
	if f.ExternalID != nil {
		if err := mayHoldExternalID(p, b); err != nil {
			return nil, err
		}
	}
	if in.Visibility == nil {
		f.Visibility = b.DefaultVisibility
	}
	if into != nil {
		f.UploadedInto = &into.id
		if b.Access == AccessRestricted {
			// Each post, comment or message has its own folder, so names
			// clash only among files uploaded into the same content.
			if f.Path, err = NormalizePath("path", "/"+string(into.id)+f.Path); err != nil {
				return nil, err
			}
		}
	}
	blob, err := s.storeContent(ctx, p, b, in.Content, in.Size, in.DeclaredType)
	if err != nil {
		return nil, err
	}
	return &staged{file: f, bucket: b, blob: blob, replace: in.Replace, describe: describe, into: into}, nil
}

// uploadDescription is what an upload says about the file besides its
// name, as an update a replace applies.
func uploadDescription(in UploadInput) (FileUpdate, error) {
	var u FileUpdate
	if in.Tags != nil {
		u.Tags = in.Tags
	}
	for _, t := range []struct {
		in  *string
		out ***string
	}{{in.AltText, &u.AltText}, {in.Caption, &u.Caption}, {in.Copyright, &u.Copyright}} {
		if t.in != nil {
			v := t.in
			*t.out = &v
		}
	}
	if in.Metadata != nil {
		u.Metadata = &in.Metadata
	}
	if in.ExternalID != nil {
		v := in.ExternalID
		u.ExternalID = &v
	}
	return u.normalize()
}

// commitAll commits staged uploads in one transaction, then runs then (if
// not nil) in it with the files, in order. The staged blobs are discarded
// if anything fails, and those found to duplicate stored content are
// discarded after the commit.
func (s *Service) commitAll(ctx context.Context, p *Principal, ups []*staged, then func(ts *Service, fs []*File) error) ([]*File, error) {
	var out []*File
	var dups []*staged
	run := func(ts *Service) error {
		out, dups = make([]*File, 0, len(ups)), nil
		for i, u := range ups {
			f, dup, err := ts.commitOne(ctx, p, u)
			if err != nil {
				if len(ups) > 1 {
					err = withPrefix(err, fmt.Sprintf("file %d", i+1))
				}
				return err
			}
			if dup {
				dups = append(dups, u)
			}
			out = append(out, f)
		}
		if then != nil {
			return then(ts, out)
		}
		return nil
	}
	err := s.inTx(ctx, run)
	if ErrorCode(err) == ECONFLICT && ErrorField(err) == "" && strings.Contains(ErrorMessage(err), "existing file") {
		// Another upload took a name between the check and the insert
		// (PostgreSQL): once more, now that it is visible.
		err = s.inTx(ctx, run)
	}
	if err != nil {
		s.discard(ctx, ups)
		return nil, err
	}
	s.discard(ctx, dups)
	return out, nil
}

// commitOne makes one staged upload a file, or a new revision of the file
// of that name (replace) if the caller can see it. s works in the
// transaction.
func (s *Service) commitOne(ctx context.Context, p *Principal, u *staged) (*File, bool, error) {
	b, err := s.Store.LockBucket(ctx, p.OrgID, u.bucket.ID)
	if err != nil {
		return nil, false, err
	}
	f := *u.file
	if u.replace {
		existing, err := s.Store.FileByName(ctx, p.OrgID, b.ID, f.Path, f.Name)
		if err != nil && !IsNotFound(err) {
			return nil, false, err
		}
		if err == nil {
			if ok, err := s.sees(ctx, p, existing); err != nil {
				return nil, false, err
			} else if ok {
				return s.reviseWith(ctx, p, b, existing.ID, u)
			}
		}
	}
	if f.Name, err = s.freeName(ctx, p, b.ID, f.Path, f.Name, ""); err != nil {
		return nil, false, err
	}
	if err := s.checkExternalID(ctx, p, b, f.ExternalID, ""); err != nil {
		return nil, false, err
	}
	if err := checkQuota(ctx, s.Store, b, u.blob.Size); err != nil {
		return nil, false, err
	}
	var dup bool
	if f.BlobID, dup, err = settle(ctx, s.Store, u.blob); err != nil {
		return nil, false, err
	}
	setContent(&f, u.blob)
	if err := s.Store.CreateFile(ctx, &f, newRevision(&f, p, s.now())); err != nil {
		return nil, false, err
	}
	s.emit(p, EventCreated, &f, nil)
	return &f, dup, nil
}

// reviseWith makes a staged upload the new revision of a visible file
// (replace): it needs media:update, and the upload's tags and texts, if it
// gave any, are applied as an update of the file.
func (s *Service) reviseWith(ctx context.Context, p *Principal, b *Bucket, id ID, u *staged) (*File, bool, error) {
	if _, err := require(ctx, ScopeMediaUpdate); err != nil {
		return nil, false, err
	}
	f, err := s.lockFile(ctx, p, id, ActRevise)
	if err != nil {
		return nil, false, err
	}
	out, dup, _, err := s.addRevision(ctx, p, b, f, u.blob, false)
	if err != nil {
		return nil, false, err
	}
	if !u.describe.empty() {
		if err := s.allow(ctx, p, out, ActDescribe); err != nil {
			return nil, false, err
		}
		if out, err = s.applyUpdate(ctx, p, out, u.describe); err != nil {
			return nil, false, err
		}
	}
	return out, dup, nil
}

// discard deletes the blobs of staged uploads.
func (s *Service) discard(ctx context.Context, ups []*staged) {
	for _, u := range ups {
		s.discardBlob(ctx, u.blob)
	}
}

// freeName returns the name a file (self, or "" for a new one) may take in
// a folder: name itself if no other live file has it. If a file the caller
// can see has it, that is a CONFLICT. If only a file the caller cannot see
// has it, the caller must not learn of that file (CONTRACT §6): the name
// gets a number, "photo (2).jpg", as if the other file did not exist.
func (s *Service) freeName(ctx context.Context, p *Principal, bucketID ID, path, name string, self ID) (string, error) {
	other, err := s.Store.FileByName(ctx, p.OrgID, bucketID, path, name)
	if IsNotFound(err) || (err == nil && other.ID == self) {
		return name, nil
	}
	if err != nil {
		return "", err
	}
	if ok, err := s.sees(ctx, p, other); err != nil || ok {
		return "", cmp.Or(err, nameTaken(path, name))
	}
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
		stem, ext = name[:i], name[i:]
	}
	for n := 2; n <= 20; n++ {
		suffix := fmt.Sprintf(" (%d)", n)
		cand := truncateUTF8(stem, MaxNameBytes-len(suffix)-len(ext)) + suffix + ext
		taken, err := s.Store.FileNameTaken(ctx, bucketID, path, cand)
		if err != nil {
			return "", err
		}
		if !taken {
			return cand, nil
		}
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	suffix := "-" + hex.EncodeToString(r[:])
	return truncateUTF8(stem, MaxNameBytes-len(suffix)-len(ext)) + suffix + ext, nil
}
