package httpadapter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
)

// nopWriter is a ResponseWriter that keeps nothing, so the benchmarks
// measure Authenticate rather than a recorder.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header       { return w.h }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}
func newNopWriter() nopWriter                 { return nopWriter{h: http.Header{}} }
func benchIdentity(b *testing.B) magiclink.Identity {
	return magiclink.Identity{UserID: "usr_bench", Email: "bench@example.com", Method: "link"}
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchAuthenticate measures Authenticate with the memory store on one
// request that carries the credential add sets (DESIGN §10: ≤ 2 µs per
// request, cookie and bearer). The session check, with its touch, runs on
// every call; the handler behind it does nothing.
func benchAuthenticate(b *testing.B, add func(*magiclink.Service, *http.Request)) {
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://example.com"}, Secret: testSecret,
		Limits: magiclink.NoLimits(), Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	h, err := httpadapter.New(svc, httpadapter.Config{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	reached := 0
	protected := h.Authenticate(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached++ }))
	r := httptest.NewRequest(http.MethodGet, "https://example.com/me", nil)
	add(svc, r)
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		protected.ServeHTTP(newNopWriter(), r)
	}
	// CPU time per request next to wall time: on a shared machine the
	// wall clock counts other people's work too.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	if reached != b.N {
		b.Fatalf("the handler was reached %d times of %d: the credential did not authenticate", reached, b.N)
	}
}

func BenchmarkAuthenticateCookie(b *testing.B) {
	benchAuthenticate(b, func(svc *magiclink.Service, r *http.Request) {
		s, err := svc.StartBrowserSession(context.Background(), benchIdentity(b), magiclink.Client{})
		if err != nil {
			b.Fatal(err)
		}
		r.AddCookie(&http.Cookie{Name: httpadapter.SecureSessionCookie, Value: s.Token})
	})
}

func BenchmarkAuthenticateBearer(b *testing.B) {
	benchAuthenticate(b, func(svc *magiclink.Service, r *http.Request) {
		t, err := svc.StartAPISession(context.Background(), benchIdentity(b), magiclink.Client{})
		if err != nil {
			b.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+t.AccessToken)
	})
}
