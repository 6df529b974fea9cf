package storage_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mediagraph/mediagraph/internal/testenv"
	"github.com/mediagraph/mediagraph/media"
	"github.com/mediagraph/mediagraph/storage"
	"github.com/mediagraph/mediagraph/storage/storagetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

func newDisk(t *testing.T) *storage.Disk {
	d, err := storage.NewDisk(t.TempDir(), []byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	d.SetBaseURL(srv.URL)
	return d
}

func TestDisk(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) media.Blobs { return newDisk(t) })
}

func TestDiskRejectsPathTricksAndBadTokens(t *testing.T) {
	ctx := context.Background()
	d := newDisk(t)
	for _, key := range []string{"../x", "/abs", "a/../../b", `a\b`, "a//b", "", "a/.tmp-x", "a/\x00"} {
		if err := d.Put(ctx, key, strings.NewReader("x"), 1, ""); err == nil {
			t.Errorf("Put(%q) accepted", key)
		}
		if _, err := d.PresignGet(ctx, key, time.Minute); err == nil {
			t.Errorf("PresignGet(%q) accepted", key)
		}
	}
	if err := d.Put(ctx, "k/1", strings.NewReader("hello"), 5, ""); err != nil {
		t.Fatal(err)
	}
	u, _ := d.PresignGet(ctx, "k/1", time.Minute)
	expired, _ := d.PresignGet(ctx, "k/1", -time.Minute)
	putURL, _ := d.PresignPut(ctx, "k/1", time.Minute)
	for name, c := range map[string]struct {
		method, url string
	}{
		"expired":        {http.MethodGet, expired},
		"tampered sig":   {http.MethodGet, u[:len(u)-2] + "00"},
		"longer expiry":  {http.MethodGet, strings.Replace(u, "expires=", "expires=9", 1)},
		"other key":      {http.MethodGet, strings.Replace(u, "k/1", "k/2", 1)},
		"GET token, PUT": {http.MethodPut, u},
		"PUT token, GET": {http.MethodGet, putURL},
		"traversal":      {http.MethodGet, strings.Replace(u, "k/1", "k/../k/1", 1)},
	} {
		req, _ := http.NewRequest(c.method, c.url, strings.NewReader("evil"))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
	}
}

func TestS3(t *testing.T) {
	for _, checksum := range []string{"when_required", "when_supported"} {
		t.Run(checksum, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) media.Blobs {
				endpoint, access, secret := testenv.VersityGW(t)
				t.Setenv("AWS_ACCESS_KEY_ID", access)
				t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
				s, err := storage.OpenS3(context.Background(), "s3://"+testenv.BucketName()+"?region=us-east-1&path_style=true&checksum="+checksum+"&endpoint="+endpoint)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.EnsureBucket(context.Background()); err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}
