package httpadapter

import (
	_ "embed"
	"net/http"
)

//go:embed openapi.yaml
var openAPISpec []byte

// OpenAPI returns the OpenAPI 3.1 document describing every endpoint of the
// Handler, paths relative to Config.Prefix. The slice is a copy.
func OpenAPI() []byte { return append([]byte(nil), openAPISpec...) }

// serveOpenAPI serves GET {Prefix}/openapi.yaml.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(openAPISpec)
}
