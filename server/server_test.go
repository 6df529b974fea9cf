package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

// TestMetricsExposure: /metrics is served only when the configuration says
// so: to anyone, or with its token.
func TestMetricsExposure(t *testing.T) {
	svc := media.NewService(nil, nil, media.DefaultConfig(), slog.Default())
	for _, c := range []struct {
		cfg  func(*Config)
		auth string
		want int
	}{
		{func(c *Config) {}, "", http.StatusNotFound},
		{func(c *Config) { c.MetricsPublic = true }, "", http.StatusOK},
		{func(c *Config) { c.MetricsToken = "t0ken" }, "", http.StatusUnauthorized},
		{func(c *Config) { c.MetricsToken = "t0ken" }, "Bearer wrong", http.StatusUnauthorized},
		{func(c *Config) { c.MetricsToken = "t0ken" }, "Bearer t0ken", http.StatusOK},
	} {
		cfg := DefaultConfig()
		c.cfg(&cfg)
		s := New(svc, cfg, slog.Default(), Options{})
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%+v with %q: %d, want %d", cfg.MetricsPublic, c.auth, rec.Code, c.want)
		}
	}
}

// TestCanceledRequestsAreNotInternalErrors: a field that fails because its
// request ended (the client went away) is UNAVAILABLE and logs nothing; the
// same error while the request is alive is an internal error, logged.
func TestCanceledRequestsAreNotInternalErrors(t *testing.T) {
	var logged bytes.Buffer
	present := presenter(slog.New(slog.NewTextHandler(&logged, nil)))
	err := internalError{fmt.Errorf("database: user: %w", context.Canceled)}

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if got := present(ended, err); got.Extensions["code"] != media.EUNAVAILABLE {
		t.Errorf("ended request: %v %v", got.Message, got.Extensions)
	}
	if logged.Len() != 0 {
		t.Errorf("ended request logged: %s", logged.String())
	}
	if got := present(context.Background(), err); got.Extensions["code"] != media.EINTERNAL {
		t.Errorf("live request: %v %v", got.Message, got.Extensions)
	}
	if !strings.Contains(logged.String(), "internal error") {
		t.Errorf("live request not logged: %q", logged.String())
	}
}
