package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/mediagraph/mediagraph/media"
)

// Open returns the store a STORAGE_URL names: s3://… is S3 (see OpenS3);
// file:///path or a plain path is a Disk (its folder created if missing)
// whose presigned URLs are signed with diskSecret. Call SetBaseURL on a
// Disk and mount it at BlobRoute.
func Open(ctx context.Context, rawURL string, diskSecret []byte) (media.Blobs, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	switch {
	case !ok:
		return NewDisk(rawURL, diskSecret)
	case scheme == "s3":
		return OpenS3(ctx, rawURL)
	case scheme == "file" && strings.HasPrefix(rest, "/"):
		return NewDisk(rest, diskSecret)
	default:
		return nil, fmt.Errorf("storage: the storage URL must be s3://BUCKET?…, file:///ABSOLUTE/PATH or a path, not %s://…", scheme)
	}
}
