package media

import (
	"context"
	"slices"
	"strings"
	"time"
)

// EventType is what happened to a file (CONTRACT §7).
type EventType string

const (
	EventCreated       EventType = "CREATED"
	EventUpdated       EventType = "UPDATED"
	EventRevisionAdded EventType = "REVISION_ADDED"
	EventTrashed       EventType = "TRASHED"
	EventRestored      EventType = "RESTORED"
	EventDeleted       EventType = "DELETED"
	EventAttached      EventType = "ATTACHED"
	EventDetached      EventType = "DETACHED"
)

// EventTypes lists every event type.
var EventTypes = []EventType{EventCreated, EventUpdated, EventRevisionAdded, EventTrashed, EventRestored, EventDeleted,
	EventAttached, EventDetached}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool { return slices.Contains(EventTypes, t) }

// Event is one change of a file, written in the transaction that made the
// change: no event for a change that rolled back, none lost after one that
// committed. Seq orders events across the whole system in commit order.
type Event struct {
	Seq      int64
	OrgID    ID
	Type     EventType
	FileID   ID
	BucketID ID
	// ActorID is who made the change; nil for the server's own work (the
	// sweeper purging the trash).
	ActorID *ID
	// TargetID is the post, comment or message of ATTACHED and DETACHED.
	TargetID *ID
	// Restricted and UploaderID record who could see the file when it
	// changed, for deliveries after it is gone (DELETED).
	Restricted bool
	UploaderID *ID
	At         time.Time
}

// PrefixEvent prefixes event ids.
const PrefixEvent = "evt"

// ID is the event's public id: "evt_" and its sequence number in 13
// base32 digits, so that ids sort as events do.
func (e *Event) ID() ID { return EventID(e.Seq) }

// EventID returns the public id of the event with sequence number seq.
func EventID(seq int64) ID {
	var out [13]byte
	v := uint64(seq)
	for i := 12; i >= 0; i-- {
		out[i] = crockford[v&31]
		v >>= 5
	}
	return ID(PrefixEvent + "_" + string(out[:]))
}

// eventSeq reads the sequence number of an event id.
func eventSeq(id ID) (int64, bool) {
	s, ok := strings.CutPrefix(string(id), PrefixEvent+"_")
	if !ok || len(s) != 13 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		i := strings.IndexRune(crockford, c)
		if i < 0 {
			return 0, false
		}
		v = v<<5 | uint64(i)
	}
	if v > 1<<62 {
		return 0, false
	}
	return int64(v), true
}

// inTx runs fn in a transaction with a Service that reads and writes
// through it (see in), then writes the events fn emitted, and the webhook
// deliveries they call for, in the same transaction.
func (s *Service) inTx(ctx context.Context, fn func(ts *Service) error) error {
	return s.Store.InTx(ctx, func(tx Store) error {
		ts := s.in(tx)
		ts.pending = &[]*Event{}
		if err := fn(ts); err != nil {
			return err
		}
		return ts.flushEvents(ctx)
	})
}

// emit records that a file changed, to be written with the transaction
// s works in (see inTx). p is the actor (nil: the server itself).
func (s *Service) emit(p *Principal, t EventType, f *File, target *ID) {
	if s.pending == nil {
		panic("media: emit outside inTx")
	}
	ev := &Event{OrgID: f.OrgID, Type: t, FileID: f.ID, BucketID: f.BucketID, TargetID: target, UploaderID: f.CreatedBy, At: s.now()}
	if p != nil {
		uid := p.UserID
		ev.ActorID = &uid
	}
	*s.pending = append(*s.pending, ev)
}

// flushEvents writes the pending events of the transaction and enqueues
// the webhook deliveries they match.
func (s *Service) flushEvents(ctx context.Context) error {
	evs := *s.pending
	*s.pending = nil
	if len(evs) == 0 {
		return nil
	}
	// Who could see a file once it is gone: its bucket's access then,
	// read for every bucket of the transaction's deletions at once.
	gone := map[ID][]ID{} // buckets by organization
	for _, ev := range evs {
		if ev.Type == EventDeleted {
			gone[ev.OrgID] = append(gone[ev.OrgID], ev.BucketID)
		}
	}
	restricted := map[ID]bool{}
	for org, ids := range gone {
		bs, err := s.Store.BucketsByIDs(ctx, org, compactIDs(ids))
		if err != nil {
			return err
		}
		for _, b := range bs {
			restricted[b.ID] = b.Access == AccessRestricted
		}
	}
	for _, ev := range evs {
		if ev.Type == EventDeleted {
			ev.Restricted = restricted[ev.BucketID]
		}
	}
	if err := s.Store.AddEvents(ctx, evs); err != nil {
		return err
	}
	return s.enqueueDeliveries(ctx, evs)
}

// EventFilter narrows a subscription.
type EventFilter struct {
	Bucket *string
	Types  []EventType
	// After replays the events after this one before the live ones.
	After *ID
}

// EventDelivery is an event as one subscriber receives it: the file if
// the subscriber may see it now, otherwise its id only.
type EventDelivery struct {
	Event *Event
	File  *File
}

// DefaultEventRetention is how long events are kept for replay.
const DefaultEventRetention = 24 * time.Hour
