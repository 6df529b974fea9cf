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
