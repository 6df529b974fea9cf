package media

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"
)

// Folder is a folder of a bucket (CONTRACT §8). Folders are implicit: a
// file at /a/b/ makes /a/ and /a/b/ exist, and a folder exists while its
// subtree holds a live (not trashed) file — or a folder made with
// CreateFolder, which persists while empty. The root "/" is not a folder
// of its bucket but where its folders are.
//
// FileCount and Size are those of the whole subtree: every live file at
// or below the folder, by its current size (files(filter: {path}) counts
// a folder's own files). Trashed files count nowhere, and keep their path,
// so a restore puts them back where they were, making their folders exist
// again. In a RESTRICTED bucket a caller who is not an admin sees only the
// folders that hold a file it can see, counting those files only, and the
// explicit ones.
//
// The Store keeps folders in step with files in the transaction that
// changes the files, whatever the route (see database/folders.go).
type Folder struct {
	BucketID  ID
	Path      string
	FileCount int
	Size      int64
	// Explicit reports a folder made with CreateFolder.
	Explicit bool
	// CreatedAt is when the folder came to exist (its first file, or
	// CreateFolder); nil when unknown or hidden.
	CreatedAt *time.Time
}

// Name is the folder's last segment ("2026" for /events/2026/).
func (f *Folder) Name() string {
	p := strings.TrimSuffix(f.Path, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

// maxFolderFiles caps the files one MoveFolder or TrashFolder touches.
const maxFolderFiles = 10_000

// FoldersArgs are a folder listing's arguments.
type FoldersArgs struct {
	Bucket string
	// Path is the folder whose children are listed ("/" if nil).
	Path  *string
	First *int
	After *string
}

// FolderConnection is a page of the folders directly below one folder, in
// name order; the page and the count are queried only when asked for.
type FolderConnection struct {
	svc      *Service
	orgID    ID
	bucketID ID
	parent   string
	// audience, if set, is the query of the files the caller may see:
	// the folders are computed from those (a RESTRICTED bucket).
	audience *FileQuery
	// fingerprint binds cursors to the organization, bucket and folder.
	fingerprint string
	after       string
	limit       int

	once    sync.Once
	page    []*Folder
	hasMore bool
	loadErr error
}

// Folders lists the folders directly below a folder of a bucket, by name,
// with keyset cursors. A folder that does not exist has no children.
// Returns NOT_FOUND for an unknown bucket, BAD_USER_INPUT for a bad path,
// page size or cursor.
func (s *Service) Folders(ctx context.Context, args FoldersArgs) (*FolderConnection, error) {
	p, err := require(ctx, ScopeMediaRead)
	if err != nil {
		return nil, err
	}
	b, err := s.bucketByName(ctx, p, args.Bucket)
	if err != nil {
		return nil, err
	}
	parent := "/"
	if args.Path != nil {
		if parent, err = NormalizePath("path", *args.Path); err != nil {
			return nil, err
		}
	}
	c := &FolderConnection{svc: s, orgID: p.OrgID, bucketID: b.ID, parent: parent, limit: DefaultPageSize}
	if args.First != nil {
		c.limit = *args.First
	}
	if c.limit < 0 || c.limit > MaxPageSize {
		return nil, Invalid("first", "first must be between 0 and %d", MaxPageSize)
	}
	if a := audienceOf(p); a != nil && b.Access == AccessRestricted {
		c.audience = &FileQuery{OrgID: p.OrgID, BucketID: &b.ID, Filter: FileFilter{PathPrefix: &parent, Trashed: TrashExclude},
			Audience: a}
	}
	h := sha256.Sum256([]byte(string(p.OrgID) + "\x00" + string(b.ID) + "\x00" + parent))
	c.fingerprint = hex.EncodeToString(h[:8])
	if args.After != nil {
		if c.after, err = c.decodeCursor(*args.After); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *FolderConnection) load(ctx context.Context) error {
	c.once.Do(func() {
		if c.limit == 0 {
			c.page = []*Folder{}
			return
		}
		var fs []*Folder
		if c.audience != nil {
			fs, c.loadErr = c.svc.Store.VisibleChildFolders(ctx, *c.audience, c.after, c.limit+1)
			for _, f := range fs {
				if !f.Explicit {
					f.CreatedAt = nil // it could date a file the caller cannot see
				}
			}
		} else {
			fs, c.loadErr = c.svc.Store.ChildFolders(ctx, c.orgID, c.bucketID, c.parent, c.after, c.limit+1)
		}
		if len(fs) > c.limit {
			fs, c.hasMore = fs[:c.limit], true
		}
		c.page = fs
	})
	return c.loadErr
}

// Folders returns the page.
func (c *FolderConnection) Folders(ctx context.Context) ([]*Folder, error) {
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	return c.page, nil
}

// PageInfo describes the page; hasPreviousPage is true after a cursor.
func (c *FolderConnection) PageInfo(ctx context.Context) (*PageInfo, error) {
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	pi := &PageInfo{HasNextPage: c.hasMore, HasPreviousPage: c.after != ""}
	if n := len(c.page); n > 0 {
		start, end := c.Cursor(c.page[0]), c.Cursor(c.page[n-1])
		pi.StartCursor, pi.EndCursor = &start, &end
	}
	return pi, nil
}

// TotalCount counts the folders directly below the folder, whatever the page.
func (c *FolderConnection) TotalCount(ctx context.Context) (int, error) {
	if c.audience != nil {
		return c.svc.Store.CountVisibleChildFolders(ctx, *c.audience)
	}
	return c.svc.Store.CountChildFolders(ctx, c.orgID, c.bucketID, c.parent)
}

type folderCursor struct {
	F string `json:"f"`
	P string `json:"p"`
}

// Cursor returns the opaque cursor of a folder in this listing.
func (c *FolderConnection) Cursor(f *Folder) string {
	b, _ := json.Marshal(folderCursor{F: c.fingerprint, P: f.Path})
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *FolderConnection) decodeCursor(s string) (string, error) {
	bad := Invalid("after", "this cursor is not valid for this listing; cursors only work with the same bucket and path")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 2*MaxPathBytes {
		return "", bad
	}
	var k folderCursor
	if err := json.Unmarshal(b, &k); err != nil || k.F != c.fingerprint || !strings.HasPrefix(k.P, c.parent) {
		return "", bad
	}
	return k.P, nil
}

// CreateFolder makes a folder that persists while it holds nothing (its
// parents exist while it does); a folder that exists already is made
// explicit and returned. Returns FORBIDDEN without media:create,
// NOT_FOUND for an unknown bucket, BAD_USER_INPUT for a bad path or the
// root (which always exists).
func (s *Service) CreateFolder(ctx context.Context, bucket, path string) (*Folder, error) {
	p, err := require(ctx, ScopeMediaCreate)
	if err != nil {
		return nil, err
	}
	folder, err := folderPath("path", path, "the root folder always exists; name a folder below it")
	if err != nil {
		return nil, err
	}
	b, err := s.bucketByName(ctx, p, bucket)
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(ts *Service) error {
		// The bucket's lock serialises the changes of its explicit folders.
		if _, err := ts.lockBucket(ctx, p, b); err != nil {
			return err
		}
		f, err := ts.Store.Folder(ctx, p.OrgID, b.ID, folder)
		if err != nil && !IsNotFound(err) {
			return err
		}
		if f != nil && f.Explicit {
			return nil
		}
		return ts.Store.MarkFolders(ctx, p.OrgID, b.ID, []string{folder}, 1)
	})
	if err != nil {
		return nil, err
	}
	return s.folderAt(ctx, p, b, folder)
}

// MoveFolderInput names a folder and where it goes: TargetPath is its new
// path, in TargetBucket (default: its own bucket).
type MoveFolderInput struct {
	Bucket       string
	Path         string
	TargetBucket *string
	TargetPath   string
}

// MoveFolder moves a folder, with everything below it, to a new path in
// the same or another bucket of the organization, all or nothing: its
// files (trashed ones too, so that a restore puts them back in the
// folder), its subfolders and its explicit folders. Moving onto a folder
// that exists merges the two. The files the caller cannot see (a
// RESTRICTED bucket) are as if absent: they stay where they are, and a
// name only such a file has in the target is free (the moved file gets a
// numbered name beside it). Within the bucket every file must allow a
// descriptive change; to another bucket a change of who can see it, and
// no file may be under legal hold; the target's policy and quota are
// checked for every file.
// Returns FORBIDDEN, NOT_FOUND for an unknown bucket or a folder the
// caller sees nothing in, BAD_USER_INPUT for the root, a folder moved
// into itself, below itself or onto a folder above it, or a path too deep;
// CONFLICT for a name taken by a file the caller can see or a held file
// leaving its bucket; and the target's policy errors.
func (s *Service) MoveFolder(ctx context.Context, in MoveFolderInput) (*Folder, error) {
	p, err := require(ctx, ScopeMediaUpdate)
	if err != nil {
		return nil, err
	}
	from, err := folderPath("path", in.Path, "the root folder cannot be moved; move the folders in it")
	if err != nil {
		return nil, err
	}
	to, err := folderPath("targetPath", in.TargetPath, "a folder cannot take the root's place; name a folder below it")
	if err != nil {
		return nil, err
	}
	src, err := s.bucketByName(ctx, p, in.Bucket)
	if err != nil {
		return nil, err
	}
	dst := src
	if in.TargetBucket != nil {
		if dst, err = s.bucketByName(ctx, p, *in.TargetBucket); err != nil {
			return nil, err
		}
	}
	if src.ID == dst.ID && (strings.HasPrefix(to, from) || strings.HasPrefix(from, to)) {
		return nil, Invalid("targetPath", "a folder cannot move onto itself, into a folder below it, or onto a folder above it")
	}
	moved := func(path string) string { return to + strings.TrimPrefix(path, from) }
	now := s.now()
	err = s.inTxNaming(ctx, func(ts *Service) error {
		tx := ts.Store
		locked, err := ts.lockBuckets(ctx, p.OrgID, []ID{src.ID, dst.ID})
		if err != nil {
			return err
		}
		target := locked[dst.ID]
		if locked[src.ID] == nil || target == nil {
			return Errorf(ENOTFOUND, "bucket not found")
		}
		fs, err := tx.LockMatchingFiles(ctx, FileQuery{OrgID: p.OrgID, BucketID: &src.ID,
			Filter: FileFilter{PathPrefix: &from, Trashed: TrashInclude}, Audience: audienceOf(p), Limit: maxFolderFiles + 1})
		if err != nil {
			return err
		}
		if len(fs) > maxFolderFiles {
			return Invalid("path", "folder %s holds more than %d files; move the folders in it one by one", from, maxFolderFiles)
		}
		marks, err := tx.ExplicitFolders(ctx, p.OrgID, src.ID, from)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(fs, func(f *File) bool { return f.TrashedAt == nil }) && len(marks) == 0 {
			return folderNotFound(from)
		}
		for _, path := range append(pathsOf(fs), marks...) {
			if err := checkMovedPath(moved(path)); err != nil {
				return err
			}
		}
		if err := ts.allowAll(ctx, p, fs, ActDescribe); err != nil {
			return err
		}
		if src.ID != dst.ID {
			if err := ts.allowAll(ctx, p, fs, ActExpose); err != nil {
				return err
			}
			var added int64
			for _, f := range fs {
				if f.LegalHold {
					return legalHold(f, "leave its bucket")
				}
				sn := Sniffed{MimeType: f.MimeType, Type: f.Type, Width: f.Width, Height: f.Height}
				if err := s.checkContent(target, sn, f.Size, false); err != nil {
					return withPrefix(err, f.Name)
				}
				added += f.Size
			}
			if err := checkQuota(ctx, tx, target, added); err != nil {
				return err
			}
		}
		renamed, err := ts.folderNames(ctx, p, target, fs, moved)
		if err != nil {
			return err
		}
		already, err := tx.ExplicitFolders(ctx, p.OrgID, dst.ID, to)
		if err != nil {
			return err
		}
		var rest []ID
		for _, f := range fs {
			c := *f
			c.BucketID, c.Path, c.UpdatedAt, c.UpdatedBy = dst.ID, moved(f.Path), now, &p.UserID
			if name, ok := renamed[f.ID]; ok {
				c.Name = name
				if err := tx.UpdateFile(ctx, &c, nil); err != nil {
					return err
				}
			} else {
				rest = append(rest, f.ID)
			}
			ts.emit(p, EventUpdated, &c, nil)
		}
		if err := tx.RelocateFiles(ctx, p.OrgID, rest, dst.ID, from, to, now, p.UserID); err != nil {
			return err
		}
		var marked []string
		for _, m := range marks {
			if !slices.Contains(already, moved(m)) {
				marked = append(marked, moved(m))
			}
		}
		if err := tx.MarkFolders(ctx, p.OrgID, src.ID, marks, -1); err != nil {
			return err
		}
		return tx.MarkFolders(ctx, p.OrgID, dst.ID, marked, 1)
	})
	if err != nil {
		return nil, err
	}
	return s.folderAt(ctx, p, dst, to)
}

// folderNames returns the names the live files of fs take in bucket b at
// their new paths (moved): their own unless a live file there has it,
// which is a CONFLICT if the caller can see it, and a numbered name beside
// it if not (freeName; CONTRACT §6). One query for the whole batch, and a
// few per hidden clash. Only renamed files are in the result.
func (s *Service) folderNames(ctx context.Context, p *Principal, b *Bucket, fs []*File, moved func(string) string) (map[ID]string, error) {
	asked := claims{}
	at := map[string]*File{}
	var places []FilePlace
	for _, f := range fs {
		if f.TrashedAt != nil {
			continue // trashed files hold no name; a restore finds one
		}
		pl := FilePlace{BucketID: b.ID, Path: moved(f.Path), Name: f.Name}
		places = append(places, pl)
		key := place(b.ID, pl.Path, pl.Name)
		asked[key], at[key] = true, f
	}
	var clashes []*File
	for start := 0; start < len(places); start += maxBatch {
		cs, err := s.Store.FilesAt(ctx, p.OrgID, places[start:min(start+maxBatch, len(places))])
		if err != nil {
			return nil, err
		}
		clashes = append(clashes, cs...)
	}
	renamed := map[ID]string{}
	if len(clashes) == 0 {
		return renamed, nil
	}
	ids := make([]ID, len(clashes))
	for i, c := range clashes {
		ids[i] = c.ID
	}
	seen, err := s.Store.ListFiles(ctx, FileQuery{OrgID: p.OrgID, IDs: ids, Audience: audienceOf(p), Limit: len(ids)})
	if err != nil {
		return nil, err
	}
	if len(seen) > 0 {
		return nil, nameTaken(seen[0].Path, seen[0].Name)
	}
	slices.SortFunc(clashes, func(a, b *File) int { return strings.Compare(string(a.ID), string(b.ID)) })
	for _, c := range clashes {
		f := at[place(b.ID, c.Path, c.Name)]
		name, err := s.freeName(ctx, p, b.ID, c.Path, c.Name, f.ID, asked)
		if err != nil {
			return nil, err
		}
		asked[place(b.ID, c.Path, name)] = true
		renamed[f.ID] = name
	}
	return renamed, nil
}

// TrashFolder trashes every live file below a folder, all or nothing, and
// the explicit folders there (so the folder is gone unless files the
// caller cannot see remain in it). Files the caller cannot see (a
// RESTRICTED bucket) are as if absent: they stay. It returns how many
// files it trashed.
// Returns FORBIDDEN unless the caller may destroy every one of them
// (CONTRACT §6), NOT_FOUND for an unknown bucket or a folder the caller
// sees nothing in, BAD_USER_INPUT for the root or a bad path, CONFLICT if
// one of them is under legal hold.
func (s *Service) TrashFolder(ctx context.Context, bucket, path string) (int, error) {
	p, err := require(ctx, ScopeMediaDelete)
	if err != nil {
		return 0, err
	}
	folder, err := folderPath("path", path, "the root folder cannot be trashed; trash the folders in it")
	if err != nil {
		return 0, err
	}
	b, err := s.bucketByName(ctx, p, bucket)
	if err != nil {
		return 0, err
	}
	n := 0
	err = s.inTx(ctx, func(ts *Service) error {
		tx := ts.Store
		locked, err := ts.lockBucket(ctx, p, b)
		if err != nil {
			return err
		}
		fs, err := tx.LockMatchingFiles(ctx, FileQuery{OrgID: p.OrgID, BucketID: &b.ID,
			Filter: FileFilter{PathPrefix: &folder, Trashed: TrashExclude}, Audience: audienceOf(p), Limit: maxFolderFiles + 1})
		if err != nil {
			return err
		}
		if len(fs) > maxFolderFiles {
			return Invalid("path", "folder %s holds more than %d files; trash the folders in it one by one", folder, maxFolderFiles)
		}
		marks, err := tx.ExplicitFolders(ctx, p.OrgID, b.ID, folder)
		if err != nil {
			return err
		}
		if len(fs) == 0 && len(marks) == 0 {
			return folderNotFound(folder)
		}
		if err := ts.allowAll(ctx, p, fs, ActDestroy); err != nil {
			return err
		}
		ids := make([]ID, len(fs))
		for i, f := range fs {
			if f.LegalHold {
				return legalHold(f, "be trashed")
			}
			ids[i] = f.ID
		}
		now := s.now()
		purge := now.Add(TrashRetentionOf(locked))
		if err := tx.TrashFiles(ctx, p.OrgID, ids, now, purge, p.UserID); err != nil {
			return err
		}
		for _, f := range fs {
			f.TrashedAt, f.PurgeAt, f.UpdatedAt, f.UpdatedBy = &now, &purge, now, &p.UserID
			ts.emit(p, EventTrashed, f, nil)
		}
		n = len(fs)
		return tx.MarkFolders(ctx, p.OrgID, b.ID, marks, -1)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// folderAt returns a folder as the caller sees it (see Folder): a folder
// with nothing in it comes back empty rather than NOT_FOUND.
func (s *Service) folderAt(ctx context.Context, p *Principal, b *Bucket, path string) (*Folder, error) {
	f, err := s.Store.Folder(ctx, p.OrgID, b.ID, path)
	if IsNotFound(err) {
		f, err = &Folder{BucketID: b.ID, Path: path}, nil
	}
	if err != nil {
		return nil, err
	}
	if a := audienceOf(p); a != nil && b.Access == AccessRestricted {
		f.FileCount, f.Size, err = s.Store.FileTotals(ctx, FileQuery{OrgID: p.OrgID, BucketID: &b.ID,
			Filter: FileFilter{PathPrefix: &path, Trashed: TrashExclude}, Audience: a})
		if !f.Explicit {
			f.CreatedAt = nil
		}
	}
	return f, err
}

// lockBucket locks b for a transaction; NOT_FOUND if it is gone.
func (s *Service) lockBucket(ctx context.Context, p *Principal, b *Bucket) (*Bucket, error) {
	locked, err := s.Store.LockBucket(ctx, p.OrgID, b.ID)
	if IsNotFound(err) {
		return nil, Errorf(ENOTFOUND, "bucket %q not found", b.Name)
	}
	return locked, err
}

// folderPath normalizes a folder path that may not be the root (rootMsg
// says why).
func folderPath(field, path, rootMsg string) (string, error) {
	n, err := NormalizePath(field, path)
	if err != nil {
		return "", err
	}
	if n == "/" {
		return "", Invalid(field, "%s", rootMsg)
	}
	return n, nil
}

// checkMovedPath refuses a path a move would make too long or too deep.
func checkMovedPath(path string) error {
	if len(path) > MaxPathBytes || strings.Count(path, "/")-1 > MaxPathDepth {
		return Invalid("targetPath", "moving there would make %s longer than %d bytes or deeper than %d folders",
			path, MaxPathBytes, MaxPathDepth)
	}
	return nil
}

func pathsOf(fs []*File) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Path
	}
	return out
}

func folderNotFound(path string) error { return Errorf(ENOTFOUND, "folder %s not found", path) }
