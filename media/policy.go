package media

import (
	"context"
	"slices"
)

// Action is what a caller wants to do with a file. CONTRACT.md §6 says who
// may do each one; every entry point (GraphQL fields, uploads, sessions,
// downloads, thumbnails, the sweeper) asks through fileFor, lockFile or
// allow, and nowhere else decides.
type Action int

const (
	// ActRead sees the file, its revisions, URLs, thumbnails and usages.
	ActRead Action = iota
	// ActRevise gives it new content as a new revision: replace on any
	// upload route or session, replaceFileContent, restoreFileRevision.
	ActRevise
	// ActDescribe changes its name, texts, tags, metadata, or its folder
	// within its bucket.
	ActDescribe
	// ActExpose changes who can see it: its visibility, or its bucket.
	ActExpose
	// ActDestroy trashes, restores, deletes it, deletes a revision, or
	// drops the previous one (keepPrevious: false).
	ActDestroy
)

// scope is the API key scope an action needs.
func (a Action) scope() string {
	switch a {
	case ActRead:
		return ScopeMediaRead
	case ActDestroy:
		return ScopeMediaDelete
	}
	return ScopeMediaUpdate
}

// fileFor is the policy asked before acting on a file: the caller holds
// the action's scope (FORBIDDEN), sees the file (NOT_FOUND, exactly as for
// an id that does not exist or belongs to another organization), and may
// do the action to it (FORBIDDEN). Trashed files resolve too.
func (s *Service) fileFor(ctx context.Context, id ID, a Action) (*Principal, *File, error) {
	p, err := require(ctx, a.scope())
	if err != nil {
		return nil, nil, err
	}
	f, err := s.visibleFile(ctx, p, id, a == ActRead)
	if err != nil {
		return nil, nil, err
	}
	return p, f, s.allow(ctx, p, f, a)
}

// lockFile is fileFor inside a transaction (s reads through it, see in):
// the file's row is locked until the transaction ends and the policy is
// asked of the row as it is now, so no concurrent change slips between
// the check and the write.
func (s *Service) lockFile(ctx context.Context, p *Principal, id ID, a Action) (*File, error) {
	fs, err := s.lockFiles(ctx, p, []ID{id}, a)
	if err != nil {
		return nil, err
	}
	return fs[0], nil
}

// lockFiles is lockFile for many files at once, in a bounded number of
// queries whatever their number: their rows are locked in id order (see
// locks.go), and each file is asked the policy lockFile asks. It returns
// the files in the order of ids, or the refusal of the first file in that
// order that does not exist or cannot be seen (NOT_FOUND) or, all being
// visible, that the caller may not do a to (FORBIDDEN).
func (s *Service) lockFiles(ctx context.Context, p *Principal, ids []ID, a Action) ([]*File, error) {
	for _, id := range ids {
		if !id.Valid(PrefixFile) {
			return nil, fileNotFound(id)
		}
	}
	locked, err := s.Store.LockFiles(ctx, p.OrgID, ids)
	if err != nil {
		return nil, err
	}
	visible, err := s.seen(ctx, p, locked)
	if err != nil {
		return nil, err
	}
	byID := make(map[ID]*File, len(locked))
	for _, f := range locked {
		if visible[f.ID] {
			byID[f.ID] = f
		}
	}
	out := make([]*File, len(ids))
	for i, id := range ids {
		if out[i] = byID[id]; out[i] == nil {
			return nil, fileNotFound(id)
		}
	}
	if err := s.allowAll(ctx, p, out, a); err != nil {
		return nil, err
	}
	return out, nil
}

// changeFile runs change on a file locked for the action, in one
// transaction, and returns the file as change left it (see changeFiles).
func (s *Service) changeFile(ctx context.Context, scope string, id ID, a Action, change func(tx *Service, p *Principal, f *File) error) (*File, error) {
	fs, err := s.changeFiles(ctx, scope, []ID{id}, a, func(tx *Service, p *Principal, fs []*File) error {
		return change(tx, p, fs[0])
	})
	if err != nil {
		return nil, err
	}
	return fs[0], nil
}

// changeFiles runs change on files locked for the action (lockFiles), in
// one transaction, and returns the files as change left them, in the
// order of ids. The policy is asked of the locked rows, and change decides
// on them: a concurrent change either committed before (and is seen) or
// waits until this one has; a change that lost a race for a name runs once
// more (inTxNaming). The caller must hold scope. ids are 1 to MaxBulkIDs
// distinct ids (BAD_USER_INPUT).
func (s *Service) changeFiles(ctx context.Context, scope string, ids []ID, a Action, change func(tx *Service, p *Principal, fs []*File) error) ([]*File, error) {
	p, err := require(ctx, scope)
	if err != nil {
		return nil, err
	}
	if err := checkBulkIDs(ids); err != nil {
		return nil, err
	}
	var out []*File
	err = s.inTxNaming(ctx, func(ts *Service) error {
		fs, err := ts.lockFiles(ctx, p, ids, a)
		if err != nil {
			return err
		}
		out = fs
		return change(ts, p, fs)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// visibleFile returns a file of the caller's organization that the caller
// can see (RESTRICTED buckets, CONTRACT rule 2), trashed or not, with its
// bucket if withBucket (a read: an action may change the file's bucket
// after this, and File.Bucket must not outlive the read).
// Returns NOT_FOUND.
func (s *Service) visibleFile(ctx context.Context, p *Principal, id ID, withBucket bool) (*File, error) {
	if !id.Valid(PrefixFile) {
		return nil, fileNotFound(id)
	}
	fs, err := s.Store.ListFiles(ctx, FileQuery{OrgID: p.OrgID, IDs: []ID{id}, Filter: FileFilter{Trashed: TrashInclude},
		Audience: audienceOf(p), Limit: 1, WithBucket: withBucket})
	if err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, fileNotFound(id)
	}
	return fs[0], nil
}

// sees reports whether the caller can see f, a file of its organization.
func (s *Service) sees(ctx context.Context, p *Principal, f *File) (bool, error) {
	ok, err := s.seen(ctx, p, []*File{f})
	return ok[f.ID], err
}

// seen reports which of fs the caller can see: the files of its
// organization that its role, its uploads or rule 2 let it see, in at most
// one query.
func (s *Service) seen(ctx context.Context, p *Principal, fs []*File) (map[ID]bool, error) {
	out := make(map[ID]bool, len(fs))
	var ask []ID
	for _, f := range fs {
		switch {
		case f.OrgID != p.OrgID:
		case audienceOf(p) == nil || uploadedBy(p, f):
			out[f.ID] = true
		default:
			ask = append(ask, f.ID)
		}
	}
	if len(ask) == 0 {
		return out, nil
	}
	vs, err := s.Store.ListFiles(ctx, FileQuery{OrgID: p.OrgID, IDs: ask, Filter: FileFilter{Trashed: TrashInclude},
		Audience: audienceOf(p)})
	if err != nil {
		return nil, err
	}
	for _, f := range vs {
		out[f.ID] = true
	}
	return out, nil
}

func uploadedBy(p *Principal, f *File) bool { return f.CreatedBy != nil && *f.CreatedBy == p.UserID }

// allow decides whether the caller may do a to f, a file it can see
// (CONTRACT §6), and answers FORBIDDEN with the rule when not (see allowAll).
func (s *Service) allow(ctx context.Context, p *Principal, f *File, a Action) error {
	return s.allowAll(ctx, p, []*File{f}, a)
}

// allowAll decides whether the caller may do a to each of fs, files it can
// see (CONTRACT §6), and answers FORBIDDEN for the first it may not. What
// the rule needs to know (bucket access, authors) is read for all of them
// in at most one query. Admins and owners may do everything; reading and
// new revisions need only the file to be visible; descriptive changes in
// RESTRICTED buckets, visibility and bucket changes need the uploader;
// destroying needs the uploader or the author of the post, comment or
// message the file was uploaded into.
func (s *Service) allowAll(ctx context.Context, p *Principal, fs []*File, a Action) error {
	if p.Role.IsAdmin() || a == ActRead || a == ActRevise {
		return nil
	}
	var buckets, contents []ID
	for _, f := range fs {
		switch {
		case uploadedBy(p, f):
		case a == ActDescribe:
			buckets = append(buckets, f.BucketID)
		case a == ActDestroy && f.UploadedInto != nil:
			contents = append(contents, *f.UploadedInto)
		}
	}
	open := map[ID]bool{} // buckets that are not RESTRICTED
	if len(buckets) > 0 {
		bs, err := s.Store.BucketsByIDs(ctx, p.OrgID, compactIDs(buckets))
		if err != nil {
			return err
		}
		for _, b := range bs {
			open[b.ID] = b.Access != AccessRestricted
		}
	}
	authors := map[ID]ID{}
	if len(contents) > 0 {
		var err error
		if authors, err = s.Store.ContentAuthors(ctx, p.OrgID, compactIDs(contents)); err != nil {
			return err
		}
	}
	for _, f := range fs {
		if uploadedBy(p, f) {
			continue
		}
		switch a {
		case ActDescribe:
			if !open[f.BucketID] {
				return Errorf(EFORBIDDEN, "in a RESTRICTED bucket only the uploader or an admin may change file %s", f.ID)
			}
		case ActExpose:
			return Errorf(EFORBIDDEN, "only the uploader or an admin may change who can see file %s or move it to another bucket", f.ID)
		case ActDestroy:
			if f.UploadedInto == nil || authors[*f.UploadedInto] != p.UserID {
				return Errorf(EFORBIDDEN, "only the uploader, the author of what it was uploaded into, or an admin may delete or trash file %s", f.ID)
			}
		default:
			return Errorf(EFORBIDDEN, "not allowed")
		}
	}
	return nil
}

// compactIDs returns ids sorted, each once.
func compactIDs(ids []ID) []ID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// audienceOf is whom file reads answer for: nil (everything in the
// organization) for admins and owners, the user otherwise.
func audienceOf(p *Principal) *Audience {
	if p.Role.IsAdmin() {
		return nil
	}
	return &Audience{UserID: p.UserID}
}

// in returns the Service reading and writing through st (a transaction's
// Store), so that checks made inside a transaction see what it wrote and
// take its locks. On SQLite the transaction holds the only connection:
// inside InTx every query must go through it.
func (s *Service) in(st Store) *Service {
	c := *s
	c.Store = st
	return &c
}

func fileNotFound(id ID) error { return Errorf(ENOTFOUND, "file %s not found", id) }

// roleRank orders roles: OWNER > ADMIN > MEMBER.
func roleRank(r Role) int {
	switch r {
	case RoleOwner:
		return 3
	case RoleAdmin:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// outranks reports whether the caller's role is strictly higher than r:
// what acting on another user's keys needs.
func outranks(p *Principal, r Role) error {
	if roleRank(p.Role) > roleRank(r) {
		return nil
	}
	return Errorf(EFORBIDDEN, "only a user whose role is higher than %s may do this for them", r)
}

func legalHold(f *File, what string) error {
	return Errorf(ECONFLICT, "file %s is under legal hold and cannot %s", f.ID, what)
}
