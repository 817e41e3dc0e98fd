package httpadapter_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/benchcpu"
	"github.com/magiclink-go/magiclink/mailer"
)

// BenchmarkSendMagicLink measures send-magic-link through the handler with
// the memory store and a discarding mailer (DESIGN §10: ≤ 10 µs/op, ≤ 25
// allocs). "handler" drives it with a reused request and response writer,
// so the figures are the handler's own; "httptest" builds each request and
// recorder with net/http/httptest, whose parsing and recording add about
// twenty allocations of their own.
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
	b.Run("handler", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodPost, sendPath, nil)
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = int64(len(body))
		rd := &rewindBody{}
		req.Body = rd
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		cpu := benchcpu.Start()
		for b.Loop() {
			rd.Reset(body)
			clear(w.h)
			h.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
		cpu.Report(b)
	})
	b.Run("httptest", func(b *testing.B) {
		b.ReportAllocs()
		cpu := benchcpu.Start()
		for b.Loop() {
			r := httptest.NewRequest(http.MethodPost, sendPath, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
		cpu.Report(b)
	})
}

// rewindBody is a request body that can be read again after Reset.
type rewindBody struct{ strings.Reader }

func (*rewindBody) Close() error { return nil }

// discardWriter is a ResponseWriter that keeps the status and drops the
// body.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
