package media

import "time"

// Organization is a tenant. Nothing ever crosses organizations.
type Organization struct {
	ID        ID
	Name      string
	CreatedAt time.Time
}

// User is a member of one organization.
type User struct {
	ID        ID
	OrgID     ID
	Email     string
	Name      string
	Role      Role
	CreatedAt time.Time
}

// APIKey is a stored API key. The secret itself is never stored, only its
// SHA-256 hash; Prefix is the first characters, shown to help tell keys apart.
type APIKey struct {
	ID         ID
	OrgID      ID
	UserID     ID
	Name       string
	Prefix     string
	Hash       string
	Scopes     []string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	// CreatedBy is the admin who made the key for its user; nil when the
	// user made it (or the CLI did).
	CreatedBy *ID
}

// CreatedAPIKey is a new key and its secret, which is shown only once.
type CreatedAPIKey struct {
	Key    string
	APIKey *APIKey
}

// Viewer describes the caller.
type Viewer struct {
	User         *User
	Organization *Organization
	Role         Role
	Scopes       []string
}

// Visibility decides who may read a file's bytes without a key.
type Visibility string

const (
	VisibilityPublic  Visibility = "PUBLIC"
	VisibilityPrivate Visibility = "PRIVATE"
)

// Valid reports whether v is a known visibility.
func (v Visibility) Valid() bool { return v == VisibilityPublic || v == VisibilityPrivate }

// BucketAccess decides who may see a bucket's files.
type BucketAccess string

const (
	// AccessOrganization: every member with media:read sees the files.
	AccessOrganization BucketAccess = "ORGANIZATION"
	// AccessRestricted: only the uploader, admins and owners, and those who
	// can see something a file is attached to.
	AccessRestricted BucketAccess = "RESTRICTED"
)

// Valid reports whether a is a known access mode.
func (a BucketAccess) Valid() bool { return a == AccessOrganization || a == AccessRestricted }

// Bucket is a named container of files with a policy.
type Bucket struct {
	ID                ID
	OrgID             ID
	Name              string
	Access            BucketAccess
	DefaultVisibility Visibility
	// MaxFileSize caps every file in the bucket; nil means the type limits alone.
	MaxFileSize *int64
	// AllowedMimeTypes lists allowed types, with wildcards ("image/*"); empty allows all.
	AllowedMimeTypes []string
	// TypeLimits overrides the default per-type size limits.
	TypeLimits map[FileType]int64
	// QuotaBytes caps the bytes the bucket holds (live, trashed and old revisions).
	QuotaBytes *int64
	// TrashRetention is how long trashed files are kept before they are
	// purged; nil means the server's default (7 days).
	TrashRetention *time.Duration
	// RejectMalformedMedia refuses images, audio and video whose content
	// cannot be read (by default they are stored, with no analysis).
	RejectMalformedMedia bool
	// StripGPSMetadata removes location data (EXIF GPS, XMP coordinates)
	// from JPEGs as they are stored.
	StripGPSMetadata bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// BucketUsage reports what a bucket holds. Bytes are counted per file: two
// files with identical content count twice (CONTRACT: quota is per bucket).
type BucketUsage struct {
	FileCount     int
	LiveBytes     int64
	TrashedBytes  int64
	RevisionBytes int64
}

// TotalBytes is what counts against the quota.
func (u BucketUsage) TotalBytes() int64 { return u.LiveBytes + u.TrashedBytes + u.RevisionBytes }

// File is the unit users see. Its content is its current revision's blob.
type File struct {
	ID           ID
	OrgID        ID
	BucketID     ID
	Path         string
	Name         string
	OriginalName string
	MimeType     string
	Type         FileType
	Size         int64
	Sha256       string
	Width        *int
	Height       *int
	Duration     *float64
	MediaFacts
	Visibility Visibility
	AltText    *string
	Caption    *string
	Copyright  *string
	Metadata   map[string]any
	Tags       []string
	Revision   int
	BlobID     ID
	LegalHold  bool
	// LegalHoldReason says why the file is held, if it is.
	LegalHoldReason *string
	TrashedAt       *time.Time
	PurgeAt         *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	CreatedBy       *ID
	UpdatedBy       *ID
	// UploadedInto is the post, comment or message the file was uploaded
	// into, if any: its author may destroy the file (CONTRACT §6).
	// Attaching an existing file records nothing here.
	UploadedInto *ID
	// ExternalID is an id the client gave the file (of another system,
	// say), unique in its bucket.
	ExternalID *string
	// Relevance is set in search listings: RelevanceName when every word
	// is in the file's name, RelevanceOther when they are found elsewhere
	// (tags, texts, folder, or spread over several fields); 0 otherwise.
	Relevance int
	// Bucket is the file's bucket when the read that made the file brought
	// it along (FileQuery.WithBucket: a file read by id), so that
	// File.bucket costs no query; nil otherwise. It is never written.
	Bucket *Bucket
}

// Relevance classes of a search, best first.
const (
	RelevanceName  = 2
	RelevanceOther = 1
)

// BlobState tracks a blob through the two-store write.
type BlobState string

const (
	// BlobPending: the row exists, the bytes may or may not. Pending blobs
	// older than a safety window are removed, with their bytes, by cleanup.
	BlobPending BlobState = "PENDING"
	// BlobReady: the bytes are stored and verified.
	BlobReady BlobState = "READY"
)

// Blob is stored content, under a generated key.
type Blob struct {
	ID         ID
	OrgID      ID
	StorageKey string
	State      BlobState
	Size       int64
	Sha256     string
	MimeType   string
	Width      *int
	Height     *int
	Duration   *float64
	MediaFacts
	CreatedAt time.Time
}

// MediaFacts is what analysis learns about content beyond its size and
// dimensions; files copy it from their current blob.
type MediaFacts struct {
	Blurhash      *string
	DominantColor *string
	PageCount     *int
}

// Revision is one numbered version of a file's content.
type Revision struct {
	ID        ID
	OrgID     ID
	FileID    ID
	Number    int
	BlobID    ID
	Size      int64
	MimeType  string
	Sha256    string
	Width     *int
	Height    *int
	Duration  *float64
	CreatedAt time.Time
	CreatedBy *ID
	// File is the file the revision belongs to, as Service.Revisions
	// returns it (not stored with the revision).
	File *File
}

// Node is any object with a global id: *File, *Bucket, *User, *Organization
// or *APIKey. It is what Service.Node returns.
type Node interface{}
