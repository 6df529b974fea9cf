package database

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

// CreateOrganization inserts an organization. Returns CONFLICT if the name is taken.
func (d *DB) CreateOrganization(ctx context.Context, o *media.Organization) error {
	_, err := d.idb.NewInsert().Model(newOrgRow(o)).Returning("").Exec(ctx)
	return wrap(err, "organization")
}

// Organization returns an organization by id. Returns NOT_FOUND.
func (d *DB) Organization(ctx context.Context, id media.ID) (*media.Organization, error) {
	var r orgRow
	err := d.idb.NewSelect().Model(&r).Where("o.id = ?", id).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "organization")
	}
	return r.media(), nil
}

// OrganizationByName returns an organization by its exact name. Returns NOT_FOUND.
func (d *DB) OrganizationByName(ctx context.Context, name string) (*media.Organization, error) {
	var r orgRow
	err := d.idb.NewSelect().Model(&r).Where("o.name = ?", name).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "organization")
	}
	return r.media(), nil
}

// ListOrganizations returns every organization, by name.
func (d *DB) ListOrganizations(ctx context.Context) ([]*media.Organization, error) {
	var rows []orgRow
	if err := d.idb.NewSelect().Model(&rows).Order("o.name", "o.id").Scan(ctx); err != nil {
		return nil, wrap(err, "organization")
	}
	out := make([]*media.Organization, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}

// CreateUser inserts a user. Returns CONFLICT if the organization already has
// a user with that e-mail address (compared case-insensitively).
func (d *DB) CreateUser(ctx context.Context, u *media.User) error {
	_, err := d.idb.NewInsert().Model(newUserRow(u)).Returning("").Exec(ctx)
	return wrap(err, "user")
}

// UserByEmail returns the user of orgID with that e-mail address, compared
// case-insensitively. Returns NOT_FOUND.
func (d *DB) UserByEmail(ctx context.Context, orgID media.ID, email string) (*media.User, error) {
	var r userRow
	err := d.idb.NewSelect().Model(&r).
		Where("u.org_id = ?", orgID).
		Where("lower(u.email) = lower(?)", email).
		Scan(ctx)
	if err != nil {
		return nil, wrap(err, "user")
	}
	return r.media(), nil
}

// UsersByIDs returns the users of orgID among ids, in any order.
func (d *DB) UsersByIDs(ctx context.Context, orgID media.ID, ids []media.ID) ([]*media.User, error) {
	if len(ids) == 0 {
		return []*media.User{}, nil
	}
	var rows []userRow
	err := d.idb.NewSelect().Model(&rows).
		Where("u.org_id = ?", orgID).
		Where("u.id IN (?)", bun.In(ids)).
		Scan(ctx)
	if err != nil {
		return nil, wrap(err, "user")
	}
	out := make([]*media.User, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}

// CreateAPIKey inserts an API key. Returns CONFLICT if the hash exists.
func (d *DB) CreateAPIKey(ctx context.Context, k *media.APIKey) error {
	_, err := d.idb.NewInsert().Model(newAPIKeyRow(k)).Returning("").Exec(ctx)
	return wrap(err, "API key")
}

// APIKeyByHash returns the key with that hash, revoked or not, and its user,
// in one query. Returns NOT_FOUND.
func (d *DB) APIKeyByHash(ctx context.Context, hash string) (*media.APIKey, *media.User, error) {
	var r apiKeyRow
	err := d.idb.NewSelect().Model(&r).Relation("User").Where("k.hash = ?", hash).Scan(ctx)
	if err != nil {
		return nil, nil, wrap(err, "API key")
	}
	if r.User == nil || r.User.ID == "" {
		return nil, nil, media.Errorf(media.ENOTFOUND, "API key not found")
	}
	return r.media(), r.User.media(), nil
}

// APIKey returns a key of orgID by id. Returns NOT_FOUND.
func (d *DB) APIKey(ctx context.Context, orgID, id media.ID) (*media.APIKey, error) {
	var r apiKeyRow
	err := d.idb.NewSelect().Model(&r).Where("k.id = ?", id).Where("k.org_id = ?", orgID).Scan(ctx)
	if err != nil {
		return nil, wrap(err, "API key")
	}
	return r.media(), nil
}

// ListAPIKeys returns up to limit keys of a user of orgID, oldest first
// (by creation time, then id), after the key after ("" from the first),
// revoked ones too, without their hashes. Ids alone are ordered by
// millisecond only, so keys made in one millisecond need the time.
func (d *DB) ListAPIKeys(ctx context.Context, orgID, userID, after media.ID, limit int) ([]*media.APIKey, error) {
	var rows []apiKeyRow
	q := d.idb.NewSelect().Model(&rows).ExcludeColumn("hash").Where("k.org_id = ?", orgID).Where("k.user_id = ?", userID)
	if after != "" {
		q = q.Where("(k.created_at, k.id) > (SELECT a.created_at, a.id FROM api_keys AS a WHERE a.id = ? AND a.org_id = ?)", after, orgID)
	}
	if err := q.OrderExpr("k.created_at ASC, k.id ASC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, wrap(err, "API key")
	}
	out := make([]*media.APIKey, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}

// RevokeAPIKey sets revoked_at to at if it is not set yet; revoking a revoked
// key changes nothing. Returns NOT_FOUND if orgID has no such key.
func (d *DB) RevokeAPIKey(ctx context.Context, orgID, id media.ID, at time.Time) error {
	res, err := d.idb.NewUpdate().Model((*apiKeyRow)(nil)).
		Set("revoked_at = ?", at).
		Where("k.id = ?", id).
		Where("k.org_id = ?", orgID).
		Where("k.revoked_at IS NULL").
		Exec(ctx)
	if err != nil {
		return wrap(err, "API key")
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	_, err = d.APIKey(ctx, orgID, id) // already revoked, or not there
	return err
}

// TouchAPIKey sets last_used_at to at, unless it is already later (requests
// finish out of order). A missing key is not an error.
func (d *DB) TouchAPIKey(ctx context.Context, id media.ID, at time.Time) error {
	_, err := d.idb.NewUpdate().Model((*apiKeyRow)(nil)).
		Set("last_used_at = ?", at).
		Where("k.id = ?", id).
		Where("k.last_used_at IS NULL OR k.last_used_at < ?", at).
		Exec(ctx)
	return wrap(err, "API key")
}
