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

// DefaultWait is how long a loader collects keys before it runs its batch.
// gqlgen resolves the elements of a list concurrently, so they usually
// arrive within microseconds of each other; on a loaded server a late
// goroutine misses the batch and costs one more query (never a wrong answer).
const DefaultWait = time.Millisecond

// Loaders are the loaders of one operation.
type Loaders struct {
	Bucket       *dataloader.Loader[media.ID, *media.Bucket]
	User         *dataloader.Loader[media.ID, *media.User]
	Post         *dataloader.Loader[media.ID, *media.Post]
	Conversation *dataloader.Loader[media.ID, *media.Conversation]
	Usages       *dataloader.Loader[media.ID, []*media.Usage]
	// CommentCount and MessageCount count a post's comments and a
	// conversation's messages.
	CommentCount *dataloader.Loader[media.ID, int]
	MessageCount *dataloader.Loader[media.ID, int]

	attach   *attachments
	comments *dataloader.Loader[commentKey, []*media.Comment]
}

// New returns fresh loaders backed by svc that wait up to wait for keys
// (attachment pages four times as long: they are reached one goroutine per
// parent). Their batch functions run with the context of the first Load,
// which carries the caller.
func New(svc *media.Service, wait time.Duration) *Loaders {
	return &Loaders{
		Bucket:       newLoader(svc.BucketsByIDs, wait),
		User:         newLoader(svc.UsersByIDs, wait),
		Post:         newLoader(svc.PostsByIDs, wait),
		Conversation: newLoader(svc.ConversationsByIDs, wait),
		Usages:       newLoader(svc.UsagesByFileIDs, wait),
		CommentCount: newLoader(svc.CommentCounts, wait),
		MessageCount: newLoader(svc.MessageCounts, wait),
		attach:       newAttachments(svc, 4*wait),
		comments:     newCommentPages(svc, 4*wait),
	}
}

// PrimeCaller tells the user loader about the caller's own user, read with
// its key moments ago, so File.createdBy of the caller's files (most of
// them, for a typical client) costs no query. Only for a query: a mutation
// may change that user before a later field reads it.
func (l *Loaders) PrimeCaller(ctx context.Context) {
	if p := media.PrincipalFrom(ctx); p != nil && p.User != nil {
		l.User.Prime(ctx, p.User.ID, p.User)
	}
}

// newLoader adapts a media batch method (results in key order) to a loader.
func newLoader[V any](fetch func(context.Context, []media.ID) ([]V, error), wait time.Duration) *dataloader.Loader[media.ID, V] {
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
