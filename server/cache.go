package server

import (
	"container/list"
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// byteCache is an LRU cache bounded by the bytes its entries hold rather
// than by their number, so that a few hundred large distinct queries
// cannot pin the heap. Entries larger than maxEntry are not kept at all.
type byteCache[V any] struct {
	mu       sync.Mutex
	capacity int64
	maxEntry int64
	size     func(key string, v V) int64
	used     int64
	order    *list.List // front: most recently used
	entries  map[string]*list.Element
}

type cacheEntry[V any] struct {
	key   string
	value V
	size  int64
}

func newByteCache[V any](capacity, maxEntry int64, size func(string, V) int64) *byteCache[V] {
	return &byteCache[V]{capacity: capacity, maxEntry: maxEntry, size: size, order: list.New(), entries: map[string]*list.Element{}}
}

var (
	_ graphql.Cache[*ast.QueryDocument] = (*byteCache[*ast.QueryDocument])(nil)
	_ graphql.Cache[string]             = (*byteCache[string])(nil)
)

// Get implements graphql.Cache.
func (c *byteCache[V]) Get(_ context.Context, key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cacheEntry[V]).value, true
	}
	var zero V
	return zero, false
}

// Add implements graphql.Cache.
func (c *byteCache[V]) Add(_ context.Context, key string, v V) {
	n := c.size(key, v)
	if n > c.maxEntry {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.used -= e.Value.(*cacheEntry[V]).size
		c.order.Remove(e)
		delete(c.entries, key)
	}
	for c.used+n > c.capacity && c.order.Len() > 0 {
		last := c.order.Back()
		old := last.Value.(*cacheEntry[V])
		c.used -= old.size
		c.order.Remove(last)
		delete(c.entries, old.key)
	}
	c.entries[key] = c.order.PushFront(&cacheEntry[V]{key: key, value: v, size: n})
	c.used += n
}

// Used reports the bytes the entries hold.
func (c *byteCache[V]) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// docCache caches parsed and validated documents (gqlgen adds a document
// only after it passed the cost limit and validation).
type docCache = byteCache[*ast.QueryDocument]

// astBytesPerByte estimates the heap a parsed document holds per byte of
// query text (measured: a 7 KB query's AST holds about 26 times its size).
const astBytesPerByte = 30

func newDocCache(capacity int64) *docCache {
	return newByteCache(capacity, capacity/16, func(q string, _ *ast.QueryDocument) int64 {
		return int64(len(q)) * astBytesPerByte
	})
}

// newAPQCache caches persisted queries by hash, bounded by their text.
func newAPQCache(capacity int64) *byteCache[string] {
	return newByteCache(capacity, capacity/16, func(k, q string) int64 { return int64(len(k) + len(q)) })
}
