package media

import "time"

// ID prefixes of content.
const (
	PrefixPost         = "post"
	PrefixComment      = "cmt"
	PrefixConversation = "conv"
	PrefixMessage      = "msg"
)

// PostVisibility decides who sees a post (and its comments and attachments).
type PostVisibility string

const (
	// PostWorkspace: every member of the organization.
	PostWorkspace PostVisibility = "WORKSPACE"
	// PostPrivate: the author, and the organization's admins and owners.
	PostPrivate PostVisibility = "PRIVATE"
)

// Valid reports whether v is a known post visibility.
func (v PostVisibility) Valid() bool { return v == PostWorkspace || v == PostPrivate }

// Post is content with an author that files can be attached to.
type Post struct {
	ID         ID
	OrgID      ID
	AuthorID   ID
	Title      string
	Body       string
	Visibility PostVisibility
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Comment belongs to a post and follows its visibility.
type Comment struct {
	ID        ID
	OrgID     ID
	PostID    ID
	AuthorID  ID
	Body      string
	CreatedAt time.Time
}

// Conversation has members; only they see its messages.
type Conversation struct {
	ID        ID
	OrgID     ID
	Title     *string
	MemberIDs []ID
	CreatedAt time.Time
}

// Message belongs to a conversation.
type Message struct {
	ID             ID
	OrgID          ID
	ConversationID ID
	AuthorID       ID
	Body           string
	CreatedAt      time.Time
}

// Attachable is a Post, Comment or Message.
type Attachable interface{ attachable() }

func (*Post) attachable()    {}
func (*Comment) attachable() {}
func (*Message) attachable() {}

// Attachment links a file to a post, comment or message. PostID is set for
// posts and comments, ConversationID for messages.
type Attachment struct {
	OrgID          ID
	FileID         ID
	TargetID       ID
	PostID         *ID
	ConversationID *ID
	AttachedAt     time.Time
	AttachedBy     *ID
}

// Usage is where a file is used, as FileUsage in the API.
type Usage struct {
	Attachment
	Target Attachable
}

// Audience restricts file reads to what one user may see: files of
// RESTRICTED buckets are limited to their uploader and to those who can see
// something they are attached to. A nil Audience (admins and owners, and
// internal work) sees everything in the organization.
type Audience struct {
	UserID ID
}
