package media

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"
)

// Page sizes.
const (
	DefaultPageSize = 25
	MaxPageSize     = 100
)

// FilesArgs are a file listing's arguments, as clients send them.
type FilesArgs struct {
	Bucket *string
	Filter FileFilter
	Order  FileOrder
	First  *int
	After  *string
	Last   *int
	Before *string
	Offset *int
	// Around centres the page on this file (with first as the page size).
	Around *ID
}

// FileConnection is a lazily loaded page of files: the page, the total count
// and the tag facets are each queried only if asked for, so a client that
// selects only totalCount costs one COUNT query.
type FileConnection struct {
	svc    *Service
	query  FileQuery
	bucket *Bucket
	// fingerprint binds cursors to the organization, bucket, filter and order.
	fingerprint string
	backward    bool
	hasBefore   bool // paging started from a cursor or offset
	limit       int
	around      *ID
	empty       bool // the listing is of content the caller cannot see

	batchPage  func(context.Context) ([]*File, error)
	batchCount func(context.Context) (int, error)

	once     sync.Once
	page     []*File
	hasMore  bool
	loadErr  error
	countMu  sync.Mutex
	count    *int
	countErr error
}

// Files lists files. Trashed files are excluded unless the filter asks.
// Returns BAD_USER_INPUT for bad paging arguments or a cursor from another
// listing, NOT_FOUND for an unknown bucket.
func (s *Service) Files(ctx context.Context, args FilesArgs) (*FileConnection, error) {
	return s.files(ctx, args, true)
}

// AttachmentsOf lists the files attached to a post, comment or message the
// caller already sees (the parent it was resolved from): the same
// connection as Files. Pages that start at the beginning of the listing can
// be read for many parents in one query (BatchKey, UseBatch).
func (s *Service) AttachmentsOf(ctx context.Context, targetID ID, args FilesArgs) (*FileConnection, error) {
	args.Filter.AttachedTo = &targetID
	return s.files(ctx, args, false)
}

func (s *Service) files(ctx context.Context, args FilesArgs, checkTarget bool) (*FileConnection, error) {
	p, err := require(ctx, ScopeMediaRead)
	if err != nil {
		return nil, err
	}
	q := FileQuery{OrgID: p.OrgID, Filter: args.Filter, Order: args.Order, Audience: audienceOf(p)}
	var bucket *Bucket
	if args.Bucket != nil {
		b, err := s.bucketByName(ctx, p, *args.Bucket)
		if err != nil {
			return nil, err
		}
		q.BucketID, bucket = &b.ID, b
	}
	if err := normalizeFilter(&q.Filter); err != nil {
		return nil, err
	}
	if q.Order.Field == "" {
		q.Order.Field = OrderCreatedAt
		if q.Filter.Search != nil {
			q.Order.Field = OrderRelevance
		}
	}
	if q.Order.Direction == "" {
		q.Order.Direction = Desc
	}
	if !slices.Contains([]FileOrderField{OrderCreatedAt, OrderUpdatedAt, OrderName, OrderSize, OrderRelevance}, q.Order.Field) ||
		(q.Order.Direction != Asc && q.Order.Direction != Desc) {
		return nil, Invalid("orderBy", "unknown ordering")
	}
	if q.Order.Field == OrderRelevance && q.Filter.Search == nil {
		return nil, Invalid("orderBy", "RELEVANCE orders a search: give filter.search (with at least one word), or another ordering")
	}
	c := &FileConnection{svc: s, query: q, bucket: bucket}
	if id := q.Filter.AttachedTo; id != nil && checkTarget {
		// The attachments of content the caller cannot see (or that does
		// not exist) are an empty page, not an error (CONTRACT rule 4).
		if _, err := s.resolveTarget(ctx, p, *id); err != nil {
			if c := ErrorCode(err); c != ENOTFOUND && c != EFORBIDDEN {
				return nil, err
			}
			c.empty = true
		}
	}
	c.fingerprint = fingerprint(q)
	if err := c.setPaging(args); err != nil {
		return nil, err
	}
	return c, nil
}

func normalizeFilter(f *FileFilter) error {
	for _, p := range []**string{&f.Path, &f.PathPrefix} {
		if *p != nil {
			n, err := NormalizePath("filter.path", **p)
			if err != nil {
				return err
			}
			*p = &n
		}
	}
	var err error
	if f.TagsAny, err = NormalizeTags("filter.tagsAny", f.TagsAny); err != nil {
		return err
	}
	if f.TagsAll, err = NormalizeTags("filter.tagsAll", f.TagsAll); err != nil {
		return err
	}
	for _, t := range f.Types {
		if !t.Valid() {
			return Invalid("filter.types", "unknown file type %q", t)
		}
	}
	for i, m := range f.MimeTypes {
		f.MimeTypes[i] = baseMIME(m)
	}
	if f.Trashed == "" {
		f.Trashed = TrashExclude
	}
	if f.Trashed != TrashExclude && f.Trashed != TrashOnly && f.Trashed != TrashInclude {
		return Invalid("filter.trashed", "trashed must be EXCLUDE, ONLY or INCLUDE")
	}
	if f.Visibility != nil && !f.Visibility.Valid() {
		return Invalid("filter.visibility", "visibility must be PUBLIC or PRIVATE")
	}
	if f.NameContains != nil {
		if err := checkText("filter.nameContains", f.NameContains); err != nil || len(*f.NameContains) > MaxNameBytes {
			return Invalid("filter.nameContains", "nameContains is at most %d bytes of text", MaxNameBytes)
		}
	}
	for _, m := range f.MimeTypes {
		if !validMIMEPattern(m) || strings.Contains(m, "*") {
			return Invalid("filter.mimeTypes", "%q is not a MIME type such as image/png", m)
		}
	}
	if f.CreatedBy != nil && !f.CreatedBy.Valid(PrefixUser) {
		return Invalid("filter.createdBy", "createdBy must be a user id")
	}
	if f.Search, err = normalizeSearch(f.Search); err != nil {
		return err
	}
	if f.ExternalID, err = normalizeExternalID("filter.externalId", f.ExternalID); err != nil {
		return err
	}
	return nil
}

func (c *FileConnection) setPaging(a FilesArgs) error {
	if a.First != nil && a.Last != nil {
		return Invalid("last", "give first or last, not both")
	}
	if a.Offset != nil && (a.After != nil || a.Before != nil) {
		return Invalid("offset", "give offset or a cursor, not both")
	}
	c.limit = DefaultPageSize
	if a.Last != nil {
		c.limit, c.backward = *a.Last, true
	} else if a.First != nil {
		c.limit = *a.First
	}
	field := "first"
	if c.backward {
		field = "last"
	}
	if c.limit < 0 || c.limit > MaxPageSize {
		return Invalid(field, "%s must be between 0 and %d", field, MaxPageSize)
	}
	cur, curField := a.After, "after"
	if c.backward {
		cur, curField = a.Before, "before"
	} else if a.Before != nil {
		return Invalid("before", "before goes with last; use after with first")
	}
	if c.backward && a.After != nil {
		return Invalid("after", "after goes with first; use before with last")
	}
	if cur != nil {
		k, err := c.decodeCursor(curField, *cur)
		if err != nil {
			return err
		}
		c.query.After, c.hasBefore = k, true
	}
	if a.Offset != nil {
		if *a.Offset < 0 || *a.Offset > 100_000 {
			return Invalid("offset", "offset must be between 0 and 100000; use cursors to go further")
		}
		if c.backward {
			return Invalid("offset", "offset goes with first, not last")
		}
		c.query.Offset, c.hasBefore = *a.Offset, *a.Offset > 0
	}
	if a.Around != nil {
		if a.After != nil || a.Before != nil || a.Offset != nil || c.backward {
			return Invalid("around", "around goes with first alone, not with cursors, offset or last")
		}
		c.around = a.Around
	}
	c.query.Reverse = c.backward
	c.query.Limit = c.limit + 1
	return nil
}

// loadAround reads a page centred on c.around: up to half the page before
// it in the ordering, the file, and the rest after it.
func (c *FileConnection) loadAround(ctx context.Context) error {
	id := *c.around
	only := c.query
	only.IDs, only.Limit, only.Offset, only.After = []ID{id}, 1, 0, nil
	var mid []*File
	var err error
	if id.Valid(PrefixFile) {
		if mid, err = c.svc.Store.ListFiles(ctx, only); err != nil {
			return err
		}
	}
	if len(mid) == 0 {
		return Invalid("around", "file %s is not in this listing", id)
	}
	f := mid[0]
	key := fileKey(f, c.query.Order.Field)
	nBefore := (c.limit - 1) / 2
	nAfter := c.limit - 1 - nBefore
	before := c.query
	before.Reverse, before.After, before.Limit = true, &key, nBefore+1
	after := c.query
	after.Reverse, after.After, after.Limit = false, &key, nAfter+1
	bs, err := c.svc.Store.ListFiles(ctx, before)
	if err != nil {
		return err
	}
	as, err := c.svc.Store.ListFiles(ctx, after)
	if err != nil {
		return err
	}
	if len(bs) > nBefore {
		bs, c.hasBefore = bs[:nBefore], true
	}
	if len(as) > nAfter {
		as, c.hasMore = as[:nAfter], true
	}
	slices.Reverse(bs)
	c.page = append(append(bs, f), as...)
	return nil
}

func fileKey(f *File, field FileOrderField) FileKey {
	k := FileKey{ID: f.ID}
	switch field {
	case OrderCreatedAt:
		k.Time = f.CreatedAt
	case OrderUpdatedAt:
		k.Time = f.UpdatedAt
	case OrderName:
		k.Name = f.Name
	case OrderSize:
		k.Size = f.Size
	case OrderRelevance:
		k.Relevance, k.Time = f.Relevance, f.CreatedAt
	}
	return k
}

func (c *FileConnection) load(ctx context.Context) error {
	c.once.Do(func() {
		if c.empty {
			c.page = []*File{}
			return
		}
		if c.around != nil && c.limit > 0 {
			c.loadErr = c.loadAround(ctx)
			return
		}
		if c.limit == 0 {
			c.page = []*File{}
			return
		}
		list := c.svc.Store.ListFiles
		if c.batchPage != nil {
			list = func(ctx context.Context, _ FileQuery) ([]*File, error) { return c.batchPage(ctx) }
		}
		fs, err := list(ctx, c.query)
		if err != nil {
			c.loadErr = err
			return
		}
		if len(fs) > c.limit {
			fs, c.hasMore = fs[:c.limit], true
		}
		if c.backward {
			slices.Reverse(fs)
		}
		c.page = fs
	})
	return c.loadErr
}

// Bucket returns the bucket the listing is limited to, or nil.
func (c *FileConnection) Bucket() *Bucket { return c.bucket }

// Files returns the page.
func (c *FileConnection) Files(ctx context.Context) ([]*File, error) {
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	return c.page, nil
}

// PageInfo is Relay's page information.
type PageInfo struct {
	HasNextPage     bool
	HasPreviousPage bool
	StartCursor     *string
	EndCursor       *string
}

// PageInfo describes the page. hasPreviousPage (going forward) and
// hasNextPage (going backward) are true when the page starts from a cursor
// or an offset, as Relay allows.
func (c *FileConnection) PageInfo(ctx context.Context) (*PageInfo, error) {
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	pi := &PageInfo{}
	if c.backward {
		pi.HasPreviousPage, pi.HasNextPage = c.hasMore, c.hasBefore
	} else {
		pi.HasNextPage, pi.HasPreviousPage = c.hasMore, c.hasBefore
	}
	if n := len(c.page); n > 0 {
		start, end := c.Cursor(c.page[0]), c.Cursor(c.page[n-1])
		pi.StartCursor, pi.EndCursor = &start, &end
	}
	return pi, nil
}

// TotalCount counts every file matching the filter, whatever the page.
func (c *FileConnection) TotalCount(ctx context.Context) (int, error) {
	if c.empty {
		return 0, nil
	}
	c.countMu.Lock()
	defer c.countMu.Unlock()
	if c.count == nil && c.countErr == nil {
		count := c.svc.Store.CountFiles
		if c.batchCount != nil {
			count = func(ctx context.Context, _ FileQuery) (int, error) { return c.batchCount(ctx) }
		}
		n, err := count(ctx, c.query)
		c.count, c.countErr = &n, err
	}
	if c.countErr != nil {
		return 0, c.countErr
	}
	return *c.count, nil
}

type cursorJSON struct {
	F string    `json:"f"`
	T time.Time `json:"t,omitzero"`
	N string    `json:"n,omitempty"`
	S int64     `json:"s,omitempty"`
	R int       `json:"r,omitempty"`
	I ID        `json:"i"`
}

// Cursor returns the opaque cursor of a file in this listing.
func (c *FileConnection) Cursor(f *File) string {
	fk := fileKey(f, c.query.Order.Field)
	b, _ := json.Marshal(cursorJSON{F: c.fingerprint, T: fk.Time, N: fk.Name, S: fk.Size, R: fk.Relevance, I: f.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *FileConnection) decodeCursor(field, s string) (*FileKey, error) {
	bad := Invalid(field, "this cursor is not valid for this listing; cursors only work with the same bucket, filter and orderBy")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 2048 {
		return nil, bad
	}
	var k cursorJSON
	if err := json.Unmarshal(b, &k); err != nil || k.F != c.fingerprint || !k.I.Valid(PrefixFile) || strings.ContainsRune(k.N, 0) {
		return nil, bad
	}
	return &FileKey{Time: k.T, Name: k.N, Size: k.S, Relevance: k.R, ID: k.I}, nil
}

// fingerprint identifies a listing (organization, bucket, filter, order) so a
// cursor cannot be replayed against another one.
func fingerprint(q FileQuery) string {
	b, _ := json.Marshal(struct {
		O ID
		B *ID
		F FileFilter
		R FileOrder
	}{q.OrgID, q.BucketID, q.Filter, q.Order})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// maxFacetTags caps availableTags.
const maxFacetTags = 100

// AvailableTags counts the tags over the whole filtered set, whatever the
// page (most used first, at most 100).
func (c *FileConnection) AvailableTags(ctx context.Context) ([]*TagCount, error) {
	if c.empty {
		return []*TagCount{}, nil
	}
	return c.svc.Store.TagCounts(ctx, c.query, "", maxFacetTags)
}

// Tags lists the tags used in a bucket (or the organization), with counts,
// optionally only those starting with prefix. Trashed files do not count.
// Returns NOT_FOUND for an unknown bucket, BAD_USER_INPUT for a bad limit.
func (s *Service) Tags(ctx context.Context, bucket, prefix *string, first *int) ([]*TagCount, error) {
	c, err := s.Files(ctx, FilesArgs{Bucket: bucket})
	if err != nil {
		return nil, err
	}
	n := DefaultPageSize
	if first != nil {
		n = *first
	}
	if n < 1 || n > maxFacetTags {
		return nil, Invalid("first", "first must be between 1 and %d", maxFacetTags)
	}
	p := ""
	if prefix != nil {
		if err := checkText("prefix", prefix); err != nil {
			return nil, err
		}
		p = strings.ToLower(strings.TrimSpace(*prefix))
	}
	return s.Store.TagCounts(ctx, c.query, p, n)
}

// BatchKey reports whether this is a page of one parent's attachments that
// starts at the beginning of the listing, which pages of other parents with
// the same shape (filter, order, size, caller) can share one query with. It
// returns the shape and the parent.
func (c *FileConnection) BatchKey() (shape string, target ID, ok bool) {
	q := c.query
	// A search page is one or two queries of its own (see Store.ListFiles),
	// not a window over many parents.
	if q.Filter.AttachedTo == nil || c.empty || c.around != nil || q.After != nil || q.Offset > 0 || q.Reverse || q.Filter.Search != nil {
		return "", "", false
	}
	return c.batchShape().fingerprint(), *q.Filter.AttachedTo, true
}

// BatchQuery is the query a batch of BatchKey's shape runs (without a parent).
func (c *FileConnection) BatchQuery() FileQuery { return c.batchShape() }

func (c *FileConnection) batchShape() FileQuery {
	q := c.query
	q.Filter.AttachedTo = nil
	return q
}

func (q FileQuery) fingerprint() string {
	b, _ := json.Marshal(q)
	return string(b)
}

// UseBatch makes the connection read its page (BatchQuery's Limit rows) and
// its count through a batch of parents.
func (c *FileConnection) UseBatch(page func(context.Context) ([]*File, error), count func(context.Context) (int, error)) {
	c.batchPage, c.batchCount = page, count
}

// AttachmentPages reads the first files of many parents in one query (see
// FileConnection.BatchKey).
func (s *Service) AttachmentPages(ctx context.Context, q FileQuery, targets []ID) (map[ID][]*File, error) {
	return s.Store.AttachmentPages(ctx, q, targets)
}

// AttachmentCounts counts the files of many parents in one query.
func (s *Service) AttachmentCounts(ctx context.Context, q FileQuery, targets []ID) (map[ID]int, error) {
	return s.Store.AttachmentCounts(ctx, q, targets)
}
