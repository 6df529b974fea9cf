package database

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

// CreateBucket inserts a bucket. Returns CONFLICT if the organization already
// has a bucket with that name.
func (d *DB) CreateBucket(ctx context.Context, b *media.Bucket) error {
	_, err := d.idb.NewInsert().Model(newBucketRow(b)).Returning("").Exec(ctx)
	return wrap(err, "bucket")
}

// UpdateBucket writes every policy field of b and its UpdatedAt (not its
// name). Returns NOT_FOUND.
func (d *DB) UpdateBucket(ctx context.Context, b *media.Bucket) error {
	res, err := d.idb.NewUpdate().Model(newBucketRow(b)).
		Column("access", "default_visibility", "max_file_size", "allowed_mime_types", "type_limits", "trash_retention_seconds",
			"quota_bytes", "reject_malformed_media", "strip_gps_metadata", "updated_at").
		Where("b.id = ?", b.ID).
		Where("b.org_id = ?", b.OrgID).
		Exec(ctx)
	return affectedOne(res, err, "bucket")
}

// DeleteBucket deletes an empty bucket. Returns NOT_FOUND.
func (d *DB) DeleteBucket(ctx context.Context, orgID, id media.ID) error {
	return d.atomic(ctx, func(d *DB) error {
		// Its folders; changes its files' deletes staged are dropped when
		// applied, the bucket being gone.
		if _, err := d.idb.NewDelete().Model((*folderRow)(nil)).Where("fo.bucket_id = ?", id).Where("fo.org_id = ?", orgID).
			Exec(ctx); err != nil {
			return wrap(err, "folder")
		}
		res, err := d.idb.NewDelete().Model((*bucketRow)(nil)).
			Where("b.id = ?", id).
			Where("b.org_id = ?", orgID).
			Exec(ctx)
		return affectedOne(res, err, "bucket")
	})
}

// BucketByName returns a bucket of orgID by name. Returns NOT_FOUND.
func (d *DB) BucketByName(ctx context.Context, orgID media.ID, name string) (*media.Bucket, error) {
	var r bucketRow
	err := d.idb.NewSelect().Model(&r).Where("b.org_id = ?", orgID).Where("b.name = ?", name).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "bucket")
	}
	return r.media(), nil
}

// LockBucket reads a bucket and, on PostgreSQL, locks its row (SELECT … FOR
// UPDATE) until the transaction ends. On SQLite a transaction holds the
// database's write lock from its start, so a plain read is enough.
// Returns NOT_FOUND.
func (d *DB) LockBucket(ctx context.Context, orgID, id media.ID) (*media.Bucket, error) {
	var r bucketRow
	q := d.idb.NewSelect().Model(&r).Where("b.id = ?", id).Where("b.org_id = ?", orgID)
	if d.dialect == Postgres {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrap(err, "bucket")
	}
	return r.media(), nil
}

// BucketsByIDs returns the buckets of orgID among ids, in any order.
func (d *DB) BucketsByIDs(ctx context.Context, orgID media.ID, ids []media.ID) ([]*media.Bucket, error) {
	if len(ids) == 0 {
		return []*media.Bucket{}, nil
	}
	var rows []bucketRow
	err := d.idb.NewSelect().Model(&rows).
		Where("b.org_id = ?", orgID).
		Where("b.id IN (?)", bun.In(ids)).
		Scan(ctx)
	return bucketsOf(rows, err)
}

// ListBuckets returns up to limit buckets of orgID ordered by name, starting
// after the name after ("" starts at the beginning). limit <= 0 means no limit.
func (d *DB) ListBuckets(ctx context.Context, orgID media.ID, after string, limit int) ([]*media.Bucket, error) {
	var rows []bucketRow
	q := d.idb.NewSelect().Model(&rows).Where("b.org_id = ?", orgID).OrderExpr("b.name ASC")
	if after != "" {
		q = q.Where("b.name > ?", after)
	}
	if limit > 0 {
		q = q.Limit(int64(limit))
	}
	return bucketsOf(rows, q.Scan(ctx))
}

func bucketsOf(rows []bucketRow, err error) ([]*media.Bucket, error) {
	if err != nil {
		return nil, wrap(err, "bucket")
	}
	out := make([]*media.Bucket, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}

// CountBuckets counts the buckets of orgID.
func (d *DB) CountBuckets(ctx context.Context, orgID media.ID) (int, error) {
	n, err := d.idb.NewSelect().Model((*bucketRow)(nil)).Where("b.org_id = ?", orgID).Count(ctx)
	return int(n), wrap(err, "bucket")
}

// BucketUsage sums a bucket's files in one query: FileCount and LiveBytes
// over files that are not trashed, TrashedBytes over trashed files (each file
// counts its current revision's size), and RevisionBytes over the revisions
// that are not their file's current one. A bucket without files, or one of
// another organization, has zero usage.
func (d *DB) BucketUsage(ctx context.Context, orgID, bucketID media.ID) (media.BucketUsage, error) {
	var u struct {
		FileCount     int64 `bun:"file_count"`
		LiveBytes     int64 `bun:"live_bytes"`
		TrashedBytes  int64 `bun:"trashed_bytes"`
		RevisionBytes int64 `bun:"revision_bytes"`
	}
	err := d.idb.NewRaw(`SELECT
	CAST(coalesce(sum(CASE WHEN f.trashed_at IS NULL THEN 1 ELSE 0 END), 0) AS bigint) AS file_count,
	CAST(coalesce(sum(CASE WHEN f.trashed_at IS NULL THEN f.size ELSE 0 END), 0) AS bigint) AS live_bytes,
	CAST(coalesce(sum(CASE WHEN f.trashed_at IS NOT NULL THEN f.size ELSE 0 END), 0) AS bigint) AS trashed_bytes,
	(SELECT CAST(coalesce(sum(r.size), 0) AS bigint)
		FROM file_revisions AS r JOIN files AS rf ON rf.id = r.file_id
		WHERE rf.org_id = ? AND rf.bucket_id = ? AND r.number <> rf.revision) AS revision_bytes
FROM files AS f
WHERE f.org_id = ? AND f.bucket_id = ?`, orgID, bucketID, orgID, bucketID).Scan(ctx, &u)
	if err != nil {
		return media.BucketUsage{}, wrap(err, "bucket usage")
	}
	return media.BucketUsage{FileCount: int(u.FileCount), LiveBytes: u.LiveBytes, TrashedBytes: u.TrashedBytes,
		RevisionBytes: u.RevisionBytes}, nil
}

// affectedOne turns an update or delete of one row into NOT_FOUND if it
// matched none.
func affectedOne(res interface{ RowsAffected() (int64, error) }, err error, thing string) error {
	if err != nil {
		return wrap(err, thing)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, thing)
	}
	if n == 0 {
		return media.Errorf(media.ENOTFOUND, "%s not found", thing)
	}
	return nil
}
