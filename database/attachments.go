package database

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

// fileTargetRow is a file row with the attachment target it was listed for.
type fileTargetRow struct {
	fileRow `bun:",extend"`

	AttTarget media.ID `bun:"att_target,scanonly"`
	AttRn     int      `bun:"att_rn,scanonly"`
}

// AttachmentPages returns, for each target, the first q.Limit files attached
// to it that match q's filter, in q's order — for a page of posts (or
// comments, or messages) in one query, with a window function.
func (d *DB) AttachmentPages(ctx context.Context, q media.FileQuery, targets []media.ID) (map[media.ID][]*media.File, error) {
	out := make(map[media.ID][]*media.File, len(targets))
	if len(targets) == 0 {
		return out, nil
	}
	col, ok := orderColumns[q.Order.Field]
	if !ok {
		return nil, fmt.Errorf("database: unknown file ordering %q", q.Order.Field)
	}
	dir := "DESC"
	if q.Order.Direction == media.Asc {
		dir = "ASC"
	}
	inner := d.filterFiles(d.selectFiles((*fileRow)(nil)).
		ColumnExpr("a.target_id AS att_target").
		ColumnExpr("row_number() OVER (PARTITION BY a.target_id ORDER BY "+col+" "+dir+", f.id "+dir+") AS att_rn").
		Join("JOIN attachments AS a ON a.file_id = f.id").
		Where("a.target_id IN (?)", bun.In(targets)), q)
	var rows []fileTargetRow
	err := d.idb.NewSelect().Model(&rows).ModelTableExpr("(?) AS f", inner).ColumnExpr("f.*").
		Where("f.att_rn <= ?", q.Limit).OrderExpr("f.att_target, f.att_rn").Scan(ctx)
	if err != nil {
		return nil, wrap(err, "file")
	}
	for i := range rows {
		out[rows[i].AttTarget] = append(out[rows[i].AttTarget], rows[i].fileRow.media())
	}
	return out, nil
}

// AttachmentCounts counts, for each target, the files attached to it that
// match q's filter, in one query.
func (d *DB) AttachmentCounts(ctx context.Context, q media.FileQuery, targets []media.ID) (map[media.ID]int, error) {
	out := make(map[media.ID]int, len(targets))
	if len(targets) == 0 {
		return out, nil
	}
	var rows []struct {
		Target media.ID `bun:"target"`
		N      int      `bun:"n"`
	}
	err := d.filterFiles(d.idb.NewSelect().Model((*fileRow)(nil)).
		ColumnExpr("a.target_id AS target, count(*) AS n").
		Join("JOIN attachments AS a ON a.file_id = f.id").
		Where("a.target_id IN (?)", bun.In(targets)), q).GroupExpr("a.target_id").Scan(ctx, &rows)
	if err != nil {
		return nil, wrap(err, "file")
	}
	for _, r := range rows {
		out[r.Target] = r.N
	}
	return out, nil
}
