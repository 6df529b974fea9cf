package storage_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mediagraph/mediagraph/storage"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	secret := []byte("0123456789abcdef")
	dir := t.TempDir()
	for _, u := range []string{filepath.Join(dir, "a"), "file://" + filepath.Join(dir, "b")} {
		b, err := storage.Open(ctx, u, secret)
		if err != nil {
			t.Fatalf("Open(%s): %v", u, err)
		}
		if _, ok := b.(*storage.Disk); !ok {
			t.Errorf("Open(%s): %T", u, b)
		}
		if err := b.Ping(ctx); err != nil {
			t.Errorf("Open(%s): Ping: %v", u, err)
		}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	if b, err := storage.Open(ctx, "s3://bucket?region=us-east-1", secret); err != nil {
		t.Errorf("Open(s3): %v", err)
	} else if _, ok := b.(*storage.S3); !ok {
		t.Errorf("Open(s3): %T", b)
	}
	for _, u := range []string{"gs://bucket", "file://relative/path"} {
		if _, err := storage.Open(ctx, u, secret); err == nil {
			t.Errorf("Open(%s) accepted", u)
		}
	}
	if _, err := storage.Open(ctx, dir, []byte("short")); err == nil {
		t.Error("a short disk secret was accepted")
	}
}
