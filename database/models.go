package database

import (
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

// The row models below are the tables as bun sees them. They convert to and
// from the media types, which stay free of bun tags. Times are returned in
// UTC whatever the session time zone; JSON columns are never NULL.

type orgRow struct {
	bun.BaseModel `bun:"table:organizations,alias:o"`

	ID        media.ID  `bun:"id,pk"`
	Name      string    `bun:"name"`
	CreatedAt time.Time `bun:"created_at"`
}

func newOrgRow(o *media.Organization) *orgRow {
	return &orgRow{ID: o.ID, Name: o.Name, CreatedAt: o.CreatedAt}
}

func (r *orgRow) media() *media.Organization {
	return &media.Organization{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
}

type userRow struct {
	bun.BaseModel `bun:"table:users,alias:u"`

	ID        media.ID   `bun:"id,pk"`
	OrgID     media.ID   `bun:"org_id"`
	Email     string     `bun:"email"`
	Name      string     `bun:"name"`
	Role      media.Role `bun:"role"`
	CreatedAt time.Time  `bun:"created_at"`
}

func newUserRow(u *media.User) *userRow {
	return &userRow{ID: u.ID, OrgID: u.OrgID, Email: u.Email, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt}
}

func (r *userRow) media() *media.User {
	return &media.User{ID: r.ID, OrgID: r.OrgID, Email: r.Email, Name: r.Name, Role: r.Role, CreatedAt: r.CreatedAt.UTC()}
}

type apiKeyRow struct {
	bun.BaseModel `bun:"table:api_keys,alias:k"`

	ID         media.ID   `bun:"id,pk"`
	OrgID      media.ID   `bun:"org_id"`
	UserID     media.ID   `bun:"user_id"`
	Name       string     `bun:"name"`
	Prefix     string     `bun:"prefix"`
	Hash       string     `bun:"hash"`
	Scopes     []string   `bun:"scopes"`
	CreatedAt  time.Time  `bun:"created_at"`
	LastUsedAt *time.Time `bun:"last_used_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
	CreatedBy  *media.ID  `bun:"created_by"`

	User *userRow `bun:"rel:belongs-to,join:user_id=id"`
}

func newAPIKeyRow(k *media.APIKey) *apiKeyRow {
	return &apiKeyRow{ID: k.ID, OrgID: k.OrgID, UserID: k.UserID, Name: k.Name, Prefix: k.Prefix, Hash: k.Hash,
		Scopes: nonNilSlice(k.Scopes), CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt, CreatedBy: k.CreatedBy}
}

func (r *apiKeyRow) media() *media.APIKey {
	return &media.APIKey{ID: r.ID, OrgID: r.OrgID, UserID: r.UserID, Name: r.Name, Prefix: r.Prefix, Hash: r.Hash,
		Scopes: nonNilSlice(r.Scopes), CreatedAt: r.CreatedAt.UTC(), LastUsedAt: utcPtr(r.LastUsedAt),
		RevokedAt: utcPtr(r.RevokedAt), CreatedBy: r.CreatedBy}
}

type bucketRow struct {
	bun.BaseModel `bun:"table:buckets,alias:b"`

	ID                media.ID                 `bun:"id,pk"`
	OrgID             media.ID                 `bun:"org_id"`
	Name              string                   `bun:"name"`
	Access            media.BucketAccess       `bun:"access"`
	DefaultVisibility media.Visibility         `bun:"default_visibility"`
	MaxFileSize       *int64                   `bun:"max_file_size"`
	AllowedMimeTypes  []string                 `bun:"allowed_mime_types"`
	TypeLimits        map[media.FileType]int64 `bun:"type_limits"`
	QuotaBytes        *int64                   `bun:"quota_bytes"`
	TrashRetention    *int64                   `bun:"trash_retention_seconds"`
	RejectMalformed   bool                     `bun:"reject_malformed_media"`
	StripGPS          bool                     `bun:"strip_gps_metadata"`
	CreatedAt         time.Time                `bun:"created_at"`
	UpdatedAt         time.Time                `bun:"updated_at"`
}

func newBucketRow(b *media.Bucket) *bucketRow {
	return &bucketRow{ID: b.ID, OrgID: b.OrgID, Name: b.Name, Access: b.Access, DefaultVisibility: b.DefaultVisibility,
		MaxFileSize: b.MaxFileSize, AllowedMimeTypes: nonNilSlice(b.AllowedMimeTypes),
		TypeLimits: nonNilMap(b.TypeLimits), QuotaBytes: b.QuotaBytes, TrashRetention: seconds(b.TrashRetention), RejectMalformed: b.RejectMalformedMedia, StripGPS: b.StripGPSMetadata, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
}

func (r *bucketRow) media() *media.Bucket {
	return &media.Bucket{ID: r.ID, OrgID: r.OrgID, Name: r.Name, Access: r.Access, DefaultVisibility: r.DefaultVisibility,
		MaxFileSize: r.MaxFileSize, AllowedMimeTypes: nonNilSlice(r.AllowedMimeTypes),
		TypeLimits: nonNilMap(r.TypeLimits), QuotaBytes: r.QuotaBytes, TrashRetention: duration(r.TrashRetention), RejectMalformedMedia: r.RejectMalformed, StripGPSMetadata: r.StripGPS, CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC()}
}

type blobRow struct {
	bun.BaseModel `bun:"table:blobs,alias:bl"`

	ID         media.ID        `bun:"id,pk"`
	OrgID      media.ID        `bun:"org_id"`
	StorageKey string          `bun:"storage_key"`
	State      media.BlobState `bun:"state"`
	Size       int64           `bun:"size"`
	Sha256     string          `bun:"sha256"`
	MimeType   string          `bun:"mime_type"`
	Width      *int            `bun:"width"`
	Height     *int            `bun:"height"`
	Duration   *float64        `bun:"duration"`
	// MediaFacts maps to blurhash, dominant_color and page_count.
	media.MediaFacts
	CreatedAt time.Time `bun:"created_at"`
}

func newBlobRow(b *media.Blob) *blobRow {
	return &blobRow{ID: b.ID, OrgID: b.OrgID, StorageKey: b.StorageKey, State: b.State, Size: b.Size,
		Sha256: b.Sha256, MimeType: b.MimeType, Width: b.Width, Height: b.Height, Duration: b.Duration,
		MediaFacts: b.MediaFacts, CreatedAt: b.CreatedAt}
}

func (r *blobRow) media() *media.Blob {
	return &media.Blob{ID: r.ID, OrgID: r.OrgID, StorageKey: r.StorageKey, State: r.State, Size: r.Size,
		Sha256: r.Sha256, MimeType: r.MimeType, Width: r.Width, Height: r.Height, Duration: r.Duration,
		MediaFacts: r.MediaFacts, CreatedAt: r.CreatedAt.UTC()}
}

type fileRow struct {
	bun.BaseModel `bun:"table:files,alias:f"`

	ID           media.ID       `bun:"id,pk"`
	OrgID        media.ID       `bun:"org_id"`
	BucketID     media.ID       `bun:"bucket_id"`
	Path         string         `bun:"path"`
	Name         string         `bun:"name"`
	OriginalName string         `bun:"original_name"`
	MimeType     string         `bun:"mime_type"`
	Type         media.FileType `bun:"type"`
	Size         int64          `bun:"size"`
	Sha256       string         `bun:"sha256"`
	Width        *int           `bun:"width"`
	Height       *int           `bun:"height"`
	Duration     *float64       `bun:"duration"`
	media.MediaFacts
	Visibility media.Visibility `bun:"visibility"`
	AltText    *string          `bun:"alt_text"`
	Caption    *string          `bun:"caption"`
	Copyright  *string          `bun:"copyright"`
	Metadata   map[string]any   `bun:"metadata"`
	Revision   int              `bun:"revision"`
	BlobID     media.ID         `bun:"blob_id"`
	LegalHold  bool             `bun:"legal_hold"`
	HoldReason *string          `bun:"legal_hold_reason"`
	TrashedAt  *time.Time       `bun:"trashed_at"`
	PurgeAt    *time.Time       `bun:"purge_at"`
	CreatedAt  time.Time        `bun:"created_at"`
	UpdatedAt  time.Time        `bun:"updated_at"`
	CreatedBy  *media.ID        `bun:"created_by"`
	UpdatedBy  *media.ID        `bun:"updated_by"`
	// UploadedInto is the post, comment or message the file was uploaded into.
	UploadedInto *media.ID `bun:"uploaded_into"`
	ExternalID   *string   `bun:"external_id"`
	// TagsText is the file's tags, sorted and separated by spaces, for the
	// search index (a generated column cannot read file_tags). Every write
	// of tags writes it with them (CreateFile, UpdateFile).
	TagsText string `bun:"tags_text"`
	// Relevance is the file's relevance class in a search listing.
	Relevance int `bun:"search_rank,scanonly"`
	// TagList is the file's tags joined by commas (tags cannot contain
	// one), when the query selected it (listings do).
	TagList *string `bun:"tag_list,scanonly"`
	// Bucket is the file's bucket, when the query joined it (a read with
	// FileQuery.WithBucket).
	Bucket *bucketRow `bun:"rel:belongs-to,join:bucket_id=id"`
}

func newFileRow(f *media.File) *fileRow {
	return &fileRow{ID: f.ID, OrgID: f.OrgID, BucketID: f.BucketID, Path: f.Path, Name: f.Name,
		OriginalName: f.OriginalName, MimeType: f.MimeType, Type: f.Type, Size: f.Size, Sha256: f.Sha256,
		Width: f.Width, Height: f.Height, Duration: f.Duration, MediaFacts: f.MediaFacts, Visibility: f.Visibility, AltText: f.AltText,
		Caption: f.Caption, Copyright: f.Copyright, Metadata: nonNilMap(f.Metadata), Revision: f.Revision,
		BlobID: f.BlobID, LegalHold: f.LegalHold, HoldReason: f.LegalHoldReason, TrashedAt: f.TrashedAt, PurgeAt: f.PurgeAt,
		CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt, CreatedBy: f.CreatedBy, UpdatedBy: f.UpdatedBy, UploadedInto: f.UploadedInto,
		ExternalID: f.ExternalID, TagsText: tagsText(f.Tags)}
}

// tagsText is tags as the search index reads them: sorted, without
// duplicates, separated by spaces.
func tagsText(tags []string) string {
	return strings.Join(dedupe(slices.Sorted(slices.Values(tags))), " ")
}

// media returns the file without its tags (nil: not loaded; see TagsByFileIDs).
func (r *fileRow) media() *media.File {
	var b *media.Bucket
	if r.Bucket != nil {
		b = r.Bucket.media()
	}
	return &media.File{Bucket: b, ID: r.ID, OrgID: r.OrgID, BucketID: r.BucketID, Path: r.Path, Name: r.Name,
		OriginalName: r.OriginalName, MimeType: r.MimeType, Type: r.Type, Size: r.Size, Sha256: r.Sha256,
		Width: r.Width, Height: r.Height, Duration: r.Duration, MediaFacts: r.MediaFacts, Visibility: r.Visibility, AltText: r.AltText,
		Caption: r.Caption, Copyright: r.Copyright, Metadata: nonNilMap(r.Metadata), Revision: r.Revision,
		BlobID: r.BlobID, LegalHold: r.LegalHold, LegalHoldReason: r.HoldReason, TrashedAt: utcPtr(r.TrashedAt), PurgeAt: utcPtr(r.PurgeAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), CreatedBy: r.CreatedBy, UpdatedBy: r.UpdatedBy,
		UploadedInto: r.UploadedInto, ExternalID: r.ExternalID, Relevance: r.Relevance, Tags: splitTags(r.TagList)}
}

func splitTags(list *string) []string {
	switch {
	case list == nil:
		return nil
	case *list == "":
		return []string{}
	}
	return strings.Split(*list, ",")
}

type revisionRow struct {
	bun.BaseModel `bun:"table:file_revisions,alias:r"`

	ID        media.ID  `bun:"id,pk"`
	OrgID     media.ID  `bun:"org_id"`
	FileID    media.ID  `bun:"file_id"`
	Number    int       `bun:"number"`
	BlobID    media.ID  `bun:"blob_id"`
	Size      int64     `bun:"size"`
	MimeType  string    `bun:"mime_type"`
	Sha256    string    `bun:"sha256"`
	Width     *int      `bun:"width"`
	Height    *int      `bun:"height"`
	Duration  *float64  `bun:"duration"`
	CreatedAt time.Time `bun:"created_at"`
	CreatedBy *media.ID `bun:"created_by"`
}

func newRevisionRow(r *media.Revision) *revisionRow {
	return &revisionRow{ID: r.ID, OrgID: r.OrgID, FileID: r.FileID, Number: r.Number, BlobID: r.BlobID,
		Size: r.Size, MimeType: r.MimeType, Sha256: r.Sha256, Width: r.Width, Height: r.Height,
		Duration: r.Duration, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
}

type tagRow struct {
	bun.BaseModel `bun:"table:file_tags,alias:t"`

	OrgID  media.ID `bun:"org_id"`
	FileID media.ID `bun:"file_id,pk"`
	Tag    string   `bun:"tag,pk"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

func (r *revisionRow) media() *media.Revision {
	return &media.Revision{ID: r.ID, OrgID: r.OrgID, FileID: r.FileID, Number: r.Number, BlobID: r.BlobID,
		Size: r.Size, MimeType: r.MimeType, Sha256: r.Sha256, Width: r.Width, Height: r.Height,
		Duration: r.Duration, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
}

func seconds(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	n := int64(*d / time.Second)
	return &n
}

func duration(n *int64) *time.Duration {
	if n == nil {
		return nil
	}
	d := time.Duration(*n) * time.Second
	return &d
}
