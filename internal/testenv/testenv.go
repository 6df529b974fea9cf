// Package testenv gives tests the real services they run against: a fresh
// PostgreSQL database and a versitygw S3 server, both on 127.0.0.1. Locally
// a missing service skips the test; in CI (CI=true) it fails it.
//
// A test binary that uses VersityGW should stop it from TestMain:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		testenv.Cleanup()
//		os.Exit(code)
//	}
//
// (On Linux the server also dies with the test binary if TestMain does not
// get to run.)
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/mediagraph/mediagraph/storage"
)

// unavailable fails the test in CI and skips it elsewhere.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func random() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DefaultPostgres is the server Postgres uses unless MEDIAGRAPH_TEST_POSTGRES
// names another.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Postgres creates a fresh database mediagraph_test_<random> and returns its
// URL; the database is dropped (with any connections still open) when the
// test ends. The server is MEDIAGRAPH_TEST_POSTGRES or DefaultPostgres.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("MEDIAGRAPH_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("MEDIAGRAPH_TEST_POSTGRES is not a URL: %v", err)
	}
	name := "mediagraph_test_" + random()
	if err := adminExec(base, "CREATE DATABASE "+name); err != nil {
		var pe pgdriver.Error
		if errors.As(err, &pe) {
			t.Fatalf("creating %s: %v", name, err)
		}
		unavailable(t, "PostgreSQL is not reachable at %s: %v (start it, or set MEDIAGRAPH_TEST_POSTGRES)", u.Redacted(), err)
	}
	t.Cleanup(func() {
		if err := adminExec(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// adminExec runs one statement on the server's maintenance database,
// holding no connection afterwards.
func adminExec(dsn, query string) error {
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn)))
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := db.ExecContext(ctx, query)
	return err
}

// Credentials of the shared versitygw.
const (
	AccessKey = "mediagraph-test"
	SecretKey = "mediagraph-test-secret"
)

var gw struct {
	once     sync.Once
	cmd      *exec.Cmd
	dir      string
	endpoint string
	err      error
}

// VersityGW starts one versitygw per test binary (on first use), serving a
// temporary folder on a free port of 127.0.0.1, and returns its endpoint
// (http://127.0.0.1:PORT) and root credentials. Buckets are folders: give
// each test its own (BucketName). Call Cleanup from TestMain to stop it.
//
// The binary is MEDIAGRAPH_VERSITYGW, else bin/versitygw in the module root,
// else versitygw on PATH.
func VersityGW(t testing.TB) (endpoint, accessKey, secretKey string) {
	t.Helper()
	gw.once.Do(startGW)
	if gw.err != nil {
		unavailable(t, "%v", gw.err)
	}
	return gw.endpoint, AccessKey, SecretKey
}

// S3 returns a store on a fresh bucket of the shared versitygw. checksum is
// "when_supported" (the SDK's default) or "when_required". It sets no
// environment variables, so parallel tests may use it.
func S3(t testing.TB, checksum string) *storage.S3 {
	t.Helper()
	st := storage.NewS3(S3Client(t, checksum), BucketName())
	if err := st.EnsureBucket(context.Background()); err != nil {
		t.Fatalf("creating a bucket: %v", err)
	}
	return st
}

// S3Client returns an SDK client of the shared versitygw.
func S3Client(t testing.TB, checksum string) *s3.Client {
	t.Helper()
	endpoint, access, secret := VersityGW(t)
	calc, valid := aws.RequestChecksumCalculationWhenSupported, aws.ResponseChecksumValidationWhenSupported
	if checksum == "when_required" {
		calc, valid = aws.RequestChecksumCalculationWhenRequired, aws.ResponseChecksumValidationWhenRequired
	}
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(access, secret, ""),
		RequestChecksumCalculation: calc,
		ResponseChecksumValidation: valid,
		DisableLogOutputChecksumValidationSkipped: true,
	})
}

// BucketName returns a fresh, valid S3 bucket name.
func BucketName() string { return "mg-" + random() }

func startGW() {
	bin, err := findGW()
	if err != nil {
		gw.err = err
		return
	}
	gw.dir, err = os.MkdirTemp("", "mediagraph-s3-")
	if err != nil {
		gw.err = err
		return
	}
	// The port is free when we look, but another process may take it
	// before versitygw binds it: try a few.
	for range 3 {
		if gw.err = tryStartGW(bin); gw.err == nil {
			return
		}
	}
}

func tryStartGW(bin string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs syncBuffer
	cmd := exec.Command(bin, "--port", addr, "posix", gw.dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	cmd.SysProcAttr = sysProcAttr() // never outlive the tests
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting versitygw (%s): %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	endpoint := "http://" + addr
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("versitygw exited on start: %s", logs.String())
		default:
		}
		if res, err := client.Get(endpoint); err == nil {
			res.Body.Close()
			gw.cmd, gw.endpoint = cmd, endpoint
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("versitygw did not answer on %s within 20s: %s", addr, logs.String())
}

// findGW looks for MEDIAGRAPH_VERSITYGW, then bin/versitygw in the module
// root, then PATH.
func findGW() (string, error) {
	if p := os.Getenv("MEDIAGRAPH_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("versitygw not found at MEDIAGRAPH_VERSITYGW=%s: %w", p, err)
		}
		return p, nil
	}
	if root := moduleRoot(); root != "" {
		p := filepath.Join(root, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", errors.New("versitygw not found; run make bin/versitygw (or set MEDIAGRAPH_VERSITYGW)")
}

// moduleRoot walks up from the working directory to the folder with go.mod.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Cleanup stops the versitygw this process started, if any, and removes
// its folder.
func Cleanup() {
	if gw.cmd != nil && gw.cmd.Process != nil {
		_ = gw.cmd.Process.Kill()
		// The goroutine started in tryStartGW reaps it.
	}
	if gw.dir != "" {
		// Retry briefly: the killed server may still hold files open.
		for range 10 {
			if os.RemoveAll(gw.dir) == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// syncBuffer keeps the first 64 KiB of a process's output, for error messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if room := 64<<10 - s.b.Len(); room > 0 {
		s.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(s.b.String())
}

// VersityGWBinary returns the versitygw binary VersityGW would run, for
// tests that run (and stop) servers of their own.
func VersityGWBinary() (string, error) { return findGW() }
