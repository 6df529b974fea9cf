package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
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
	if err := openIncoming(&in); err != nil {
		return nil, err
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
func (s *Service) commitAll(ctx context.Context, p *Principal, ups []*staged, then func(ts *Service, fs []*File) error) (_ []*File, err error) {
	ctx, span := s.startSpan(ctx, "upload.commit", attribute.Int("upload.files", len(ups)))
	defer func() { endSpan(span, err) }()
	var out []*File
	var dups []*staged
	run := func(ts *Service) error {
		out, dups = make([]*File, 0, len(ups)), nil
		buckets, err := ts.lockUploads(ctx, p, ups)
		if err != nil {
			return err
		}
		batch := &uploadBatch{buckets: buckets, asked: claims{}, made: map[string]*File{}}
		for _, u := range ups {
			batch.asked[place(u.bucket.ID, u.file.Path, u.file.Name)] = true
		}
		for i, u := range ups {
			f, dup, err := ts.commitOne(ctx, p, batch, u)
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
	err = s.inTxNaming(ctx, run)
	if err != nil {
		s.discard(ctx, ups)
		return nil, err
	}
	s.discard(ctx, dups)
	return out, nil
}

// lockUploads takes the locks a batch of uploads needs, in the one order
// (see lockBuckets), in the transaction s works in: the buckets, the
// visible files that replace would revise, and the stored blobs that
// identical content would reuse. It returns the buckets by id.
func (s *Service) lockUploads(ctx context.Context, p *Principal, ups []*staged) (map[ID]*Bucket, error) {
	ids := make([]ID, len(ups))
	cs := make([]content, len(ups))
	for i, u := range ups {
		ids[i], cs[i] = u.bucket.ID, content{u.blob.Sha256, u.blob.Size}
	}
	buckets, err := s.lockBuckets(ctx, p.OrgID, ids)
	if err != nil {
		return nil, err
	}
	var revised []ID
	for _, u := range ups {
		if !u.replace || buckets[u.bucket.ID] == nil {
			continue
		}
		existing, err := s.Store.FileByName(ctx, p.OrgID, u.bucket.ID, u.file.Path, u.file.Name)
		if IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if ok, err := s.sees(ctx, p, existing); err != nil {
			return nil, err
		} else if ok {
			revised = append(revised, existing.ID)
		}
	}
	slices.Sort(revised)
	for _, id := range slices.Compact(revised) {
		if _, err := s.Store.LockFile(ctx, p.OrgID, id); err != nil && !IsNotFound(err) {
			return nil, err
		}
	}
	if _, err := s.lockBlobs(ctx, p.OrgID, cs); err != nil {
		return nil, err
	}
	return buckets, nil
}

// uploadBatch is what commitOne knows of the uploads of one transaction.
type uploadBatch struct {
	// buckets are the batch's, locked (lockUploads).
	buckets map[ID]*Bucket
	// asked holds the name every upload of the batch asks for.
	asked claims
	// made is the file an earlier upload of the batch made (or revised)
	// under the name it asked for, by that name's place.
	made map[string]*File
}

// commitOne makes one staged upload a file, or a new revision of the file
// of that name (replace) if the caller can see it. s works in the
// transaction. A name an earlier upload of the batch asked for is that
// upload's file's, whatever name the file got (see freeName): the upload
// revises it (replace) or is a CONFLICT, as if no hidden file had the name.
func (s *Service) commitOne(ctx context.Context, p *Principal, batch *uploadBatch, u *staged) (out *File, dup bool, err error) {
	b := batch.buckets[u.bucket.ID]
	if b == nil {
		return nil, false, Errorf(ENOTFOUND, "bucket %q not found", u.bucket.Name)
	}
	f := *u.file
	key := place(b.ID, f.Path, f.Name)
	defer func() {
		if err == nil {
			batch.made[key] = out
			batch.asked[place(out.BucketID, out.Path, out.Name)] = true
		}
	}()
	if prev := batch.made[key]; prev != nil {
		if !u.replace {
			return nil, false, nameTaken(f.Path, f.Name)
		}
		return s.reviseWith(ctx, p, b, prev.ID, u)
	}
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
	if f.Name, err = s.freeName(ctx, p, b.ID, f.Path, f.Name, "", batch.asked); err != nil {
		return nil, false, err
	}
	if err := s.checkExternalID(ctx, p, b, f.ExternalID, ""); err != nil {
		return nil, false, err
	}
	if err := checkQuota(ctx, s.Store, b, u.blob.Size); err != nil {
		return nil, false, err
	}
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
	bs := make([]*Blob, len(ups))
	for i, u := range ups {
		bs[i] = u.blob
	}
	s.discardBlobs(ctx, bs)
}

// inTxNaming is inTx for a transaction that names files: if another
// transaction took a name between this one's check (freeName) and its
// write (PostgreSQL; the unique index refuses the write), it runs once
// more, now that the other file is visible: a CONFLICT if the caller can
// see it, a free name beside it if not (CONTRACT §6).
func (s *Service) inTxNaming(ctx context.Context, fn func(ts *Service) error) error {
	err := s.inTx(ctx, fn)
	if ErrorCode(err) == ECONFLICT && ErrorField(err) == "" && strings.Contains(ErrorMessage(err), "existing file") {
		err = s.inTx(ctx, fn)
	}
	return err
}

// claims are the places (bucket, folder, name) that the files of one batch
// ask for or were given, so that a file renamed beside a hidden one
// (freeName) takes no name another file of the batch asks for.
type claims map[string]bool

// place is the key of a name in a folder of a bucket, in claims.
func place(bucketID ID, path, name string) string {
	return string(bucketID) + "\x00" + path + "\x00" + name
}

// freeName returns the name a file (self, or "" for a new one) may take in
// a folder: name itself if no other live file has it. If a file the caller
// can see has it, that is a CONFLICT. If only a file the caller cannot see
// has it, the caller must not learn of that file (CONTRACT §6): the name
// gets a number, "photo (2).jpg", as if the other file did not exist, and
// one that no file of the batch (claimed, nil for none) asks for.
func (s *Service) freeName(ctx context.Context, p *Principal, bucketID ID, path, name string, self ID, claimed claims) (string, error) {
	names, err := s.freeNames(ctx, p, []nameWish{{FilePlace: FilePlace{BucketID: bucketID, Path: path, Name: name}, self: self}}, claimed)
	if err != nil {
		return "", err
	}
	return names[0], nil
}

// nameWish is a name a file asks for in a folder (see freeNames).
type nameWish struct {
	FilePlace
	// self is the file that asks ("" for a new one).
	self ID
	// taken, if set, is the error when a file the caller can see has the
	// name (nameTaken by default).
	taken error
}

// freeNames is freeName for many names at once, in at most three queries
// whatever their number: each wish gets its name, or a number beside a
// hidden file's that neither claimed nor an earlier wish holds. It answers
// the error of the first wish whose name a file the caller can see has.
func (s *Service) freeNames(ctx context.Context, p *Principal, wishes []nameWish, claimed claims) ([]string, error) {
	names := make([]string, len(wishes))
	places := make([]FilePlace, len(wishes))
	for i, w := range wishes {
		names[i], places[i] = w.Name, w.FilePlace
	}
	holders, err := s.Store.FilesAt(ctx, p.OrgID, places)
	if err != nil {
		return nil, err
	}
	at := map[string]*File{}
	for _, f := range holders {
		at[place(f.BucketID, f.Path, f.Name)] = f
	}
	var others []*File // a file of another name holds each wish's name
	clash := make([]*File, len(wishes))
	for i, w := range wishes {
		if o := at[place(w.BucketID, w.Path, w.Name)]; o != nil && o.ID != w.self {
			clash[i] = o
			others = append(others, o)
		}
	}
	if len(others) == 0 {
		return names, nil
	}
	visible, err := s.seen(ctx, p, others)
	if err != nil {
		return nil, err
	}
	// Names beside hidden files: the candidates of every such wish are
	// looked up at once.
	stems := make([][2]string, len(wishes))
	var cands []FilePlace
	for i, w := range wishes {
		if clash[i] == nil {
			continue
		}
		if visible[clash[i].ID] {
			if w.taken != nil {
				return nil, w.taken
			}
			return nil, nameTaken(w.Path, w.Name)
		}
		stem, ext := w.Name, ""
		if j := strings.LastIndexByte(w.Name, '.'); j > 0 && len(w.Name)-j <= 16 {
			stem, ext = w.Name[:j], w.Name[j:]
		}
		stems[i] = [2]string{stem, ext}
		for n := 2; n <= 20; n++ {
			cands = append(cands, FilePlace{BucketID: w.BucketID, Path: w.Path, Name: numbered(stem, ext, n)})
		}
	}
	taken, err := s.Store.FilesAt(ctx, p.OrgID, cands)
	if err != nil {
		return nil, err
	}
	held := claims{} // names live files hold, and names given to earlier wishes
	for _, f := range taken {
		held[place(f.BucketID, f.Path, f.Name)] = true
	}
	for i, w := range wishes {
		if clash[i] == nil {
			continue
		}
		stem, ext := stems[i][0], stems[i][1]
		names[i] = ""
		for n := 2; n <= 20 && names[i] == ""; n++ {
			key := place(w.BucketID, w.Path, numbered(stem, ext, n))
			if !claimed[key] && !held[key] {
				names[i] = numbered(stem, ext, n)
			}
		}
		if names[i] == "" {
			var r [4]byte
			_, _ = rand.Read(r[:])
			suffix := "-" + hex.EncodeToString(r[:])
			names[i] = truncateUTF8(stem, MaxNameBytes-len(suffix)-len(ext)) + suffix + ext
		}
		held[place(w.BucketID, w.Path, names[i])] = true
	}
	return names, nil
}

// numbered is the name "stem (n)ext", cut to fit MaxNameBytes.
func numbered(stem, ext string, n int) string {
	suffix := fmt.Sprintf(" (%d)", n)
	return truncateUTF8(stem, MaxNameBytes-len(suffix)-len(ext)) + suffix + ext
}
