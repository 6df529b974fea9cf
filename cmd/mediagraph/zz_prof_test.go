package main

import (
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

func TestZZProf(t *testing.T) {
	e := start(t, backends[1], func(c *Config) { c.LoaderWait = time.Millisecond })
	e.createBucket(e.owner, map[string]any{"name": "bench"})
	bulkSeed(t, e, "bench", 1000)
	q := os.Getenv("Q")
	body := `{"query":"` + strings.ReplaceAll(q, `"`, `\"`) + `"}`
	f, _ := os.Create("/tmp/list.cpu")
	_ = pprof.StartCPUProfile(f)
	res := load(t, e, 16, 10*time.Second, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.owner)
		return req, err
	})
	pprof.StopCPUProfile()
	report(t, "prof", res)
}
