package database

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/media"
)

// TestSearchWindow: a search reads the same pages whatever the window it
// reads before asking the index (PostgreSQL), in every order and both
// directions, forward with cursors and with offsets: one listing of every
// match, cut into pages, each file once.
func TestSearchWindow(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		fx := newFixture(t, db)
		rng := rand.New(rand.NewPCG(11, 12))
		for i := range 60 {
			fx.newFile(func(f *media.File) {
				f.Name = fmt.Sprintf("%s %d.png", []string{"cat", "dog", "cat dog", "bird"}[rng.IntN(4)], i)
				if rng.IntN(3) == 0 {
					c := []string{"a cat", "the dog", "nothing"}[rng.IntN(3)]
					f.Caption = &c
				}
				f.Tags = []string{[]string{"cat", "pet", "wild"}[rng.IntN(3)]}
				f.Size = int64(rng.IntN(10))
				f.CreatedAt = t0.Add(time.Duration(rng.IntN(20)) * time.Second) // ties on purpose
				f.UpdatedAt = f.CreatedAt
			})
		}
		defer func(w int) { searchWindow = w }(searchWindow)
		for _, search := range []string{"cat", "dog", "cat dog", "pet", "ca", "bird", "zebra"} {
			for _, field := range []media.FileOrderField{media.OrderRelevance, media.OrderCreatedAt, media.OrderName, media.OrderSize} {
				for _, dir := range []media.OrderDirection{media.Desc, media.Asc} {
					q := media.FileQuery{OrgID: fx.org.ID, BucketID: &fx.bucket.ID, Filter: media.FileFilter{Search: &search},
						Order: media.FileOrder{Field: field, Direction: dir}}
					searchWindow = 1 << 20
					all, err := db.ListFiles(fx.ctx, q)
					fx.must(err)
					want := ids(all)
					for _, w := range []int{1, 3, 7} {
						searchWindow = w
						name := fmt.Sprintf("%q by %s %s, window %d", search, field, dir, w)
						// Cursors, 4 at a time.
						var got []media.ID
						pq := q
						pq.Limit = 4
						for {
							page, err := db.ListFiles(fx.ctx, pq)
							fx.must(err)
							got = append(got, ids(page)...)
							if len(page) < pq.Limit {
								break
							}
							pq.After = keyOf(page[len(page)-1], field)
						}
						if !slices.Equal(got, want) {
							t.Fatalf("%s:\n got %v\nwant %v", name, got, want)
						}
						// Offsets.
						for off := 0; off <= len(want); off += 3 {
							oq := q
							oq.Offset, oq.Limit = off, 4
							page, err := db.ListFiles(fx.ctx, oq)
							fx.must(err)
							if w := want[off:min(off+4, len(want))]; !slices.Equal(ids(page), w) {
								t.Fatalf("%s, offset %d: %v, want %v", name, off, ids(page), w)
							}
						}
					}
				}
			}
		}
	})
}
