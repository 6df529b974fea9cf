// Package loader batches the relations a list of objects fans out on
// (File.bucket, File.createdBy, …) into one query per relation
// per operation, with graph-gophers/dataloader. Loaders are made per
// operation (never per process or per connection), so nothing is cached
// across requests and every request sees the live state.
package loader

import (
	"context"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"github.com/mediagraph/mediagraph/media"
)

// wait is how long a loader collects keys before it runs its batch. gqlgen
// resolves the elements of a list concurrently, so they arrive within
// microseconds of each other.
const wait = time.Millisecond

// Loaders are the loaders of one operation.
type Loaders struct {
	Bucket       *dataloader.Loader[media.ID, *media.Bucket]
	User         *dataloader.Loader[media.ID, *media.User]
	Post         *dataloader.Loader[media.ID, *media.Post]
	Conversation *dataloader.Loader[media.ID, *media.Conversation]
	Usages       *dataloader.Loader[media.ID, []*media.Usage]
}

// New returns fresh loaders backed by svc. Their batch functions run with
// the context of the first Load, which carries the caller.
func New(svc *media.Service) *Loaders {
	return &Loaders{
		Bucket:       newLoader(svc.BucketsByIDs),
		User:         newLoader(svc.UsersByIDs),
		Post:         newLoader(svc.PostsByIDs),
		Conversation: newLoader(svc.ConversationsByIDs),
		Usages:       newLoader(svc.UsagesByFileIDs),
	}
}

// newLoader adapts a media batch method (results in key order) to a loader.
func newLoader[V any](fetch func(context.Context, []media.ID) ([]V, error)) *dataloader.Loader[media.ID, V] {
	batch := func(ctx context.Context, keys []media.ID) []*dataloader.Result[V] {
		out := make([]*dataloader.Result[V], len(keys))
		vals, err := fetch(ctx, keys)
		for i := range keys {
			if err != nil {
				out[i] = &dataloader.Result[V]{Error: err}
			} else {
				out[i] = &dataloader.Result[V]{Data: vals[i]}
			}
		}
		return out
	}
	return dataloader.NewBatchedLoader(batch,
		dataloader.WithWait[media.ID, V](wait),
		dataloader.WithBatchCapacity[media.ID, V](500))
}

type ctxKey struct{}

// With returns a context carrying l.
func With(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// For returns the loaders of ctx's operation.
func For(ctx context.Context) *Loaders {
	l, _ := ctx.Value(ctxKey{}).(*Loaders)
	if l == nil {
		panic("loader: no loaders in context; install server middleware")
	}
	return l
}
