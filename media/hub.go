package media

import (
	"context"
	"slices"
	"sync"
	"time"
)

// EventsChannel is the broker channel a committed transaction's events
// are announced on (the payload is the highest seq; readers read the
// table, so a lost notification only delays an event until the next poll).
const EventsChannel = "mediagraph_events"

// hubPoll is how often the hub reads the event table even without a
// notification (a notification lost with a dropped connection, say).
const hubPoll = 2 * time.Second

// subscriberBuffer is how many deliveries a subscriber may have waiting;
// one that falls further behind is ended (and can resume with after).
const subscriberBuffer = 256

// hub fans the events committed by any server sharing the database out to
// this process's subscribers. One goroutine reads the event table in seq
// order (woken by the broker, and every hubPoll) and asks the policy, for
// each subscriber, whether and how it may see each event.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	last int64 // highest seq dispatched; -1 before the hub ran
	wake chan struct{}
}

// subscriber is one subscription.
type subscriber struct {
	p       *Principal
	bucket  *ID
	types   []EventType
	out     chan *EventDelivery
	cursor  int64 // highest seq delivered or skipped
	live    bool  // dispatched by the hub (after its replay)
	done    chan struct{}
	dropped bool
}

func newHub() *hub {
	return &hub{subs: map[*subscriber]struct{}{}, last: -1, wake: make(chan struct{}, 1)}
}

func (h *hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// RunEvents runs the event hub until ctx ends: it reads committed events
// and delivers them to this process's subscribers, and watches the access
// of the keys they connected with (see Watch). The server calls it once.
func (s *Service) RunEvents(ctx context.Context) {
	go s.Store.Listen(ctx, EventsChannel, func(string) { s.hub.poke() })
	go s.runAccess(ctx)
	last, err := s.Store.LastEventSeq(ctx)
	for err != nil && ctx.Err() == nil {
		s.Logger.WarnContext(ctx, "reading the event table; retrying", "err", err)
		time.Sleep(time.Second)
		last, err = s.Store.LastEventSeq(ctx)
	}
	s.hub.mu.Lock()
	s.hub.last = last
	for sub := range s.hub.subs {
		if sub.live {
			sub.cursor = max(sub.cursor, last)
		}
	}
	s.hub.mu.Unlock()
	t := time.NewTicker(hubPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.hub.wake:
		}
		if err := s.dispatch(ctx); err != nil && ctx.Err() == nil {
			s.Logger.WarnContext(ctx, "delivering events; retrying", "err", err)
		}
	}
}

// dispatch delivers the events committed since the last dispatch.
func (s *Service) dispatch(ctx context.Context) error {
	for {
		s.hub.mu.Lock()
		last := s.hub.last
		s.hub.mu.Unlock()
		evs, err := s.Store.EventsAfter(ctx, nil, last, 500)
		if err != nil || len(evs) == 0 {
			return err
		}
		for _, ev := range evs {
			// The hub's position moves to ev before ev is delivered, under
			// the lock that also chooses its recipients: a subscriber that
			// turns live meanwhile (see replay) has replayed ev itself.
			s.hub.mu.Lock()
			var subs []*subscriber
			for sub := range s.hub.subs {
				if sub.live && sub.cursor < ev.Seq && sub.p.OrgID == ev.OrgID && sub.wants(ev) {
					subs = append(subs, sub)
				}
			}
			s.hub.last = ev.Seq
			for sub := range s.hub.subs {
				if sub.live {
					sub.cursor = max(sub.cursor, ev.Seq)
				}
			}
			s.hub.mu.Unlock()
			if len(subs) > 0 {
				s.deliver(ctx, ev, subs)
			}
		}
	}
}

// deliver sends ev to each subscriber that may see it, as the policy
// says at this moment (CONTRACT §6, §7): the file if the subscriber may
// read it now; its id only if the file is gone and the subscriber could
// see it then, or it was detached from content the subscriber sees.
func (s *Service) deliver(ctx context.Context, ev *Event, subs []*subscriber) {
	fs, err := s.Store.ListFiles(ctx, FileQuery{OrgID: ev.OrgID, IDs: []ID{ev.FileID}, Filter: FileFilter{Trashed: TrashInclude}, Limit: 1})
	if err != nil {
		s.Logger.WarnContext(ctx, "loading an event's file", "event", ev.ID(), "err", err)
		return
	}
	var f *File
	if len(fs) == 1 {
		f = fs[0]
	}
	var restricted *bool // the file's bucket's access now, loaded once
	for _, sub := range subs {
		if !sub.wants(ev) {
			continue
		}
		d := &EventDelivery{Event: ev}
		switch {
		case f != nil:
			if restricted == nil {
				bs, err := s.Store.BucketsByIDs(ctx, ev.OrgID, []ID{f.BucketID})
				if err != nil {
					s.Logger.WarnContext(ctx, "loading an event's bucket", "event", ev.ID(), "err", err)
					return
				}
				r := len(bs) == 1 && bs[0].Access == AccessRestricted
				restricted = &r
			}
			ok := !*restricted || audienceOf(sub.p) == nil
			if !ok {
				if ok, err = s.sees(ctx, sub.p, f); err != nil {
					s.Logger.WarnContext(ctx, "checking an event's audience", "event", ev.ID(), "err", err)
					continue
				}
			}
			if ok {
				d.File = f
			} else if !s.sawThroughTarget(ctx, sub.p, ev) {
				continue
			}
		case audienceOf(sub.p) == nil, !ev.Restricted, ev.UploaderID != nil && *ev.UploaderID == sub.p.UserID:
			// Gone: those who could see it then hear of it, by id.
		case s.sawThroughTarget(ctx, sub.p, ev):
		default:
			continue
		}
		sub.send(d)
	}
}

// sawThroughTarget reports whether a DETACHED event's content is visible
// to p (so p saw the file through it until now).
func (s *Service) sawThroughTarget(ctx context.Context, p *Principal, ev *Event) bool {
	if ev.Type != EventDetached || ev.TargetID == nil {
		return false
	}
	_, err := s.resolveTarget(WithPrincipal(ctx, p), p, *ev.TargetID)
	return err == nil
}

func (sub *subscriber) wants(ev *Event) bool {
	if sub.bucket != nil && *sub.bucket != ev.BucketID {
		return false
	}
	return len(sub.types) == 0 || slices.Contains(sub.types, ev.Type)
}

// send queues a delivery; a subscriber whose queue is full is ended.
func (sub *subscriber) send(d *EventDelivery) {
	if sub.dropped {
		return
	}
	select {
	case sub.out <- d:
	case <-sub.done:
	default:
		sub.dropped = true
		close(sub.out)
	}
}

// Subscribe starts a subscription to the events of files the caller may
// see (CONTRACT §7), in the order they were committed: with After, first
// the events after that one that are still kept, then live ones, with no
// gap between them. The channel closes when ctx ends, or when the
// subscriber falls more than subscriberBuffer deliveries behind (it can
// resume with After set to the last id it got).
// Returns FORBIDDEN without media:read, NOT_FOUND for an unknown bucket,
// BAD_USER_INPUT for an unknown type or an After that is not kept any more.
func (s *Service) Subscribe(ctx context.Context, filter EventFilter) (<-chan *EventDelivery, error) {
	p, err := require(ctx, ScopeMediaRead)
	if err != nil {
		return nil, err
	}
	sub := &subscriber{p: p, out: make(chan *EventDelivery, subscriberBuffer), done: make(chan struct{})}
	if filter.Bucket != nil {
		b, err := s.bucketByName(ctx, p, *filter.Bucket)
		if err != nil {
			return nil, err
		}
		sub.bucket = &b.ID
	}
	for _, t := range filter.Types {
		if !t.Valid() {
			return nil, Invalid("types", "unknown event type %q", t)
		}
	}
	sub.types = filter.Types
	s.hub.mu.Lock()
	last := s.hub.last
	s.hub.mu.Unlock()
	if last < 0 {
		if last, err = s.Store.LastEventSeq(ctx); err != nil {
			return nil, err
		}
	}
	sub.cursor = last
	if filter.After != nil {
		seq, ok := eventSeq(*filter.After)
		if !ok || seq > last {
			return nil, Invalid("after", "%s is not an event id of this server", *filter.After)
		}
		first, err := s.Store.FirstEventSeq(ctx)
		if err != nil {
			return nil, err
		}
		if first > 0 && seq < first-1 {
			return nil, Invalid("after", "events after %s are no longer kept (they are kept %s); load the current state and subscribe without after",
				*filter.After, s.eventRetention())
		}
		sub.cursor = seq
	}
	s.hub.mu.Lock()
	s.hub.subs[sub] = struct{}{}
	s.hub.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.hub.mu.Lock()
		delete(s.hub.subs, sub)
		close(sub.done)
		s.hub.mu.Unlock()
	})
	go s.replay(ctx, sub)
	return sub.out, nil
}

// replay delivers a new subscriber's missed events (seq > its cursor) from
// the table until it has caught up with the hub, then hands it to the hub
// — under the hub's lock, so no event falls between the two.
func (s *Service) replay(ctx context.Context, sub *subscriber) {
	for ctx.Err() == nil {
		s.hub.mu.Lock()
		if sub.cursor >= s.hub.last && s.hub.last >= 0 {
			sub.live = true
			s.hub.mu.Unlock()
			return
		}
		target := s.hub.last
		s.hub.mu.Unlock()
		if target < 0 {
			time.Sleep(50 * time.Millisecond) // the hub has not started
			continue
		}
		for sub.cursor < target && ctx.Err() == nil {
			evs, err := s.Store.EventsAfter(ctx, &sub.p.OrgID, sub.cursor, 500)
			if err != nil {
				s.Logger.WarnContext(ctx, "replaying events", "err", err)
				time.Sleep(time.Second)
				continue
			}
			for _, ev := range evs {
				if ev.Seq > target {
					break
				}
				s.deliver(ctx, ev, []*subscriber{sub})
				sub.cursor = ev.Seq
			}
			if len(evs) == 0 || evs[len(evs)-1].Seq >= target {
				sub.cursor = max(sub.cursor, target)
			}
		}
	}
}

func (s *Service) eventRetention() time.Duration {
	if s.Config.EventRetention > 0 {
		return s.Config.EventRetention
	}
	return DefaultEventRetention
}

// EventTarget returns the post, comment or message of an ATTACHED or
// DETACHED event if the caller can see it now; nil otherwise.
func (s *Service) EventTarget(ctx context.Context, d *EventDelivery) (Attachable, error) {
	if d.Event.TargetID == nil {
		return nil, nil
	}
	n, err := s.Node(ctx, *d.Event.TargetID)
	if IsNotFound(err) || ErrorCode(err) == EFORBIDDEN {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a, _ := n.(Attachable)
	return a, nil
}
