package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestDevMode starts the server as `make run` does (embedded SQLite, disk,
// dev mode): the first start prints a dev key once, the playground is at /
// pre-filled with it, introspection works; a second start reuses the key.
func TestDevMode(t *testing.T) {
	dir := t.TempDir()
	startDev := func() (*Main, string) {
		var out bytes.Buffer
		m := &Main{Stdout: &out, Stderr: testWriter{t}}
		m.Config = Config{Addr: "127.0.0.1:0", DataDir: dir, Dev: "auto", Migrate: true, LogFormat: "text", LogLevel: "warn",
			MaxUploadSize: 1 << 20, MaxBodyBytes: 1 << 20, MaxUploadMemory: 1 << 20, MaxUploadFiles: 2, MaxImagePixels: 1e6}
		if err := m.Config.resolve(); err != nil {
			t.Fatal(err)
		}
		if !m.Config.dev() {
			t.Fatal("embedded defaults should mean dev mode")
		}
		ctx := context.Background()
		if err := m.Open(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.devKey(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.Listen(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = m.Serve() }()
		return m, out.String()
	}
	m, out := startDev()
	key := regexp.MustCompile(`(?m)^sk_[a-z0-9]{32}$`).FindString(out)
	if key == "" {
		t.Fatalf("no dev key printed: %q", out)
	}
	url := "http://" + m.Listener.Addr().String()
	res, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	switch res.StatusCode {
	case 200:
		if !strings.Contains(string(page), "Bearer "+key) {
			t.Fatal("playground not pre-filled with the dev key")
		}
	case 503: // playground assets not built into this test binary
	default:
		t.Fatalf("playground: %d", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", strings.NewReader(`{"query":"{ __schema { queryType { name } } viewer { role } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"role":"OWNER"`) || !strings.Contains(string(body), `"name":"Query"`) {
		t.Fatalf("dev key or introspection: %s", body)
	}
	_ = m.HTTP.Close()
	_ = m.Close()

	m2, out2 := startDev()
	defer func() { _ = m2.HTTP.Close(); _ = m2.Close() }()
	if strings.Contains(out2, "sk_") || m2.DevKey != key {
		t.Fatalf("second start printed a key or lost it: %q", out2)
	}
}
