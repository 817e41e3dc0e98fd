package httpadapter_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
)

// BenchmarkSendMagicLink measures send-magic-link through the handler with
// the memory store and a discarding mailer (DESIGN §10: ≤ 20 µs/op).
func BenchmarkSendMagicLink(b *testing.B) {
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://example.com"}, Secret: testSecret,
		Mailer: mailer.Discard{}, Limits: magiclink.NoLimits(), Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	h, err := httpadapter.New(svc, httpadapter.Config{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	const body = `{"email":"hello@example.com","callback_origin":"https://example.com","callback_next":"/overview"}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, sendPath, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
