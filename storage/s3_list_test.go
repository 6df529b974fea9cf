package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

// TestS3ListMultipartPages lists more uploads than one page holds (1000),
// with several uploads of some keys, so that pages end inside a key's
// uploads: each is listed exactly once.
func TestS3ListMultipartPages(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,250 uploads")
	}
	s, _, _ := newS3(t, "when_required")
	ctx := context.Background()
	want := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range 1250 {
		key := fmt.Sprintf("pg/%04d", i%600) // keys 0-49 have three uploads, the others two
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			id, err := s.CreateMultipart(ctx, key, "")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			want[id] = key
			mu.Unlock()
		})
	}
	if _, err := s.CreateMultipart(ctx, "ph/other", ""); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := map[string]string{}
	err := s.ListMultipart(ctx, "pg/", func(u media.MultipartInfo) error {
		if _, dup := got[u.UploadID]; dup {
			t.Errorf("listed twice: %s %s", u.Key, u.UploadID)
		}
		got[u.UploadID] = u.Key
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("listed %d uploads, want %d", len(got), len(want))
	}
	for id, key := range want {
		if got[id] != key {
			t.Errorf("upload %s of %s: listed as %q", id, key, got[id])
		}
	}
}
