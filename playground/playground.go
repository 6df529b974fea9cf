// Package playground serves Altair, a GraphQL IDE, from files embedded in the
// binary: nothing is loaded from a CDN and the page works offline.
//
// The files are the prebuilt static app of the npm package altair-static
// (pinned in package.json and package-lock.json), copied into dist/ by
// `make playground` (npm ci && npm run build). dist/ is git-ignored except
// dist/.gitkeep, so this package compiles on a fresh clone; until the files
// are built, Handler answers 503 with a page that says how to build them.
//
// The index page is Altair's own index.html with an init script added. The
// options are JSON-encoded into that script (json.Marshal escapes <, > and &,
// so no value can close the script element), and the page carries a
// Content-Security-Policy with a fresh nonce per request: scripts run only
// from this origin or with the nonce, and the page can fetch only from this
// origin (plus the origins of absolute endpoints given in Options), so
// Altair's online features (account sync, remote plugins, the hosted script
// sandbox) cannot reach out.
package playground

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var dist embed.FS

// Options configure the IDE.
type Options struct {
	// Endpoint is the GraphQL endpoint: a path such as "/graphql" (resolved
	// against the page's URL in the browser, so it follows the scheme and
	// host the page was loaded from) or an absolute http(s) URL.
	// Default "/graphql".
	Endpoint string
	// SubscriptionsEndpoint is the websocket endpoint for subscriptions
	// (graphql-transport-ws protocol): a path such as "/graphql" (resolved
	// like Endpoint, with ws: or wss: to match the page) or an absolute
	// ws(s) URL. Empty: Altair leaves it blank.
	SubscriptionsEndpoint string
	// SubscriptionsPayload is the connection_init payload of subscriptions
	// (connectionParams), e.g. {"authorization": "Bearer sk_…"}.
	SubscriptionsPayload map[string]string
	// Headers are pre-filled request headers, e.g. in dev mode
	// {"Authorization": "Bearer sk_…"}.
	Headers map[string]string
	// Title names the browser tab. Default "GraphQL".
	Title string
}

// Handler serves the IDE at "/" (and "/index.html") and its assets below
// it. Mount it at "/" after the routes it must not shadow (/graphql, …); it
// answers 404 for paths that are not among its files. Only GET and HEAD.
func Handler(opts Options) http.Handler {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		return notBuilt{}
	}
	return newHandler(files, opts)
}

func newHandler(files fs.FS, opts Options) http.Handler {
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return notBuilt{}
	}
	h := &handler{files: files}
	if err := h.build(string(index), opts); err != nil {
		return brokenIndex{err}
	}
	return h
}

type handler struct {
	files fs.FS
	// page is the index split where the per-request nonce goes.
	page []string
	csp  []string
	// etags caches content hashes by file name.
	etags sync.Map
}

// build prepares the index page (the title, a relative <base>, the init
// script before </body>) split around the nonce, and the CSP header.
func (h *handler) build(index string, opts Options) error {
	if opts.Endpoint == "" {
		opts.Endpoint = "/graphql"
	}
	if opts.Title == "" {
		opts.Title = "GraphQL"
	}
	end := strings.LastIndex(index, "</body>")
	if end < 0 || !strings.Contains(index, "main.js") {
		return fmt.Errorf("dist/index.html does not look like Altair's (no </body> or main.js)")
	}
	initJS, err := initScript(opts)
	if err != nil {
		return err
	}
	head, tail := index[:end], index[end:]
	head = replaceOnce(head, "<title>Altair</title>", "<title>"+html.EscapeString(opts.Title)+"</title>")
	// Relative, so the page also works mounted below a prefix (StripPrefix).
	head = baseTag.ReplaceAllLiteralString(head, `<base href="./" />`)
	// The nonce is also handed to Altair (for scripts and styles it injects).
	h.page = []string{
		head + `<script type="module" nonce="`,
		`">` + initJS + `AltairGraphQL.init(Object.assign(o, {cspNonce: "`,
		`"}));` + "\n</script>\n" + tail,
	}

	connect := []string{"'self'"}
	for _, e := range []string{opts.Endpoint, opts.SubscriptionsEndpoint} {
		if u, err := url.Parse(e); err == nil && u.Scheme != "" && u.Host != "" {
			connect = append(connect, u.Scheme+"://"+u.Host)
		}
	}
	h.csp = []string{
		"default-src 'self'; base-uri 'self'; object-src 'none'; form-action 'self'; frame-ancestors 'self'; " +
			"script-src-attr 'none'; img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; frame-src 'self'; " +
			// Altair sets style attributes at run time: inline styles stay allowed.
			"style-src 'self' 'unsafe-inline'; connect-src " + strings.Join(connect, " ") + "; script-src 'self' 'nonce-",
		"'"}
	return nil
}

var baseTag = regexp.MustCompile(`<base [^>]*>`)

func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }

// initScript returns JS that defines o, the options for AltairGraphQL.init.
func initScript(opts Options) (string, error) {
	headers := opts.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	o := map[string]any{
		"endpointURL":    opts.Endpoint,
		"initialHeaders": headers,
		// Altair keeps its windows in the browser; a namespace per
		// configuration means a changed endpoint or key (a new dev key)
		// starts fresh instead of restoring windows with the stale header.
		"instanceStorageNamespace": "mediagraph_" + fingerprint(opts) + "_",
		// No login, no remote sync with Altair's cloud.
		"disableAccount": true,
		"initialSettings": map[string]any{
			"alert.disableUpdateNotification": true,
			"banners.disable":                 true,
			"plugin.list":                     []string{}, // plugins load from a CDN
		},
	}
	if opts.SubscriptionsEndpoint != "" {
		o["subscriptionsEndpoint"] = opts.SubscriptionsEndpoint
		o["initialSubscriptionRequestHandlerId"] = "graphql-ws" // graphql-transport-ws
		if len(opts.SubscriptionsPayload) > 0 {
			o["initialSubscriptionsPayload"] = opts.SubscriptionsPayload
		}
	}
	js, err := json.Marshal(o) // escapes <, > and & (and U+2028/9)
	if err != nil {
		return "", err
	}
	return "\nconst o = " + string(js) + `;
const abs = (u, ws) => {
  if (!u) return u;
  const x = new URL(u, document.baseURI);
  if (ws && (x.protocol === "http:" || x.protocol === "https:")) x.protocol = x.protocol === "https:" ? "wss:" : "ws:";
  return x.href;
};
o.endpointURL = abs(o.endpointURL);
o.subscriptionsEndpoint = abs(o.subscriptionsEndpoint, true);
`, nil
}

func fingerprint(opts Options) string {
	keys := make([]string, 0, len(opts.Headers))
	for k := range opts.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := sha256.New()
	fmt.Fprintf(s, "%q %q", opts.Endpoint, opts.SubscriptionsEndpoint)
	for _, k := range keys {
		fmt.Fprintf(s, " %q=%q", k, opts.Headers[k])
	}
	fmt.Fprintf(s, " %q", opts.SubscriptionsPayload["authorization"])
	return hex.EncodeToString(s.Sum(nil)[:6])
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" || name == "index.html" {
		h.serveIndex(w, r)
		return
	}
	if strings.HasPrefix(name, ".") || strings.Contains(name, "/.") {
		http.NotFound(w, r) // .gitkeep
		return
	}
	h.serveFile(w, r, name)
}

func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	var b [18]byte
	_, _ = rand.Read(b[:])
	nonce := base64.StdEncoding.EncodeToString(b[:])
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", strings.Join(h.csp, nonce))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.WriteString(w, strings.Join(h.page, nonce))
}

// hashed matches the names of files whose content hash is in the name
// (chunk-2OVBIND4.js, worker-RHV2GGM4.js, iframe-sandbox/assets/index-DHqKSLXH.js):
// they never change, so browsers may keep them for a year.
var hashed = regexp.MustCompile(`-[A-Za-z0-9_]{8}\.(js|css)$`)

func (h *handler) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	f, err := h.files.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	rs, ok := f.(io.ReadSeeker)
	if err != nil || st.IsDir() || !ok {
		http.NotFound(w, r) // no directory listings
		return
	}
	etag, err := h.etag(name, rs)
	if err != nil {
		http.Error(w, "read error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", contentType(name))
	hd.Set("ETag", etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	if hashed.MatchString(name) {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache") // revalidate with the ETag
	}
	if strings.HasPrefix(name, "iframe-sandbox/") {
		// Altair runs pre- and post-request scripts in this frame. Like
		// altair-static's SANDBOX_FRAME_CSP: its page gets an opaque origin,
		// and so its module scripts are fetched with CORS from origin null.
		if path.Ext(name) == ".html" {
			hd.Set("Content-Security-Policy", "sandbox allow-scripts")
		} else {
			hd.Set("Access-Control-Allow-Origin", "*")
		}
	}
	http.ServeContent(w, r, name, time.Time{}, rs)
}

func (h *handler) etag(name string, rs io.ReadSeeker) (string, error) {
	if v, ok := h.etags.Load(name); ok {
		return v.(string), nil
	}
	s := sha256.New()
	if _, err := io.Copy(s, rs); err != nil {
		return "", err
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	tag := `"` + hex.EncodeToString(s.Sum(nil)[:12]) + `"`
	h.etags.Store(name, tag)
	return tag, nil
}

var types = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".wasm":  "application/wasm",
	".map":   "application/json",
	".md":    "text/markdown; charset=utf-8",
	".txt":   "text/plain; charset=utf-8",
}

// contentType does not depend on the machine's mime.types for the types
// Altair ships.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := types[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// notBuilt answers when dist/ holds only .gitkeep.
type notBuilt struct{}

func (notBuilt) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, `<!doctype html>
<html><head><meta charset="utf-8"><title>Playground not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>The GraphQL playground is not built into this binary</h1>
<p>Run <code>make playground</code> (it installs the IDE from npm into <code>playground/dist/</code>),
then rebuild and restart the server; <code>make build</code> and <code>make run</code> do both.</p>
<p>The GraphQL endpoint works without it.</p>
</body></html>
`)
}

// brokenIndex answers when dist/index.html is not the page this package
// knows how to extend (an altair-static upgrade changed it).
type brokenIndex struct{ err error }

func (b brokenIndex) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "playground: "+b.err.Error(), http.StatusInternalServerError)
}
