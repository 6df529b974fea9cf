package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
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
