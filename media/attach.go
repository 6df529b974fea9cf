package media

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
)

// contentCursor is the position of a post, comment or message in its list.
type contentCursor struct {
	T FileKey `json:"k"`
}

// ContentCursor returns the opaque cursor of content created at t with id.
func ContentCursor(k FileKey) string {
	b, _ := json.Marshal(contentCursor{T: FileKey{Time: k.Time, ID: k.ID}})
	return base64.RawURLEncoding.EncodeToString(b)
}

// pageArgs checks a page size and decodes an after cursor.
func pageArgs(first int, after *string) (*FileKey, error) {
	if first < 0 || first > MaxPageSize {
		return nil, Invalid("first", "first must be between 0 and %d", MaxPageSize)
	}
	if after == nil {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*after)
	var c contentCursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.T.ID == "" || len(*after) > 512 {
		return nil, Invalid("after", "this cursor is not valid for this list")
	}
	return &c.T, nil
}

// target is a post, comment or message resolved for the caller, with what
// the visibility rules need.
type target struct {
	value          Attachable
	id             ID
	postID         *ID // posts and comments
	conversationID *ID // messages
	editors        func() bool
}

// resolveTarget loads a post, comment or message the caller may see.
// Returns NOT_FOUND otherwise.
func (s *Service) resolveTarget(ctx context.Context, p *Principal, id ID) (*target, error) {
	found, err := s.attachablesByIDs(ctx, []ID{id})
	if err != nil {
		return nil, err
	}
	switch v := found[id].(type) {
	case *Post:
		return &target{value: v, id: id, postID: &v.ID, editors: func() bool { return v.AuthorID == p.UserID }}, nil
	case *Comment:
		return &target{value: v, id: id, postID: &v.PostID, editors: func() bool { return v.AuthorID == p.UserID }}, nil
	case *Message:
		// Loaded through membership, so the caller is a member now.
		return &target{value: v, id: id, conversationID: &v.ConversationID, editors: func() bool { return true }}, nil
	}
	return nil, Errorf(ENOTFOUND, "%s not found", id)
}

// attachablesByIDs loads the posts, comments and messages among ids that
// the caller may see, one query per kind.
func (s *Service) attachablesByIDs(ctx context.Context, ids []ID) (map[ID]Attachable, error) {
	byKind := map[string][]ID{}
	for _, id := range ids {
		byKind[id.Prefix()] = append(byKind[id.Prefix()], id)
	}
	found := map[ID]Attachable{}
	if err := collect(found, byKind[PrefixPost], func(ids []ID) ([]*Post, error) { return s.PostsByIDs(ctx, ids) }); err != nil {
		return nil, err
	}
	if err := collect(found, byKind[PrefixComment], func(ids []ID) ([]*Comment, error) { return s.CommentsByIDs(ctx, ids) }); err != nil {
		return nil, err
	}
	if err := collect(found, byKind[PrefixMessage], func(ids []ID) ([]*Message, error) { return s.MessagesByIDs(ctx, ids) }); err != nil {
		return nil, err
	}
	return found, nil
}

// collect loads ids (results in key order, nil where not visible) into found.
func collect[T any, PT interface {
	*T
	Attachable
}](found map[ID]Attachable, ids []ID, load func([]ID) ([]PT, error)) error {
	if len(ids) == 0 {
		return nil
	}
	xs, err := load(ids)
	if err != nil {
		return err
	}
	for i, x := range xs {
		if x != nil {
			found[ids[i]] = x
		}
	}
	return nil
}

// attach attaches files the caller can see to a target the caller may
// attach to (CONTRACT rule 3: a post's or comment's author now; a
// message's conversation member now), deciding on the target and files as
// they are in the transaction s works in (see in).
func (s *Service) attach(ctx context.Context, p *Principal, targetID ID, fileIDs []ID) error {
	tg, err := s.editableTarget(ctx, p, targetID, "attach files to")
	if err != nil {
		return err
	}
	fs, err := s.attachable(ctx, fileIDs)
	if err != nil {
		return err
	}
	now := s.now()
	as := make([]*Attachment, 0, len(fs))
	for _, f := range fs {
		if f.TrashedAt != nil {
			return Errorf(ECONFLICT, "file %s is in the trash; restore it first", f.ID)
		}
		as = append(as, &Attachment{OrgID: p.OrgID, FileID: f.ID, TargetID: tg.id, PostID: tg.postID,
			ConversationID: tg.conversationID, AttachedAt: now, AttachedBy: &p.UserID})
	}
	// Each attachment's foreign key takes a share lock on its file's row
	// (PostgreSQL), so they go in by file id: the one order (see lockBuckets).
	slices.SortFunc(as, func(a, b *Attachment) int { return cmp.Compare(a.FileID, b.FileID) })
	added, err := s.Store.Attach(ctx, as)
	if err != nil {
		return err
	}
	s.emitFor(p, EventAttached, fs, added, &tg.id)
	return nil
}

// emitFor emits an event for each of files whose id is in ids.
func (s *Service) emitFor(p *Principal, t EventType, files []*File, ids []ID, target *ID) {
	for _, f := range files {
		if slices.Contains(ids, f.ID) {
			s.emit(p, t, f, target)
		}
	}
}

// editableTarget resolves a post, comment or message the caller may attach
// files to or detach them from now. Returns NOT_FOUND, FORBIDDEN.
func (s *Service) editableTarget(ctx context.Context, p *Principal, id ID, what string) (*target, error) {
	tg, err := s.resolveTarget(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if !tg.editors() {
		return nil, Errorf(EFORBIDDEN, "only the author of %s may %s it", tg.id, what)
	}
	return tg, nil
}

// attachable loads files the caller can see, by id; NOT_FOUND names the
// first one it cannot.
func (s *Service) attachable(ctx context.Context, ids []ID) ([]*File, error) {
	if len(ids) > MaxPageSize {
		return nil, Invalid("fileIds", "at most %d files at once", MaxPageSize)
	}
	fs, err := s.FilesByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, f := range fs {
		if f == nil {
			return nil, Errorf(ENOTFOUND, "file %s not found", ids[i])
		}
	}
	return fs, nil
}

// AttachFiles attaches files to a post, comment or message and returns it.
// Returns FORBIDDEN without content:write or edit rights on the target now,
// NOT_FOUND for a target or file the caller cannot see, CONFLICT for a
// trashed file.
func (s *Service) AttachFiles(ctx context.Context, targetID ID, fileIDs []ID) (Attachable, error) {
	return s.changeAttachments(ctx, targetID, func(ts *Service, p *Principal, tg *target) error {
		return ts.attach(ctx, p, tg.id, fileIDs)
	})
}

// DetachFiles removes files from a post, comment or message.
// Returns FORBIDDEN, NOT_FOUND as AttachFiles.
func (s *Service) DetachFiles(ctx context.Context, targetID ID, fileIDs []ID) (Attachable, error) {
	return s.changeAttachments(ctx, targetID, func(ts *Service, p *Principal, tg *target) error {
		if _, err := ts.editableTarget(ctx, p, tg.id, "detach files from"); err != nil {
			return err
		}
		fs, err := ts.attachable(ctx, fileIDs)
		if err != nil {
			return err
		}
		ids := make([]ID, len(fs))
		for i, f := range fs {
			ids[i] = f.ID
		}
		removed, err := ts.Store.Detach(ctx, p.OrgID, tg.id, ids)
		if err != nil {
			return err
		}
		ts.emitFor(p, EventDetached, fs, removed, &tg.id)
		return nil
	})
}

// changeAttachments resolves a target the caller sees and runs change in a
// transaction; it returns the target.
func (s *Service) changeAttachments(ctx context.Context, targetID ID, change func(ts *Service, p *Principal, tg *target) error) (Attachable, error) {
	p, err := require(ctx, ScopeContentWrite)
	if err != nil {
		return nil, err
	}
	var out Attachable
	err = s.inTx(ctx, func(ts *Service) error {
		tg, err := ts.resolveTarget(ctx, p, targetID)
		if err != nil {
			return err
		}
		out = tg.value
		return change(ts, p, tg)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UsagesByFileIDs loads, for each file, where it is used among the posts,
// comments and messages the caller may see (dataloaders), targets included.
func (s *Service) UsagesByFileIDs(ctx context.Context, ids []ID) ([][]*Usage, error) {
	p, err := require(ctx, ScopeMediaRead)
	if err != nil {
		return nil, err
	}
	as, err := s.Store.Usages(ctx, p.OrgID, ids, audienceOf(p))
	if err != nil {
		return nil, err
	}
	targetIDs := make([]ID, len(as))
	for i, a := range as {
		targetIDs[i] = a.TargetID
	}
	targets, err := s.attachablesByIDs(ctx, targetIDs)
	if err != nil {
		return nil, err
	}
	index := map[ID]int{}
	for i, id := range ids {
		index[id] = i
	}
	out := make([][]*Usage, len(ids))
	for i := range out {
		out[i] = []*Usage{}
	}
	for _, a := range as {
		if t, ok := targets[a.TargetID]; ok {
			i := index[a.FileID]
			out[i] = append(out[i], &Usage{Attachment: *a, Target: t})
		}
	}
	return out, nil
}
