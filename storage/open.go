package storage

import (
	"context"
	"strings"

	"github.com/mediagraph/mediagraph/media"
)

// Open returns the store a STORAGE_URL names: s3://… is S3 (see OpenS3);
// file:///path or a plain path is a Disk whose presigned URLs are signed
// with diskSecret.
func Open(ctx context.Context, rawURL string, diskSecret []byte) (media.Blobs, error) {
	if strings.HasPrefix(rawURL, "s3://") {
		return OpenS3(ctx, rawURL)
	}
	return NewDisk(strings.TrimPrefix(rawURL, "file://"), diskSecret)
}
