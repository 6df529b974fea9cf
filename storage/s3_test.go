package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mediagraph/mediagraph/internal/testenv"
	"github.com/mediagraph/mediagraph/media"
	"github.com/mediagraph/mediagraph/storage"
	"github.com/mediagraph/mediagraph/storage/storagetest"
)

// TestS3 runs the suite through OpenS3 (credentials from the environment,
// as in production) with both checksum settings, each on a fresh bucket.
func TestS3(t *testing.T) {
	endpoint, access, secret := testenv.VersityGW(t)
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	for _, checksum := range []string{"when_required", "when_supported"} {
		t.Run(checksum, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) media.Blobs {
				s, err := storage.OpenS3(context.Background(), "s3://"+testenv.BucketName()+
					"?region=us-east-1&path_style=true&checksum="+checksum+"&endpoint="+endpoint)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.EnsureBucket(context.Background()); err != nil {
					t.Fatal(err)
				}
				if err := s.EnsureBucket(context.Background()); err != nil {
					t.Fatalf("EnsureBucket on an existing bucket: %v", err)
				}
				return s
			})
		})
	}
}

func TestOpenS3(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	for _, u := range []string{
		"s3://b",
		"s3://b?endpoint=http://127.0.0.1:9000&region=eu-west-1&path_style=true&checksum=when_required",
		"s3://b/?checksum=when_supported&path_style=0",
	} {
		if _, err := storage.OpenS3(context.Background(), u); err != nil {
			t.Errorf("OpenS3(%s): %v", u, err)
		}
	}
	for _, u := range []string{
		"s3://",
		"s3://b/prefix",
		"http://b",
		"s3://b?checksum=always",
		"s3://b?path_style=yes",
		"s3://b?pathstyle=true",
		"s3://b?endpoint=127.0.0.1:9000",
	} {
		if _, err := storage.OpenS3(context.Background(), u); err == nil {
			t.Errorf("OpenS3(%s) accepted", u)
		}
	}
}

// TestS3Unavailable: a store that does not answer is UNAVAILABLE, and the
// message clients see names neither the endpoint nor the key.
func TestS3Unavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	s := storage.NewS3(s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr), UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider("a", "b", ""),
		RetryMaxAttempts: 1,
	}), "bucket")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	checks := map[string]error{"Ping": s.Ping(ctx)}
	_, checks["Stat"] = s.Stat(ctx, "org/secret-key")
	_, checks["Get"] = s.Get(ctx, "org/secret-key", 0, -1)
	checks["Put"] = s.Put(ctx, "org/secret-key", strings.NewReader("x"), 1, "")
	for op, err := range checks {
		if media.ErrorCode(err) != media.EUNAVAILABLE {
			t.Errorf("%s: %v, want UNAVAILABLE", op, err)
		}
		if msg := media.ErrorMessage(err); strings.Contains(msg, addr) || strings.Contains(msg, "secret-key") {
			t.Errorf("%s: the message leaks: %s", op, msg)
		}
	}
}

// TestS3PutIsStreamed checks that a 40 MiB Put from a reader that cannot
// seek allocates far less than the object (one 8 MiB part buffer at most),
// and that a failed multipart upload is aborted.
func TestS3PutIsStreamed(t *testing.T) {
	for _, checksum := range []string{"when_required", "when_supported"} {
		t.Run(checksum, func(t *testing.T) {
			s, client, bucket := newS3(t, checksum)
			ctx := context.Background()
			const size = 40 << 20
			// Warm up the SDK and the part pool, then measure.
			if err := s.Put(ctx, "warm", io.LimitReader(zeros{}, 9<<20), 9<<20, ""); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if err := s.Put(ctx, "big", io.LimitReader(zeros{}, size), size, ""); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 12<<20 {
				t.Errorf("a %d MiB Put allocated %d MiB", size>>20, alloc>>20)
			} else {
				t.Logf("a %d MiB Put allocated %.1f MiB", size>>20, float64(alloc)/(1<<20))
			}

			// Short by one byte after two full parts: aborted, nothing left.
			if err := s.Put(ctx, "short", io.LimitReader(zeros{}, size-1), size, ""); err == nil {
				t.Fatal("short Put succeeded")
			}
			ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) != 0 {
				t.Errorf("%d multipart uploads left behind", len(ups.Uploads))
			}
		})
	}
}

// newS3 returns a store on a fresh bucket with the client under it.
func newS3(t *testing.T, checksum string) (*storage.S3, *s3.Client, string) {
	endpoint, access, secret := testenv.VersityGW(t)
	o := s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(access, secret, ""),
	}
	if checksum == "when_required" {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	client := s3.New(o)
	bucket := testenv.BucketName()
	s := storage.NewS3(client, bucket)
	if err := s.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, client, bucket
}

// zeros yields zero bytes forever (and cannot seek).
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestS3PartURLsSignLength: part URLs sign the Content-Length and nothing
// a plain HTTP client would not send (no checksum headers), whatever the
// checksum setting, and PresignPart refuses what S3 would.
func TestS3PartURLsSignLength(t *testing.T) {
	for _, checksum := range []string{"when_required", "when_supported"} {
		t.Run(checksum, func(t *testing.T) {
			s, _, _ := newS3(t, checksum)
			ctx := context.Background()
			id, err := s.CreateMultipart(ctx, "k", "video/mp4")
			if err != nil {
				t.Fatal(err)
			}
			defer s.AbortMultipart(ctx, "k", id)
			for _, size := range []int64{100, media.MinPartSize} {
				u, err := s.PresignPart(ctx, "k", id, 7, size, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				q, err := url.ParseQuery(u[strings.Index(u, "?")+1:])
				if err != nil {
					t.Fatal(err)
				}
				if h := q.Get("X-Amz-SignedHeaders"); h != "content-length;host" {
					t.Errorf("signed headers %q in %s", h, u)
				}
				for k := range q {
					if strings.Contains(strings.ToLower(k), "checksum") {
						t.Errorf("%s in %s", k, u)
					}
				}
			}
			for _, n := range []int{0, -1, 10_001} {
				if _, err := s.PresignPart(ctx, "k", id, n, 1, time.Minute); media.ErrorCode(err) != media.EINVALID {
					t.Errorf("part %d: %v", n, err)
				}
			}
			if _, err := s.PresignPart(ctx, "k", id, 1, -1, time.Minute); media.ErrorCode(err) != media.EINVALID {
				t.Errorf("a negative size: %v", err)
			}
			if _, err := s.PresignPart(ctx, "k", id, 1, 5<<30+1, time.Minute); media.ErrorCode(err) != media.ETOOLARGE {
				t.Errorf("a part over 5 GiB: %v", err)
			}
		})
	}
}

// TestS3PutFromReaderAt: a seekable upload (a temporary file, say) is sent
// in sections of itself — one PutObject up to 64 MiB, parts in parallel
// above — with no buffers of ours, and a short source leaves nothing.
func TestS3PutFromReaderAt(t *testing.T) {
	for _, checksum := range []string{"when_required", "when_supported"} {
		t.Run(checksum, func(t *testing.T) {
			s, client, bucket := newS3(t, checksum)
			ctx := context.Background()
			data := make([]byte, 70<<20)
			for i := range data {
				data[i] = byte(i * 7 / 5)
			}
			for _, size := range []int{1 << 20, len(data)} {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				if err := s.Put(ctx, "ra", bytes.NewReader(data[:size]), int64(size), ""); err != nil {
					t.Fatal(err)
				}
				runtime.ReadMemStats(&after)
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
					t.Errorf("a %d MiB Put from a ReaderAt allocated %d MiB", size>>20, alloc>>20)
				}
				rc, err := s.Get(ctx, "ra", 0, -1)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(rc)
				rc.Close()
				if sha256.Sum256(got) != sha256.Sum256(data[:size]) {
					t.Fatalf("%d bytes stored differently", size)
				}
			}
			// A known SHA-256 signs the request and the store checks it:
			// the right one stores, a wrong one is refused.
			small := data[:1000]
			sum := sha256.Sum256(small)
			if err := s.Put(media.WithContentSHA256(ctx, hex.EncodeToString(sum[:])), "known", bytes.NewReader(small), 1000, ""); err != nil {
				t.Fatalf("Put with its SHA-256: %v", err)
			}
			if err := s.Put(media.WithContentSHA256(ctx, strings.Repeat("0", 64)), "wrong", bytes.NewReader(small), 1000, ""); err == nil {
				t.Fatal("a Put signed with a wrong SHA-256 was stored")
			}
			if err := s.Put(ctx, "short", bytes.NewReader(data[:66<<20]), 67<<20, ""); err == nil {
				t.Fatal("a Put from a short ReaderAt succeeded")
			}
			ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) != 0 {
				t.Errorf("%d multipart uploads left behind", len(ups.Uploads))
			}
			if _, err := s.Stat(ctx, "short"); !media.IsNotFound(err) {
				t.Errorf("a failed Put left an object: %v", err)
			}
		})
	}
}
