package database

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

// Folders are kept by the database itself (migrations 0007_folders): the
// triggers on files stage every change of a live file's folder or size,
// and PostgreSQL applies a transaction's staged changes at commit, in
// (bucket, path) order, after every other lock it took; SQLite applies
// them at once. This file reads folders and stages the explicit ones.

type folderRow struct {
	bun.BaseModel `bun:"table:folders,alias:fo"`

	OrgID     media.ID  `bun:"org_id"`
	BucketID  media.ID  `bun:"bucket_id,pk"`
	Path      string    `bun:"path,pk"`
	Parent    string    `bun:"parent"`
	FileCount int       `bun:"file_count"`
	Size      int64     `bun:"size"`
	Markers   int       `bun:"markers"`
	Explicit  int       `bun:"explicit"`
	CreatedAt time.Time `bun:"created_at"`
}

func (r *folderRow) media() *media.Folder {
	at := r.CreatedAt.UTC()
	return &media.Folder{BucketID: r.BucketID, Path: r.Path, FileCount: r.FileCount, Size: r.Size, Explicit: r.Explicit > 0,
		CreatedAt: &at}
}

func foldersOf(rows []folderRow, err error) ([]*media.Folder, error) {
	if err != nil {
		return nil, wrap(err, "folder")
	}
	out := make([]*media.Folder, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}

// ChildFolders returns up to limit folders directly below parent in a
// bucket of orgID, in path order, after the path after ("": from the
// first). One index range (folders_children_idx).
func (d *DB) ChildFolders(ctx context.Context, orgID, bucketID media.ID, parent, after string, limit int) ([]*media.Folder, error) {
	var rows []folderRow
	q := d.idb.NewSelect().Model(&rows).Where("fo.bucket_id = ?", bucketID).Where("fo.org_id = ?", orgID).
		Where("fo.parent = ?", parent)
	if after != "" {
		q = q.Where("fo.path > ?", after)
	}
	return foldersOf(rows, q.OrderExpr("fo.path ASC").Limit(int64(limit)).Scan(ctx))
}

// CountChildFolders counts the folders directly below parent.
func (d *DB) CountChildFolders(ctx context.Context, orgID, bucketID media.ID, parent string) (int, error) {
	n, err := d.idb.NewSelect().Model((*folderRow)(nil)).Where("fo.bucket_id = ?", bucketID).Where("fo.org_id = ?", orgID).
		Where("fo.parent = ?", parent).Count(ctx)
	return int(n), wrap(err, "folder")
}

// Folder returns a folder of a bucket of orgID. Returns NOT_FOUND.
func (d *DB) Folder(ctx context.Context, orgID, bucketID media.ID, path string) (*media.Folder, error) {
	var r folderRow
	err := d.idb.NewSelect().Model(&r).Where("fo.bucket_id = ?", bucketID).Where("fo.org_id = ?", orgID).
		Where("fo.path = ?", path).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "folder")
	}
	return r.media(), nil
}

// visibleChildren is the query behind VisibleChildFolders: one row per
// child of q.Filter.PathPrefix with the live files matching q below it that
// q.Audience sees (path, file_count, size), and the children with explicit
// folders at or below them (counting nothing). For a RESTRICTED bucket,
// where uploading a file or seeing what it is attached to are the only
// ways to see it: the files come from those two ways (see filterFiles),
// each an index-driven query (the caller's uploads by
// files_bucket_creator_path_idx, its attachments by file id), so the cost
// follows what the caller can see, not what the folder holds.
func (d *DB) visibleChildren(q media.FileQuery) *bun.SelectQuery {
	parent := *q.Filter.PathPrefix
	n := utf8.RuneCountInString(parent)
	find := "strpos"
	if d.dialect == SQLite {
		find = "instr"
	}
	a := q.Audience
	q.Audience, q.Filter.Trashed = nil, media.TrashExclude
	seen := func(cond string, args []any) *bun.SelectQuery {
		return d.filterFiles(d.idb.NewSelect().Model((*fileRow)(nil)), q).Column("f.id", "f.path", "f.size").
			Where("f.path <> ?", parent).Where(cond, args...)
	}
	up, upArgs := seenAsUploader(a)
	att, attArgs := seenThroughAttachment(a)
	// The child a file is under: the parent and the rest of its path up
	// to the next "/" (files directly in the parent are in no child).
	files := d.idb.NewSelect().TableExpr("(?) AS v", seen(up, upArgs).Union(seen(att, attArgs))).
		ColumnExpr("substr(v.path, 1, ? + "+find+"(substr(v.path, ?), '/')) AS path", n, n+1).
		ColumnExpr("1 AS n").ColumnExpr("v.size AS b")
	marked := d.idb.NewSelect().Model((*folderRow)(nil)).ColumnExpr("fo.path").ColumnExpr("0").ColumnExpr("0").
		Where("fo.bucket_id = ?", *q.BucketID).Where("fo.org_id = ?", q.OrgID).Where("fo.parent = ?", parent).
		Where("fo.markers > 0")
	return d.idb.NewSelect().TableExpr("(?) AS c", files.UnionAll(marked)).
		ColumnExpr("c.path").ColumnExpr("sum(c.n) AS file_count").ColumnExpr("sum(c.b) AS size").
		GroupExpr("c.path")
}

// VisibleChildFolders returns the folders directly below
// q.Filter.PathPrefix in bucket q.BucketID as q.Audience sees them: those
// holding a live file it may see (and those files only in their counts)
// or an explicit folder, in path order, after the path after, at most
// limit. It reads the audience's files below the parent, not the counters.
func (d *DB) VisibleChildFolders(ctx context.Context, q media.FileQuery, after string, limit int) ([]*media.Folder, error) {
	page := d.visibleChildren(q)
	if after != "" {
		page = page.Where("c.path > ?", after)
	}
	page = page.OrderExpr("c.path ASC").Limit(int64(limit))
	var rows []folderRow
	// Every child has a row (it holds a live file, or an explicit folder):
	// one primary-key lookup for each of the page's folders.
	row := func(col string) string {
		return "(SELECT x." + col + " FROM folders AS x WHERE x.bucket_id = ? AND x.path = g.path) AS " + col
	}
	err := d.idb.NewSelect().Model(&rows).ModelTableExpr("(?) AS g", page).
		ColumnExpr("g.path, g.file_count, g.size").
		ColumnExpr(row("explicit"), *q.BucketID).ColumnExpr(row("created_at"), *q.BucketID).
		OrderExpr("g.path ASC").Scan(ctx)
	for i := range rows {
		rows[i].BucketID = *q.BucketID
	}
	return foldersOf(rows, err)
}

// CountVisibleChildFolders counts what VisibleChildFolders lists.
func (d *DB) CountVisibleChildFolders(ctx context.Context, q media.FileQuery) (int, error) {
	n, err := d.idb.NewSelect().TableExpr("(?) AS g", d.visibleChildren(q)).Count(ctx)
	return int(n), wrap(err, "folder")
}

// FileTotals counts the files matching q (paging ignored) and sums their
// sizes.
func (d *DB) FileTotals(ctx context.Context, q media.FileQuery) (int, int64, error) {
	var t struct {
		N    int64 `bun:"n"`
		Size int64 `bun:"size"`
	}
	err := d.filterFiles(d.idb.NewSelect().Model((*fileRow)(nil)), q).
		ColumnExpr("count(*) AS n").ColumnExpr("CAST(coalesce(sum(f.size), 0) AS bigint) AS size").Scan(ctx, &t)
	return int(t.N), t.Size, wrap(err, "file")
}

// ExplicitFolders returns the paths of the explicit folders at or below
// path in a bucket of orgID, in path order.
func (d *DB) ExplicitFolders(ctx context.Context, orgID, bucketID media.ID, path string) ([]string, error) {
	paths := []string{}
	q := d.idb.NewSelect().Model((*folderRow)(nil)).Column("path").Where("fo.bucket_id = ?", bucketID).
		Where("fo.org_id = ?", orgID).Where("fo.explicit > 0")
	if path != "/" {
		q = q.Where("fo.path >= ?", path).Where("fo.path < ?", path[:len(path)-1]+"0")
	}
	err := q.OrderExpr("fo.path ASC").Scan(ctx, &paths)
	return paths, wrap(err, "folder")
}

// MarkFolders makes folders of a bucket explicit (delta 1) or not (-1),
// through the same staging as file changes: the folder and its ancestors
// count it when the transaction commits (PostgreSQL) or at once (SQLite).
// The caller holds the bucket's lock and knows each folder's state.
func (d *DB) MarkFolders(ctx context.Context, orgID, bucketID media.ID, paths []string, delta int) error {
	if len(paths) == 0 {
		return nil
	}
	type change struct {
		bun.BaseModel `bun:"table:folder_changes"`
		OrgID         media.ID `bun:"org_id"`
		BucketID      media.ID `bun:"bucket_id"`
		Path          string   `bun:"path"`
		Markers       int      `bun:"markers"`
	}
	rows := make([]change, len(paths))
	for i, p := range paths {
		rows[i] = change{OrgID: orgID, BucketID: bucketID, Path: p, Markers: delta}
	}
	_, err := d.idb.NewInsert().Model(&rows).Returning("").Exec(ctx)
	return wrap(err, "folder")
}

// LockMatchingFiles returns the files of q.OrgID matching q's bucket, filter, ids
// and audience, in id order, at most q.Limit (<= 0: all), with their
// tags, and on PostgreSQL locks them until the transaction ends (media's
// lock order: files by id). q.Order and paging are ignored.
func (d *DB) LockMatchingFiles(ctx context.Context, q media.FileQuery) ([]*media.File, error) {
	var rows []fileRow
	sq := d.filterFiles(d.selectFiles(&rows), q).OrderExpr("f.id ASC")
	if q.Limit > 0 {
		sq = sq.Limit(int64(q.Limit))
	}
	if d.dialect == Postgres {
		sq = sq.For("UPDATE OF f")
	}
	return filesOf(rows, sq.Scan(ctx))
}

// RelocateFiles moves files of orgID from below the folder from to the same
// place below to, in bucket bucketID, and writes their updated_at/by.
// Returns CONFLICT if a name is taken there.
func (d *DB) RelocateFiles(ctx context.Context, orgID media.ID, ids []media.ID, bucketID media.ID, from, to string,
	at time.Time, by media.ID) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := d.idb.NewUpdate().Model((*fileRow)(nil)).
		Set("bucket_id = ?", bucketID).
		Set("path = ? || substr(f.path, ?)", to, utf8.RuneCountInString(from)+1).
		Set("updated_at = ?", at).Set("updated_by = ?", by).
		Where("f.org_id = ?", orgID).Where("f.id IN (?)", bun.In(ids)).Exec(ctx)
	return wrap(err, "file")
}

// TrashFiles puts files of orgID in the trash: trashed_at, purge_at and
// updated_at/by.
func (d *DB) TrashFiles(ctx context.Context, orgID media.ID, ids []media.ID, at, purge time.Time, by media.ID) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := d.idb.NewUpdate().Model((*fileRow)(nil)).
		Set("trashed_at = ?", at).Set("purge_at = ?", purge).Set("updated_at = ?", at).Set("updated_by = ?", by).
		Where("f.org_id = ?", orgID).Where("f.id IN (?)", bun.In(ids)).Exec(ctx)
	return wrap(err, "file")
}
