package database

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/media"
)

type eventRow struct {
	bun.BaseModel `bun:"table:file_events,alias:ev"`

	Seq        int64           `bun:"seq,pk,autoincrement"`
	OrgID      media.ID        `bun:"org_id"`
	Type       media.EventType `bun:"type"`
	FileID     media.ID        `bun:"file_id"`
	BucketID   media.ID        `bun:"bucket_id"`
	ActorID    *media.ID       `bun:"actor_id"`
	TargetID   *media.ID       `bun:"target_id"`
	Restricted bool            `bun:"restricted"`
	UploaderID *media.ID       `bun:"uploader_id"`
	At         time.Time       `bun:"at"`
}

func (r *eventRow) media() *media.Event {
	return &media.Event{Seq: r.Seq, OrgID: r.OrgID, Type: r.Type, FileID: r.FileID, BucketID: r.BucketID, ActorID: r.ActorID,
		TargetID: r.TargetID, Restricted: r.Restricted, UploaderID: r.UploaderID, At: r.At.UTC()}
}

// eventsLock serializes the writers of events on PostgreSQL until they
// commit, so that seqs are assigned in commit order: a reader that has
// seen seq N has seen every event below it, and resuming after N misses
// nothing. The lock is taken at the end of a transaction, when its events
// are written, and held only until its commit. (SQLite has one writer.)
const eventsLock = "SELECT pg_advisory_xact_lock(hashtext('mediagraph:events'))"

// eventBatch is how many events one INSERT writes.
const eventBatch = 500

// AddEvents writes events in the transaction, sets their Seq, and
// announces the last one on media.EventsChannel when it commits.
func (d *DB) AddEvents(ctx context.Context, evs []*media.Event) error {
	if len(evs) == 0 {
		return nil
	}
	return d.atomic(ctx, func(d *DB) error {
		if d.dialect == Postgres {
			if _, err := d.idb.ExecContext(ctx, eventsLock); err != nil {
				return wrap(err, "event")
			}
		}
		// The seqs are taken first and the rows written with them in one
		// statement: the seqs a multi-row RETURNING gives back need not
		// come in the rows' order. Writers of events take turns (the
		// events lock; SQLite has one writer), so the seqs are ours alone.
		seqs, err := d.nextEventSeqs(ctx, len(evs))
		if err != nil {
			return err
		}
		rows := make([]eventRow, len(evs))
		for i, e := range evs {
			rows[i] = eventRow{Seq: seqs[i], OrgID: e.OrgID, Type: e.Type, FileID: e.FileID, BucketID: e.BucketID, ActorID: e.ActorID,
				TargetID: e.TargetID, Restricted: e.Restricted, UploaderID: e.UploaderID, At: e.At}
		}
		// In chunks of eventBatch rows (a folder's worth of events is a
		// few statements, within both databases' limits on parameters).
		for start := 0; start < len(rows); start += eventBatch {
			chunk := rows[start:min(start+eventBatch, len(rows))]
			if _, err := d.idb.NewInsert().Model(&chunk).Returning("").Exec(ctx); err != nil {
				return wrap(err, "event")
			}
		}
		for i := range evs {
			evs[i].Seq = seqs[i]
		}
		return d.Publish(ctx, media.EventsChannel, strconv.FormatInt(evs[len(evs)-1].Seq, 10))
	})
}

// nextEventSeqs allocates n event seqs, in increasing order: from the
// table's sequence on PostgreSQL, after the highest seq ever given on
// SQLite (AUTOINCREMENT keeps it in sqlite_sequence, and the insert moves
// it on). The caller holds the events lock.
func (d *DB) nextEventSeqs(ctx context.Context, n int) ([]int64, error) {
	seqs := make([]int64, 0, n)
	if d.dialect == Postgres {
		if err := d.idb.NewRaw("SELECT nextval(pg_get_serial_sequence('file_events', 'seq')) FROM generate_series(1, ?)", n).
			Scan(ctx, &seqs); err != nil {
			return nil, wrap(err, "event")
		}
		slices.Sort(seqs)
		return seqs, nil
	}
	var last int64
	if err := d.idb.NewRaw("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'file_events'), 0)").
		Scan(ctx, &last); err != nil {
		return nil, wrap(err, "event")
	}
	for i := range n {
		seqs = append(seqs, last+int64(i)+1)
	}
	return seqs, nil
}

// EventsAfter returns up to limit events with seq > after, in seq order,
// of one organization or (orgID nil) of all.
func (d *DB) EventsAfter(ctx context.Context, orgID *media.ID, after int64, limit int) ([]*media.Event, error) {
	var rows []eventRow
	q := d.idb.NewSelect().Model(&rows).Where("ev.seq > ?", after).OrderExpr("ev.seq ASC").Limit(int64(limit))
	if orgID != nil {
		q = q.Where("ev.org_id = ?", *orgID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrap(err, "event")
	}
	out := make([]*media.Event, len(rows))
	for i := range rows {
		out[i] = rows[i].media()
	}
	return out, nil
}

// LastEventSeq is the highest seq written (0 if none). The newest event
// is never deleted, so this never goes back.
func (d *DB) LastEventSeq(ctx context.Context) (int64, error) {
	return d.eventSeqBound(ctx, "max")
}

// FirstEventSeq is the lowest seq still kept (0 if none).
func (d *DB) FirstEventSeq(ctx context.Context) (int64, error) {
	return d.eventSeqBound(ctx, "min")
}

func (d *DB) eventSeqBound(ctx context.Context, fn string) (int64, error) {
	var v sql.NullInt64
	if err := d.idb.NewSelect().Model((*eventRow)(nil)).ColumnExpr(fn+"(ev.seq)").Scan(ctx, &v); err != nil {
		return 0, wrap(err, "event")
	}
	return v.Int64, nil
}

// DeleteEventsBefore deletes the events older than t (but the newest
// event, which marks where the sequence stands) and the finished webhook
// deliveries, with their log, older than t. It returns how many events
// went.
func (d *DB) DeleteEventsBefore(ctx context.Context, t time.Time) (int, error) {
	var n int64
	err := d.atomic(ctx, func(d *DB) error {
		res, err := d.idb.NewDelete().Model((*eventRow)(nil)).Where("ev.at < ?", t).
			Where("ev.seq < (SELECT max(seq) FROM file_events)").Exec(ctx)
		if err != nil {
			return wrap(err, "event")
		}
		n, _ = res.RowsAffected()
		_, err = d.idb.NewDelete().Model((*deliveryRow)(nil)).Where("wd.state <> ?", media.DeliveryPending).
			Where("wd.created_at < ?", t).Exec(ctx)
		return wrap(err, "webhook delivery")
	})
	return int(n), err
}
