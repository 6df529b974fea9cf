package database

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

// CreateBlob inserts a blob row. Returns CONFLICT if the id or storage key exists.
func (d *DB) CreateBlob(ctx context.Context, b *media.Blob) error {
	_, err := d.idb.NewInsert().Model(newBlobRow(b)).Returning("").Exec(ctx)
	return wrap(err, "blob")
}

// UpdateBlob writes the blob's state and content facts (size, hash, MIME
// type, dimensions, duration). Returns NOT_FOUND.
func (d *DB) UpdateBlob(ctx context.Context, b *media.Blob) error {
	res, err := d.idb.NewUpdate().Model(newBlobRow(b)).
		Column("state", "size", "sha256", "mime_type", "width", "height", "duration", "blurhash", "dominant_color", "page_count").
		Where("bl.id = ?", b.ID).
		Exec(ctx)
	return affectedOne(res, err, "blob")
}

// DeleteBlobs removes blob rows. Deleting a missing row is not an error
// (two cleanups may race); deleting a row a file or revision still uses
// fails.
func (d *DB) DeleteBlobs(ctx context.Context, ids []media.ID) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := d.idb.NewDelete().Model((*blobRow)(nil)).Where("bl.id IN (?)", bun.In(ids)).Exec(ctx)
	return wrap(err, "blob")
}

// StalePendingBlobs returns up to limit PENDING blobs created before the
// given time, oldest first. limit <= 0 means no limit.
func (d *DB) StalePendingBlobs(ctx context.Context, before time.Time, limit int) ([]*media.Blob, error) {
	var rows []blobRow
	q := d.idb.NewSelect().Model(&rows).
		Where("bl.state = ?", media.BlobPending).
		Where("bl.created_at < ?", before).
		OrderExpr("bl.created_at ASC, bl.id ASC")
	if limit > 0 {
		q = q.Limit(int64(limit))
	}
	return blobsOf(rows, q.Scan(ctx))
}

func blobsOf(rows []blobRow, err error) ([]*media.Blob, error) {
	if err != nil {
		return nil, wrap(err, "blob")
	}
	out := make([]*media.Blob, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}
