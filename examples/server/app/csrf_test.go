package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestSignInCSRF: the sign-in form answers only posts from this site or an
// allowed origin. A foreign page's form post is refused with 403 and sends
// no mail, so no site can make its visitors' browsers mail anyone.
func TestSignInCSRF(t *testing.T) {
	t.Parallel()
	ts := start(t, map[string]string{
		// The server's own origin stays served; app.example.com is a
		// front end on another origin that may post the form.
		"MAGICLINK_ALLOWED_ORIGINS": "https://app.example.com",
		"MAGICLINK_PORTAL_ORIGIN":   "https://app.example.com",
	})
	self := ts.base
	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"foreign page", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"foreign origin, old browser", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"cross-site even with our Origin", map[string]string{"Origin": self, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"sandboxed foreign frame", map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"null origin without fetch metadata", map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"foreign Referer", map[string]string{"Referer": "https://evil.example/form.html"}, http.StatusForbidden},
		{"malformed Referer", map[string]string{"Referer": "https://evil.example\\@" + strings.TrimPrefix(self, "http://") + "/"}, http.StatusForbidden},
		{"neither Origin nor Referer", nil, http.StatusForbidden},
		{"lookalike origin", map[string]string{"Origin": self + ".evil.example"}, http.StatusForbidden},
		{"same origin", map[string]string{"Origin": self, "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"same origin, old browser", map[string]string{"Origin": self}, http.StatusOK},
		{"same origin by Referer", map[string]string{"Referer": self + "/"}, http.StatusOK},
		{"null origin, same-origin", map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"allowed front end", map[string]string{"Origin": "https://app.example.com", "Sec-Fetch-Site": "same-site"}, http.StatusOK},
		{"allowed front end by Referer", map[string]string{"Referer": "https://app.example.com/login"}, http.StatusOK},
	}
	b := newBrowser(t, ts.base)
	sent := 0
	for i, tt := range tests {
		req, err := http.NewRequest(http.MethodPost, ts.base+"/signin", strings.NewReader("email=csrf"+string(rune('a'+i))+"%40example.com"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: POST /signin = %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
		if tt.want == http.StatusOK {
			sent++
		}
		if got := len(b.mails()); got != sent {
			t.Fatalf("%s: %d mails in the mailbox, want %d: a refused post must send nothing", tt.name, got, sent)
		}
	}
}

// TestSignInCSRFPage: the refusal is the site's error page with a way on.
func TestSignInCSRFPage(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	req, _ := http.NewRequest(http.MethodPost, ts.base+"/signin", strings.NewReader("email=x%40example.com"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	b := newBrowser(t, ts.base)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	if _, err := io.Copy(&body, resp.Body); err != nil {
		t.Fatal(err)
	}
	b.expect(resp, body.String(), http.StatusForbidden, "Request refused", "sent from another site", "sign in from this site")
}
