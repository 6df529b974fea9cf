package database

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

type sessionRow struct {
	bun.BaseModel `bun:"table:upload_sessions,alias:us"`

	ID             media.ID           `bun:"id,pk"`
	OrgID          media.ID           `bun:"org_id"`
	BucketID       media.ID           `bun:"bucket_id"`
	CreatedBy      media.ID           `bun:"created_by"`
	BlobID         media.ID           `bun:"blob_id"`
	StorageKey     string             `bun:"storage_key"`
	MultipartID    string             `bun:"multipart_id"`
	PartSize       int64              `bun:"part_size"`
	Size           int64              `bun:"size"`
	MimeType       string             `bun:"mime_type"`
	ChecksumSha256 *string            `bun:"checksum_sha256"`
	File           string             `bun:"file"`
	State          media.SessionState `bun:"state"`
	FileID         *media.ID          `bun:"file_id"`
	ExpiresAt      time.Time          `bun:"expires_at"`
	CreatedAt      time.Time          `bun:"created_at"`
	UpdatedAt      time.Time          `bun:"updated_at"`
}

func newSessionRow(u *media.UploadSession) (*sessionRow, error) {
	file, err := json.Marshal(u.File)
	if err != nil {
		return nil, fmt.Errorf("encoding an upload session's file: %w", err)
	}
	return &sessionRow{ID: u.ID, OrgID: u.OrgID, BucketID: u.BucketID, CreatedBy: u.CreatedBy, BlobID: u.BlobID,
		StorageKey: u.StorageKey, MultipartID: u.MultipartID, PartSize: u.PartSize, Size: u.Size, MimeType: u.MimeType,
		ChecksumSha256: u.ChecksumSha256, File: string(file), State: u.State, FileID: u.FileID,
		ExpiresAt: u.ExpiresAt, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}, nil
}

func (r *sessionRow) media() (*media.UploadSession, error) {
	u := &media.UploadSession{ID: r.ID, OrgID: r.OrgID, BucketID: r.BucketID, CreatedBy: r.CreatedBy, BlobID: r.BlobID,
		StorageKey: r.StorageKey, MultipartID: r.MultipartID, PartSize: r.PartSize, Size: r.Size, MimeType: r.MimeType,
		ChecksumSha256: r.ChecksumSha256, State: r.State, FileID: r.FileID,
		ExpiresAt: r.ExpiresAt.UTC(), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if err := json.Unmarshal([]byte(r.File), &u.File); err != nil {
		return nil, fmt.Errorf("decoding upload session %s's file: %w", r.ID, err)
	}
	return u, nil
}

// CreateUploadSession records a new upload session.
func (d *DB) CreateUploadSession(ctx context.Context, u *media.UploadSession) error {
	row, err := newSessionRow(u)
	if err != nil {
		return err
	}
	_, err = d.idb.NewInsert().Model(row).Returning("").Exec(ctx)
	return wrap(err, "upload session")
}

// UploadSession returns a session of orgID. Returns NOT_FOUND.
func (d *DB) UploadSession(ctx context.Context, orgID, id media.ID) (*media.UploadSession, error) {
	var r sessionRow
	if err := d.idb.NewSelect().Model(&r).Where("us.org_id = ?", orgID).Where("us.id = ?", id).Scan(ctx); err != nil {
		return nil, wrap(err, "upload session")
	}
	return r.media()
}

// SetUploadSessionState moves a session from one state to another if it is
// still in the first (a compare-and-set: one request completes a session).
func (d *DB) SetUploadSessionState(ctx context.Context, u *media.UploadSession, from, to media.SessionState, now time.Time) (bool, error) {
	res, err := d.idb.NewUpdate().Model((*sessionRow)(nil)).
		Set("state = ?", to).Set("file_id = ?", u.FileID).Set("updated_at = ?", now).
		Where("us.id = ?", u.ID).Where("us.org_id = ?", u.OrgID).Where("us.state = ?", from).Exec(ctx)
	if err != nil {
		return false, wrap(err, "upload session")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(err, "upload session")
	}
	if n == 1 {
		u.State, u.UpdatedAt = to, now
	}
	return n == 1, nil
}

// ExpiredUploadSessions returns OPEN sessions expired at now and
// COMPLETING sessions last changed before stuck, of every organization.
func (d *DB) ExpiredUploadSessions(ctx context.Context, now, stuck time.Time, limit int) ([]*media.UploadSession, error) {
	var rows []sessionRow
	err := d.idb.NewSelect().Model(&rows).
		Where("(us.state = ? AND us.expires_at <= ?) OR (us.state = ? AND us.updated_at < ?)",
			media.SessionOpen, now, media.SessionCompleting, stuck).
		OrderExpr("us.expires_at ASC, us.id ASC").Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "upload session")
	}
	out := make([]*media.UploadSession, 0, len(rows))
	for i := range rows {
		u, err := rows[i].media()
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// OpenSessionBytes sums the sizes of a bucket's sessions that may still
// become files.
func (d *DB) OpenSessionBytes(ctx context.Context, orgID, bucketID media.ID) (int64, error) {
	var n int64
	err := d.idb.NewSelect().Model((*sessionRow)(nil)).ColumnExpr("coalesce(sum(us.size), 0)").
		Where("us.org_id = ?", orgID).Where("us.bucket_id = ?", bucketID).
		Where("us.state IN (?)", bun.In([]media.SessionState{media.SessionOpen, media.SessionCompleting})).
		Scan(ctx, &n)
	return n, wrap(err, "upload session")
}
