package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

// PageCSP is the Content-Security-Policy of the web client: its own scripts, styles and
// images (plus data: images), API calls to the same origin, and nothing inline, framed or
// posted elsewhere.
const PageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// PageCSPWith is PageCSP that also lets pages PUT to and show images from the storage sources
// (the hosts of presigned upload and download URLs).
func PageCSPWith(storage []string) string {
	if len(storage) == 0 {
		return PageCSP
	}
	extra := " " + strings.Join(storage, " ")
	csp := strings.Replace(PageCSP, "img-src 'self' data:", "img-src 'self' data:"+extra, 1)
	return strings.Replace(csp, "connect-src 'self'", "connect-src 'self'"+extra, 1)
}

// rpcPath matches the path of a Connect, gRPC or gRPC-Web call: /package.Service/Method.
var rpcPath = regexp.MustCompile(`^/[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+/[A-Za-z_][A-Za-z0-9_]*$`)

// notBuiltPage is served in place of the web client by a binary built without it.
const notBuiltPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>tutorhub: web client not built</title></head>
<body>
<h1>The web client is not built</h1>
<p>This binary was built without the web client. Run <code>./just web-build</code>, then rebuild the binary.</p>
<p>The API is served as usual; its documentation is at <a href="/docs">/docs</a>.</p>
</body>
</html>
`

// pages serves the web client's built files and, for any other page a browser navigates to,
// its index.html, so client-side routes survive a reload. API and RPC paths never fall back
// to the page: they get the API's JSON 404 from notFound.
type pages struct {
	files     fs.FS
	index     []byte // nil when the bundle was not built
	indexETag string
	notFound  http.Handler
	csp       string
}

func newPages(files fs.FS, notFound http.Handler, csp string) (*pages, error) {
	p := &pages{files: files, notFound: notFound, csp: csp}
	index, err := fs.ReadFile(files, "index.html")
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		sum := sha256.Sum256(index)
		p.index, p.indexETag = index, `"`+hex.EncodeToString(sum[:16])+`"`
	}
	return p, nil
}

func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || isAPIPath(r.URL.Path) {
		p.notFound.ServeHTTP(w, r)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" || name == "index.html" {
		p.serveIndex(w, r)
		return
	}
	if hasHiddenSegment(name) {
		p.notFound.ServeHTTP(w, r)
		return
	}
	if info, err := fs.Stat(p.files, name); err == nil && info.Mode().IsRegular() {
		w.Header().Set("Content-Security-Policy", p.csp)
		if strings.HasPrefix(name, "assets/") {
			// Vite names every file under assets/ by its content hash.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		http.ServeFileFS(w, r, p.files, name)
		return
	}
	// A missing file, or a request that is not a page navigation, is an ordinary 404.
	if path.Ext(name) != "" || !acceptsHTML(r) {
		p.notFound.ServeHTTP(w, r)
		return
	}
	p.serveIndex(w, r)
}

func (p *pages) serveIndex(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", p.csp)
	h.Set("Cache-Control", "no-cache")
	if p.index == nil {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(notBuiltPage))
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("ETag", p.indexETag)
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(p.index))
}

// isAPIPath reports whether a path belongs to the API rather than to the pages.
func isAPIPath(p string) bool {
	return p == "/api" || strings.HasPrefix(p, "/api/") || rpcPath.MatchString(p)
}

// hasHiddenSegment reports whether a path names a dot file or directory (.gitkeep), which
// the build output may contain but the site never links to.
func hasHiddenSegment(name string) bool {
	for seg := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

// acceptsHTML reports whether the request is a browser navigation, which asks for text/html.
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}
