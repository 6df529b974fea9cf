package database

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

type postRow struct {
	bun.BaseModel `bun:"table:posts,alias:p"`

	ID         media.ID             `bun:"id,pk"`
	OrgID      media.ID             `bun:"org_id"`
	AuthorID   media.ID             `bun:"author_id"`
	Title      string               `bun:"title"`
	Body       string               `bun:"body"`
	Visibility media.PostVisibility `bun:"visibility"`
	CreatedAt  time.Time            `bun:"created_at"`
	UpdatedAt  time.Time            `bun:"updated_at"`
}

func (r *postRow) media() *media.Post {
	return &media.Post{ID: r.ID, OrgID: r.OrgID, AuthorID: r.AuthorID, Title: r.Title, Body: r.Body,
		Visibility: r.Visibility, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

type commentRow struct {
	bun.BaseModel `bun:"table:comments,alias:c"`

	ID        media.ID  `bun:"id,pk"`
	OrgID     media.ID  `bun:"org_id"`
	PostID    media.ID  `bun:"post_id"`
	AuthorID  media.ID  `bun:"author_id"`
	Body      string    `bun:"body"`
	CreatedAt time.Time `bun:"created_at"`
}

type conversationRow struct {
	bun.BaseModel `bun:"table:conversations,alias:cv"`

	ID        media.ID  `bun:"id,pk"`
	OrgID     media.ID  `bun:"org_id"`
	Title     *string   `bun:"title"`
	CreatedAt time.Time `bun:"created_at"`
}

type memberRow struct {
	bun.BaseModel `bun:"table:conversation_members,alias:m"`

	ConversationID media.ID `bun:"conversation_id,pk"`
	UserID         media.ID `bun:"user_id,pk"`
	OrgID          media.ID `bun:"org_id"`
}

type messageRow struct {
	bun.BaseModel `bun:"table:messages,alias:msg"`

	ID             media.ID  `bun:"id,pk"`
	OrgID          media.ID  `bun:"org_id"`
	ConversationID media.ID  `bun:"conversation_id"`
	AuthorID       media.ID  `bun:"author_id"`
	Body           string    `bun:"body"`
	CreatedAt      time.Time `bun:"created_at"`
}

type attachmentRow struct {
	bun.BaseModel `bun:"table:attachments,alias:a"`

	OrgID          media.ID  `bun:"org_id"`
	FileID         media.ID  `bun:"file_id,pk"`
	TargetID       media.ID  `bun:"target_id,pk"`
	PostID         *media.ID `bun:"post_id"`
	ConversationID *media.ID `bun:"conversation_id"`
	AttachedAt     time.Time `bun:"attached_at"`
	AttachedBy     *media.ID `bun:"attached_by"`
}

// CreatePost inserts a post.
func (d *DB) CreatePost(ctx context.Context, p *media.Post) error {
	_, err := d.idb.NewInsert().Model(&postRow{ID: p.ID, OrgID: p.OrgID, AuthorID: p.AuthorID, Title: p.Title, Body: p.Body,
		Visibility: p.Visibility, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}).Returning("").Exec(ctx)
	return wrap(err, "post")
}

// UpdatePost writes a post's title, body, visibility, author and updated_at.
func (d *DB) UpdatePost(ctx context.Context, p *media.Post) error {
	res, err := d.idb.NewUpdate().Model(&postRow{ID: p.ID, AuthorID: p.AuthorID, Title: p.Title, Body: p.Body,
		Visibility: p.Visibility, UpdatedAt: p.UpdatedAt}).Column("author_id", "title", "body", "visibility", "updated_at").
		Where("p.id = ?", p.ID).Where("p.org_id = ?", p.OrgID).Exec(ctx)
	return affectedOne(res, err, "post")
}

// DeletePost deletes a post with its comments and their attachments, and
// returns the attachments.
func (d *DB) DeletePost(ctx context.Context, orgID, id media.ID) ([]*media.Attachment, error) {
	var rows []attachmentRow
	err := d.atomic(ctx, func(d *DB) error {
		if _, err := d.idb.NewDelete().Model(&rows).Where("post_id = ?", id).Where("org_id = ?", orgID).Returning("*").Exec(ctx); err != nil {
			return wrap(err, "attachment")
		}
		res, err := d.idb.NewDelete().Model((*postRow)(nil)).Where("id = ?", id).Where("org_id = ?", orgID).Exec(ctx)
		return affectedOne(res, err, "post")
	})
	if err != nil {
		return nil, err
	}
	out := make([]*media.Attachment, len(rows))
	for i, r := range rows {
		out[i] = &media.Attachment{OrgID: r.OrgID, FileID: r.FileID, TargetID: r.TargetID, PostID: r.PostID,
			ConversationID: r.ConversationID, AttachedAt: r.AttachedAt.UTC(), AttachedBy: r.AttachedBy}
	}
	return out, nil
}

// postVisible limits posts to those the audience may see.
func postVisible(q *bun.SelectQuery, a *media.Audience) *bun.SelectQuery {
	if a == nil {
		return q
	}
	return q.Where("(p.visibility = ? OR p.author_id = ?)", media.PostWorkspace, a.UserID)
}

// PostsByIDs returns the posts of orgID among ids that the audience may see.
func (d *DB) PostsByIDs(ctx context.Context, orgID media.ID, ids []media.ID, a *media.Audience) ([]*media.Post, error) {
	var rows []postRow
	if len(ids) > 0 {
		if err := postVisible(d.idb.NewSelect().Model(&rows).Where("p.org_id = ?", orgID).Where("p.id IN (?)", bun.In(ids)), a).Scan(ctx); err != nil {
			return nil, wrap(err, "post")
		}
	}
	out := make([]*media.Post, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}

// ListPosts returns the posts the audience may see, newest first, after a
// position (created_at, id), at most limit.
func (d *DB) ListPosts(ctx context.Context, orgID media.ID, a *media.Audience, after *media.FileKey, limit int) ([]*media.Post, error) {
	var rows []postRow
	q := postVisible(d.idb.NewSelect().Model(&rows).Where("p.org_id = ?", orgID), a)
	if after != nil {
		q = q.Where("(p.created_at, p.id) < (?, ?)", after.Time, after.ID)
	}
	if err := q.OrderExpr("p.created_at DESC, p.id DESC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, wrap(err, "post")
	}
	out := make([]*media.Post, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}

// CreateComment inserts a comment.
func (d *DB) CreateComment(ctx context.Context, c *media.Comment) error {
	_, err := d.idb.NewInsert().Model(&commentRow{ID: c.ID, OrgID: c.OrgID, PostID: c.PostID, AuthorID: c.AuthorID,
		Body: c.Body, CreatedAt: c.CreatedAt}).Returning("").Exec(ctx)
	return wrap(err, "comment")
}

// Comments returns comments of orgID by ids, or of one post (postID) after
// a position, oldest first.
func (d *DB) Comments(ctx context.Context, orgID media.ID, ids []media.ID, postID *media.ID, after *media.FileKey, limit int) ([]*media.Comment, error) {
	var rows []commentRow
	q := d.idb.NewSelect().Model(&rows).Where("c.org_id = ?", orgID)
	if ids != nil {
		if len(ids) == 0 {
			return []*media.Comment{}, nil
		}
		q = q.Where("c.id IN (?)", bun.In(ids))
	}
	if postID != nil {
		q = q.Where("c.post_id = ?", *postID)
	}
	if after != nil {
		q = q.Where("(c.created_at, c.id) > (?, ?)", after.Time, after.ID)
	}
	if limit > 0 {
		q = q.Limit(int64(limit))
	}
	if err := q.OrderExpr("c.created_at ASC, c.id ASC").Scan(ctx); err != nil {
		return nil, wrap(err, "comment")
	}
	out := make([]*media.Comment, len(rows))
	for i, r := range rows {
		out[i] = &media.Comment{ID: r.ID, OrgID: r.OrgID, PostID: r.PostID, AuthorID: r.AuthorID, Body: r.Body, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}

// CreateConversation inserts a conversation and its members.
func (d *DB) CreateConversation(ctx context.Context, c *media.Conversation) error {
	return d.atomic(ctx, func(d *DB) error {
		if _, err := d.idb.NewInsert().Model(&conversationRow{ID: c.ID, OrgID: c.OrgID, Title: c.Title, CreatedAt: c.CreatedAt}).
			Returning("").Exec(ctx); err != nil {
			return wrap(err, "conversation")
		}
		rows := make([]memberRow, len(c.MemberIDs))
		for i, u := range c.MemberIDs {
			rows[i] = memberRow{ConversationID: c.ID, UserID: u, OrgID: c.OrgID}
		}
		_, err := d.idb.NewInsert().Model(&rows).Returning("").Exec(ctx)
		return wrap(err, "conversation member")
	})
}

// RemoveConversationMember takes a user out of a conversation.
func (d *DB) RemoveConversationMember(ctx context.Context, orgID, conversationID, userID media.ID) error {
	res, err := d.idb.NewDelete().Model((*memberRow)(nil)).Where("conversation_id = ?", conversationID).
		Where("user_id = ?", userID).Where("org_id = ?", orgID).Exec(ctx)
	return affectedOne(res, err, "conversation member")
}

// ConversationsByIDs returns the conversations of orgID among ids of which
// userID is a member (any, if userID is empty), with their members.
func (d *DB) ConversationsByIDs(ctx context.Context, orgID media.ID, ids []media.ID, userID media.ID) ([]*media.Conversation, error) {
	if len(ids) == 0 {
		return []*media.Conversation{}, nil
	}
	var rows []conversationRow
	q := d.idb.NewSelect().Model(&rows).Where("cv.org_id = ?", orgID).Where("cv.id IN (?)", bun.In(ids))
	if userID != "" {
		q = q.Where("EXISTS (SELECT 1 FROM conversation_members AS m WHERE m.conversation_id = cv.id AND m.user_id = ?)", userID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrap(err, "conversation")
	}
	var members []memberRow
	if len(rows) > 0 {
		cids := make([]media.ID, len(rows))
		for i, r := range rows {
			cids[i] = r.ID
		}
		if err := d.idb.NewSelect().Model(&members).Where("m.conversation_id IN (?)", bun.In(cids)).OrderExpr("m.user_id").Scan(ctx); err != nil {
			return nil, wrap(err, "conversation member")
		}
	}
	out := make([]*media.Conversation, len(rows))
	for i, r := range rows {
		c := &media.Conversation{ID: r.ID, OrgID: r.OrgID, Title: r.Title, CreatedAt: r.CreatedAt.UTC(), MemberIDs: []media.ID{}}
		for _, m := range members {
			if m.ConversationID == r.ID {
				c.MemberIDs = append(c.MemberIDs, m.UserID)
			}
		}
		out[i] = c
	}
	return out, nil
}

// CreateMessage inserts a message.
func (d *DB) CreateMessage(ctx context.Context, m *media.Message) error {
	_, err := d.idb.NewInsert().Model(&messageRow{ID: m.ID, OrgID: m.OrgID, ConversationID: m.ConversationID,
		AuthorID: m.AuthorID, Body: m.Body, CreatedAt: m.CreatedAt}).Returning("").Exec(ctx)
	return wrap(err, "message")
}

// Messages returns messages of orgID by ids, or of one conversation after a
// position, oldest first.
func (d *DB) Messages(ctx context.Context, orgID media.ID, ids []media.ID, conversationID *media.ID, after *media.FileKey, limit int) ([]*media.Message, error) {
	var rows []messageRow
	q := d.idb.NewSelect().Model(&rows).Where("msg.org_id = ?", orgID)
	if ids != nil {
		if len(ids) == 0 {
			return []*media.Message{}, nil
		}
		q = q.Where("msg.id IN (?)", bun.In(ids))
	}
	if conversationID != nil {
		q = q.Where("msg.conversation_id = ?", *conversationID)
	}
	if after != nil {
		q = q.Where("(msg.created_at, msg.id) > (?, ?)", after.Time, after.ID)
	}
	if limit > 0 {
		q = q.Limit(int64(limit))
	}
	if err := q.OrderExpr("msg.created_at ASC, msg.id ASC").Scan(ctx); err != nil {
		return nil, wrap(err, "message")
	}
	out := make([]*media.Message, len(rows))
	for i, r := range rows {
		out[i] = &media.Message{ID: r.ID, OrgID: r.OrgID, ConversationID: r.ConversationID, AuthorID: r.AuthorID, Body: r.Body, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}

// Attach records attachments; attaching a file twice to one target is a
// no-op. It returns the ids of the files newly attached.
func (d *DB) Attach(ctx context.Context, as []*media.Attachment) ([]media.ID, error) {
	if len(as) == 0 {
		return nil, nil
	}
	rows := make([]attachmentRow, len(as))
	for i, a := range as {
		rows[i] = attachmentRow{OrgID: a.OrgID, FileID: a.FileID, TargetID: a.TargetID, PostID: a.PostID,
			ConversationID: a.ConversationID, AttachedAt: a.AttachedAt, AttachedBy: a.AttachedBy}
	}
	var added []media.ID
	_, err := d.idb.NewInsert().Model(&rows).On("CONFLICT (target_id, file_id) DO NOTHING").Returning("file_id").Exec(ctx, &added)
	return added, wrap(err, "attachment")
}

// Detach removes attachments of files from a target and returns the ids
// of the files that were attached.
func (d *DB) Detach(ctx context.Context, orgID, targetID media.ID, fileIDs []media.ID) ([]media.ID, error) {
	if len(fileIDs) == 0 {
		return nil, nil
	}
	var removed []media.ID
	_, err := d.idb.NewDelete().Model((*attachmentRow)(nil)).Where("org_id = ?", orgID).Where("target_id = ?", targetID).
		Where("file_id IN (?)", bun.In(fileIDs)).Returning("file_id").Exec(ctx, &removed)
	return removed, wrap(err, "attachment")
}

// Usages returns the attachments of files that the audience may see, oldest first.
func (d *DB) Usages(ctx context.Context, orgID media.ID, fileIDs []media.ID, a *media.Audience) ([]*media.Attachment, error) {
	if len(fileIDs) == 0 {
		return []*media.Attachment{}, nil
	}
	var rows []attachmentRow
	q := d.idb.NewSelect().Model(&rows).Where("a.org_id = ?", orgID).Where("a.file_id IN (?)", bun.In(fileIDs))
	if a != nil {
		q = q.Where(`((a.post_id IS NOT NULL AND EXISTS (SELECT 1 FROM posts AS p WHERE p.id = a.post_id AND (p.visibility = ? OR p.author_id = ?)))
			OR (a.conversation_id IS NOT NULL AND EXISTS (SELECT 1 FROM conversation_members AS m WHERE m.conversation_id = a.conversation_id AND m.user_id = ?)))`,
			media.PostWorkspace, a.UserID, a.UserID)
	}
	if err := q.OrderExpr("a.attached_at ASC, a.target_id ASC").Scan(ctx); err != nil {
		return nil, wrap(err, "attachment")
	}
	out := make([]*media.Attachment, len(rows))
	for i, r := range rows {
		out[i] = &media.Attachment{OrgID: r.OrgID, FileID: r.FileID, TargetID: r.TargetID, PostID: r.PostID,
			ConversationID: r.ConversationID, AttachedAt: r.AttachedAt.UTC(), AttachedBy: r.AttachedBy}
	}
	return out, nil
}

// CountUsages counts every attachment of a file, visible or not.
func (d *DB) CountUsages(ctx context.Context, orgID, fileID media.ID) (int, error) {
	n, err := d.idb.NewSelect().Model((*attachmentRow)(nil)).Where("a.org_id = ?", orgID).Where("a.file_id = ?", fileID).Count(ctx)
	return int(n), wrap(err, "attachment")
}

// CommentPages returns, for each post, its first limit comments (oldest
// first) in one query.
func (d *DB) CommentPages(ctx context.Context, orgID media.ID, postIDs []media.ID, limit int) (map[media.ID][]*media.Comment, error) {
	out := make(map[media.ID][]*media.Comment, len(postIDs))
	if len(postIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		commentRow `bun:",extend"`
		Rn         int `bun:"rn,scanonly"`
	}
	inner := d.idb.NewSelect().Model((*commentRow)(nil)).ColumnExpr("c.*").
		ColumnExpr("row_number() OVER (PARTITION BY c.post_id ORDER BY c.created_at ASC, c.id ASC) AS rn").
		Where("c.org_id = ?", orgID).Where("c.post_id IN (?)", bun.In(postIDs))
	err := d.idb.NewSelect().Model(&rows).ModelTableExpr("(?) AS c", inner).ColumnExpr("c.*").
		Where("c.rn <= ?", limit).OrderExpr("c.post_id, c.rn").Scan(ctx)
	if err != nil {
		return nil, wrap(err, "comment")
	}
	for _, r := range rows {
		out[r.PostID] = append(out[r.PostID], &media.Comment{ID: r.ID, OrgID: r.OrgID, PostID: r.PostID, AuthorID: r.AuthorID,
			Body: r.Body, CreatedAt: r.CreatedAt.UTC()})
	}
	return out, nil
}

// ContentAuthors returns the author of each post, comment or message of
// orgID among ids (one query per kind present); unknown ids have no entry.
func (d *DB) ContentAuthors(ctx context.Context, orgID media.ID, ids []media.ID) (map[media.ID]media.ID, error) {
	out := map[media.ID]media.ID{}
	byTable := map[string][]media.ID{}
	for _, id := range ids {
		switch id.Prefix() {
		case media.PrefixPost:
			byTable["posts"] = append(byTable["posts"], id)
		case media.PrefixComment:
			byTable["comments"] = append(byTable["comments"], id)
		case media.PrefixMessage:
			byTable["messages"] = append(byTable["messages"], id)
		}
	}
	for _, table := range []string{"posts", "comments", "messages"} {
		if len(byTable[table]) == 0 {
			continue
		}
		var rows []struct {
			ID       media.ID `bun:"id"`
			AuthorID media.ID `bun:"author_id"`
		}
		err := d.idb.NewSelect().TableExpr(table).Column("id", "author_id").Where("id IN (?)", bun.In(byTable[table])).
			Where("org_id = ?", orgID).Scan(ctx, &rows)
		if err != nil {
			return nil, wrap(err, "content")
		}
		for _, r := range rows {
			out[r.ID] = r.AuthorID
		}
	}
	return out, nil
}

// CountComments counts the comments of each post of orgID among postIDs.
func (d *DB) CountComments(ctx context.Context, orgID media.ID, postIDs []media.ID) (map[media.ID]int, error) {
	return d.countBy(ctx, "comments", "post_id", orgID, postIDs)
}

// CountMessages counts the messages of each conversation of orgID among ids.
func (d *DB) CountMessages(ctx context.Context, orgID media.ID, conversationIDs []media.ID) (map[media.ID]int, error) {
	return d.countBy(ctx, "messages", "conversation_id", orgID, conversationIDs)
}

// countBy counts the rows of table per value of column among ids, in one query.
func (d *DB) countBy(ctx context.Context, table, column string, orgID media.ID, ids []media.ID) (map[media.ID]int, error) {
	out := make(map[media.ID]int, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		Parent media.ID `bun:"parent"`
		N      int      `bun:"n"`
	}
	err := d.idb.NewSelect().TableExpr(table).ColumnExpr("? AS parent, count(*) AS n", bun.Ident(column)).
		Where("org_id = ?", orgID).Where("? IN (?)", bun.Ident(column), bun.In(ids)).
		GroupExpr("?", bun.Ident(column)).Scan(ctx, &rows)
	if err != nil {
		return nil, wrap(err, table)
	}
	for _, r := range rows {
		out[r.Parent] = r.N
	}
	return out, nil
}
