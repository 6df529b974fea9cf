package database

import (
	"context"

	"github.com/mediagraph/mediagraph/media"
)

// SetUserRole changes a member's role. Returns NOT_FOUND.
func (d *DB) SetUserRole(ctx context.Context, orgID, id media.ID, role media.Role) error {
	res, err := d.idb.NewUpdate().Model(&userRow{ID: id, Role: role}).Column("role").
		Where("u.id = ?", id).Where("u.org_id = ?", orgID).Exec(ctx)
	return affectedOne(res, err, "user")
}

// DeleteUser removes a member and its API keys. Returns NOT_FOUND.
func (d *DB) DeleteUser(ctx context.Context, orgID, id media.ID) error {
	return d.atomic(ctx, func(d *DB) error {
		if _, err := d.idb.NewDelete().Model((*apiKeyRow)(nil)).Where("user_id = ?", id).Where("org_id = ?", orgID).Exec(ctx); err != nil {
			return wrap(err, "API key")
		}
		res, err := d.idb.NewDelete().Model((*userRow)(nil)).Where("id = ?", id).Where("org_id = ?", orgID).Exec(ctx)
		return affectedOne(res, err, "user")
	})
}

// CountOwners counts the organization's OWNERs.
func (d *DB) CountOwners(ctx context.Context, orgID media.ID) (int, error) {
	n, err := d.idb.NewSelect().Model((*userRow)(nil)).Where("u.org_id = ?", orgID).Where("u.role = ?", media.RoleOwner).Count(ctx)
	return int(n), wrap(err, "user")
}
