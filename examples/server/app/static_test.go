package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestStaticListsNoDirectory: /static/ serves its files and nothing else;
// in particular no directory listing.
func TestStaticListsNoDirectory(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]int{
		"/static/style.css":     http.StatusOK,
		"/static/":              http.StatusNotFound,
		"/static/.":             http.StatusNotFound,
		"/static/nope.css":      http.StatusNotFound,
		"/static/../go.mod":     http.StatusNotFound,
		"/static/style.css/":    http.StatusNotFound,
		"/static/%2e%2e/app.go": http.StatusNotFound,
	} {
		resp, err := client.Get(ts.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status := resp.StatusCode
		if status == http.StatusMovedPermanently || status == http.StatusTemporaryRedirect {
			// The mux cleans dot segments by redirecting; the cleaned
			// path must not list either.
			loc := resp.Header.Get("Location")
			if r2, err := client.Get(ts.base + loc); err == nil {
				body, _ = io.ReadAll(r2.Body)
				r2.Body.Close()
				status = r2.StatusCode
			}
		}
		if status != want {
			t.Errorf("GET %s = %d, want %d", path, status, want)
		}
		if strings.Contains(string(body), `<a href="style.css">`) {
			t.Errorf("GET %s lists the directory: %q", path, body)
		}
	}
}
