package httpadapter_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
)

// FuzzRequestDecoding sends arbitrary bodies to every JSON endpoint: the
// answer is always a documented client status with a JSON body, never a
// 500 or a panic.
func FuzzRequestDecoding(f *testing.F) {
	for _, s := range []string{
		`{"email":"hello@example.com","callback_origin":"https://example.com","callback_next":"example"}`,
		seed002Body, `{"customerId":"cus_1"}`, `{"token_hash":"x","type":"magiclink"}`, `{"email":"a@example.com","code":"123456"}`,
		`{"token_hash":"x","type":"magiclink","match":"07"}`, `{`, `[]`, `null`, `{"email":5}`, `{"a":1} {}`, strings.Repeat("[", 200), "{\"email\":\"a\u0000@x.y\"}", "\xff",
	} {
		f.Add(s)
	}
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://example.com"}, Secret: testSecret,
		Mailer: mailer.Discard{}, Limits: magiclink.NoLimits(), Logger: discardLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = svc.Close() })
	h, err := httpadapter.New(svc, httpadapter.Config{
		APIKeys: []httpadapter.APIKey{{ID: "k", Key: partnerKey, PortalOrigin: "https://example.com"}},
		Logger:  discardLogger(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{sendPath, createPath, adminPath, verifyPath, "/auth/approve"} {
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-Api-Key", partnerKey)
			r.Header.Set("Origin", "https://example.com")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code >= 500 {
				t.Fatalf("%s %q → %d %s", path, body, rec.Code, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %q → body is not JSON: %s", path, body, rec.Body)
			}
		}
	})
}

// FuzzSendMagicLinkRequest posts fuzzed bodies, with a fuzzed Origin
// header, to send-magic-link through the real handler: the answer is never
// a 5xx, its status is one the endpoint documents, and its body is valid
// JSON in the endpoint's body ({"ok":true}, or an error with error and code).
// Whenever a mail goes out, its link stays inside the allowlist.
func FuzzSendMagicLinkRequest(f *testing.F) {
	for _, s := range []struct{ body, origin string }{
		{`{"email":"hello@example.com","callback_origin":"https://app.example.com","callback_next":"example"}`, ""},
		{`{"email":"hello@example.com"}`, "https://x.tenant.example.com"},
		{`{"email":"hello@example.com","callback_next":"//evil.com"}`, "https://app.example.com"},
		{`{"email":"a@b.c","callback_origin":"https://app.example.com.evil.com"}`, ""},
		{`{"email":"a@example.com","locale":"tr-TR","callback_origin":"HTTPS://APP.EXAMPLE.COM:443"}`, ""},
		{`{"email":null}`, "null"}, {`[]`, ""}, {`{`, ""}, {strings.Repeat("[", 300), ""}, {"\xff\xfe", ""},
		{`{"email":"a@example.com","callback_origin":"https://app.example.com","callback_next":"/%2e%2e/%2F"}`, ""},
	} {
		f.Add(s.body, s.origin)
	}
	mem := mailer.NewMemory()
	r := newRig(f, rigOptions{svc: magiclink.Config{Mailer: mem}})
	allowed := map[int]bool{200: true, 400: true, 413: true, 415: true, 429: true}
	f.Fuzz(func(t *testing.T, body, origin string) {
		req := httptest.NewRequest(http.MethodPost, sendPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if origin != "" && !strings.ContainsAny(origin, "\r\n") {
			req.Header.Set("Origin", origin)
		}
		mem.Reset() // keeps Messages cheap however long the fuzzer runs
		rec := r.do(req)
		if !allowed[rec.Code] {
			t.Fatalf("body %q origin %q → %d %s", body, origin, rec.Code, rec.Body)
		}
		ok, _, err := decodePortal(rec.Body.Bytes())
		if err != nil {
			t.Fatalf("body %q origin %q → %d: not the send-magic-link body: %v", body, origin, rec.Code, err)
		}
		if ok != (rec.Code == http.StatusOK) {
			t.Fatalf("body %q → %d with body %s", body, rec.Code, rec.Body)
		}
		msgs := mem.Messages()
		if rec.Code != http.StatusOK && len(msgs) != 0 {
			t.Fatalf("body %q → %d but a mail went out", body, rec.Code)
		}
		if rec.Code == http.StatusOK && len(msgs) > 0 {
			o, _, next, err := linkTarget(msgs[len(msgs)-1].Link)
			if err != nil || !inAllowlist(o) || !safeLanding(o, next) {
				t.Fatalf("body %q origin %q → link %q outside the allowlist or leaving it", body, origin, msgs[len(msgs)-1].Link)
			}
		}
	})
}
