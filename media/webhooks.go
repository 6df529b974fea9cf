package media

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Webhook ids and the prefixes of their deliveries and attempts.
const (
	PrefixWebhook         = "whk"
	PrefixWebhookDelivery = "msg"
	PrefixWebhookAttempt  = "wha"
)

// Webhook is an endpoint the server POSTs file events to (CONTRACT §7),
// signed with its secret as Standard Webhooks prescribes.
type Webhook struct {
	ID     ID
	OrgID  ID
	URL    string
	Secret string
	// Events are the types it receives; empty means all.
	Events   []EventType
	BucketID *ID
	Active   bool
	// DisabledReason and DisabledAt say why and when the server turned it
	// off after deliveries kept failing.
	DisabledReason *string
	DisabledAt     *time.Time
	// Failures counts the deliveries in a row that failed for good.
	Failures  int
	CreatedBy *ID
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CreatedWebhook is a new webhook and its secret, shown once.
type CreatedWebhook struct {
	Secret  string
	Webhook *Webhook
}

// WebhookDelivery is the outbox row of one event for one webhook: written
// with the event, claimed by one server at a time, retried until it
// succeeds or its retry window ends.
type WebhookDelivery struct {
	ID            ID
	OrgID         ID
	WebhookID     ID
	EventSeq      int64
	State         DeliveryState
	Attempts      int
	NextAttemptAt time.Time
	LockedUntil   *time.Time
	CreatedAt     time.Time
}

// DeliveryState is where a delivery is.
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "PENDING"
	DeliverySucceeded DeliveryState = "SUCCEEDED"
	DeliveryFailed    DeliveryState = "FAILED"
)

// WebhookAttempt is one POST of a delivery, as the delivery log shows it.
type WebhookAttempt struct {
	ID            ID
	OrgID         ID
	WebhookID     ID
	DeliveryID    ID
	EventSeq      int64
	Attempt       int
	Status        *int
	Error         *string
	At            time.Time
	NextAttemptAt *time.Time
}

// EventID is the id of the attempt's event.
func (a *WebhookAttempt) EventID() ID { return EventID(a.EventSeq) }

// WebhookConfig configures webhook delivery.
type WebhookConfig struct {
	// AllowNetworks are networks webhooks may reach although they are
	// private, loopback or link-local (MEDIAGRAPH_WEBHOOK_ALLOW_NETWORKS).
	AllowNetworks []netip.Prefix
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	// Concurrency caps the attempts in flight per endpoint (default 4).
	Concurrency int
	// RetryWindow is how long a delivery is retried (default 24 h);
	// FirstRetry is the first backoff, doubling up to an hour (default 10 s).
	RetryWindow time.Duration
	FirstRetry  time.Duration
	// DisableAfter turns a webhook off after this many deliveries in a
	// row failed for good (default 5).
	DisableAfter int
	// Poll is how often the outbox is read without a notification (1 s).
	Poll time.Duration
}

func (c WebhookConfig) withDefaults() WebhookConfig {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.RetryWindow <= 0 {
		c.RetryWindow = 24 * time.Hour
	}
	if c.FirstRetry <= 0 {
		c.FirstRetry = 10 * time.Second
	}
	if c.DisableAfter <= 0 {
		c.DisableAfter = 5
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	return c
}

// WebhookInput creates a webhook or, with UpdateWebhook, changes the fields set.
type WebhookInput struct {
	URL    *string
	Events []EventType
	Bucket *string
	// ClearBucket makes an updated webhook receive every bucket's events.
	ClearBucket bool
	// Active turns a webhook on or off (on again resets its failures).
	Active *bool
}

// CreateWebhook adds an endpoint for file events. Its secret is returned
// once. The URL must not reach a private, loopback or link-local address
// (unless an operator allowed its network).
// Returns FORBIDDEN without admin, BAD_USER_INPUT, NOT_FOUND for a bucket.
func (s *Service) CreateWebhook(ctx context.Context, in WebhookInput) (*CreatedWebhook, error) {
	p, err := require(ctx, ScopeAdmin)
	if err != nil {
		return nil, err
	}
	if in.URL == nil {
		return nil, Invalid("url", "url is required")
	}
	now := s.now()
	w := &Webhook{ID: NewID(PrefixWebhook, now), OrgID: p.OrgID, Active: true, CreatedBy: &p.UserID, CreatedAt: now, UpdatedAt: now,
		Events: []EventType{}, Secret: newWebhookSecret()}
	if err := s.applyWebhook(ctx, p, w, in); err != nil {
		return nil, err
	}
	if err := s.Store.CreateWebhook(ctx, w); err != nil {
		return nil, err
	}
	return &CreatedWebhook{Secret: w.Secret, Webhook: w}, nil
}

// UpdateWebhook changes a webhook's URL, events, bucket or state.
// Returns FORBIDDEN, NOT_FOUND, BAD_USER_INPUT.
func (s *Service) UpdateWebhook(ctx context.Context, id ID, in WebhookInput) (*Webhook, error) {
	p, w, err := s.webhookFor(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.applyWebhook(ctx, p, w, in); err != nil {
		return nil, err
	}
	w.UpdatedAt = s.now()
	return w, s.Store.UpdateWebhook(ctx, w)
}

// DeleteWebhook deletes a webhook with its deliveries and their log.
// Returns FORBIDDEN, NOT_FOUND.
func (s *Service) DeleteWebhook(ctx context.Context, id ID) (ID, error) {
	p, w, err := s.webhookFor(ctx, id)
	if err != nil {
		return "", err
	}
	return w.ID, s.Store.DeleteWebhook(ctx, p.OrgID, w.ID)
}

// Webhook returns a webhook. Returns FORBIDDEN without admin, NOT_FOUND.
func (s *Service) Webhook(ctx context.Context, id ID) (*Webhook, error) {
	_, w, err := s.webhookFor(ctx, id)
	return w, err
}

func (s *Service) webhookFor(ctx context.Context, id ID) (*Principal, *Webhook, error) {
	p, err := require(ctx, ScopeAdmin)
	if err != nil {
		return nil, nil, err
	}
	if !id.Valid(PrefixWebhook) {
		return nil, nil, Errorf(ENOTFOUND, "webhook %s not found", id)
	}
	w, err := s.Store.Webhook(ctx, p.OrgID, id)
	return p, w, err
}

// WebhookPage is a page of webhooks; HasPreviousPage is true when it
// starts after a cursor.
type WebhookPage struct {
	Webhooks                     []*Webhook
	HasNextPage, HasPreviousPage bool
}

// WebhookAttemptPage is a page of a webhook's delivery log.
type WebhookAttemptPage struct {
	Attempts                     []*WebhookAttempt
	HasNextPage, HasPreviousPage bool
}

// Webhooks lists the organization's webhooks, oldest first.
// Returns FORBIDDEN without admin, BAD_USER_INPUT for a bad page.
func (s *Service) Webhooks(ctx context.Context, first int, after *string) (*WebhookPage, error) {
	p, err := require(ctx, ScopeAdmin)
	if err != nil {
		return nil, err
	}
	from, err := idCursor(first, after, PrefixWebhook)
	if err != nil {
		return nil, err
	}
	ws, err := s.Store.ListWebhooks(ctx, p.OrgID, from, first+1)
	if err != nil {
		return nil, err
	}
	page := &WebhookPage{Webhooks: ws, HasPreviousPage: after != nil}
	if len(ws) > first {
		page.Webhooks, page.HasNextPage = ws[:first], true
	}
	return page, nil
}

// WebhookAttempts lists a webhook's delivery log, newest first.
func (s *Service) WebhookAttempts(ctx context.Context, w *Webhook, first int, after *string) (*WebhookAttemptPage, error) {
	p, err := require(ctx, ScopeAdmin)
	if err != nil {
		return nil, err
	}
	from, err := idCursor(first, after, PrefixWebhookAttempt)
	if err != nil {
		return nil, err
	}
	as, err := s.Store.WebhookAttempts(ctx, p.OrgID, w.ID, from, first+1)
	if err != nil {
		return nil, err
	}
	page := &WebhookAttemptPage{Attempts: as, HasPreviousPage: after != nil}
	if len(as) > first {
		page.Attempts, page.HasNextPage = as[:first], true
	}
	return page, nil
}

// idCursor checks a page size and reads an id cursor ("" for none).
func idCursor(first int, after *string, prefix string) (ID, error) {
	if first < 0 || first > MaxPageSize {
		return "", Invalid("first", "first must be between 0 and %d", MaxPageSize)
	}
	if after == nil {
		return "", nil
	}
	if id := ID(*after); id.Valid(prefix) {
		return id, nil
	}
	return "", Invalid("after", "this cursor is not valid for this list")
}

// RedeliverWebhookEvent queues an event for a webhook again, whatever
// became of its earlier delivery (the event must still be kept), and
// returns the webhook.
// Returns FORBIDDEN, NOT_FOUND for an unknown webhook or event.
func (s *Service) RedeliverWebhookEvent(ctx context.Context, webhookID, eventID ID) (*Webhook, error) {
	p, w, err := s.webhookFor(ctx, webhookID)
	if err != nil {
		return nil, err
	}
	seq, ok := eventSeq(eventID)
	if !ok {
		return nil, Errorf(ENOTFOUND, "event %s not found", eventID)
	}
	evs, err := s.Store.EventsAfter(ctx, &p.OrgID, seq-1, 1)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 || evs[0].Seq != seq {
		return nil, Errorf(ENOTFOUND, "event %s not found (events are kept %s)", eventID, s.eventRetention())
	}
	now := s.now()
	d := &WebhookDelivery{ID: NewID(PrefixWebhookDelivery, now), OrgID: p.OrgID, WebhookID: w.ID, EventSeq: seq,
		State: DeliveryPending, NextAttemptAt: now, CreatedAt: now}
	if err := s.Store.AddWebhookDeliveries(ctx, []*WebhookDelivery{d}); err != nil {
		return nil, err
	}
	s.hooks.poke()
	return w, nil
}

// applyWebhook checks an input and writes it onto w.
func (s *Service) applyWebhook(ctx context.Context, p *Principal, w *Webhook, in WebhookInput) error {
	if in.URL != nil {
		u, err := s.checkWebhookURL(ctx, *in.URL)
		if err != nil {
			return err
		}
		w.URL = u
	}
	if in.Events != nil {
		for _, t := range in.Events {
			if !t.Valid() {
				return Invalid("events", "unknown event type %q", t)
			}
		}
		w.Events = slices.Compact(slices.Sorted(slices.Values(in.Events)))
	}
	switch {
	case in.Bucket != nil:
		b, err := s.bucketByName(ctx, p, *in.Bucket)
		if err != nil {
			return withField(err, "bucket")
		}
		w.BucketID = &b.ID
	case in.ClearBucket:
		w.BucketID = nil
	}
	if in.Active != nil {
		w.Active = *in.Active
		if w.Active {
			w.Failures, w.DisabledAt, w.DisabledReason = 0, nil, nil
		}
	}
	return nil
}

// checkWebhookURL accepts http(s) URLs whose host resolves only to
// addresses webhooks may reach; the same check runs again on every
// connection (DNS can answer differently later).
func (s *Service) checkWebhookURL(ctx context.Context, raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(raw) > 2048 {
		return "", Invalid("url", "a webhook URL is an absolute http or https URL without credentials, at most 2048 bytes")
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return "", Invalid("url", "the webhook's host %q does not resolve", host)
		}
		addrs = ips
	}
	for _, ip := range addrs {
		if !s.Config.Webhooks.reachable(ip) {
			return "", Invalid("url", "the webhook's host %q is a private, loopback or link-local address; webhooks reach public addresses only", host)
		}
	}
	return u.String(), nil
}

// reachable reports whether webhooks may connect to ip: a public unicast
// address, or one of the networks an operator allowed.
func (c WebhookConfig) reachable(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, n := range c.AllowNetworks {
		if n.Contains(ip) {
			return true
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, n := range nonPublic {
		if n.Contains(ip) {
			return false
		}
	}
	return true
}

// nonPublic are global-unicast ranges that are not the public internet
// (shared address space, documentation, benchmarking, reserved, NAT64,
// the deprecated site-local).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("240.0.0.0/4"), netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("fec0::/10"),
}

func newWebhookSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// SignWebhook returns the Standard Webhooks signature header value of a
// message: "v1," and the base64 HMAC-SHA256, keyed with the secret's
// decoded bytes, of "id.timestamp.body".
func SignWebhook(secret, id string, timestamp int64, body []byte) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		key = []byte(secret)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, timestamp)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// enqueueDeliveries writes, in the transaction s works in, a delivery for
// each active webhook that wants each event.
func (s *Service) enqueueDeliveries(ctx context.Context, evs []*Event) error {
	byOrg := map[ID][]*Webhook{}
	var ds []*WebhookDelivery
	now := s.now()
	for _, ev := range evs {
		ws, ok := byOrg[ev.OrgID]
		if !ok {
			var err error
			if ws, err = s.Store.ActiveWebhooks(ctx, ev.OrgID); err != nil {
				return err
			}
			byOrg[ev.OrgID] = ws
		}
		for _, w := range ws {
			if (len(w.Events) > 0 && !slices.Contains(w.Events, ev.Type)) || (w.BucketID != nil && *w.BucketID != ev.BucketID) {
				continue
			}
			ds = append(ds, &WebhookDelivery{ID: NewID(PrefixWebhookDelivery, now), OrgID: ev.OrgID, WebhookID: w.ID,
				EventSeq: ev.Seq, State: DeliveryPending, NextAttemptAt: now, CreatedAt: now})
		}
	}
	if len(ds) == 0 {
		return nil
	}
	return s.Store.AddWebhookDeliveries(ctx, ds)
}

// webhookDispatcher is this process's share of webhook delivery.
type webhookDispatcher struct {
	wake     chan struct{}
	mu       sync.Mutex
	inFlight map[ID]int
	client   *http.Client
}

func newWebhookDispatcher() *webhookDispatcher {
	return &webhookDispatcher{wake: make(chan struct{}, 1), inFlight: map[ID]int{}}
}

func (d *webhookDispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// webhookClient is the HTTP client of deliveries: every connection it
// makes checks the address it dials (DNS rebinding cannot slip a private
// address in after the URL was checked), it uses no proxy, follows no
// redirect and gives each attempt cfg.Timeout.
func webhookClient(cfg WebhookConfig) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !cfg.reachable(ap.Addr()) {
			return fmt.Errorf("webhooks may not connect to %s", address)
		}
		return nil
	}}
	return &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{Proxy: nil, DialContext: dialer.DialContext, ForceAttemptHTTP2: true,
			TLSHandshakeTimeout: cfg.Timeout, ResponseHeaderTimeout: cfg.Timeout, MaxIdleConnsPerHost: cfg.Concurrency},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// RunWebhooks delivers webhooks until ctx ends: it claims due deliveries
// (one server at a time per delivery), POSTs them, and records the
// outcome. Serve calls it once.
func (s *Service) RunWebhooks(ctx context.Context) {
	cfg := s.Config.Webhooks.withDefaults()
	s.hooks.client = webhookClient(cfg)
	go s.Store.Listen(ctx, EventsChannel, func(string) { s.hooks.poke() })
	t := time.NewTicker(cfg.Poll)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.hooks.wake:
		}
		now := s.now()
		ds, err := s.Store.ClaimWebhookDeliveries(ctx, now, now.Add(cfg.Timeout+30*time.Second), cfg.Concurrency, 50)
		if err != nil {
			if ctx.Err() == nil {
				s.Logger.WarnContext(ctx, "claiming webhook deliveries; retrying", "err", err)
			}
			continue
		}
		for _, d := range ds {
			s.hooks.mu.Lock()
			if s.hooks.inFlight[d.WebhookID] >= cfg.Concurrency {
				s.hooks.mu.Unlock()
				continue // its lease runs out and it is claimed again
			}
			s.hooks.inFlight[d.WebhookID]++
			s.hooks.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					s.hooks.mu.Lock()
					s.hooks.inFlight[d.WebhookID]--
					s.hooks.mu.Unlock()
				}()
				s.attemptDelivery(context.WithoutCancel(ctx), cfg, d)
			}()
		}
	}
}

// webhookPayload is the body of a delivery: the event, as JSON.
type webhookPayload struct {
	ID        ID        `json:"id"`
	Type      EventType `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		FileID   ID           `json:"fileId"`
		BucketID ID           `json:"bucketId"`
		ActorID  *ID          `json:"actorId,omitempty"`
		TargetID *ID          `json:"targetId,omitempty"`
		File     *webhookFile `json:"file,omitempty"`
	} `json:"data"`
}

type webhookFile struct {
	ID         ID         `json:"id"`
	Name       string     `json:"name"`
	Path       string     `json:"path"`
	MimeType   string     `json:"mimeType"`
	Size       int64      `json:"size"`
	Sha256     string     `json:"checksumSha256"`
	Visibility Visibility `json:"visibility"`
	Revision   int        `json:"revision"`
	TrashedAt  *time.Time `json:"trashedAt,omitempty"`
	ExternalID *string    `json:"externalId,omitempty"`
}

// attemptDelivery makes one attempt of a claimed delivery and records it.
func (s *Service) attemptDelivery(ctx context.Context, cfg WebhookConfig, d *WebhookDelivery) {
	w, err := s.Store.Webhook(ctx, d.OrgID, d.WebhookID)
	if err != nil {
		return // deleted meanwhile: its deliveries went with it
	}
	evs, err := s.Store.EventsAfter(ctx, &d.OrgID, d.EventSeq-1, 1)
	if err != nil {
		s.Logger.WarnContext(ctx, "loading a webhook's event", "delivery", d.ID, "err", err)
		return
	}
	var status *int
	var failure string
	switch {
	case len(evs) == 0 || evs[0].Seq != d.EventSeq:
		failure = "the event is no longer kept"
	case !w.Active:
		failure = "the webhook is disabled"
	default:
		status, failure = s.post(ctx, cfg, w, d, evs[0])
	}
	s.recordAttempt(ctx, cfg, w, d, status, failure)
}

// post sends one signed attempt and returns the answer's status and, if
// it failed, why.
func (s *Service) post(ctx context.Context, cfg WebhookConfig, w *Webhook, d *WebhookDelivery, ev *Event) (*int, string) {
	var body webhookPayload
	body.ID, body.Type, body.Timestamp = ev.ID(), ev.Type, ev.At
	body.Data.FileID, body.Data.BucketID, body.Data.ActorID, body.Data.TargetID = ev.FileID, ev.BucketID, ev.ActorID, ev.TargetID
	if fs, err := s.Store.ListFiles(ctx, FileQuery{OrgID: ev.OrgID, IDs: []ID{ev.FileID}, Filter: FileFilter{Trashed: TrashInclude}, Limit: 1}); err == nil && len(fs) == 1 {
		f := fs[0]
		body.Data.File = &webhookFile{ID: f.ID, Name: f.Name, Path: f.Path, MimeType: f.MimeType, Size: f.Size, Sha256: f.Sha256,
			Visibility: f.Visibility, Revision: f.Revision, TrashedAt: f.TrashedAt, ExternalID: f.ExternalID}
	}
	raw, _ := json.Marshal(body)
	ts := s.Now().Unix()
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, w.URL, bytes.NewReader(raw))
	if err != nil {
		return nil, "the URL is not valid"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mediagraph-webhooks")
	req.Header.Set("webhook-id", string(d.ID))
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", SignWebhook(w.Secret, string(d.ID), ts, raw))
	res, err := s.hooks.client.Do(req)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && strings.Contains(opErr.Error(), "webhooks may not connect") {
			return nil, "the host resolves to an address webhooks may not reach"
		}
		return nil, "the request failed: " + trimURLError(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	code := res.StatusCode
	if code >= 200 && code < 300 {
		return &code, ""
	}
	return &code, fmt.Sprintf("the endpoint answered %d", code)
}

func trimURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// recordAttempt writes an attempt's outcome: the delivery succeeds, is
// retried after an exponential backoff, or fails for good once its retry
// window has passed — and a webhook whose deliveries keep failing for good
// is disabled, with the reason on it.
func (s *Service) recordAttempt(ctx context.Context, cfg WebhookConfig, w *Webhook, d *WebhookDelivery, status *int, failure string) {
	now := s.now()
	d.Attempts++
	d.LockedUntil = nil
	a := &WebhookAttempt{ID: NewID(PrefixWebhookAttempt, now), OrgID: d.OrgID, WebhookID: w.ID, DeliveryID: d.ID,
		EventSeq: d.EventSeq, Attempt: d.Attempts, Status: status, At: now}
	err := s.Store.InTx(ctx, func(tx Store) error {
		fresh, err := tx.Webhook(ctx, w.OrgID, w.ID)
		if err != nil {
			return err
		}
		switch {
		case failure == "":
			d.State = DeliverySucceeded
			fresh.Failures = 0
		default:
			a.Error = &failure
			next := now.Add(backoff(cfg, d.Attempts))
			if next.Sub(d.CreatedAt) > cfg.RetryWindow || !fresh.Active {
				d.State = DeliveryFailed
				if fresh.Active {
					fresh.Failures++
					if fresh.Failures >= cfg.DisableAfter {
						reason := fmt.Sprintf("%d deliveries in a row failed for %s; the last: %s", fresh.Failures, cfg.RetryWindow, failure)
						fresh.Active, fresh.DisabledReason, fresh.DisabledAt = false, &reason, &now
						s.Logger.WarnContext(ctx, "webhook disabled", "webhook", w.ID, "org", w.OrgID, "reason", reason)
					}
				}
			} else {
				d.NextAttemptAt = next
				a.NextAttemptAt = &next
			}
		}
		fresh.UpdatedAt = now
		if err := tx.UpdateWebhookDelivery(ctx, d); err != nil {
			return err
		}
		if err := tx.AddWebhookAttempt(ctx, a); err != nil {
			return err
		}
		return tx.UpdateWebhook(ctx, fresh)
	})
	if err != nil {
		s.Logger.WarnContext(ctx, "recording a webhook attempt", "delivery", d.ID, "err", err)
	}
}

// backoff is the wait before retry n (from 1): FirstRetry doubling up to
// an hour, with a fifth of jitter either way.
func backoff(cfg WebhookConfig, n int) time.Duration {
	d := cfg.FirstRetry << min(n-1, 20)
	d = min(d, time.Hour)
	j, _ := rand.Int(rand.Reader, big.NewInt(int64(d/5)+1))
	return d - d/10 + time.Duration(j.Int64())
}
