package playground

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// evil is a header value that would end the script element and run code if
// it were pasted into the page unescaped.
const evil = `Bearer sk_x</script><script>alert(1)</script><!--"'&`

func devOptions() Options {
	return Options{
		Endpoint: "/graphql",
		Headers:  map[string]string{"Authorization": evil, "X-Key</script>": "v"},
		Title:    `media<graph> & "co"`,
	}
}

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// A page shaped like Altair's index.html, so the page logic is tested
// whether or not dist/ was built.
const fakeIndex = `<!doctype html>
<html>
  <head>
    <meta charset="utf-8" />
    <title>Altair</title>
    <base href="/" />
    <link href="styles.css" rel="stylesheet" />
  </head>
  <body>
    <app-root><style>.loading-screen { display: none; }</style></app-root>
    <link rel="modulepreload" href="chunk-HMR5CY6K.js">
    <script type="module" src="polyfills.js"></script>
    <script type="module" src="main.js"></script>
  </body>
</html>
`

func fakeDist() fstest.MapFS {
	return fstest.MapFS{
		".gitkeep":                          {},
		"index.html":                        {Data: []byte(fakeIndex)},
		"main.js":                           {Data: []byte("globalThis.AltairGraphQL = {};\n")},
		"chunk-HMR5CY6K.js":                 {Data: []byte("export const x = 1;\n")},
		"styles.css":                        {Data: []byte("body{}")},
		"media/font-latin-400-normal.woff2": {Data: []byte("wOF2")},
		"iframe-sandbox/index.html":         {Data: []byte("<!doctype html><title>sandbox</title>")},
		"iframe-sandbox/assets/index-DHqKSLXH.js": {Data: []byte("1")},
	}
}

var nonceAttr = regexp.MustCompile(`nonce="([^"]*)"`)

// checkIndex checks what holds for the index page over any dist.
func checkIndex(t *testing.T, h http.Handler) string {
	t.Helper()
	res, body := get(t, h, http.MethodGet, "/")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("index Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	for _, want := range []string{
		`"endpointURL":"/graphql"`,
		// The header, JSON-encoded with <, > and & escaped.
		`"Authorization":"Bearer sk_x\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e\u003c!--\"'\u0026"`,
		`"X-Key\u003c/script\u003e":"v"`,
		`AltairGraphQL.init(`,
		`"disableAccount":true`,
		`<title>media&lt;graph&gt; &amp; &#34;co&#34;</title>`,
		`<base href="./" />`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("index lacks %s\n%s", want, body)
		}
	}
	for _, bad := range []string{"sk_x</script>", "<script>alert", "X-Key</script>", "<!--", "<title>Altair</title>"} {
		if strings.Contains(body, bad) {
			t.Errorf("index contains %q unescaped", bad)
		}
	}
	// Only the scripts Altair ships plus the one init script, which carries
	// the CSP nonce.
	if n := strings.Count(body, "<script"); n != 3 {
		t.Errorf("%d script elements, want 3", n)
	}
	csp := res.Header.Get("Content-Security-Policy")
	nonces := nonceAttr.FindAllStringSubmatch(body, -1)
	if len(nonces) != 1 {
		t.Fatalf("nonce attributes: %v", nonces)
	}
	nonce := nonces[0][1]
	if len(nonce) < 16 || !strings.Contains(body, `cspNonce: "`+nonce+`"`) ||
		!strings.Contains(csp, "script-src 'self' 'nonce-"+nonce+"'") || !strings.Contains(csp, "connect-src 'self';") ||
		strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Errorf("nonce %q, CSP %q", nonce, csp)
	}
	// Everything the page loads comes from this server: no absolute or
	// protocol-relative src/href (CDN).
	for _, m := range regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["']?([^"'\s>]+)`).FindAllStringSubmatch(body, -1) {
		if strings.Contains(m[1], "//") || strings.Contains(strings.ToLower(m[1]), "http") {
			t.Errorf("external reference: %s", m[0])
		}
	}
	if strings.Contains(body, "https://") || strings.Contains(body, "http://") {
		t.Errorf("index mentions an absolute URL")
	}
	// A fresh nonce per request.
	_, body2 := get(t, h, http.MethodGet, "/index.html")
	if m := nonceAttr.FindStringSubmatch(body2); m == nil || m[1] == nonce {
		t.Errorf("nonce not renewed: %v", m)
	}
	return body
}

func checkAsset(t *testing.T, h http.Handler, path, ctype, cache string) *http.Response {
	t.Helper()
	res, body := get(t, h, http.MethodGet, path)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ctype ||
		res.Header.Get("Cache-Control") != cache || res.Header.Get("ETag") == "" ||
		res.Header.Get("X-Content-Type-Options") != "nosniff" || body == "" {
		t.Errorf("%s: %d %q %q %q", path, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"), res.Header.Get("ETag"))
	}
	return res
}

func checkRest(t *testing.T, h http.Handler) {
	t.Helper()
	res := checkAsset(t, h, "/main.js", "text/javascript; charset=utf-8", "no-cache")
	checkAsset(t, h, "/chunk-HMR5CY6K.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable")
	checkAsset(t, h, "/styles.css", "text/css; charset=utf-8", "no-cache")
	if r, _ := get(t, h, http.MethodGet, "/main.js", "If-None-Match", res.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d", r.StatusCode)
	}
	if r, body := get(t, h, http.MethodHead, "/main.js"); r.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD: %d %q", r.StatusCode, body)
	}
	sb := checkAsset(t, h, "/iframe-sandbox/index.html", "text/html; charset=utf-8", "no-cache")
	if sb.Header.Get("Content-Security-Policy") != "sandbox allow-scripts" {
		t.Errorf("sandbox frame CSP %q", sb.Header.Get("Content-Security-Policy"))
	}
	for _, p := range []string{"/nope.js", "/media", "/media/", "/iframe-sandbox/", "/../index.html/x", "/.gitkeep", "/.gitkeep/"} {
		if r, _ := get(t, h, http.MethodGet, p); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, r.StatusCode)
		}
	}
	if r, _ := get(t, h, http.MethodPost, "/"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", r.StatusCode)
	}
}

func TestPage(t *testing.T) {
	h := newHandler(fakeDist(), devOptions())
	checkIndex(t, h)
	checkRest(t, h)
	res := checkAsset(t, h, "/iframe-sandbox/assets/index-DHqKSLXH.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable")
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("sandbox asset without CORS")
	}
	checkAsset(t, h, "/media/font-latin-400-normal.woff2", "font/woff2", "no-cache")
}

func TestDefaultsAndSubscriptions(t *testing.T) {
	h := newHandler(fakeDist(), Options{SubscriptionsEndpoint: "wss://api.example.test/graphql"})
	res, body := get(t, h, http.MethodGet, "/")
	for _, want := range []string{`"endpointURL":"/graphql"`, `"initialHeaders":{}`, `<title>GraphQL</title>`,
		`"subscriptionsEndpoint":"wss://api.example.test/graphql"`, `"initialSubscriptionRequestHandlerId":"graphql-ws"`} {
		if !strings.Contains(body, want) {
			t.Errorf("index lacks %s", want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' wss://api.example.test;") {
		t.Errorf("CSP %q", csp)
	}
	// Each configuration keeps its own browser state.
	ns := regexp.MustCompile(`"instanceStorageNamespace":"(mediagraph_[0-9a-f]{12}_)"`)
	a := ns.FindStringSubmatch(body)
	_, body = get(t, newHandler(fakeDist(), Options{Headers: map[string]string{"Authorization": "Bearer other"}}), http.MethodGet, "/")
	b := ns.FindStringSubmatch(body)
	if a == nil || b == nil || a[1] == b[1] {
		t.Errorf("storage namespaces %v %v", a, b)
	}
}

func TestNotBuilt(t *testing.T) {
	h := newHandler(fstest.MapFS{".gitkeep": {}}, devOptions())
	for _, p := range []string{"/", "/main.js"} {
		res, body := get(t, h, http.MethodGet, p)
		if res.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "make playground") {
			t.Fatalf("%s: %d %s", p, res.StatusCode, body)
		}
	}
}

func TestUnexpectedIndex(t *testing.T) {
	h := newHandler(fstest.MapFS{"index.html": {Data: []byte("<html>hello</html>")}}, Options{})
	if res, _ := get(t, h, http.MethodGet, "/"); res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("%d", res.StatusCode)
	}
}

func built() bool {
	_, err := fs.Stat(dist, "dist/index.html")
	return err == nil
}

// TestBuilt runs against the embedded Altair files.
func TestBuilt(t *testing.T) {
	if !built() {
		t.Skip("playground/dist not built (make playground)")
	}
	h := Handler(devOptions())
	body := checkIndex(t, h)
	checkRest(t, h)
	// Every file the page names is embedded.
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		if m[1] == "./" {
			continue
		}
		if res, _ := get(t, h, http.MethodGet, "/"+m[1]); res.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", m[1], res.StatusCode)
		}
	}
	// Altair finds its script sandbox at iframe-sandbox/ by fetching this.
	checkAsset(t, h, "/iframe-sandbox/sandbox.png", "image/png", "no-cache")
	checkAsset(t, h, "/favicon.ico", "image/x-icon", "no-cache")
	checkAsset(t, h, "/assets/i18n/en-US.json", "application/json", "no-cache")
	entries, _ := fs.ReadDir(dist, "dist/iframe-sandbox/assets")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".js") {
			res := checkAsset(t, h, "/iframe-sandbox/assets/"+e.Name(), "text/javascript; charset=utf-8", "public, max-age=31536000, immutable")
			if res.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("sandbox asset without CORS")
			}
		}
	}
}
