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
		`{`, `[]`, `null`, `{"email":5}`, `{"a":1} {}`, strings.Repeat("[", 200), "{\"email\":\"a\u0000@x.y\"}", "\xff",
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
		for _, path := range []string{sendPath, createPath, adminPath, verifyPath} {
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
