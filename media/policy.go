package media

import (
	"cmp"
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
	f, err := s.visibleFile(ctx, p, id)
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
	if !id.Valid(PrefixFile) {
		return nil, fileNotFound(id)
	}
	f, err := s.Store.LockFile(ctx, p.OrgID, id)
	if IsNotFound(err) {
		return nil, fileNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	if ok, err := s.sees(ctx, p, f); err != nil || !ok {
		return nil, cmp.Or(err, fileNotFound(id))
	}
	return f, s.allow(ctx, p, f, a)
}

// changeFile runs change on a file locked for the action, in one
// transaction, and returns the file as change left it. The policy is asked
// of the locked row, and change decides on it: a concurrent change either
// committed before (and is seen) or waits until this one has; a change
// that lost a race for a name runs once more (inTxNaming). The caller
// must hold scope.
func (s *Service) changeFile(ctx context.Context, scope string, id ID, a Action, change func(tx *Service, p *Principal, f *File) error) (*File, error) {
	p, err := require(ctx, scope)
	if err != nil {
		return nil, err
	}
	var out *File
	err = s.inTxNaming(ctx, func(ts *Service) error {
		f, err := ts.lockFile(ctx, p, id, a)
		if err != nil {
			return err
		}
		out = f
		return change(ts, p, f)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// visibleFile returns a file of the caller's organization that the caller
// can see (RESTRICTED buckets, CONTRACT rule 2), trashed or not.
// Returns NOT_FOUND.
func (s *Service) visibleFile(ctx context.Context, p *Principal, id ID) (*File, error) {
	if !id.Valid(PrefixFile) {
		return nil, fileNotFound(id)
	}
	fs, err := s.Store.ListFiles(ctx, FileQuery{OrgID: p.OrgID, IDs: []ID{id}, Filter: FileFilter{Trashed: TrashInclude},
		Audience: audienceOf(p), Limit: 1})
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
	if f.OrgID != p.OrgID {
		return false, nil
	}
	if audienceOf(p) == nil || (f.CreatedBy != nil && *f.CreatedBy == p.UserID) {
		return true, nil
	}
	fs, err := s.Store.ListFiles(ctx, FileQuery{OrgID: p.OrgID, IDs: []ID{f.ID}, Filter: FileFilter{Trashed: TrashInclude},
		Audience: audienceOf(p), Limit: 1})
	return len(fs) == 1, err
}

// allow decides whether the caller may do a to f, a file it can see
// (CONTRACT §6), and answers FORBIDDEN with the rule when not (allowAll).
func (s *Service) allow(ctx context.Context, p *Principal, f *File, a Action) error {
	return s.allowAll(ctx, p, []*File{f}, a)
}

// allowAll decides whether the caller may do a to every one of fs, files
// it can see (CONTRACT §6), and answers FORBIDDEN with the rule for the
// first it may not. Admins and owners may do everything; reading and new
// revisions need only the file to be visible; descriptive changes in
// RESTRICTED buckets, visibility and bucket changes need the uploader;
// destroying needs the uploader or the author of the post, comment or
// message the file was uploaded into. The buckets and authors the rule
// needs are read once for the whole batch (folder operations).
func (s *Service) allowAll(ctx context.Context, p *Principal, fs []*File, a Action) error {
	if p.Role.IsAdmin() || a == ActRead || a == ActRevise {
		return nil
	}
	var others []*File // not the caller's uploads
	for _, f := range fs {
		if f.CreatedBy == nil || *f.CreatedBy != p.UserID {
			others = append(others, f)
		}
	}
	if len(others) == 0 {
		return nil
	}
	switch a {
	case ActDescribe:
		var ids []ID
		for _, f := range others {
			ids = append(ids, f.BucketID)
		}
		slices.Sort(ids)
		bs, err := s.Store.BucketsByIDs(ctx, p.OrgID, slices.Compact(ids))
		if err != nil {
			return err
		}
		open := map[ID]bool{}
		for _, b := range bs {
			open[b.ID] = b.Access != AccessRestricted
		}
		for _, f := range others {
			if !open[f.BucketID] {
				return Errorf(EFORBIDDEN, "in a RESTRICTED bucket only the uploader or an admin may change file %s", f.ID)
			}
		}
		return nil
	case ActExpose:
		return Errorf(EFORBIDDEN, "only the uploader or an admin may change who can see file %s or move it to another bucket", others[0].ID)
	case ActDestroy:
		var into []ID
		for _, f := range others {
			if f.UploadedInto != nil {
				into = append(into, *f.UploadedInto)
			}
		}
		authors := map[ID]ID{}
		if len(into) > 0 {
			slices.Sort(into)
			var err error
			if authors, err = s.Store.ContentAuthors(ctx, p.OrgID, slices.Compact(into)); err != nil {
				return err
			}
		}
		for _, f := range others {
			if f.UploadedInto == nil || authors[*f.UploadedInto] != p.UserID {
				return Errorf(EFORBIDDEN, "only the uploader, the author of what it was uploaded into, or an admin may delete or trash file %s", f.ID)
			}
		}
		return nil
	}
	return Errorf(EFORBIDDEN, "not allowed")
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
