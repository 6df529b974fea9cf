// Package playground serves Altair, a GraphQL IDE, from files embedded in
// the binary: nothing is loaded from a CDN. The files come from the npm
// package altair-static, copied into dist/ by `make playground`; they are
// not committed.
package playground

import (
	"bytes"
	"embed"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// Options configure the IDE.
type Options struct {
	// Endpoint is the GraphQL endpoint's path, such as /graphql.
	Endpoint string
	// Headers are pre-filled request headers (in dev mode, the dev key's
	// Authorization header).
	Headers map[string]string
	// Title names the browser tab.
	Title string
}

// Handler serves the IDE at "/" and its assets below it.
func Handler(opts Options) http.Handler {
	files, _ := fs.Sub(dist, "dist")
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return http.HandlerFunc(notBuilt)
	}
	assets := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if p == "" || p == "index.html" {
			serveIndex(w, r, index, opts)
			return
		}
		if _, err := fs.Stat(files, p); err != nil {
			http.NotFound(w, r)
			return
		}
		if ct := mime.TypeByExtension(path.Ext(p)); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		// Altair's chunks carry content hashes; the rest change with releases.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		assets.ServeHTTP(w, r)
	})
}

// serveIndex injects the init call (endpoint, headers) into Altair's page.
// The options are JSON, which json.Marshal makes safe inside <script>:
// it escapes <, > and &.
func serveIndex(w http.ResponseWriter, r *http.Request, index []byte, opts Options) {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	wsScheme := strings.Replace(scheme, "http", "ws", 1)
	init := map[string]any{
		"endpointURL":                  scheme + "://" + r.Host + opts.Endpoint,
		"initialSubscriptionsEndpoint": wsScheme + "://" + r.Host + opts.Endpoint,
		"initialHeaders":               opts.Headers,
		"disableAccount":               true,
		"instanceStorageNamespace":     "mediagraph",
		"initialSettings": map[string]any{
			"alert.disableUpdateNotification": true,
			"banners.disable":                 true,
			"plugin.list":                     []string{},
		},
	}
	js, err := json.Marshal(init)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	page := bytes.Replace(index, []byte("</body>"),
		[]byte(`<script type="module">AltairGraphQL.init(`+string(js)+`);</script></body>`), 1)
	if opts.Title != "" {
		title, _ := json.Marshal(opts.Title) // no markup: only safe characters survive
		page = bytes.Replace(page, []byte("<title>Altair</title>"),
			[]byte("<title>"+strings.Trim(string(title), `"`)+"</title>"), 1)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(page)
}

func notBuilt(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`<!doctype html><title>mediagraph</title><p>The playground is not built into this binary. ` +
		`Run <code>make playground</code> (or <code>make run</code>) and rebuild.</p>`))
}
