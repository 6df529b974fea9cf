package media

import (
	"context"
	"slices"
)

// CommentInput creates a comment on a post.
type CommentInput struct {
	PostID        ID
	Body          string
	AttachmentIDs []ID
	Files         []UploadInput
}

// CreateComment comments on a post the caller can see, with attachments,
// all or nothing. Returns NOT_FOUND for a post the caller cannot see, FORBIDDEN, BAD_USER_INPUT.
func (s *Service) CreateComment(ctx context.Context, in CommentInput) (*Comment, error) {
	p, post, err := s.postFor(ctx, ScopeContentWrite, in.PostID)
	if err != nil {
		return nil, err
	}
	if err := checkContentText("body", &in.Body, maxBodyBytes, true); err != nil {
		return nil, err
	}
	c := &Comment{ID: NewID(PrefixComment, s.now()), OrgID: p.OrgID, PostID: post.ID, AuthorID: p.UserID, Body: in.Body, CreatedAt: s.now()}
	into := &target{value: c, id: c.ID, postID: &post.ID, editors: func() bool { return true }}
	if err := s.createContent(ctx, p, into, in.AttachmentIDs, in.Files, func(tx Store) error {
		return tx.CreateComment(ctx, c)
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// CommentsByIDs loads comments on posts the caller may see, in key order.
func (s *Service) CommentsByIDs(ctx context.Context, ids []ID) ([]*Comment, error) {
	p, err := require(ctx, ScopeContentRead)
	if err != nil {
		return nil, err
	}
	cs, err := s.Store.Comments(ctx, p.OrgID, validIDs(ids, PrefixComment), nil, nil, 0)
	if err != nil {
		return nil, err
	}
	postIDs := make([]ID, len(cs))
	for i, c := range cs {
		postIDs[i] = c.PostID
	}
	ps, err := s.Store.PostsByIDs(ctx, p.OrgID, postIDs, audienceOf(p))
	if err != nil {
		return nil, err
	}
	cs = slices.DeleteFunc(cs, func(c *Comment) bool {
		return !slices.ContainsFunc(ps, func(x *Post) bool { return x.ID == c.PostID })
	})
	return inKeyOrder(ids, cs, func(c *Comment) ID { return c.ID }), nil
}

// CommentPage is a page of a post's comments, oldest first.
type CommentPage struct {
	PostID      ID
	Comments    []*Comment
	HasNextPage bool
}

// Comments lists a visible post's comments. first pages (no cursor) are
// read through firstPages when it is given, so a page of posts costs one
// query for all their comments.
func (s *Service) Comments(ctx context.Context, post *Post, first int, after *string,
	firstPages func(ctx context.Context, postID ID, limit int) ([]*Comment, error)) (*CommentPage, error) {
	p, err := require(ctx, ScopeContentRead)
	if err != nil {
		return nil, err
	}
	key, err := pageArgs(first, after)
	if err != nil {
		return nil, err
	}
	var cs []*Comment
	if key == nil && firstPages != nil {
		cs, err = firstPages(ctx, post.ID, first+1)
	} else {
		cs, err = s.Store.Comments(ctx, p.OrgID, nil, &post.ID, key, first+1)
	}
	if err != nil {
		return nil, err
	}
	page := &CommentPage{PostID: post.ID, Comments: cs}
	if len(cs) > first {
		page.Comments, page.HasNextPage = cs[:first], true
	}
	return page, nil
}

// CommentCounts counts the comments of posts the caller got as visible,
// in key order (dataloaders).
func (s *Service) CommentCounts(ctx context.Context, postIDs []ID) ([]int, error) {
	p, err := require(ctx, ScopeContentRead)
	if err != nil {
		return nil, err
	}
	return counts(postIDs)(s.Store.CountComments(ctx, p.OrgID, postIDs))
}

// MessageCounts counts the messages of conversations the caller got as a
// member, in key order (dataloaders).
func (s *Service) MessageCounts(ctx context.Context, conversationIDs []ID) ([]int, error) {
	p, err := require(ctx, ScopeContentRead)
	if err != nil {
		return nil, err
	}
	return counts(conversationIDs)(s.Store.CountMessages(ctx, p.OrgID, conversationIDs))
}

// counts arranges counts by id in the order of ids.
func counts(ids []ID) func(map[ID]int, error) ([]int, error) {
	return func(m map[ID]int, err error) ([]int, error) {
		if err != nil {
			return nil, err
		}
		out := make([]int, len(ids))
		for i, id := range ids {
			out[i] = m[id]
		}
		return out, nil
	}
}

// CommentPages reads the first limit comments of each of a page of posts
// (which the caller got as visible) in one query (dataloaders).
func (s *Service) CommentPages(ctx context.Context, postIDs []ID, limit int) (map[ID][]*Comment, error) {
	p, err := require(ctx, ScopeContentRead)
	if err != nil {
		return nil, err
	}
	return s.Store.CommentPages(ctx, p.OrgID, postIDs, limit)
}

// ConversationInput starts a conversation.
type ConversationInput struct {
	Title     *string
	MemberIDs []ID
}

// CreateConversation starts a conversation between the caller and members
// of the organization. Returns BAD_USER_INPUT for unknown members.
func (s *Service) CreateConversation(ctx context.Context, in ConversationInput) (*Conversation, error) {
	p, err := require(ctx, ScopeContentWrite)
	if err != nil {
		return nil, err
	}
	if err := checkContentText("title", in.Title, maxTitleBytes, false); err != nil {
		return nil, err
	}
	members := []ID{p.UserID}
	for _, id := range in.MemberIDs {
		if !slices.Contains(members, id) {
			members = append(members, id)
		}
	}
	if len(members) > 500 {
		return nil, Invalid("memberIds", "at most 500 members")
	}
	us, err := s.UsersByIDs(ctx, members)
	if err != nil {
		return nil, err
	}
	for i, u := range us {
		if u == nil {
			return nil, Invalid("memberIds", "user %s not found", members[i])
		}
	}
	c := &Conversation{ID: NewID(PrefixConversation, s.now()), OrgID: p.OrgID, Title: in.Title, MemberIDs: members, CreatedAt: s.now()}
	return c, s.Store.CreateConversation(ctx, c)
}

// ConversationsByIDs loads conversations the caller is a member of, in key order.
func (s *Service) ConversationsByIDs(ctx context.Context, ids []ID) ([]*Conversation, error) {
	p, err := require(ctx, ScopeContentRead)
	if err != nil {
		return nil, err
	}
	cs, err := s.Store.ConversationsByIDs(ctx, p.OrgID, validIDs(ids, PrefixConversation), p.UserID)
	if err != nil {
		return nil, err
	}
	return inKeyOrder(ids, cs, func(c *Conversation) ID { return c.ID }), nil
}

// Conversation returns a conversation the caller is a member of.
// Returns NOT_FOUND otherwise (admins included: messages are for members).
func (s *Service) Conversation(ctx context.Context, id ID) (*Conversation, error) {
	cs, err := s.ConversationsByIDs(ctx, []ID{id})
	if err != nil {
		return nil, err
	}
	if cs[0] == nil {
		return nil, Errorf(ENOTFOUND, "conversation %s not found", id)
	}
	return cs[0], nil
}

// RemoveConversationMember takes a member out of a conversation; from the
// next request on they no longer see it or its attachments. Members may
// remove themselves; admins may remove anyone from conversations they are in.
func (s *Service) RemoveConversationMember(ctx context.Context, conversationID, userID ID) (*Conversation, error) {
	p, err := require(ctx, ScopeContentWrite)
	if err != nil {
		return nil, err
	}
	c, err := s.Conversation(ctx, conversationID)
	if err != nil {
		return nil, err
	}
	if userID != p.UserID && !p.Role.IsAdmin() {
		return nil, Errorf(EFORBIDDEN, "only admins may remove other members")
	}
	if err := s.Store.RemoveConversationMember(ctx, p.OrgID, c.ID, userID); err != nil {
		return nil, err
	}
	c.MemberIDs = slices.DeleteFunc(c.MemberIDs, func(id ID) bool { return id == userID })
	return c, nil
}

// MessageInput sends a message.
type MessageInput struct {
	ConversationID ID
	Body           string
	AttachmentIDs  []ID
	Files          []UploadInput
}

// SendMessage posts a message, with attachments (all or nothing), to a
// conversation the caller is a member of now. Returns NOT_FOUND otherwise.
func (s *Service) SendMessage(ctx context.Context, in MessageInput) (*Message, error) {
	p, err := require(ctx, ScopeContentWrite)
	if err != nil {
		return nil, err
	}
	c, err := s.Conversation(ctx, in.ConversationID)
	if err != nil {
		return nil, err
	}
	if err := checkContentText("body", &in.Body, maxBodyBytes, true); err != nil {
		return nil, err
	}
	m := &Message{ID: NewID(PrefixMessage, s.now()), OrgID: p.OrgID, ConversationID: c.ID, AuthorID: p.UserID, Body: in.Body, CreatedAt: s.now()}
	into := &target{value: m, id: m.ID, conversationID: &c.ID, editors: func() bool { return true }}
	if err := s.createContent(ctx, p, into, in.AttachmentIDs, in.Files, func(tx Store) error {
		return tx.CreateMessage(ctx, m)
	}); err != nil {
		return nil, err
	}
	return m, nil
}

// MessagesByIDs loads messages of conversations the caller is in, in key order.
func (s *Service) MessagesByIDs(ctx context.Context, ids []ID) ([]*Message, error) {
	p, err := require(ctx, ScopeContentRead)
	if err != nil {
		return nil, err
	}
	ms, err := s.Store.Messages(ctx, p.OrgID, validIDs(ids, PrefixMessage), nil, nil, 0)
	if err != nil {
		return nil, err
	}
	convIDs := make([]ID, len(ms))
	for i, m := range ms {
		convIDs[i] = m.ConversationID
	}
	cs, err := s.Store.ConversationsByIDs(ctx, p.OrgID, convIDs, p.UserID)
	if err != nil {
		return nil, err
	}
	ms = slices.DeleteFunc(ms, func(m *Message) bool {
		return !slices.ContainsFunc(cs, func(c *Conversation) bool { return c.ID == m.ConversationID })
	})
	return inKeyOrder(ids, ms, func(m *Message) ID { return m.ID }), nil
}

// MessagePage is a page of a conversation's messages, oldest first.
type MessagePage struct {
	ConversationID ID
	Messages       []*Message
	HasNextPage    bool
}

// Messages lists a conversation's messages (the caller got c as a member).
func (s *Service) Messages(ctx context.Context, c *Conversation, first int, after *string) (*MessagePage, error) {
	p, err := require(ctx, ScopeContentRead)
	if err != nil {
		return nil, err
	}
	key, err := pageArgs(first, after)
	if err != nil {
		return nil, err
	}
	ms, err := s.Store.Messages(ctx, p.OrgID, nil, &c.ID, key, first+1)
	if err != nil {
		return nil, err
	}
	page := &MessagePage{ConversationID: c.ID, Messages: ms}
	if len(ms) > first {
		page.Messages, page.HasNextPage = ms[:first], true
	}
	return page, nil
}
