package media

import (
	"context"
	"time"
)

// Store is the database the Service needs. Package database implements it
// on PostgreSQL and SQLite. Every method that takes an orgID only ever reads
// or changes rows of that organization.
//
// Errors: methods that look up one row return an error with code NOT_FOUND
// when there is none; unique-constraint violations come back as CONFLICT;
// connection failures as UNAVAILABLE. Any other error is internal.
type Store interface {
	// InTx runs fn in a transaction; fn must use the Store it is given. The
	// transaction commits if fn returns nil and rolls back otherwise.
	InTx(ctx context.Context, fn func(tx Store) error) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error

	CreateOrganization(ctx context.Context, o *Organization) error
	Organization(ctx context.Context, id ID) (*Organization, error)
	OrganizationByName(ctx context.Context, name string) (*Organization, error)
	ListOrganizations(ctx context.Context) ([]*Organization, error)

	CreateUser(ctx context.Context, u *User) error
	// UserByEmail matches the e-mail address case-insensitively.
	UserByEmail(ctx context.Context, orgID ID, email string) (*User, error)
	// UsersByIDs returns the users of orgID among ids, in any order.
	UsersByIDs(ctx context.Context, orgID ID, ids []ID) ([]*User, error)

	// SetUserRole changes a member's role.
	SetUserRole(ctx context.Context, orgID, id ID, role Role) error
	// DeleteUser removes a member and its API keys.
	DeleteUser(ctx context.Context, orgID, id ID) error
	// CountOwners counts the organization's OWNERs.
	CountOwners(ctx context.Context, orgID ID) (int, error)

	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByHash returns the key with that hash and its user, revoked or not.
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, *User, error)
	APIKey(ctx context.Context, orgID, id ID) (*APIKey, error)
	// ListAPIKeys returns up to limit keys of a user, revoked ones too,
	// oldest first, after the key after ("" from the first); their hashes
	// are left out.
	ListAPIKeys(ctx context.Context, orgID, userID, after ID, limit int) ([]*APIKey, error)
	// RevokeAPIKey sets revoked_at if it is not set yet.
	RevokeAPIKey(ctx context.Context, orgID, id ID, at time.Time) error
	// TouchAPIKey sets last_used_at.
	TouchAPIKey(ctx context.Context, id ID, at time.Time) error

	CreateBucket(ctx context.Context, b *Bucket) error
	// UpdateBucket writes every policy field of b and its UpdatedAt.
	UpdateBucket(ctx context.Context, b *Bucket) error
	DeleteBucket(ctx context.Context, orgID, id ID) error
	BucketByName(ctx context.Context, orgID ID, name string) (*Bucket, error)
	// LockBucket reads a bucket and, on PostgreSQL, locks its row until the
	// transaction ends, which serialises quota checks and name checks.
	LockBucket(ctx context.Context, orgID, id ID) (*Bucket, error)
	BucketsByIDs(ctx context.Context, orgID ID, ids []ID) ([]*Bucket, error)
	// ListBuckets returns up to limit buckets ordered by name, after the name after.
	ListBuckets(ctx context.Context, orgID ID, after string, limit int) ([]*Bucket, error)
	CountBuckets(ctx context.Context, orgID ID) (int, error)
	// BucketUsage sums the bucket's file revisions (see BucketUsage).
	BucketUsage(ctx context.Context, orgID, bucketID ID) (BucketUsage, error)

	// CreateBlob records a blob (normally PENDING) before its bytes are stored.
	CreateBlob(ctx context.Context, b *Blob) error
	// UpdateBlob writes the blob's state and content facts.
	UpdateBlob(ctx context.Context, b *Blob) error
	// DeleteBlobs removes blob rows.
	DeleteBlobs(ctx context.Context, ids []ID) error
	// StalePendingBlobs returns PENDING blobs created before the given time.
	StalePendingBlobs(ctx context.Context, before time.Time, limit int) ([]*Blob, error)

	// CreateFile inserts a file, its first revision and its tags.
	CreateFile(ctx context.Context, f *File, r *Revision) error
	// UpdateFile writes a file's bucket, path, name, visibility, texts,
	// metadata and updated_at/by, and replaces its tags if tags is not nil.
	UpdateFile(ctx context.Context, f *File, tags []string) error
	// ListFiles returns one page of files matching q, in q's order. In a
	// search (q.Filter.Search) each file's Relevance is set.
	ListFiles(ctx context.Context, q FileQuery) ([]*File, error)
	// CountFiles counts the files matching q's filter (ignoring paging).
	CountFiles(ctx context.Context, q FileQuery) (int, error)
	// DeleteFiles deletes files with their revisions, tags and
	// attachments and returns the ids of the blobs their revisions used;
	// NOT_FOUND, deleting nothing, if one is not there.
	DeleteFiles(ctx context.Context, orgID ID, ids []ID) ([]ID, error)
	// UpdateFiles writes one change to files (see FilesChange); NOT_FOUND,
	// changing nothing, if one is not there.
	UpdateFiles(ctx context.Context, orgID ID, ids []ID, c FilesChange) error
	// FilesAt returns the live files at any of places.
	FilesAt(ctx context.Context, orgID ID, places []FilePlace) ([]*File, error)
	// DeleteBucketFiles deletes every file of a bucket as DeleteFile does,
	// or nothing (CONFLICT) if one of them is under legal hold.
	DeleteBucketFiles(ctx context.Context, orgID, bucketID ID) ([]ID, error)
	// LockFile reads a file and, on PostgreSQL, locks its row until the
	// transaction ends, so content changes of one file take turns.
	LockFile(ctx context.Context, orgID, id ID) (*File, error)
	// LockFiles is LockFile for many files (in any order, those not there
	// left out), locked in id order in one query.
	LockFiles(ctx context.Context, orgID ID, ids []ID) ([]*File, error)
	// AddRevision inserts r and makes it f's content (f's revision, blob,
	// type, size, checksum, dimensions and updated_at/by are written).
	AddRevision(ctx context.Context, f *File, r *Revision) error
	// Revisions returns a file's revisions, oldest first.
	Revisions(ctx context.Context, orgID, fileID ID) ([]*Revision, error)
	// DeleteRevision deletes one revision and returns the blob it used.
	DeleteRevision(ctx context.Context, orgID, fileID ID, number int) (ID, error)
	// ReadyBlobBySha256 returns a stored blob of orgID with that content,
	// locking it (PostgreSQL) until the transaction ends.
	ReadyBlobBySha256(ctx context.Context, orgID ID, sha256 string, size int64) (*Blob, error)
	// ClaimUnreferencedBlobs marks the blobs among ids that nothing uses
	// PENDING (to be deleted) and returns them, under the same lock.
	ClaimUnreferencedBlobs(ctx context.Context, ids []ID) ([]*Blob, error)
	// TryLock takes a lock held across every server sharing the database
	// (one sweeper at a time); ok is false if another holds it.
	TryLock(ctx context.Context, name string) (release func(), ok bool, err error)
	// FileByName returns the live file with that name in a folder.
	FileByName(ctx context.Context, orgID, bucketID ID, path, name string) (*File, error)
	// SetFilesState writes files' trash and legal-hold state and
	// updated_at/by. Callers hold the files' locks (LockFiles) and write
	// the copies it returned, changed.
	SetFilesState(ctx context.Context, fs []*File) error
	// FileByExternalID returns the file of a bucket, trashed or not, with
	// that external id.
	FileByExternalID(ctx context.Context, orgID, bucketID ID, externalID string) (*File, error)
	// PurgeableFiles returns trashed files (of every organization) whose
	// purge time has come and that are not held, by purge time and id,
	// after the position after (nil: from the start).
	PurgeableFiles(ctx context.Context, now time.Time, after *FileKey, limit int) ([]*File, error)
	// BlobKeysExist reports which storage keys some blob row, or an OPEN
	// or COMPLETING upload session, uses.
	BlobKeysExist(ctx context.Context, keys []string) (map[string]bool, error)
	// ReadyBlobs walks READY blobs of every organization in id order.
	ReadyBlobs(ctx context.Context, after ID, limit int) ([]*Blob, error)
	// FileAnyOrg returns a file whatever its organization (downloads only:
	// the caller authorizes by visibility or a signature bound to the id).
	FileAnyOrg(ctx context.Context, id ID) (*File, error)
	// Revision returns one revision of a file.
	Revision(ctx context.Context, orgID, fileID ID, number int) (*Revision, error)
	// Blob returns a blob row.
	Blob(ctx context.Context, orgID, id ID) (*Blob, error)
	// TagCounts counts the tags of the files matching q's filter (paging
	// ignored), most used first, then by name; only tags starting with
	// prefix if it is not empty; at most limit (<= 0: all).
	TagCounts(ctx context.Context, q FileQuery, prefix string, limit int) ([]*TagCount, error)
	CreatePost(ctx context.Context, p *Post) error
	// UpdatePost writes title, body, visibility, author and updated_at.
	UpdatePost(ctx context.Context, p *Post) error
	// DeletePost deletes a post, its comments and their attachments, and
	// returns the attachments.
	DeletePost(ctx context.Context, orgID, id ID) ([]*Attachment, error)
	// PostsByIDs returns the posts among ids the audience may see.
	PostsByIDs(ctx context.Context, orgID ID, ids []ID, a *Audience) ([]*Post, error)
	// ListPosts returns visible posts, newest first, after (created_at, id).
	ListPosts(ctx context.Context, orgID ID, a *Audience, after *FileKey, limit int) ([]*Post, error)
	CreateComment(ctx context.Context, c *Comment) error
	// Comments returns comments by ids (if not nil) or of one post, oldest
	// first, after (created_at, id).
	Comments(ctx context.Context, orgID ID, ids []ID, postID *ID, after *FileKey, limit int) ([]*Comment, error)
	// CountComments counts each post's comments; CountMessages each
	// conversation's messages (one query each).
	CountComments(ctx context.Context, orgID ID, postIDs []ID) (map[ID]int, error)
	CountMessages(ctx context.Context, orgID ID, conversationIDs []ID) (map[ID]int, error)
	// CommentPages returns each post's first limit comments, in one query.
	CommentPages(ctx context.Context, orgID ID, postIDs []ID, limit int) (map[ID][]*Comment, error)
	CreateConversation(ctx context.Context, c *Conversation) error
	RemoveConversationMember(ctx context.Context, orgID, conversationID, userID ID) error
	// ConversationsByIDs returns conversations among ids of which userID is
	// a member ("" for any), with their members.
	ConversationsByIDs(ctx context.Context, orgID ID, ids []ID, userID ID) ([]*Conversation, error)
	CreateMessage(ctx context.Context, m *Message) error
	// Messages returns messages by ids (if not nil) or of one conversation,
	// oldest first, after (created_at, id).
	Messages(ctx context.Context, orgID ID, ids []ID, conversationID *ID, after *FileKey, limit int) ([]*Message, error)
	// Attach records attachments (again is a no-op) and returns the ids of
	// the files newly attached; Detach removes them and returns the ids of
	// the files that were attached.
	Attach(ctx context.Context, as []*Attachment) ([]ID, error)
	Detach(ctx context.Context, orgID, targetID ID, fileIDs []ID) ([]ID, error)
	// Usages returns the attachments of files whose targets the audience may see.
	Usages(ctx context.Context, orgID ID, fileIDs []ID, a *Audience) ([]*Attachment, error)
	// AttachmentPages returns, per target, the first q.Limit files attached
	// to it that match q (one query for a page of parents).
	AttachmentPages(ctx context.Context, q FileQuery, targets []ID) (map[ID][]*File, error)
	// AttachmentCounts counts, per target, the files attached to it that match q.
	AttachmentCounts(ctx context.Context, q FileQuery, targets []ID) (map[ID]int, error)
	// CountUsages counts every attachment of each file, visible or not
	// (no entry for none).
	CountUsages(ctx context.Context, orgID ID, fileIDs []ID) (map[ID]int, error)
	// ContentAuthors returns the author of each post, comment or message
	// among ids (no entry for one that is not there).
	ContentAuthors(ctx context.Context, orgID ID, ids []ID) (map[ID]ID, error)

	// CreateUploadSession records a new upload session.
	CreateUploadSession(ctx context.Context, u *UploadSession) error
	// UploadSession returns a session of orgID.
	UploadSession(ctx context.Context, orgID, id ID) (*UploadSession, error)
	// SetUploadSessionState moves u from state from to state to (writing
	// u.FileID and updated_at) if it is still in state from; ok reports
	// whether it was. u.State is updated.
	SetUploadSessionState(ctx context.Context, u *UploadSession, from, to SessionState, now time.Time) (ok bool, err error)
	// ExpiredUploadSessions returns sessions of every organization that are
	// OPEN and expired at now, or COMPLETING and last changed before stuck.
	ExpiredUploadSessions(ctx context.Context, now, stuck time.Time, limit int) ([]*UploadSession, error)
	// OpenSessionBytes sums the sizes of a bucket's OPEN and COMPLETING sessions.
	OpenSessionBytes(ctx context.Context, orgID, bucketID ID) (int64, error)

	// Publish announces payload on channel to every server's listeners
	// once the transaction commits (at once outside one).
	Publish(ctx context.Context, channel, payload string) error
	// Listen calls fn with each payload published on channel by any
	// server, and with "" when it starts and whenever notifications may
	// have been lost (so fn catches up from the tables), until ctx ends.
	// fn must not block.
	Listen(ctx context.Context, channel string, fn func(payload string))

	// AddEvents writes events (setting their Seq) in the transaction, in
	// commit order with every other writer's, and announces them on
	// EventsChannel when it commits.
	AddEvents(ctx context.Context, evs []*Event) error
	// EventsAfter returns up to limit events with seq > after, in seq
	// order: of one organization, or of all (orgID nil).
	EventsAfter(ctx context.Context, orgID *ID, after int64, limit int) ([]*Event, error)
	// LastEventSeq is the highest seq written (0 if none).
	LastEventSeq(ctx context.Context) (int64, error)
	// FirstEventSeq is the lowest seq still kept (0 if none).
	FirstEventSeq(ctx context.Context) (int64, error)
	// DeleteEventsBefore deletes events older than t and returns how many.
	DeleteEventsBefore(ctx context.Context, t time.Time) (int, error)

	CreateWebhook(ctx context.Context, w *Webhook) error
	// UpdateWebhook writes every field of w but its id, org and creation.
	UpdateWebhook(ctx context.Context, w *Webhook) error
	DeleteWebhook(ctx context.Context, orgID, id ID) error
	Webhook(ctx context.Context, orgID, id ID) (*Webhook, error)
	// ListWebhooks returns up to limit webhooks with ids after after, by id.
	ListWebhooks(ctx context.Context, orgID, after ID, limit int) ([]*Webhook, error)
	// ActiveWebhooks returns the organization's active webhooks.
	ActiveWebhooks(ctx context.Context, orgID ID) ([]*Webhook, error)
	// AddWebhookDeliveries queues deliveries; one of an event a webhook
	// was already given is queued again (its row is reset to PENDING).
	AddWebhookDeliveries(ctx context.Context, ds []*WebhookDelivery) error
	// ClaimWebhookDeliveries leases up to limit PENDING deliveries due at
	// now until lease — skipping those another server holds and webhooks
	// with perWebhook deliveries in flight — and returns them.
	ClaimWebhookDeliveries(ctx context.Context, now, lease time.Time, perWebhook, limit int) ([]*WebhookDelivery, error)
	// UpdateWebhookDelivery writes a delivery's state, attempts, next
	// attempt and lease.
	UpdateWebhookDelivery(ctx context.Context, d *WebhookDelivery) error
	AddWebhookAttempt(ctx context.Context, a *WebhookAttempt) error
	// WebhookAttempts returns up to limit attempts of a webhook, newest
	// first, with ids before before ("" from the newest).
	WebhookAttempts(ctx context.Context, orgID, webhookID, before ID, limit int) ([]*WebhookAttempt, error)

	// TagsByFileIDs returns each file's tags, sorted.
	TagsByFileIDs(ctx context.Context, orgID ID, ids []ID) (map[ID][]string, error)

	// Folders are kept in step with files by the Store itself, in the
	// transaction that writes the files (see Folder).

	// ChildFolders returns up to limit folders directly below parent, in
	// path order, after the path after ("" from the first).
	ChildFolders(ctx context.Context, orgID, bucketID ID, parent, after string, limit int) ([]*Folder, error)
	// CountChildFolders counts the folders directly below parent.
	CountChildFolders(ctx context.Context, orgID, bucketID ID, parent string) (int, error)
	// VisibleChildFolders is ChildFolders as q.Audience sees bucket
	// q.BucketID, a RESTRICTED one: the folders below q.Filter.PathPrefix
	// that hold a live file it sees (counting those only) or an explicit
	// folder, computed from the files it sees.
	VisibleChildFolders(ctx context.Context, q FileQuery, after string, limit int) ([]*Folder, error)
	// CountVisibleChildFolders counts what VisibleChildFolders lists.
	CountVisibleChildFolders(ctx context.Context, q FileQuery) (int, error)
	// Folder returns one folder (NOT_FOUND if it has no row).
	Folder(ctx context.Context, orgID, bucketID ID, path string) (*Folder, error)
	// FileTotals counts the files matching q and sums their sizes.
	FileTotals(ctx context.Context, q FileQuery) (int, int64, error)
	// ExplicitFolders returns the paths of the explicit folders at or
	// below path, in path order.
	ExplicitFolders(ctx context.Context, orgID, bucketID ID, path string) ([]string, error)
	// MarkFolders makes folders explicit (delta 1) or not (-1). The
	// caller holds the bucket's lock and knows each folder's state.
	MarkFolders(ctx context.Context, orgID, bucketID ID, paths []string, delta int) error
	// LockMatchingFiles returns the files matching q (in id order, with
	// tags; at most q.Limit) and, on PostgreSQL, locks them until the
	// transaction ends.
	LockMatchingFiles(ctx context.Context, q FileQuery) ([]*File, error)
	// RelocateFiles moves files from below folder from to the same place
	// below to in bucket bucketID, writing updated_at/by.
	RelocateFiles(ctx context.Context, orgID ID, ids []ID, bucketID ID, from, to string, at time.Time, by ID) error
	// TrashFiles writes trashed_at, purge_at and updated_at/by of files.
	TrashFiles(ctx context.Context, orgID ID, ids []ID, at, purge time.Time, by ID) error
}

// FilePlace is a name in a folder of a bucket.
type FilePlace struct {
	BucketID   ID
	Path, Name string
}

// FilesChange is one change written to many files at once (UpdateFiles):
// the fields that are set, the same for every file, and the tags to
// remove and to add (a tag in both is removed).
type FilesChange struct {
	Visibility *Visibility
	// AltText, Caption, Copyright: a set pointer to nil clears the text.
	AltText, Caption, Copyright **string
	AddTags, RemoveTags         []string
	UpdatedAt                   time.Time
	UpdatedBy                   ID
}

// TagCount is a tag and how many files carry it.
type TagCount struct {
	Name  string
	Count int
}

// TrashFilter selects files by trash state.
type TrashFilter string

const (
	TrashExclude TrashFilter = "EXCLUDE"
	TrashOnly    TrashFilter = "ONLY"
	TrashInclude TrashFilter = "INCLUDE"
)

// FileFilter narrows a file listing. Zero values do not filter.
type FileFilter struct {
	Path          *string // exact folder
	PathPrefix    *string // folder subtree
	NameContains  *string // case-insensitive
	TagsAny       []string
	TagsAll       []string
	Types         []FileType
	MimeTypes     []string
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	UpdatedAfter  *time.Time
	UpdatedBefore *time.Time
	CreatedBy     *ID
	AttachedTo    *ID         // a post, comment or message
	Trashed       TrashFilter // "" means EXCLUDE
	Visibility    *Visibility
	// LegalHold keeps held (true) or not held (false) files.
	LegalHold *bool
	// Search keeps files with every word in their name, tags, alt text,
	// caption or folder path, the last word as a prefix. Normalized, it is
	// the words, lower-cased and separated by single spaces (SearchWords);
	// nil when the search has no words.
	Search *string
	// ExternalID keeps the file with that client-assigned id.
	ExternalID *string
}

// FileOrderField is a column a listing can be ordered by.
type FileOrderField string

const (
	OrderCreatedAt FileOrderField = "CREATED_AT"
	OrderUpdatedAt FileOrderField = "UPDATED_AT"
	OrderName      FileOrderField = "NAME"
	OrderSize      FileOrderField = "SIZE"
	// OrderRelevance, with a search only: files with every word in their
	// name first, then the other matches, each newest first (see
	// File.Relevance).
	OrderRelevance FileOrderField = "RELEVANCE"
)

// OrderDirection is ASC or DESC.
type OrderDirection string

const (
	Asc  OrderDirection = "ASC"
	Desc OrderDirection = "DESC"
)

// FileOrder orders a listing; ties are broken by id in the same direction.
type FileOrder struct {
	Field     FileOrderField
	Direction OrderDirection
}

// FileKey is a position in an ordering: the order column's value and the id.
// Only the field of the ordering in use is meaningful.
type FileKey struct {
	Time time.Time
	Name string
	Size int64
	// Relevance is the file's relevance class (RELEVANCE orders by it,
	// then by Time, the creation time).
	Relevance int
	ID        ID
}

// FileQuery is one page of a file listing, as the Store runs it.
type FileQuery struct {
	OrgID    ID
	BucketID *ID
	Filter   FileFilter
	Order    FileOrder
	// Reverse flips Order's direction (for last/before paging); the Service
	// restores the order of the page it gets back.
	Reverse bool
	// After, if set, keeps only files strictly after this key in the
	// effective ordering (Order, flipped if Reverse).
	After  *FileKey
	Offset int
	Limit  int
	// IDs, if set, keeps only those files.
	IDs []ID
	// Audience, if set, keeps only files that user may see (RESTRICTED buckets).
	Audience *Audience
	// WithBucket reads each file's bucket with it, into File.Bucket.
	WithBucket bool
}
