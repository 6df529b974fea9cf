package database

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

type webhookRow struct {
	bun.BaseModel `bun:"table:webhooks,alias:wh"`

	ID             media.ID          `bun:"id,pk"`
	OrgID          media.ID          `bun:"org_id"`
	URL            string            `bun:"url"`
	Secret         string            `bun:"secret"`
	Events         []media.EventType `bun:"events"`
	BucketID       *media.ID         `bun:"bucket_id"`
	Active         bool              `bun:"active"`
	DisabledReason *string           `bun:"disabled_reason"`
	DisabledAt     *time.Time        `bun:"disabled_at"`
	Failures       int               `bun:"failures"`
	CreatedBy      *media.ID         `bun:"created_by"`
	CreatedAt      time.Time         `bun:"created_at"`
	UpdatedAt      time.Time         `bun:"updated_at"`
}

func newWebhookRow(w *media.Webhook) *webhookRow {
	return &webhookRow{ID: w.ID, OrgID: w.OrgID, URL: w.URL, Secret: w.Secret, Events: nonNilSlice(w.Events), BucketID: w.BucketID,
		Active: w.Active, DisabledReason: w.DisabledReason, DisabledAt: w.DisabledAt, Failures: w.Failures, CreatedBy: w.CreatedBy,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

func (r *webhookRow) media() *media.Webhook {
	return &media.Webhook{ID: r.ID, OrgID: r.OrgID, URL: r.URL, Secret: r.Secret, Events: nonNilSlice(r.Events), BucketID: r.BucketID,
		Active: r.Active, DisabledReason: r.DisabledReason, DisabledAt: utcPtr(r.DisabledAt), Failures: r.Failures, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

type deliveryRow struct {
	bun.BaseModel `bun:"table:webhook_deliveries,alias:wd"`

	ID            media.ID            `bun:"id,pk"`
	OrgID         media.ID            `bun:"org_id"`
	WebhookID     media.ID            `bun:"webhook_id"`
	EventSeq      int64               `bun:"event_seq"`
	State         media.DeliveryState `bun:"state"`
	Attempts      int                 `bun:"attempts"`
	NextAttemptAt time.Time           `bun:"next_attempt_at"`
	LockedUntil   *time.Time          `bun:"locked_until"`
	CreatedAt     time.Time           `bun:"created_at"`
}

func newDeliveryRow(d *media.WebhookDelivery) *deliveryRow {
	return &deliveryRow{ID: d.ID, OrgID: d.OrgID, WebhookID: d.WebhookID, EventSeq: d.EventSeq, State: d.State, Attempts: d.Attempts,
		NextAttemptAt: d.NextAttemptAt, LockedUntil: d.LockedUntil, CreatedAt: d.CreatedAt}
}

func (r *deliveryRow) media() *media.WebhookDelivery {
	return &media.WebhookDelivery{ID: r.ID, OrgID: r.OrgID, WebhookID: r.WebhookID, EventSeq: r.EventSeq, State: r.State,
		Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt.UTC(), LockedUntil: utcPtr(r.LockedUntil), CreatedAt: r.CreatedAt.UTC()}
}

type attemptRow struct {
	bun.BaseModel `bun:"table:webhook_attempts,alias:wa"`

	ID            media.ID   `bun:"id,pk"`
	OrgID         media.ID   `bun:"org_id"`
	WebhookID     media.ID   `bun:"webhook_id"`
	DeliveryID    media.ID   `bun:"delivery_id"`
	EventSeq      int64      `bun:"event_seq"`
	Attempt       int        `bun:"attempt"`
	Status        *int       `bun:"status"`
	Error         *string    `bun:"error"`
	At            time.Time  `bun:"at"`
	NextAttemptAt *time.Time `bun:"next_attempt_at"`
}

// CreateWebhook inserts a webhook.
func (d *DB) CreateWebhook(ctx context.Context, w *media.Webhook) error {
	_, err := d.idb.NewInsert().Model(newWebhookRow(w)).Returning("").Exec(ctx)
	return wrap(err, "webhook")
}

// UpdateWebhook writes every field of w but its id, organization, secret
// and creation. Returns NOT_FOUND.
func (d *DB) UpdateWebhook(ctx context.Context, w *media.Webhook) error {
	res, err := d.idb.NewUpdate().Model(newWebhookRow(w)).
		Column("url", "events", "bucket_id", "active", "disabled_reason", "disabled_at", "failures", "updated_at").
		Where("wh.id = ?", w.ID).Where("wh.org_id = ?", w.OrgID).Exec(ctx)
	return affectedOne(res, err, "webhook")
}

// DeleteWebhook deletes a webhook with its deliveries and their log.
// Returns NOT_FOUND.
func (d *DB) DeleteWebhook(ctx context.Context, orgID, id media.ID) error {
	res, err := d.idb.NewDelete().Model((*webhookRow)(nil)).Where("wh.id = ?", id).Where("wh.org_id = ?", orgID).Exec(ctx)
	return affectedOne(res, err, "webhook")
}

// Webhook returns a webhook of orgID. Returns NOT_FOUND.
func (d *DB) Webhook(ctx context.Context, orgID, id media.ID) (*media.Webhook, error) {
	var r webhookRow
	if err := d.idb.NewSelect().Model(&r).Where("wh.id = ?", id).Where("wh.org_id = ?", orgID).Scan(ctx); err != nil {
		return nil, wrap(err, "webhook")
	}
	return r.media(), nil
}

// ListWebhooks returns up to limit webhooks of orgID with ids after after.
func (d *DB) ListWebhooks(ctx context.Context, orgID, after media.ID, limit int) ([]*media.Webhook, error) {
	return d.webhooks(ctx, d.idb.NewSelect().Where("wh.org_id = ?", orgID).Where("wh.id > ?", after).Limit(int64(limit)))
}

// ActiveWebhooks returns the active webhooks of orgID.
func (d *DB) ActiveWebhooks(ctx context.Context, orgID media.ID) ([]*media.Webhook, error) {
	return d.webhooks(ctx, d.idb.NewSelect().Where("wh.org_id = ?", orgID).Where("wh.active"))
}

func (d *DB) webhooks(ctx context.Context, q *bun.SelectQuery) ([]*media.Webhook, error) {
	var rows []webhookRow
	if err := q.Model(&rows).OrderExpr("wh.id ASC").Scan(ctx); err != nil {
		return nil, wrap(err, "webhook")
	}
	out := make([]*media.Webhook, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}

// AddWebhookDeliveries queues deliveries. One of an event its webhook was
// given before is queued again: its row goes back to PENDING, due now,
// with a new retry window, keeping its id (receivers deduplicate on it)
// and its attempt count.
func (d *DB) AddWebhookDeliveries(ctx context.Context, ds []*media.WebhookDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	rows := make([]*deliveryRow, len(ds))
	for i, x := range ds {
		rows[i] = newDeliveryRow(x)
	}
	_, err := d.idb.NewInsert().Model(&rows).
		On("CONFLICT (webhook_id, event_seq) DO UPDATE").
		Set("state = EXCLUDED.state, next_attempt_at = EXCLUDED.next_attempt_at, locked_until = NULL, created_at = EXCLUDED.created_at").
		Returning("").Exec(ctx)
	return wrap(err, "webhook delivery")
}

// claimLock serializes claims across servers, so that per-webhook limits
// hold across them; claims are short.
const claimLock = "SELECT pg_advisory_xact_lock(hashtext('mediagraph:webhook-claim'))"

// ClaimWebhookDeliveries leases up to limit due PENDING deliveries until
// lease, oldest due first, leaving out those another server holds and
// keeping each webhook to perWebhook deliveries in flight.
func (d *DB) ClaimWebhookDeliveries(ctx context.Context, now, lease time.Time, perWebhook, limit int) ([]*media.WebhookDelivery, error) {
	var out []*media.WebhookDelivery
	err := d.atomic(ctx, func(d *DB) error {
		if d.dialect == Postgres {
			if _, err := d.idb.ExecContext(ctx, claimLock); err != nil {
				return wrap(err, "webhook delivery")
			}
		}
		var busy []struct {
			WebhookID media.ID `bun:"webhook_id"`
			N         int      `bun:"n"`
		}
		if err := d.idb.NewSelect().Model((*deliveryRow)(nil)).ColumnExpr("wd.webhook_id, count(*) AS n").
			Where("wd.state = ?", media.DeliveryPending).Where("wd.locked_until >= ?", now).
			GroupExpr("wd.webhook_id").Scan(ctx, &busy); err != nil {
			return wrap(err, "webhook delivery")
		}
		inFlight := map[media.ID]int{}
		for _, b := range busy {
			inFlight[b.WebhookID] = b.N
		}
		var rows []deliveryRow
		if err := d.idb.NewSelect().Model(&rows).Where("wd.state = ?", media.DeliveryPending).Where("wd.next_attempt_at <= ?", now).
			Where("(wd.locked_until IS NULL OR wd.locked_until < ?)", now).OrderExpr("wd.next_attempt_at ASC, wd.id ASC").
			Limit(int64(4 * limit)).Scan(ctx); err != nil {
			return wrap(err, "webhook delivery")
		}
		var ids []media.ID
		for i := range rows {
			r := &rows[i]
			if len(ids) == limit || inFlight[r.WebhookID] >= perWebhook {
				continue
			}
			inFlight[r.WebhookID]++
			r.LockedUntil = &lease
			ids = append(ids, r.ID)
			out = append(out, r.media())
		}
		if len(ids) == 0 {
			return nil
		}
		_, err := d.idb.NewUpdate().Model((*deliveryRow)(nil)).Set("locked_until = ?", lease).Where("wd.id IN (?)", bun.In(ids)).Exec(ctx)
		return wrap(err, "webhook delivery")
	})
	return out, err
}

// UpdateWebhookDelivery writes a delivery's state, attempts, next attempt
// and lease. Returns NOT_FOUND (its webhook was deleted).
func (d *DB) UpdateWebhookDelivery(ctx context.Context, x *media.WebhookDelivery) error {
	res, err := d.idb.NewUpdate().Model(newDeliveryRow(x)).Column("state", "attempts", "next_attempt_at", "locked_until").
		Where("wd.id = ?", x.ID).Where("wd.org_id = ?", x.OrgID).Exec(ctx)
	return affectedOne(res, err, "webhook delivery")
}

// AddWebhookAttempt logs an attempt.
func (d *DB) AddWebhookAttempt(ctx context.Context, a *media.WebhookAttempt) error {
	_, err := d.idb.NewInsert().Model(&attemptRow{ID: a.ID, OrgID: a.OrgID, WebhookID: a.WebhookID, DeliveryID: a.DeliveryID,
		EventSeq: a.EventSeq, Attempt: a.Attempt, Status: a.Status, Error: a.Error, At: a.At, NextAttemptAt: a.NextAttemptAt}).
		Returning("").Exec(ctx)
	return wrap(err, "webhook attempt")
}

// WebhookAttempts returns up to limit attempts of a webhook, newest first,
// with ids before before ("": from the newest).
func (d *DB) WebhookAttempts(ctx context.Context, orgID, webhookID, before media.ID, limit int) ([]*media.WebhookAttempt, error) {
	var rows []attemptRow
	q := d.idb.NewSelect().Model(&rows).Where("wa.org_id = ?", orgID).Where("wa.webhook_id = ?", webhookID)
	if before != "" {
		q = q.Where("wa.id < ?", before)
	}
	if err := q.OrderExpr("wa.id DESC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, wrap(err, "webhook attempt")
	}
	out := make([]*media.WebhookAttempt, len(rows))
	for i, r := range rows {
		out[i] = &media.WebhookAttempt{ID: r.ID, OrgID: r.OrgID, WebhookID: r.WebhookID, DeliveryID: r.DeliveryID, EventSeq: r.EventSeq,
			Attempt: r.Attempt, Status: r.Status, Error: r.Error, At: r.At.UTC(), NextAttemptAt: utcPtr(r.NextAttemptAt)}
	}
	return out, nil
}
