package database

import (
	"context"

	"github.com/mediagraph/mediagraph/media"
)

// TagCounts counts the tags of the files matching q's organization, bucket
// and filter (ordering and paging are ignored): most used first, then by
// name; only tags starting with prefix when it is not empty; at most limit.
func (d *DB) TagCounts(ctx context.Context, q media.FileQuery, prefix string, limit int) ([]*media.TagCount, error) {
	files := d.filterFiles(d.idb.NewSelect().Model((*fileRow)(nil)).Column("f.id"), q)
	var rows []struct {
		Name  string `bun:"name"`
		Count int    `bun:"count"`
	}
	sq := d.idb.NewSelect().TableExpr("file_tags AS t").
		ColumnExpr("t.tag AS name, count(*) AS count").
		Where("t.org_id = ?", q.OrgID).
		Where("t.file_id IN (?)", files).
		GroupExpr("t.tag").
		OrderExpr("count(*) DESC, t.tag ASC")
	if prefix != "" {
		sq = sq.Where("t.tag >= ?", prefix).Where("t.tag < ?", prefix+"\U0010FFFF")
	}
	if limit > 0 {
		sq = sq.Limit(int64(limit))
	}
	if err := sq.Scan(ctx, &rows); err != nil {
		return nil, wrap(err, "tag")
	}
	out := make([]*media.TagCount, len(rows))
	for i, r := range rows {
		out[i] = &media.TagCount{Name: r.Name, Count: r.Count}
	}
	return out, nil
}
