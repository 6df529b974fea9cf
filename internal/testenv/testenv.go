// Package testenv gives tests the real services they run against: a fresh
// PostgreSQL database and a versitygw S3 server, both on 127.0.0.1. Locally
// a missing service skips the test; in CI (CI=true) it fails it.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
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

// Postgres creates a fresh database and returns its URL; it is dropped when
// the test ends. The server is MEDIAGRAPH_TEST_POSTGRES or
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("MEDIAGRAPH_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	admin := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(base)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		unavailable(t, "PostgreSQL is not reachable at %s: %v (start it, or set MEDIAGRAPH_TEST_POSTGRES)", base, err)
	}
	name := "mediagraph_test_" + random()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
		admin.Close()
	})
	cfg := pgdriver.NewConnector(pgdriver.WithDSN(base)).Config()
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, cfg.Addr, name)
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

// VersityGW starts one versitygw per test binary (on first use) and returns
// its endpoint and credentials. Call Cleanup from TestMain to stop it.
func VersityGW(t testing.TB) (endpoint, accessKey, secretKey string) {
	t.Helper()
	gw.once.Do(startGW)
	if gw.err != nil {
		unavailable(t, "versitygw: %v (run make bin/versitygw)", gw.err)
	}
	return gw.endpoint, AccessKey, SecretKey
}

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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gw.err = err
		return
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--port", addr, "posix", gw.dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the tests
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		gw.err = err
		return
	}
	gw.cmd, gw.endpoint = cmd, "http://"+addr
	for i := 0; i < 100; i++ {
		if res, err := http.Get(gw.endpoint); err == nil {
			res.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	gw.err = fmt.Errorf("did not start on %s", addr)
}

// findGW looks for MEDIAGRAPH_VERSITYGW, then bin/versitygw in the module
// root, then PATH.
func findGW() (string, error) {
	if p := os.Getenv("MEDIAGRAPH_VERSITYGW"); p != "" {
		return p, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, "bin", "versitygw")
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
				break
			}
		}
	}
	return exec.LookPath("versitygw")
}

// Cleanup stops the versitygw this process started, if any.
func Cleanup() {
	if gw.cmd != nil && gw.cmd.Process != nil {
		_ = gw.cmd.Process.Kill()
		_ = gw.cmd.Wait()
	}
	if gw.dir != "" {
		os.RemoveAll(gw.dir)
	}
}

// BucketName returns a fresh, valid S3 bucket name.
func BucketName() string { return "mg-" + random() }
