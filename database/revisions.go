package database

import (
	"context"

	"github.com/mediagraph/mediagraph/media"
)

// FileAnyOrg returns a file by id whatever its organization. Only the
// download route uses it, which then authorizes by visibility, a signature
// bound to the id, or the caller's organization.
func (d *DB) FileAnyOrg(ctx context.Context, id media.ID) (*media.File, error) {
	var r fileRow
	if err := d.selectFiles(&r).Where("f.id = ?", id).Scan(ctx); err != nil {
		return nil, wrap(err, "file")
	}
	return r.media(), nil
}

// Revision returns revision number of a file.
func (d *DB) Revision(ctx context.Context, orgID, fileID media.ID, number int) (*media.Revision, error) {
	var r revisionRow
	err := d.idb.NewSelect().Model(&r).Where("r.org_id = ?", orgID).Where("r.file_id = ?", fileID).
		Where("r.number = ?", number).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "revision")
	}
	return r.media(), nil
}

// Blob returns a blob row.
func (d *DB) Blob(ctx context.Context, orgID, id media.ID) (*media.Blob, error) {
	var r blobRow
	if err := d.idb.NewSelect().Model(&r).Where("bl.org_id = ?", orgID).Where("bl.id = ?", id).Scan(ctx); err != nil {
		return nil, wrap(err, "blob")
	}
	return r.media(), nil
}
