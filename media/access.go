package media

import (
	"context"
	"slices"
	"sync"
	"time"
)

// AccessChannel is where a change of who may do what is announced — a key
// revoked, a member's role changed, a member removed — with the
// organization's id, so that every server re-checks the long-lived
// connections (subscriptions) of that organization at once.
const AccessChannel = "mediagraph_access"

// accessRecheck is how often every watched key is checked even without an
// announcement (one lost with a dropped connection, say).
const accessRecheck = 30 * time.Second

// watch is one long-lived connection's key and the rights it had.
type watch struct {
	key  string
	p    *Principal
	lost func()
	once sync.Once
}

// watches are this process's watched keys.
type watches struct {
	mu   sync.Mutex
	all  map[*watch]struct{}
	wake chan string
}

// Watch calls lost, once, as soon as key no longer authenticates with the
// rights p had: the key revoked, its user removed, their role or the key's
// scopes changed (on any server sharing the database). It stops watching
// when ctx ends. The websocket transport closes connections with it.
func (s *Service) Watch(ctx context.Context, key string, p *Principal, lost func()) {
	w := &watch{key: key, p: p, lost: lost}
	s.access.mu.Lock()
	s.access.all[w] = struct{}{}
	s.access.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.access.mu.Lock()
		delete(s.access.all, w)
		s.access.mu.Unlock()
	})
}

// accessChanged announces that rights changed in an organization.
func (s *Service) accessChanged(ctx context.Context, orgID ID) {
	if err := s.Store.Publish(ctx, AccessChannel, string(orgID)); err != nil {
		// Watches are re-checked within accessRecheck anyway.
		s.Logger.WarnContext(ctx, "announcing an access change", "err", err)
	}
}

// runAccess re-checks watched keys when a change is announced (those of
// its organization; all of them when notifications may have been lost)
// and every accessRecheck.
func (s *Service) runAccess(ctx context.Context) {
	go s.Store.Listen(ctx, AccessChannel, func(org string) {
		select {
		case s.access.wake <- org:
		default:
			// Full: a re-check is queued; make it one of everything.
			select {
			case s.access.wake <- "":
			default:
			}
		}
	})
	t := time.NewTicker(accessRecheck)
	defer t.Stop()
	for {
		org := ""
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case org = <-s.access.wake:
		}
		s.recheck(ctx, ID(org))
	}
}

// recheck authenticates the watched keys of an organization (all if org
// is "") again, once per distinct key, and calls lost for those that lost
// rights. A key that cannot be checked (the database is down) keeps its
// connections until it can.
func (s *Service) recheck(ctx context.Context, org ID) {
	s.access.mu.Lock()
	byKey := map[string][]*watch{}
	for w := range s.access.all {
		if org == "" || w.p.OrgID == org {
			byKey[w.key] = append(byKey[w.key], w)
		}
	}
	s.access.mu.Unlock()
	for key, ws := range byKey {
		now, err := s.Authenticate(ctx, key)
		if err != nil && ErrorCode(err) != EUNAUTHENTICATED {
			continue
		}
		for _, w := range ws {
			if err != nil || now.Role != w.p.Role || !slices.Equal(now.Scopes, w.p.Scopes) {
				w.once.Do(w.lost)
			}
		}
	}
}
