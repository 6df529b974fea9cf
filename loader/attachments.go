package loader

import (
	"context"
	"sync"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"github.com/mediagraph/mediagraph/media"
)

// attachKey is one parent's page of attachments of one query shape.
type attachKey struct {
	Shape  string
	Target media.ID
}

// attachments batches the first pages (and counts) of many parents'
// attachments: one query per shape, not one per parent.
type attachments struct {
	shapes sync.Map // shape → media.FileQuery
	pages  *dataloader.Loader[attachKey, []*media.File]
	counts *dataloader.Loader[attachKey, int]
}

func newAttachments(svc *media.Service, attachWait time.Duration) *attachments {
	a := &attachments{}
	a.pages = dataloader.NewBatchedLoader(batchByShape(a, svc.AttachmentPages),
		dataloader.WithWait[attachKey, []*media.File](attachWait))
	a.counts = dataloader.NewBatchedLoader(batchByShape(a, svc.AttachmentCounts),
		dataloader.WithWait[attachKey, int](attachWait))
	return a
}

// batchByShape groups keys by shape and runs fetch once per shape.
func batchByShape[V any](a *attachments, fetch func(context.Context, media.FileQuery, []media.ID) (map[media.ID]V, error)) dataloader.BatchFunc[attachKey, V] {
	return func(ctx context.Context, keys []attachKey) []*dataloader.Result[V] {
		targets := map[string][]media.ID{}
		for _, k := range keys {
			targets[k.Shape] = append(targets[k.Shape], k.Target)
		}
		found := map[attachKey]V{}
		errs := map[string]error{}
		for shape, ts := range targets {
			q, _ := a.shapes.Load(shape)
			m, err := fetch(ctx, q.(media.FileQuery), ts)
			errs[shape] = err
			for t, v := range m {
				found[attachKey{shape, t}] = v
			}
		}
		out := make([]*dataloader.Result[V], len(keys))
		for i, k := range keys {
			out[i] = &dataloader.Result[V]{Data: found[k], Error: errs[k.Shape]}
		}
		return out
	}
}

// Attachments makes c read its page and count through the operation's
// batch, when it is a first page of one parent's attachments.
func (l *Loaders) Attachments(c *media.FileConnection) {
	shape, target, ok := c.BatchKey()
	if !ok {
		return
	}
	l.attach.shapes.LoadOrStore(shape, c.BatchQuery())
	key := attachKey{Shape: shape, Target: target}
	c.UseBatch(
		func(ctx context.Context) ([]*media.File, error) { return l.attach.pages.Load(ctx, key)() },
		func(ctx context.Context) (int, error) { return l.attach.counts.Load(ctx, key)() },
	)
}

// commentKey is a post's first page of comments of a size.
type commentKey struct {
	Post  media.ID
	Limit int
}

func newCommentPages(svc *media.Service, wait time.Duration) *dataloader.Loader[commentKey, []*media.Comment] {
	return dataloader.NewBatchedLoader(func(ctx context.Context, keys []commentKey) []*dataloader.Result[[]*media.Comment] {
		byLimit := map[int][]media.ID{}
		for _, k := range keys {
			byLimit[k.Limit] = append(byLimit[k.Limit], k.Post)
		}
		found := map[commentKey][]*media.Comment{}
		errs := map[int]error{}
		for limit, posts := range byLimit {
			m, err := svc.CommentPages(ctx, posts, limit)
			errs[limit] = err
			for p, cs := range m {
				found[commentKey{p, limit}] = cs
			}
		}
		out := make([]*dataloader.Result[[]*media.Comment], len(keys))
		for i, k := range keys {
			cs := found[k]
			if cs == nil {
				cs = []*media.Comment{}
			}
			out[i] = &dataloader.Result[[]*media.Comment]{Data: cs, Error: errs[k.Limit]}
		}
		return out
	}, dataloader.WithWait[commentKey, []*media.Comment](wait))
}

// FirstComments reads a post's first comments through the operation's batch.
func (l *Loaders) FirstComments(ctx context.Context, postID media.ID, limit int) ([]*media.Comment, error) {
	return l.comments.Load(ctx, commentKey{postID, limit})()
}
