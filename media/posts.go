package media

import (
	"context"
	"strings"
	"unicode/utf8"
)

// AttachmentsBucket is the built-in RESTRICTED bucket uploads attached to
// content go to unless the client names another. It is made on first use.
const AttachmentsBucket = "attachments"

// Content size limits.
const (
	maxTitleBytes = 500
	maxBodyBytes  = 64 << 10
)

// PostInput creates a post, or with UpdatePost changes the fields that are set.
type PostInput struct {
	Title         *string
	Body          *string
	Visibility    *PostVisibility
	AuthorID      *ID // UpdatePost only, admins only
	AttachmentIDs []ID
	Files         []UploadInput
}

func checkContentText(field string, v *string, max int, required bool) error {
	if v == nil {
		if required {
			return Invalid(field, "%s is required", field)
		}
		return nil
	}
	if len(*v) > max || !utf8.ValidString(*v) || strings.ContainsRune(*v, 0) || (required && strings.TrimSpace(*v) == "") {
		return Invalid(field, "%s must be 1 to %d bytes of text", field, max)
	}
	return nil
}

// CreatePost creates a post by the caller, attaches the files named and
// uploads and attaches the files sent. All or nothing.
// Returns FORBIDDEN without content:write (and media:create for uploads),
// BAD_USER_INPUT, NOT_FOUND for files the caller cannot see, and the upload errors.
func (s *Service) CreatePost(ctx context.Context, in PostInput) (*Post, error) {
	p, err := require(ctx, ScopeContentWrite)
	if err != nil {
		return nil, err
	}
	if err := checkContentText("title", in.Title, maxTitleBytes, true); err != nil {
		return nil, err
	}
	body := ""
	if in.Body != nil {
		body = *in.Body
	}
	if err := checkContentText("body", &body, maxBodyBytes, false); err != nil {
		return nil, err
	}
	vis := PostWorkspace
	if in.Visibility != nil {
		if !in.Visibility.Valid() {
			return nil, Invalid("visibility", "visibility must be WORKSPACE or PRIVATE")
		}
		vis = *in.Visibility
	}
	now := s.now()
	post := &Post{ID: NewID(PrefixPost, now), OrgID: p.OrgID, AuthorID: p.UserID, Title: *in.Title, Body: body,
		Visibility: vis, CreatedAt: now, UpdatedAt: now}
	into := &target{value: post, id: post.ID, postID: &post.ID, editors: func() bool { return true }}
	if err := s.createContent(ctx, p, into, in.AttachmentIDs, in.Files, func(tx Store) error {
		return tx.CreatePost(ctx, post)
	}); err != nil {
		return nil, err
	}
	return post, nil
}

// createContent creates a post, comment or message (create writes its
// row) with its attachments: the files named and the files uploaded into
// it, all in one transaction. Nothing is left behind if a part fails.
func (s *Service) createContent(ctx context.Context, p *Principal, into *target, ids []ID, files []UploadInput,
	create func(tx Store) error) error {
	if len(files) > 0 {
		if _, err := require(ctx, ScopeMediaCreate); err != nil {
			return err
		}
	}
	for i := range files {
		files[i].AttachTo = nil
	}
	ups, err := s.stageAll(ctx, p, files, into)
	if err != nil {
		return withPrefix(err, "files")
	}
	_, err = s.commitAll(ctx, p, ups, func(ts *Service, fs []*File) error {
		if err := create(ts.Store); err != nil {
			return err
		}
		for _, f := range fs {
			ids = append(ids, f.ID)
		}
		if len(ids) == 0 {
			return nil
		}
		return ts.attach(ctx, p, into.id, ids)
	})
	return err
}

// ensureAttachmentsBucket makes the organization's built-in RESTRICTED
// attachments bucket if it does not exist yet.
func (s *Service) ensureAttachmentsBucket(ctx context.Context, p *Principal) error {
	if _, err := s.Store.BucketByName(ctx, p.OrgID, AttachmentsBucket); !IsNotFound(err) {
		return err
	}
	now := s.now()
	b := &Bucket{ID: NewID(PrefixBucket, now), OrgID: p.OrgID, Name: AttachmentsBucket, Access: AccessRestricted,
		DefaultVisibility: VisibilityPrivate, AllowedMimeTypes: []string{}, TypeLimits: map[FileType]int64{}, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateBucket(ctx, b); err != nil && ErrorCode(err) != ECONFLICT {
		return err
	}
	return nil
}

// UpdatePost changes a post. Only its author or an admin may; only an admin
// may give it another author.
// Returns NOT_FOUND, FORBIDDEN, BAD_USER_INPUT.
func (s *Service) UpdatePost(ctx context.Context, id ID, in PostInput) (*Post, error) {
	p, post, err := s.postFor(ctx, ScopeContentWrite, id)
	if err != nil {
		return nil, err
	}
	if post.AuthorID != p.UserID && !p.Role.IsAdmin() {
		return nil, Errorf(EFORBIDDEN, "only the post's author or an admin may change it")
	}
	if err := checkContentText("title", in.Title, maxTitleBytes, in.Title != nil); err != nil {
		return nil, err
	}
	if err := checkContentText("body", in.Body, maxBodyBytes, false); err != nil {
		return nil, err
	}
	if in.Title != nil {
		post.Title = *in.Title
	}
	if in.Body != nil {
		post.Body = *in.Body
	}
	if in.Visibility != nil {
		if !in.Visibility.Valid() {
			return nil, Invalid("visibility", "visibility must be WORKSPACE or PRIVATE")
		}
		post.Visibility = *in.Visibility
	}
	if in.AuthorID != nil {
		if !p.Role.IsAdmin() {
			return nil, Errorf(EFORBIDDEN, "only an admin may give a post another author")
		}
		us, err := s.UsersByIDs(ctx, []ID{*in.AuthorID})
		if err != nil {
			return nil, err
		}
		if us[0] == nil {
			return nil, Invalid("authorId", "user %s not found", *in.AuthorID)
		}
		post.AuthorID = *in.AuthorID
	}
	post.UpdatedAt = s.now()
	return post, s.Store.UpdatePost(ctx, post)
}

// DeletePost deletes a post with its comments; its files stay (detached).
// Returns NOT_FOUND, FORBIDDEN unless the author or an admin.
func (s *Service) DeletePost(ctx context.Context, id ID) (ID, error) {
	p, post, err := s.postFor(ctx, ScopeContentWrite, id)
	if err != nil {
		return "", err
	}
	if post.AuthorID != p.UserID && !p.Role.IsAdmin() {
		return "", Errorf(EFORBIDDEN, "only the post's author or an admin may delete it")
	}
	return id, s.inTx(ctx, func(ts *Service) error {
		detached, err := ts.Store.DeletePost(ctx, p.OrgID, id)
		if err != nil {
			return err
		}
		// Its files stay; those who watch them hear they were detached.
		ids := make([]ID, len(detached))
		for i, a := range detached {
			ids[i] = a.FileID
		}
		fs, err := ts.Store.ListFiles(ctx, FileQuery{OrgID: p.OrgID, IDs: ids, Filter: FileFilter{Trashed: TrashInclude}})
		if err != nil {
			return err
		}
		for _, a := range detached {
			for _, f := range fs {
				if f.ID == a.FileID {
					ts.emit(p, EventDetached, f, &a.TargetID)
				}
			}
		}
		return nil
	})
}

// Post returns a post the caller may see. Returns NOT_FOUND.
func (s *Service) Post(ctx context.Context, id ID) (*Post, error) {
	_, post, err := s.postFor(ctx, ScopeContentRead, id)
	return post, err
}

func (s *Service) postFor(ctx context.Context, scope string, id ID) (*Principal, *Post, error) {
	p, err := require(ctx, scope)
	if err != nil {
		return nil, nil, err
	}
	ps, err := s.PostsByIDs(ctx, []ID{id})
	if err != nil {
		return nil, nil, err
	}
	if ps[0] == nil {
		return nil, nil, Errorf(ENOTFOUND, "post %s not found", id)
	}
	return p, ps[0], nil
}

// PostsByIDs loads posts the caller may see, in key order (dataloaders).
func (s *Service) PostsByIDs(ctx context.Context, ids []ID) ([]*Post, error) {
	p, err := require(ctx, ScopeContentRead)
	if err != nil {
		return nil, err
	}
	ps, err := s.Store.PostsByIDs(ctx, p.OrgID, validIDs(ids, PrefixPost), audienceOf(p))
	if err != nil {
		return nil, err
	}
	return inKeyOrder(ids, ps, func(x *Post) ID { return x.ID }), nil
}

// PostPage is a page of posts.
type PostPage struct {
	Posts       []*Post
	HasNextPage bool
	after       *string
}

// After is the cursor the page started after, if any.
func (p *PostPage) After() *string { return p.after }

// Posts lists the posts the caller may see, newest first.
func (s *Service) Posts(ctx context.Context, first int, after *string) (*PostPage, error) {
	p, err := require(ctx, ScopeContentRead)
	if err != nil {
		return nil, err
	}
	key, err := pageArgs(first, after)
	if err != nil {
		return nil, err
	}
	ps, err := s.Store.ListPosts(ctx, p.OrgID, audienceOf(p), key, first+1)
	if err != nil {
		return nil, err
	}
	page := &PostPage{Posts: ps, after: after}
	if len(ps) > first {
		page.Posts, page.HasNextPage = ps[:first], true
	}
	return page, nil
}
