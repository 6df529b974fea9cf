package database

import (
	"cmp"
	"context"
	"database/sql/driver"
	"slices"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

// LockFile reads a file with its tags and, on PostgreSQL, locks its row
// until the transaction ends (see LockFiles). Returns NOT_FOUND.
func (d *DB) LockFile(ctx context.Context, orgID, id media.ID) (*media.File, error) {
	fs, err := d.LockFiles(ctx, orgID, []media.ID{id})
	if err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, media.Errorf(media.ENOTFOUND, "file not found")
	}
	return fs[0], nil
}

// LockFiles reads files of orgID with their tags, in any order, leaving
// out ids that are not there, and on PostgreSQL locks their rows in id
// order until the transaction ends (SQLite serialises writers anyway), so
// concurrent changes of a file take turns and two batches never wait for
// each other. Two queries, whatever the number of ids.
func (d *DB) LockFiles(ctx context.Context, orgID media.ID, ids []media.ID) ([]*media.File, error) {
	if len(ids) == 0 {
		return []*media.File{}, nil
	}
	if d.dialect == Postgres {
		// The rows are locked as the sorted rows come out, in id order.
		if _, err := d.idb.NewRaw("SELECT id FROM files WHERE org_id = ? AND id IN (?) ORDER BY id FOR UPDATE", orgID, bun.In(ids)).
			Exec(ctx); err != nil {
			return nil, wrap(err, "file")
		}
	}
	return d.FilesByIDs(ctx, orgID, ids)
}

// AddRevision inserts a revision and makes it the file's content: the
// file's revision, blob, type, size, checksum, dimensions and updated_at/by
// are written from f.
func (d *DB) AddRevision(ctx context.Context, f *media.File, r *media.Revision) error {
	return d.atomic(ctx, func(d *DB) error {
		if _, err := d.idb.NewInsert().Model(newRevisionRow(r)).Returning("").Exec(ctx); err != nil {
			return wrap(err, "file revision")
		}
		res, err := d.idb.NewUpdate().Model(newFileRow(f)).
			Column("revision", "blob_id", "mime_type", "type", "size", "sha256", "width", "height", "duration",
				"blurhash", "dominant_color", "page_count", "updated_at", "updated_by").
			Where("f.id = ?", f.ID).Where("f.org_id = ?", f.OrgID).Exec(ctx)
		return affectedOne(res, err, "file")
	})
}

// Revisions returns a file's revisions, oldest first.
func (d *DB) Revisions(ctx context.Context, orgID, fileID media.ID) ([]*media.Revision, error) {
	var rows []revisionRow
	if err := d.idb.NewSelect().Model(&rows).Where("r.org_id = ?", orgID).Where("r.file_id = ?", fileID).
		OrderExpr("r.number ASC").Scan(ctx); err != nil {
		return nil, wrap(err, "file revision")
	}
	out := make([]*media.Revision, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}

// DeleteRevision deletes one revision and returns the blob it used.
// Returns NOT_FOUND.
func (d *DB) DeleteRevision(ctx context.Context, orgID, fileID media.ID, number int) (media.ID, error) {
	var blobs []media.ID
	err := d.idb.NewRaw("DELETE FROM file_revisions WHERE org_id = ? AND file_id = ? AND number = ? RETURNING blob_id",
		orgID, fileID, number).Scan(ctx, &blobs)
	if err != nil {
		return "", wrap(err, "file revision")
	}
	if len(blobs) == 0 {
		return "", media.Errorf(media.ENOTFOUND, "revision %d not found", number)
	}
	return blobs[0], nil
}

// ReadyBlobBySha256 returns a READY blob of orgID with that content, if one
// exists, and on PostgreSQL locks its row until the transaction ends (see
// ClaimUnreferencedBlobs). Returns NOT_FOUND.
func (d *DB) ReadyBlobBySha256(ctx context.Context, orgID media.ID, sha256 string, size int64) (*media.Blob, error) {
	var r blobRow
	q := d.idb.NewSelect().Model(&r).Where("bl.org_id = ?", orgID).Where("bl.sha256 = ?", sha256).
		Where("bl.size = ?", size).Where("bl.state = ?", media.BlobReady).OrderExpr("bl.id ASC").Limit(1)
	if d.dialect == Postgres {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrap(err, "blob")
	}
	return r.media(), nil
}

// SetFilesState writes files' trash and legal-hold state and
// updated_at/by: one statement for each distinct state (a batch trashed,
// restored or held together is one). Returns NOT_FOUND, and writes
// nothing, if a file is not there.
func (d *DB) SetFilesState(ctx context.Context, fs []*media.File) error {
	type state struct {
		org, trashed, purge, reason, at, by string
		hold, reasoned                      bool
	}
	stamp := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	var order []state
	groups := map[state][]*media.File{}
	for _, f := range fs {
		k := state{org: string(f.OrgID), trashed: stamp(f.TrashedAt), purge: stamp(f.PurgeAt), at: stamp(&f.UpdatedAt),
			hold: f.LegalHold, reasoned: f.LegalHoldReason != nil}
		if f.LegalHoldReason != nil {
			k.reason = *f.LegalHoldReason
		}
		if f.UpdatedBy != nil {
			k.by = string(*f.UpdatedBy)
		}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], f)
	}
	return d.atomic(ctx, func(d *DB) error {
		for _, k := range order {
			g := groups[k]
			ids := make([]media.ID, len(g))
			for i, f := range g {
				ids[i] = f.ID
			}
			ids = dedupeIDs(ids)
			res, err := d.idb.NewUpdate().Model(newFileRow(g[0])).
				Column("trashed_at", "purge_at", "legal_hold", "legal_hold_reason", "updated_at", "updated_by").
				Where("f.id IN (?)", bun.In(ids)).Where("f.org_id = ?", g[0].OrgID).Exec(ctx)
			if err != nil {
				return wrap(err, "file")
			}
			if n, err := res.RowsAffected(); err != nil || n != int64(len(ids)) {
				return cmp.Or(wrap(err, "file"), error(media.Errorf(media.ENOTFOUND, "file not found")))
			}
		}
		return nil
	})
}

// PurgeableFiles returns up to limit trashed files of every organization
// whose purge time has come and that are not under legal hold, ordered by
// purge time and id, after the position after if it is set.
func (d *DB) PurgeableFiles(ctx context.Context, now time.Time, after *media.FileKey, limit int) ([]*media.File, error) {
	var rows []fileRow
	q := d.selectFiles(&rows).Where("f.trashed_at IS NOT NULL").Where("f.purge_at <= ?", now).
		Where("f.legal_hold = ?", false)
	if after != nil {
		q = q.Where("(f.purge_at, f.id) > (?, ?)", after.Time, after.ID)
	}
	err := q.OrderExpr("f.purge_at ASC, f.id ASC").Limit(int64(limit)).Scan(ctx)
	return filesOf(rows, err)
}

// BlobKeysExist reports which of keys some blob row, or an upload session
// that may still write to its key, uses.
func (d *DB) BlobKeysExist(ctx context.Context, keys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	var found []string
	if err := d.idb.NewSelect().Model((*blobRow)(nil)).Column("storage_key").
		Where("bl.storage_key IN (?)", bun.In(keys)).Scan(ctx, &found); err != nil {
		return nil, wrap(err, "blob")
	}
	var sessions []string
	if err := d.idb.NewSelect().Model((*sessionRow)(nil)).Column("storage_key").
		Where("us.storage_key IN (?)", bun.In(keys)).
		Where("us.state IN (?)", bun.In([]media.SessionState{media.SessionOpen, media.SessionCompleting})).
		Scan(ctx, &sessions); err != nil {
		return nil, wrap(err, "upload session")
	}
	for _, k := range append(found, sessions...) {
		out[k] = true
	}
	return out, nil
}

// ReadyBlobs returns up to limit READY blobs of every organization with ids
// after after, in id order (for the reconciler's walk).
func (d *DB) ReadyBlobs(ctx context.Context, after media.ID, limit int) ([]*media.Blob, error) {
	var rows []blobRow
	err := d.idb.NewSelect().Model(&rows).Where("bl.state = ?", media.BlobReady).Where("bl.id > ?", after).
		OrderExpr("bl.id ASC").Limit(int64(limit)).Scan(ctx)
	return blobsOf(rows, err)
}

// ClaimUnreferencedBlobs locks blobs' rows and marks those that no file
// or revision uses PENDING (to be deleted), and returns them; three
// queries whatever the number of ids. The rows are locked in content
// order, as uploads that dedupe against a blob lock it
// (ReadyBlobBySha256), so a blob is never both reused and deleted and the
// two never wait for each other.
func (d *DB) ClaimUnreferencedBlobs(ctx context.Context, ids []media.ID) ([]*media.Blob, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []*media.Blob
	err := d.atomic(ctx, func(d *DB) error {
		out = nil
		var rows []blobRow
		q := d.idb.NewSelect().Model(&rows).Where("bl.id IN (?)", bun.In(ids)).OrderExpr("bl.sha256, bl.size, bl.id")
		if d.dialect == Postgres {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return wrap(err, "blob")
		}
		var used []media.ID
		if err := d.idb.NewRaw("SELECT blob_id FROM file_revisions WHERE blob_id IN (?) UNION SELECT blob_id FROM files WHERE blob_id IN (?)",
			bun.In(ids), bun.In(ids)).Scan(ctx, &used); err != nil {
			return wrap(err, "blob")
		}
		var claim []media.ID
		for i := range rows {
			if slices.Contains(used, rows[i].ID) {
				continue
			}
			b := rows[i].media()
			b.State = media.BlobPending
			out, claim = append(out, b), append(claim, b.ID)
		}
		if len(claim) == 0 {
			return nil
		}
		_, err := d.idb.NewUpdate().Model((*blobRow)(nil)).Set("state = ?", media.BlobPending).
			Where("bl.id IN (?)", bun.In(claim)).Exec(ctx)
		return wrap(err, "blob")
	})
	return out, err
}

// FileByName returns the file that is not trashed with that name in a
// folder of a bucket. Returns NOT_FOUND.
func (d *DB) FileByName(ctx context.Context, orgID, bucketID media.ID, path, name string) (*media.File, error) {
	var r fileRow
	err := d.selectFiles(&r).Where("f.org_id = ?", orgID).Where("f.bucket_id = ?", bucketID).
		Where("f.path = ?", path).Where("f.name = ?", name).Where("f.trashed_at IS NULL").Scan(ctx)
	if err != nil {
		return nil, wrap(err, "file")
	}
	return r.media(), nil
}

// sqliteLocks serialises TryLock holders within the process: an SQLite
// database has a single server process.
var sqliteLocks sync.Map

// TryLock takes the named lock if no one holds it: a PostgreSQL advisory
// lock on a dedicated connection (so one replica at a time runs the
// sweeper), or an in-process lock on SQLite. ok is false if it is held.
func (d *DB) TryLock(ctx context.Context, name string) (release func(), ok bool, err error) {
	if d.dialect != Postgres {
		mu, _ := sqliteLocks.LoadOrStore(name, &sync.Mutex{})
		if !mu.(*sync.Mutex).TryLock() {
			return nil, false, nil
		}
		return mu.(*sync.Mutex).Unlock, true, nil
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, false, wrap(err, "lock")
	}
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(hashtext(?))", "mediagraph:"+name).Scan(&ok); err != nil || !ok {
		conn.Close()
		return nil, false, wrap(err, "lock")
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock(hashtext(?))", "mediagraph:"+name); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // drop the connection, and the lock with it
		}
		conn.Close()
	}, true, nil
}
