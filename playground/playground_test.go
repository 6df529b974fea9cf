package playground

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func built() bool {
	_, err := fs.Stat(dist, "dist/index.html")
	return err == nil
}

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(b)
}

func TestIndex(t *testing.T) {
	if !built() {
		t.Skip("playground not built (make playground)")
	}
	h := Handler(Options{Endpoint: "/graphql", Headers: map[string]string{"Authorization": "Bearer sk_x</script><script>alert(1)"}, Title: "mediagraph"})
	res, body := get(t, h, "/")
	if res.StatusCode != 200 || !strings.Contains(body, `"endpointURL":"http://127.0.0.1:8080/graphql"`) ||
		!strings.Contains(body, `Bearer sk_x\u003c/script\u003e`) || strings.Contains(body, "sk_x</script>") {
		t.Fatalf("index: %d\n%s", res.StatusCode, body)
	}
	// Everything the page loads comes from the binary.
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		if strings.Contains(m[1], "//") {
			t.Errorf("external reference: %s", m[1])
		}
	}
	res, _ = get(t, h, "/main.js")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("main.js: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res, _ := get(t, h, "/nope.js"); res.StatusCode != 404 {
		t.Fatalf("missing asset: %d", res.StatusCode)
	}
}

func TestNotBuilt(t *testing.T) {
	res, body := get(t, http.HandlerFunc(notBuilt), "/")
	if res.StatusCode != 503 || !strings.Contains(body, "make playground") {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
}
