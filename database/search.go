package database

import (
	"context"
	"strings"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

// Search (media.FileFilter.Search) looks words up in indexes the database
// keeps in step with every write (see migrations/*/0008_search.sql):
//
//   - PostgreSQL: two generated tsvector columns, search_name (the name's
//     words) and search_other (tags, alt text, caption, folder path), with
//     a GIN index on search_name and one on their concatenation; queries
//     are to_tsquery('simple', …) of the quoted words, the last one a
//     prefix ('invoice' & '2025':*);
//   - SQLite: the FTS5 table file_search, keyed by files.search_key;
//     queries are FTS5 expressions of the quoted words, the last one a
//     prefix ("invoice" AND "2025"*), narrowed to the name column with
//     {name} : (…).
//
// The words come from media.SearchWords: letters, digits and marks only,
// so they hold no quote or operator of either query language; they are
// quoted (and any quote doubled) all the same.

// searchClass is one relevance class of a search: the files it holds.
type searchClass int

const (
	searchAll   searchClass = iota // every match
	searchName                     // every word in the name (media.RelevanceName)
	searchOther                    // the other matches (media.RelevanceOther)
)

// tsquery is the PostgreSQL query text of a normalized search.
func tsquery(search string) string {
	words := strings.Fields(search)
	for i, w := range words {
		words[i] = "'" + strings.NewReplacer(`'`, `''`, `\`, `\\`).Replace(w) + "'"
	}
	words[len(words)-1] += ":*"
	return strings.Join(words, " & ")
}

// ftsQuery is the FTS5 query of a normalized search.
func ftsQuery(search string) string {
	words := strings.Fields(search)
	for i, w := range words {
		words[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	words[len(words)-1] += "*"
	return strings.Join(words, " AND ")
}

// whereSearch keeps the files of class c that match search.
func (d *DB) whereSearch(sq *bun.SelectQuery, search string, c searchClass) *bun.SelectQuery {
	if d.dialect == Postgres {
		q := tsquery(search)
		switch c {
		case searchName:
			return sq.Where("f.search_name @@ to_tsquery('simple', ?)", q)
		case searchOther:
			sq = sq.Where("NOT f.search_name @@ to_tsquery('simple', ?)", q)
		}
		return sq.Where("(f.search_name || f.search_other) @@ to_tsquery('simple', ?)", q)
	}
	q := ftsQuery(search)
	switch c {
	case searchName:
		q = "{name} : (" + q + ")"
	case searchOther:
		q = "(" + q + ") NOT {name} : (" + q + ")"
	}
	return sq.Where("f.search_key IN (SELECT rowid FROM file_search WHERE file_search MATCH ?)", q)
}

// listRelevant reads a page of a search in relevance order: the files with
// every word in their name, then the others, each newest first (created_at,
// then id; all reversed for ASC or q.Reverse). Each class is its own query,
// ordered along the creation-time indexes, so a common word costs a short
// walk of them and a rare one a look-up in the search index — rather than
// ranking every match, which for a word in a tenth of a million files
// reads a hundred thousand rows. The second query runs only if the first
// class does not fill the page; with an offset that reaches past the first
// class, a count of it (bounded by the offset) says where the second starts.
func (d *DB) listRelevant(ctx context.Context, q media.FileQuery) ([]*media.File, error) {
	desc := q.Order.Direction != media.Asc
	if q.Reverse {
		desc = !desc
	}
	classes := []searchClass{searchName, searchOther}
	dir, cmp := "DESC", "<"
	if !desc {
		classes = []searchClass{searchOther, searchName}
		dir, cmp = "ASC", ">"
	}
	search := *q.Filter.Search
	base := q
	base.Filter.Search = nil // each class adds its own condition
	out := []*media.File{}
	offset := q.Offset
	for _, c := range classes {
		rel := relevanceOf(c)
		var after *media.FileKey
		if k := q.After; k != nil {
			if (desc && rel > k.Relevance) || (!desc && rel < k.Relevance) {
				continue // wholly before the cursor
			}
			if rel == k.Relevance {
				after = k
			}
		}
		var rows []fileRow
		sq := d.whereSearch(d.filterFiles(d.selectFiles(&rows), base), search, c)
		if after != nil {
			sq = sq.Where("(f.created_at, f.id) "+cmp+" (?, ?)", after.Time, after.ID)
		}
		sq = sq.OrderExpr("f.created_at " + dir + ", f.id " + dir)
		if offset > 0 {
			sq = sq.Offset(int64(offset))
		}
		if q.Limit > 0 {
			sq = sq.Limit(int64(q.Limit - len(out)))
		}
		if err := sq.Scan(ctx); err != nil {
			return nil, wrap(err, "file")
		}
		if offset > 0 && len(rows) == 0 {
			// The offset reaches past this class: skip as many rows as
			// it holds (at most offset) in the next one.
			var n int
			inner := d.whereSearch(d.filterFiles(d.idb.NewSelect().Model((*fileRow)(nil)).ColumnExpr("1"), base), search, c).
				Limit(int64(offset))
			if err := d.idb.NewSelect().TableExpr("(?) AS s", inner).ColumnExpr("count(*)").Scan(ctx, &n); err != nil {
				return nil, wrap(err, "file")
			}
			offset -= n
		} else {
			offset = 0
		}
		for i := range rows {
			f := rows[i].media()
			f.Relevance = rel
			out = append(out, f)
		}
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
	}
	return out, nil
}

func relevanceOf(c searchClass) int {
	if c == searchName {
		return media.RelevanceName
	}
	return media.RelevanceOther
}

// FileByExternalID returns the file of a bucket with that external id,
// trashed or not. Returns NOT_FOUND.
func (d *DB) FileByExternalID(ctx context.Context, orgID, bucketID media.ID, externalID string) (*media.File, error) {
	var r fileRow
	err := d.selectFiles(&r).Where("f.org_id = ?", orgID).Where("f.external_id = ?", externalID).
		Where("f.bucket_id = ?", bucketID).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "file")
	}
	return r.media(), nil
}

// fileWriteError is wrap for a write of file f, with a clear CONFLICT when
// another file of the bucket holds its external id (the unique index
// decides writers that race past media's check).
func fileWriteError(err error, f *media.File) error {
	if err != nil && f.ExternalID != nil && isUniqueViolation(err) && strings.Contains(err.Error(), "external_id") {
		return media.ExternalIDTaken("", *f.ExternalID)
	}
	return wrap(err, "file")
}
