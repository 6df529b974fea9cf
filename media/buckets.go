package media

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"time"
)

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// BucketInput creates a bucket or, with UpdateBucket, changes the fields that are set.
type BucketInput struct {
	Name              string
	Access            *BucketAccess
	DefaultVisibility *Visibility
	MaxFileSize       *int64
	AllowedMimeTypes  []string
	TypeLimits        map[FileType]int64
	QuotaBytes        *int64
	// TrashRetention is how long trashed files are kept.
	TrashRetention *time.Duration
	// RejectMalformedMedia refuses images, audio and video that cannot be decoded.
	RejectMalformedMedia *bool
	// StripGPSMetadata removes location data from JPEGs as they are stored.
	StripGPSMetadata *bool
	// ClearMaxFileSize and ClearQuota remove those limits in UpdateBucket.
	ClearMaxFileSize bool
	ClearQuota       bool
}

// CreateBucket creates a bucket with a policy.
// Returns FORBIDDEN without admin, BAD_USER_INPUT for a bad name or policy,
// CONFLICT if the name is taken.
func (s *Service) CreateBucket(ctx context.Context, in BucketInput) (*Bucket, error) {
	p, err := require(ctx, ScopeAdmin)
	if err != nil {
		return nil, err
	}
	if !bucketNameRE.MatchString(in.Name) {
		return nil, Invalid("name", "a bucket name is 1 to 63 characters: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit")
	}
	now := s.now()
	b := &Bucket{ID: NewID(PrefixBucket, now), OrgID: p.OrgID, Name: in.Name,
		Access: AccessOrganization, DefaultVisibility: VisibilityPrivate,
		AllowedMimeTypes: []string{}, TypeLimits: map[FileType]int64{}, CreatedAt: now, UpdatedAt: now}
	if err := applyPolicy(b, in); err != nil {
		return nil, err
	}
	if err := s.Store.CreateBucket(ctx, b); err != nil {
		if ErrorCode(err) == ECONFLICT {
			return nil, &Error{Code: ECONFLICT, Field: "name", Message: fmt.Sprintf("a bucket named %q already exists", in.Name)}
		}
		return nil, err
	}
	return b, nil
}

// UpdateBucket changes the policy fields that are set in the input.
// Returns FORBIDDEN without admin, NOT_FOUND, BAD_USER_INPUT.
func (s *Service) UpdateBucket(ctx context.Context, in BucketInput) (*Bucket, error) {
	p, err := require(ctx, ScopeAdmin)
	if err != nil {
		return nil, err
	}
	b, err := s.bucketByName(ctx, p, in.Name)
	if err != nil {
		return nil, err
	}
	if err := applyPolicy(b, in); err != nil {
		return nil, err
	}
	b.UpdatedAt = s.now()
	if err := s.Store.UpdateBucket(ctx, b); err != nil {
		return nil, err
	}
	return b, nil
}

func applyPolicy(b *Bucket, in BucketInput) error {
	if in.Access != nil {
		if !in.Access.Valid() {
			return Invalid("access", "access must be ORGANIZATION or RESTRICTED")
		}
		b.Access = *in.Access
	}
	if in.DefaultVisibility != nil {
		if !in.DefaultVisibility.Valid() {
			return Invalid("defaultVisibility", "visibility must be PUBLIC or PRIVATE")
		}
		b.DefaultVisibility = *in.DefaultVisibility
	}
	if in.MaxFileSize != nil {
		if *in.MaxFileSize <= 0 {
			return Invalid("maxFileSize", "maxFileSize must be a positive number of bytes")
		}
		b.MaxFileSize = in.MaxFileSize
	} else if in.ClearMaxFileSize {
		b.MaxFileSize = nil
	}
	if in.QuotaBytes != nil {
		if *in.QuotaBytes <= 0 {
			return Invalid("quotaBytes", "quotaBytes must be a positive number of bytes")
		}
		b.QuotaBytes = in.QuotaBytes
	} else if in.ClearQuota {
		b.QuotaBytes = nil
	}
	if in.RejectMalformedMedia != nil {
		b.RejectMalformedMedia = *in.RejectMalformedMedia
	}
	if in.StripGPSMetadata != nil {
		b.StripGPSMetadata = *in.StripGPSMetadata
	}
	if in.TrashRetention != nil {
		if *in.TrashRetention < 0 || *in.TrashRetention > 3650*24*time.Hour {
			return Invalid("trashRetentionSeconds", "trashRetentionSeconds must be between 0 and 10 years")
		}
		b.TrashRetention = in.TrashRetention
	}
	if in.AllowedMimeTypes != nil {
		if len(in.AllowedMimeTypes) > 100 {
			return Invalid("allowedMimeTypes", "at most 100 MIME type patterns")
		}
		out := make([]string, 0, len(in.AllowedMimeTypes))
		for _, pat := range in.AllowedMimeTypes {
			pat = baseMIME(pat)
			if !validMIMEPattern(pat) {
				return Invalid("allowedMimeTypes", "%q is not a MIME type pattern such as image/png, image/* or */*", pat)
			}
			out = append(out, pat)
		}
		b.AllowedMimeTypes = out
	}
	if in.TypeLimits != nil {
		limits := map[FileType]int64{}
		for t, n := range in.TypeLimits {
			if !t.Valid() {
				return Invalid("typeLimits", "unknown file type %q", t)
			}
			if n <= 0 {
				return Invalid("typeLimits", "the %s limit must be a positive number of bytes", t)
			}
			limits[t] = n
		}
		b.TypeLimits = limits
	}
	return nil
}

// DeleteBucket deletes a bucket. A bucket with files is only deleted with
// force, which deletes its files and their bytes too.
// Returns FORBIDDEN without admin, NOT_FOUND, CONFLICT if not empty.
func (s *Service) DeleteBucket(ctx context.Context, name string, force bool) (ID, error) {
	p, err := require(ctx, ScopeAdmin)
	if err != nil {
		return "", err
	}
	b, err := s.bucketByName(ctx, p, name)
	if err != nil {
		return "", err
	}
	var blobIDs []ID
	err = s.inTx(ctx, func(ts *Service) error {
		tx := ts.Store
		if _, err := tx.LockBucket(ctx, p.OrgID, b.ID); err != nil {
			return err
		}
		files, err := tx.ListFiles(ctx, FileQuery{OrgID: p.OrgID, BucketID: &b.ID, Filter: FileFilter{Trashed: TrashInclude}})
		if err != nil {
			return err
		}
		if len(files) > 0 && !force {
			return Errorf(ECONFLICT, "bucket %q holds %d files; delete them first or pass force: true", name, len(files))
		}
		if blobIDs, err = tx.DeleteBucketFiles(ctx, p.OrgID, b.ID); err != nil {
			return err
		}
		for _, f := range files {
			ts.emit(p, EventDeleted, f, nil)
		}
		return tx.DeleteBucket(ctx, p.OrgID, b.ID)
	})
	if err != nil {
		return "", err
	}
	s.releaseBlobs(ctx, blobIDs)
	return b.ID, nil
}

// Bucket returns a bucket by name. Returns NOT_FOUND.
func (s *Service) Bucket(ctx context.Context, name string) (*Bucket, error) {
	p, err := require(ctx, ScopeMediaRead)
	if err != nil {
		return nil, err
	}
	return s.bucketByName(ctx, p, name)
}

func (s *Service) bucketByName(ctx context.Context, p *Principal, name string) (*Bucket, error) {
	if !bucketNameRE.MatchString(name) {
		return nil, Errorf(ENOTFOUND, "bucket %q not found", name)
	}
	b, err := s.Store.BucketByName(ctx, p.OrgID, name)
	if IsNotFound(err) {
		return nil, Errorf(ENOTFOUND, "bucket %q not found", name)
	}
	return b, err
}

// BucketPage is one page of buckets.
type BucketPage struct {
	Buckets     []*Bucket
	HasNextPage bool
	// HasPreviousPage is true when the page starts after a cursor.
	HasPreviousPage bool
}

// Buckets lists the organization's buckets by name, after a cursor.
// Returns BAD_USER_INPUT for a bad page size or cursor.
func (s *Service) Buckets(ctx context.Context, first int, after *string) (*BucketPage, error) {
	p, err := require(ctx, ScopeMediaRead)
	if err != nil {
		return nil, err
	}
	if first < 0 || first > MaxPageSize {
		return nil, Invalid("first", "first must be between 0 and %d", MaxPageSize)
	}
	from := ""
	if after != nil {
		if from, err = decodeBucketCursor(*after); err != nil {
			return nil, err
		}
	}
	bs, err := s.Store.ListBuckets(ctx, p.OrgID, from, first+1)
	if err != nil {
		return nil, err
	}
	page := &BucketPage{Buckets: bs, HasPreviousPage: after != nil}
	if len(bs) > first {
		page.Buckets, page.HasNextPage = bs[:first], true
	}
	return page, nil
}

// CountBuckets counts the caller's buckets.
func (s *Service) CountBuckets(ctx context.Context) (int, error) {
	p, err := require(ctx, ScopeMediaRead)
	if err != nil {
		return 0, err
	}
	return s.Store.CountBuckets(ctx, p.OrgID)
}

// BucketUsage reports what a bucket holds.
func (s *Service) BucketUsage(ctx context.Context, b *Bucket) (BucketUsage, error) {
	p, err := require(ctx, ScopeMediaRead)
	if err != nil {
		return BucketUsage{}, err
	}
	if b.OrgID != p.OrgID {
		return BucketUsage{}, Errorf(ENOTFOUND, "bucket not found")
	}
	return s.Store.BucketUsage(ctx, p.OrgID, b.ID)
}

// BucketsByIDs loads buckets for a batch of ids (dataloaders), in key order;
// a missing one is nil.
func (s *Service) BucketsByIDs(ctx context.Context, ids []ID) ([]*Bucket, error) {
	p, err := require(ctx, ScopeMediaRead)
	if err != nil {
		return nil, err
	}
	bs, err := s.Store.BucketsByIDs(ctx, p.OrgID, validIDs(ids, PrefixBucket))
	if err != nil {
		return nil, err
	}
	return inKeyOrder(ids, bs, func(b *Bucket) ID { return b.ID }), nil
}

// inKeyOrder arranges rows in the order of keys, with nil where a key has none.
func inKeyOrder[T any](keys []ID, rows []*T, id func(*T) ID) []*T {
	byID := make(map[ID]*T, len(rows))
	for _, r := range rows {
		byID[id(r)] = r
	}
	out := make([]*T, len(keys))
	for i, k := range keys {
		out[i] = byID[k]
	}
	return out
}

// Cursor returns the opaque cursor of a bucket in a listing.
func (p *BucketPage) Cursor(b *Bucket) string {
	return base64.RawURLEncoding.EncodeToString([]byte(b.Name))
}

func decodeBucketCursor(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !bucketNameRE.Match(b) {
		return "", Invalid("after", "this cursor is not valid for the bucket listing")
	}
	return string(b), nil
}
