package magiclinktest

import (
	"io"
	"net/url"
	"testing"
)

// formPost makes the request a browser makes for a page's form: the
// action resolved against the page, the fields URL-encoded, Fetch Metadata,
// and an Origin that the page's Referrer-Policy may turn to "null".
func TestFormPost(t *testing.T) {
	t.Parallel()
	page, _ := url.Parse("http://127.0.0.1:8080/auth/verify?token_hash=t&type=magiclink")
	fields := url.Values{"token_hash": {"t"}, "match": {"42"}}
	for _, c := range []struct{ policy, wantOrigin string }{
		{"", "http://127.0.0.1:8080"},
		{"no-referrer", "null"},
		{"no-referrer, strict-origin", "http://127.0.0.1:8080"},
		{"strict-origin, No-Referrer ", "null"},
	} {
		req, err := formPost(page, "approve", fields, c.policy, "http://127.0.0.1:8080")
		if err != nil {
			t.Fatalf("formPost: %v", err)
		}
		body, _ := io.ReadAll(req.Body)
		if req.Method != "POST" || req.URL.String() != "http://127.0.0.1:8080/auth/approve" || string(body) != fields.Encode() {
			t.Errorf("%s %s %q; want POST http://127.0.0.1:8080/auth/approve %q", req.Method, req.URL, body, fields.Encode())
		}
		for k, want := range map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin",
			"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Origin": c.wantOrigin,
		} {
			if got := req.Header.Get(k); got != want {
				t.Errorf("Referrer-Policy %q: %s = %q, want %q", c.policy, k, got, want)
			}
		}
	}
	if _, err := formPost(page, "http://[::1", fields, "", "http://127.0.0.1:8080"); err == nil {
		t.Error("formPost with a malformed action: no error")
	}
}
