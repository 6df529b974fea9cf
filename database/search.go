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

// searchWindow is how many rows, in the listing's order, a search on
// PostgreSQL reads before it asks the search index instead (searchPage;
// a variable for tests).
var searchWindow = 5000

// searchPage reads up to limit files (<= 0: all) of q (whose filter has no
// search) that are of class c of search, in order o, skipping offset.
//
// On PostgreSQL it goes in two steps, because the planner cannot tell how
// common a word is in the rows at hand: for a word it has no statistics
// for — any prefix, a word common elsewhere but rare here — it guesses
// 0.5 % and walks the order's index, filtering, which for a word found in
// no file reads every one. So it first reads the next searchWindow rows in
// the order and keeps those that match (searchWindowRows; or it is given
// them, in seen, when another class read the same window): a common word
// fills the page there. If they do not fill it, the rest comes from the
// matches the search index gives, each file at most once (a MATERIALIZED
// CTE, which the planner cannot turn back into a walk), sorted: few by
// then, as the window held fewer than limit of them. An offset goes
// straight to the index. SQLite's FTS5 query is always driven by the index.
func (d *DB) searchPage(ctx context.Context, q media.FileQuery, search string, c searchClass, o fileOrder, offset, limit int,
	seen *[]fileRow) ([]fileRow, error) {
	var out []fileRow
	if d.dialect == Postgres && offset == 0 && limit > 0 {
		if seen != nil {
			out = *seen
		} else {
			byClass, err := d.searchWindowRows(ctx, q, search, []searchClass{c}, o, limit)
			if err != nil {
				return nil, err
			}
			out = byClass[c]
		}
		if len(out) >= limit {
			return out[:limit], nil
		}
		if len(out) > 0 {
			o = o.past(&out[len(out)-1])
		}
		limit -= len(out)
	}
	var rows []fileRow
	var sq *bun.SelectQuery
	if d.dialect == Postgres {
		matches := o.keyset(d.whereSearch(d.filterFiles(d.idb.NewSelect().Model((*fileRow)(nil)).
			ColumnExpr("f.id").ColumnExpr(o.col+" AS k"), q), search, c))
		top := d.idb.NewSelect().TableExpr("m").Column("id").OrderExpr("k " + o.dir + ", id " + o.dir)
		top = paged(top, offset, limit)
		sq = o.by(d.selectFiles(&rows).WithQuery(bun.NewWithQuery("m", matches).Materialized()).
			Join("JOIN (?) AS top ON top.id = f.id", top))
	} else {
		sq = paged(o.by(o.keyset(d.whereSearch(d.filterFiles(d.selectFiles(&rows), q), search, c))), offset, limit)
	}
	if err := sq.Scan(ctx); err != nil {
		return nil, wrap(err, "file")
	}
	return append(out, rows...), nil
}

// searchWindowRows reads the next searchWindow rows of q in order o
// (PostgreSQL) and returns, for each of classes, the first limit of them
// that are of that class, in order: one read of the window however many
// classes it serves.
func (d *DB) searchWindowRows(ctx context.Context, q media.FileQuery, search string, classes []searchClass, o fileOrder, limit int) (map[searchClass][]fileRow, error) {
	window := o.by(o.keyset(d.filterFiles(d.idb.NewSelect().Model((*fileRow)(nil)).ColumnExpr("f.*"), q))).Limit(int64(searchWindow))
	out := map[searchClass][]fileRow{}
	var rows []fileRow
	if len(classes) == 1 {
		sq := o.by(d.whereSearch(d.selectFiles(&rows).ModelTableExpr("(?) AS f", window), search, classes[0])).Limit(int64(limit))
		if err := sq.Scan(ctx); err != nil {
			return nil, wrap(err, "file")
		}
		out[classes[0]] = rows
		return out, nil
	}
	// Every match of the window with its class (name or other), the first
	// limit of each class.
	tsq := tsquery(search)
	ranked := d.whereSearch(d.idb.NewSelect().TableExpr("(?) AS f", window).ColumnExpr("f.*").
		ColumnExpr("CASE WHEN f.search_name @@ to_tsquery('simple', ?) THEN ? ELSE ? END AS search_rank", tsq, media.RelevanceName, media.RelevanceOther).
		ColumnExpr("row_number() OVER (PARTITION BY f.search_name @@ to_tsquery('simple', ?) ORDER BY "+o.col+" "+o.dir+", f.id "+o.dir+") AS search_rn", tsq),
		search, searchAll)
	sq := o.by(d.selectFiles(&rows).ModelTableExpr("(?) AS f", ranked).ColumnExpr("f.search_rank").Where("f.search_rn <= ?", limit))
	if err := sq.Scan(ctx); err != nil {
		return nil, wrap(err, "file")
	}
	for _, r := range rows {
		c := searchOther
		if r.Relevance == media.RelevanceName {
			c = searchName
		}
		out[c] = append(out[c], r)
	}
	return out, nil
}

func paged(sq *bun.SelectQuery, offset, limit int) *bun.SelectQuery {
	if offset > 0 {
		sq = sq.Offset(int64(offset))
	}
	if limit > 0 {
		sq = sq.Limit(int64(limit))
	}
	return sq
}

// listRelevant reads a page of a search in relevance order: the files with
// every word in their name, then the others, each newest first (created_at,
// then id; all reversed for ASC or q.Reverse). Each class is read on its
// own, along the creation-time order (see searchPage) — rather than ranking
// every match, which for a word in a tenth of a million files reads a
// hundred thousand rows. The second class is read only if the first does
// not fill the page; with an offset that reaches past the first class, a
// count of it says where the second starts.
func (d *DB) listRelevant(ctx context.Context, q media.FileQuery) ([]*media.File, error) {
	desc := (q.Order.Direction != media.Asc) != q.Reverse
	classes := []searchClass{searchName, searchOther}
	if !desc {
		classes = []searchClass{searchOther, searchName}
	}
	search := *q.Filter.Search
	base := q
	base.Filter.Search = nil // each class adds its own condition
	out := []*media.File{}
	offset := q.Offset
	// A first page starts both classes at the top of the order: one read
	// of the window serves both (see searchPage).
	var window map[searchClass][]fileRow
	if d.dialect == Postgres && q.After == nil && offset == 0 && q.Limit > 0 {
		var err error
		if window, err = d.searchWindowRows(ctx, base, search, classes, newFileOrder(media.OrderCreatedAt, "f.created_at", desc, nil), q.Limit); err != nil {
			return nil, err
		}
	}
	for _, c := range classes {
		rel := relevanceOf(c)
		o := newFileOrder(media.OrderCreatedAt, "f.created_at", desc, nil)
		if k := q.After; k != nil {
			if (desc && rel > k.Relevance) || (!desc && rel < k.Relevance) {
				continue // wholly before the cursor
			}
			if rel == k.Relevance {
				o.after = k
			}
		}
		limit := 0
		if q.Limit > 0 {
			limit = q.Limit - len(out)
		}
		var seen *[]fileRow
		if window != nil {
			w := window[c]
			seen = &w
		}
		rows, err := d.searchPage(ctx, base, search, c, o, offset, limit, seen)
		if err != nil {
			return nil, err
		}
		if offset > 0 && len(rows) == 0 {
			// The offset reaches past this class, which holds at most
			// offset files: skip as many in the next one. (No LIMIT: with
			// one the planner would walk, see searchPage.)
			n, err := o.keyset(d.whereSearch(d.filterFiles(d.idb.NewSelect().Model((*fileRow)(nil)), base), search, c)).Count(ctx)
			if err != nil {
				return nil, wrap(err, "file")
			}
			offset -= int(n)
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
