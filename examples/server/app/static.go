package app

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var staticFS embed.FS

// staticFiles serves the embedded files under /static/ and nothing else:
// no directory listing (http.FileServer would list /static/), no index.
func staticFiles() http.Handler {
	root, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // "static" is embedded above; fs.Sub cannot fail on it
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if info, err := fs.Stat(root, name); name == "" || err != nil || info.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeFileFS(w, r, root, name)
	})
}
