package database

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

// CreateFile inserts a file, its first revision (if r is not nil) and its
// tags, atomically. Returns CONFLICT if a file that is not trashed already
// has the name in that folder (also when two uploads race).
func (d *DB) CreateFile(ctx context.Context, f *media.File, r *media.Revision) error {
	return d.atomic(ctx, func(d *DB) error {
		if _, err := d.idb.NewInsert().Model(newFileRow(f)).Returning("").Exec(ctx); err != nil {
			return fileWriteError(err, f)
		}
		if r != nil {
			if _, err := d.idb.NewInsert().Model(newRevisionRow(r)).Returning("").Exec(ctx); err != nil {
				return wrap(err, "file revision")
			}
		}
		if len(f.Tags) == 0 {
			return nil
		}
		tags := make([]tagRow, 0, len(f.Tags))
		for _, t := range f.Tags {
			if !slices.ContainsFunc(tags, func(r tagRow) bool { return r.Tag == t }) {
				tags = append(tags, tagRow{OrgID: f.OrgID, FileID: f.ID, Tag: t})
			}
		}
		_, err := d.idb.NewInsert().Model(&tags).Returning("").Exec(ctx)
		return wrap(err, "file tag")
	})
}

// selectFiles selects files with their tags: each row brings them in a
// subquery, so a page of files costs one query, not two. The columns are
// fileRow's, by name: files also holds columns only the database reads
// (the search vectors on PostgreSQL, search_key on SQLite).
func (d *DB) selectFiles(model any) *bun.SelectQuery {
	tagList := "(SELECT coalesce(string_agg(t.tag, ',' ORDER BY t.tag), '') FROM file_tags AS t WHERE t.file_id = f.id)"
	if d.dialect == SQLite {
		tagList = "(SELECT coalesce(group_concat(tag, ','), '') FROM (SELECT t.tag FROM file_tags AS t WHERE t.file_id = f.id ORDER BY t.tag))"
	}
	return d.idb.NewSelect().Model(model).ColumnExpr("?TableColumns").ColumnExpr(tagList + " AS tag_list")
}

// File returns a file of orgID by id, trashed or not, with its tags.
// Returns NOT_FOUND.
func (d *DB) File(ctx context.Context, orgID, id media.ID) (*media.File, error) {
	var r fileRow
	if err := d.selectFiles(&r).Where("f.id = ?", id).Where("f.org_id = ?", orgID).Scan(ctx); err != nil {
		return nil, wrap(err, "file")
	}
	return r.media(), nil
}

// FilesByIDs returns the files of orgID among ids, in any order, without
// their tags.
func (d *DB) FilesByIDs(ctx context.Context, orgID media.ID, ids []media.ID) ([]*media.File, error) {
	if len(ids) == 0 {
		return []*media.File{}, nil
	}
	var rows []fileRow
	err := d.selectFiles(&rows).Where("f.org_id = ?", orgID).Where("f.id IN (?)", bun.In(ids)).Scan(ctx)
	return filesOf(rows, err)
}

func filesOf(rows []fileRow, err error) ([]*media.File, error) {
	if err != nil {
		return nil, wrap(err, "file")
	}
	out := make([]*media.File, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}

// ListFiles returns one page of the files of q.OrgID matching q.Filter (see
// filterFiles), ordered by q.Order's column and then by id, both in the
// direction of q.Order (flipped if q.Reverse), strictly after q.After in that
// order, skipping q.Offset rows and returning at most q.Limit (<= 0: no
// limit). RELEVANCE (a search) is relevance class, creation time and id
// (see listRelevant). Tags are loaded.
func (d *DB) ListFiles(ctx context.Context, q media.FileQuery) ([]*media.File, error) {
	if q.Order.Field == media.OrderRelevance {
		if q.Filter.Search == nil {
			return nil, fmt.Errorf("database: RELEVANCE without a search")
		}
		return d.listRelevant(ctx, q)
	}
	if q.Filter.Search != nil {
		o, err := orderOf(q)
		if err != nil {
			return nil, err
		}
		base := q
		base.Filter.Search = nil
		rows, err := d.searchPage(ctx, base, *q.Filter.Search, searchAll, o, q.Offset, q.Limit, nil)
		return filesOf(rows, err)
	}
	var rows []fileRow
	sq, err := d.listFilesQuery(q, &rows)
	if err != nil {
		return nil, err
	}
	return filesOf(rows, sq.Scan(ctx))
}

// CountFiles counts the files matching q's organization, bucket and filter;
// ordering and paging are ignored.
func (d *DB) CountFiles(ctx context.Context, q media.FileQuery) (int, error) {
	n, err := d.filterFiles(d.idb.NewSelect().Model((*fileRow)(nil)), q).Count(ctx)
	return int(n), wrap(err, "file")
}

// orderColumns maps each ordering to its column.
var orderColumns = map[media.FileOrderField]string{
	media.OrderCreatedAt: "f.created_at",
	media.OrderUpdatedAt: "f.updated_at",
	media.OrderName:      "f.name",
	media.OrderSize:      "f.size",
}

// fileOrder is a listing's order in SQL: a column, then the id, both in one
// direction, starting strictly after a position (if after is set).
type fileOrder struct {
	field         media.FileOrderField
	col, dir, cmp string
	after         *media.FileKey
}

// orderOf is q's order (its Order, flipped if q.Reverse, after q.After).
func orderOf(q media.FileQuery) (fileOrder, error) {
	field := q.Order.Field
	if field == "" {
		field = media.OrderCreatedAt
	}
	col, ok := orderColumns[field]
	if !ok {
		return fileOrder{}, fmt.Errorf("database: unknown file ordering %q", field)
	}
	if q.Order.Direction != "" && q.Order.Direction != media.Asc && q.Order.Direction != media.Desc {
		return fileOrder{}, fmt.Errorf("database: unknown order direction %q", q.Order.Direction)
	}
	return newFileOrder(field, col, (q.Order.Direction != media.Asc) != q.Reverse, q.After), nil
}

func newFileOrder(field media.FileOrderField, col string, desc bool, after *media.FileKey) fileOrder {
	if desc {
		return fileOrder{field, col, "DESC", "<", after}
	}
	return fileOrder{field, col, "ASC", ">", after}
}

// keyset keeps the rows after o.after.
func (o fileOrder) keyset(sq *bun.SelectQuery) *bun.SelectQuery {
	k := o.after
	if k == nil {
		return sq
	}
	var v any
	switch o.field {
	case media.OrderCreatedAt, media.OrderUpdatedAt:
		v = k.Time
	case media.OrderName:
		v = k.Name
	case media.OrderSize:
		v = k.Size
	}
	// A row-value comparison: both databases use it as an index bound.
	return sq.Where("("+o.col+", f.id) "+o.cmp+" (?, ?)", v, k.ID)
}

// by orders sq.
func (o fileOrder) by(sq *bun.SelectQuery) *bun.SelectQuery {
	return sq.OrderExpr(o.col + " " + o.dir + ", f.id " + o.dir)
}

// past is o starting after row r.
func (o fileOrder) past(r *fileRow) fileOrder {
	o.after = &media.FileKey{Name: r.Name, Size: r.Size, ID: r.ID, Time: r.CreatedAt}
	if o.field == media.OrderUpdatedAt {
		o.after.Time = r.UpdatedAt
	}
	return o
}

func (d *DB) listFilesQuery(q media.FileQuery, rows *[]fileRow) (*bun.SelectQuery, error) {
	o, err := orderOf(q)
	if err != nil {
		return nil, err
	}
	sq := o.by(o.keyset(d.filterFiles(d.selectFiles(rows), q)))
	if q.WithBucket {
		sq = sq.Relation("Bucket")
	}
	if q.Offset > 0 {
		sq = sq.Offset(int64(q.Offset))
	}
	if q.Limit > 0 {
		sq = sq.Limit(int64(q.Limit))
	}
	return sq, nil
}

// filterFiles adds q's conditions to sq, a query on files AS f:
//
//   - always f.org_id = q.OrgID, and the bucket if q.BucketID is set;
//   - Path: exactly that folder;
//   - PathPrefix: that folder and every folder below it. Paths are
//     normalized to end in "/", so this is the range prefix ≤ path <
//     prefix with its final "/" replaced by "0" (the next byte): the same
//     rows as path LIKE 'prefix%' with no metacharacter to escape, and an
//     index range on both databases (PostgreSQL compares paths in the "C"
//     collation; SQLite's LIKE is case-insensitive and would not use one);
//   - NameContains: a case-insensitive substring (Unicode lower-casing on
//     both databases), with LIKE metacharacters escaped;
//   - TagsAny: at least one of the tags; TagsAll: every one of them;
//   - Types, MimeTypes: one of those values;
//   - CreatedAfter/UpdatedAfter are inclusive (>=), CreatedBefore/
//     UpdatedBefore exclusive (<), so that adjacent ranges do not overlap;
//   - CreatedBy, Visibility, LegalHold: equal;
//   - Trashed: EXCLUDE ("") keeps files not in the trash, ONLY those in it,
//     INCLUDE both;
//   - Search: every word somewhere in the name, tags, texts or path (see
//     whereSearch); ExternalID: equal.
func (d *DB) filterFiles(sq *bun.SelectQuery, q media.FileQuery) *bun.SelectQuery {
	f := q.Filter
	sq = sq.Where("f.org_id = ?", q.OrgID)
	if len(q.IDs) > 0 {
		sq = sq.Where("f.id IN (?)", bun.In(q.IDs))
	}
	if a := q.Audience; a != nil {
		up, upArgs := seenAsUploader(a)
		att, attArgs := seenThroughAttachment(a)
		sq = sq.Where("(f.bucket_id IN (SELECT b.id FROM buckets AS b WHERE b.org_id = ? AND b.access = ?) OR "+up+" OR "+att+")",
			append(append([]any{q.OrgID, media.AccessOrganization}, upArgs...), attArgs...)...)
	}
	if f.AttachedTo != nil {
		sq = sq.Where("EXISTS (SELECT 1 FROM attachments AS a WHERE a.file_id = f.id AND a.target_id = ?)", *f.AttachedTo)
	}
	if q.BucketID != nil {
		sq = sq.Where("f.bucket_id = ?", *q.BucketID)
	}
	if f.Path != nil {
		sq = sq.Where("f.path = ?", *f.Path)
	}
	if f.PathPrefix != nil {
		p := *f.PathPrefix
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
		if p != "/" { // every path is below the root
			sq = sq.Where("f.path >= ?", p).Where("f.path < ?", p[:len(p)-1]+"0")
		}
	}
	if f.NameContains != nil && *f.NameContains != "" {
		pattern := "%" + escapeLike(*f.NameContains) + "%"
		if d.dialect == Postgres {
			// The column's "C" collation would lower-case ASCII only.
			sq = sq.Where(`lower(f.name COLLATE "default") LIKE lower(?) ESCAPE '\'`, pattern)
		} else {
			sq = sq.Where(sqliteLower+`(f.name) LIKE `+sqliteLower+`(?) ESCAPE '\'`, pattern)
		}
	}
	if len(f.TagsAny) > 0 {
		sq = sq.Where("f.id IN (SELECT t.file_id FROM file_tags AS t WHERE t.org_id = ? AND t.tag IN (?))",
			q.OrgID, bun.In(f.TagsAny))
	}
	if tags := dedupe(f.TagsAll); len(tags) > 0 {
		sq = sq.Where("f.id IN (SELECT t.file_id FROM file_tags AS t WHERE t.org_id = ? AND t.tag IN (?) "+
			"GROUP BY t.file_id HAVING count(*) = ?)", q.OrgID, bun.In(tags), len(tags))
	}
	if len(f.Types) > 0 {
		sq = sq.Where("f.type IN (?)", bun.In(f.Types))
	}
	if len(f.MimeTypes) > 0 {
		sq = sq.Where("f.mime_type IN (?)", bun.In(f.MimeTypes))
	}
	if f.CreatedAfter != nil {
		sq = sq.Where("f.created_at >= ?", *f.CreatedAfter)
	}
	if f.CreatedBefore != nil {
		sq = sq.Where("f.created_at < ?", *f.CreatedBefore)
	}
	if f.UpdatedAfter != nil {
		sq = sq.Where("f.updated_at >= ?", *f.UpdatedAfter)
	}
	if f.UpdatedBefore != nil {
		sq = sq.Where("f.updated_at < ?", *f.UpdatedBefore)
	}
	if f.CreatedBy != nil {
		sq = sq.Where("f.created_by = ?", *f.CreatedBy)
	}
	if f.Visibility != nil {
		sq = sq.Where("f.visibility = ?", *f.Visibility)
	}
	if f.LegalHold != nil {
		sq = sq.Where("f.legal_hold = ?", *f.LegalHold)
	}
	if f.ExternalID != nil {
		sq = sq.Where("f.external_id = ?", *f.ExternalID)
	}
	if f.Search != nil {
		sq = d.whereSearch(sq, *f.Search, searchAll)
	}
	switch f.Trashed {
	case media.TrashOnly:
		sq = sq.Where("f.trashed_at IS NOT NULL")
	case media.TrashInclude:
	default:
		sq = sq.Where("f.trashed_at IS NULL")
	}
	return sq
}

// seenAsUploader and seenThroughAttachment are the ways a user sees a file
// of a RESTRICTED bucket (CONTRACT rule 2), as conditions on files AS f
// with their arguments: being its uploader, and seeing a post (WORKSPACE,
// or their own) or a conversation (as a member) it is attached to.
func seenAsUploader(a *media.Audience) (string, []any) {
	return "f.created_by = ?", []any{a.UserID}
}

func seenThroughAttachment(a *media.Audience) (string, []any) {
	return `EXISTS (SELECT 1 FROM attachments AS a WHERE a.file_id = f.id AND (
		(a.post_id IS NOT NULL AND EXISTS (SELECT 1 FROM posts AS p WHERE p.id = a.post_id AND (p.visibility = ? OR p.author_id = ?)))
		OR (a.conversation_id IS NOT NULL AND EXISTS (SELECT 1 FROM conversation_members AS m
			WHERE m.conversation_id = a.conversation_id AND m.user_id = ?))))`,
		[]any{media.PostWorkspace, a.UserID, a.UserID}
}

// escapeLike escapes LIKE's metacharacters (and the escape character, "\").
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func dedupe(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// DeleteFiles deletes files of orgID with their revisions and tags (and,
// by cascade, their attachments), atomically, and returns the ids of the
// blobs they used (sorted, without duplicates). Returns NOT_FOUND, and
// deletes nothing, if one of them is not there.
func (d *DB) DeleteFiles(ctx context.Context, orgID media.ID, ids []media.ID) ([]media.ID, error) {
	ids = dedupeIDs(ids)
	var out []media.ID
	err := d.atomic(ctx, func(d *DB) error {
		var revBlobs, fileBlobs []media.ID
		// DELETE … RETURNING reports exactly the rows deleted, even if a
		// revision was added since the files were read.
		err := d.idb.NewRaw("DELETE FROM file_revisions WHERE org_id = ? AND file_id IN (?) RETURNING blob_id",
			orgID, bun.In(ids)).Scan(ctx, &revBlobs)
		if err != nil {
			return wrap(err, "file revision")
		}
		err = d.idb.NewRaw("DELETE FROM files WHERE org_id = ? AND id IN (?) RETURNING blob_id", orgID, bun.In(ids)).
			Scan(ctx, &fileBlobs)
		if err != nil {
			return wrap(err, "file")
		}
		if len(fileBlobs) != len(ids) {
			return media.Errorf(media.ENOTFOUND, "file not found")
		}
		out = sortedIDs(revBlobs, fileBlobs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func dedupeIDs(ids []media.ID) []media.ID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// FilesAt returns the live (not trashed) files of orgID at any of places,
// in one query.
func (d *DB) FilesAt(ctx context.Context, orgID media.ID, places []media.FilePlace) ([]*media.File, error) {
	if len(places) == 0 {
		return []*media.File{}, nil
	}
	var b strings.Builder
	args := make([]any, 0, 3*len(places))
	for i, pl := range places {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?)")
		args = append(args, pl.BucketID, pl.Path, pl.Name)
	}
	var rows []fileRow
	// A row-value IN list: both databases match it against the unique
	// index on live names.
	err := d.selectFiles(&rows).Where("f.org_id = ?", orgID).Where("f.trashed_at IS NULL").
		Where("(f.bucket_id, f.path, f.name) IN ("+b.String()+")", args...).Scan(ctx)
	return filesOf(rows, err)
}

// DeleteBucketFiles deletes every file of a bucket of orgID as DeleteFile
// does, and returns the ids of the blobs they used. If a file of the
// bucket is under legal hold it deletes nothing and returns CONFLICT. The
// bucket's files are locked first, in id order (PostgreSQL; SQLite
// serialises writers), so a hold set concurrently either comes first and
// is seen, or waits and then finds its file gone. The caller holds the
// bucket's lock (media's lock order: buckets, then files by id).
func (d *DB) DeleteBucketFiles(ctx context.Context, orgID, bucketID media.ID) ([]media.ID, error) {
	var ids []media.ID
	err := d.atomic(ctx, func(d *DB) error {
		if d.dialect == Postgres {
			if _, err := d.idb.NewRaw("SELECT id FROM files WHERE org_id = ? AND bucket_id = ? ORDER BY id FOR UPDATE", orgID, bucketID).
				Exec(ctx); err != nil {
				return wrap(err, "file")
			}
		}
		held, err := d.idb.NewSelect().Model((*fileRow)(nil)).Where("f.org_id = ?", orgID).
			Where("f.bucket_id = ?", bucketID).Where("f.legal_hold = ?", true).Count(ctx)
		if err != nil {
			return wrap(err, "file")
		}
		if held > 0 {
			return media.Errorf(media.ECONFLICT, "the bucket holds %d files under legal hold; release them first", held)
		}
		var revBlobs, fileBlobs []media.ID
		err = d.idb.NewRaw(`DELETE FROM file_revisions
WHERE org_id = ? AND file_id IN (SELECT id FROM files WHERE org_id = ? AND bucket_id = ?)
RETURNING blob_id`, orgID, orgID, bucketID).Scan(ctx, &revBlobs)
		if err != nil {
			return wrap(err, "file revision")
		}
		err = d.idb.NewRaw("DELETE FROM files WHERE org_id = ? AND bucket_id = ? RETURNING blob_id", orgID, bucketID).
			Scan(ctx, &fileBlobs)
		if err != nil {
			return wrap(err, "file")
		}
		ids = sortedIDs(revBlobs, fileBlobs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

func sortedIDs(lists ...[]media.ID) []media.ID {
	var out []media.ID
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TagsByFileIDs returns the tags of each file of orgID among ids, sorted.
// Files without tags (or not found) have no entry.
func (d *DB) TagsByFileIDs(ctx context.Context, orgID media.ID, ids []media.ID) (map[media.ID][]string, error) {
	out := map[media.ID][]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []tagRow
	err := d.idb.NewSelect().Model(&rows).Column("t.file_id", "t.tag").
		Where("t.org_id = ?", orgID).
		Where("t.file_id IN (?)", bun.In(ids)).
		Scan(ctx)
	if err != nil {
		return nil, wrap(err, "file tag")
	}
	for _, r := range rows {
		out[r.FileID] = append(out[r.FileID], r.Tag)
	}
	for _, tags := range out {
		slices.Sort(tags)
	}
	return out, nil
}

// UpdateFile writes a file's descriptive and placement fields (bucket, path,
// name, visibility, texts, metadata, external id, updated_at/by) and, if
// tags is not nil, replaces its tags (and tags_text, in the same UPDATE).
// Returns NOT_FOUND, or CONFLICT if the new name is taken in the target
// folder or the external id in the target bucket.
func (d *DB) UpdateFile(ctx context.Context, f *media.File, tags []string) error {
	return d.atomic(ctx, func(d *DB) error {
		row := newFileRow(f)
		cols := []string{"bucket_id", "path", "name", "visibility", "alt_text", "caption", "copyright", "metadata",
			"external_id", "updated_at", "updated_by"}
		if tags != nil {
			row.TagsText, cols = tagsText(tags), append(cols, "tags_text")
		}
		res, err := d.idb.NewUpdate().Model(row).Column(cols...).
			Where("f.id = ?", f.ID).Where("f.org_id = ?", f.OrgID).Exec(ctx)
		if err != nil {
			return fileWriteError(err, f)
		}
		if err := affectedOne(res, err, "file"); err != nil {
			return err
		}
		if tags == nil {
			return nil
		}
		if _, err := d.idb.NewDelete().Model((*tagRow)(nil)).Where("file_id = ?", f.ID).Where("org_id = ?", f.OrgID).Exec(ctx); err != nil {
			return wrap(err, "file tag")
		}
		if len(tags) == 0 {
			return nil
		}
		rows := make([]tagRow, 0, len(tags))
		for _, t := range dedupe(tags) {
			rows = append(rows, tagRow{OrgID: f.OrgID, FileID: f.ID, Tag: t})
		}
		_, err = d.idb.NewInsert().Model(&rows).Returning("").Exec(ctx)
		return wrap(err, "file tag")
	})
}

// UpdateFiles writes one change to files of orgID: the fields c sets,
// updated_at/by, the tags it removes and those it adds, and the tags'
// search text, in four statements whatever the number of files. Returns NOT_FOUND, and changes
// nothing, if one of them is not there.
func (d *DB) UpdateFiles(ctx context.Context, orgID media.ID, ids []media.ID, c media.FilesChange) error {
	ids = dedupeIDs(ids)
	return d.atomic(ctx, func(d *DB) error {
		q := d.idb.NewUpdate().Model((*fileRow)(nil)).Set("updated_at = ?", c.UpdatedAt).Set("updated_by = ?", c.UpdatedBy)
		if c.Visibility != nil {
			q = q.Set("visibility = ?", *c.Visibility)
		}
		for _, t := range []struct {
			col string
			v   **string
		}{{"alt_text", c.AltText}, {"caption", c.Caption}, {"copyright", c.Copyright}} {
			if t.v != nil {
				q = q.Set("? = ?", bun.Ident(t.col), *t.v)
			}
		}
		res, err := q.Where("f.org_id = ?", orgID).Where("f.id IN (?)", bun.In(ids)).Exec(ctx)
		if err != nil {
			return wrap(err, "file")
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(ids)) {
			return cmp.Or(wrap(err, "file"), error(media.Errorf(media.ENOTFOUND, "file not found")))
		}
		if len(c.RemoveTags) > 0 {
			if _, err := d.idb.NewDelete().Model((*tagRow)(nil)).Where("org_id = ?", orgID).Where("file_id IN (?)", bun.In(ids)).
				Where("tag IN (?)", bun.In(c.RemoveTags)).Exec(ctx); err != nil {
				return wrap(err, "file tag")
			}
		}
		var rows []tagRow
		for _, t := range dedupe(c.AddTags) {
			if slices.Contains(c.RemoveTags, t) {
				continue
			}
			for _, id := range ids {
				rows = append(rows, tagRow{OrgID: orgID, FileID: id, Tag: t})
			}
		}
		if len(rows) > 0 {
			if _, err := d.idb.NewInsert().Model(&rows).On("CONFLICT DO NOTHING").Returning("").Exec(ctx); err != nil {
				return wrap(err, "file tag")
			}
		}
		if len(c.RemoveTags) == 0 && len(rows) == 0 {
			return nil
		}
		// The search text of the tags, from the tags as they are now.
		agg := "(SELECT coalesce(string_agg(t.tag, ' ' ORDER BY t.tag), '') FROM file_tags AS t WHERE t.file_id = f.id)"
		if d.dialect == SQLite {
			agg = "(SELECT coalesce(group_concat(tag, ' '), '') FROM (SELECT t.tag FROM file_tags AS t WHERE t.file_id = f.id ORDER BY t.tag))"
		}
		_, err = d.idb.NewUpdate().Model((*fileRow)(nil)).Set("tags_text = "+agg).
			Where("f.org_id = ?", orgID).Where("f.id IN (?)", bun.In(ids)).Exec(ctx)
		return wrap(err, "file")
	})
}
