package redisstore

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/store/storetest"
)

// sessionRig is a Service and Handler on a real Redis whose client counts
// round trips, on a fake clock.
type sessionRig struct {
	svc   *magiclink.Service
	h     *httpadapter.Handler
	rt    *roundTrips
	clock *storetest.Clock
}

func newSessionRig(tb testing.TB) *sessionRig {
	tb.Helper()
	rdb := testredis.Start(tb).Client(tb)
	rig := &sessionRig{rt: &roundTrips{}, clock: storetest.NewClock(time.Now().Truncate(time.Second))}
	rdb.AddHook(rig.rt)
	s := newStore(tb, rdb, WithClock(rig.clock.Now))
	var err error
	rig.svc, err = magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"},
		Secret: []byte("0123456789abcdef0123456789abcdef"), Store: s, Limiter: s, Limits: magiclink.NoLimits(),
		Clock: rig.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = rig.svc.Close() })
	if rig.h, err = httpadapter.New(rig.svc, httpadapter.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		tb.Fatal(err)
	}
	return rig
}

// requests returns a cookie request and a bearer request of two fresh
// sessions.
func (rig *sessionRig) requests(tb testing.TB) (cookie, bearer *http.Request) {
	tb.Helper()
	ctx := context.Background()
	id := magiclink.Identity{UserID: "usr_rt", Email: "rt@example.com", Method: "link"}
	bs, err := rig.svc.StartBrowserSession(ctx, id, magiclink.Client{})
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := rig.svc.StartAPISession(ctx, id, magiclink.Client{})
	if err != nil {
		tb.Fatal(err)
	}
	cookie = httptest.NewRequest(http.MethodGet, "https://app.example.com/me", nil)
	cookie.AddCookie(&http.Cookie{Name: httpadapter.SecureSessionCookie, Value: bs.Token})
	bearer = httptest.NewRequest(http.MethodGet, "https://app.example.com/me", nil)
	bearer.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return cookie, bearer
}

// TestAuthenticateOneRoundTrip pins DESIGN §6: an authenticated request
// costs one Redis round trip, by cookie or bearer, with the last-seen
// touch due or not; sign-out takes effect on the next request.
func TestAuthenticateOneRoundTrip(t *testing.T) {
	t.Parallel()
	rig := newSessionRig(t)
	cookie, bearer := rig.requests(t)
	status := 0
	protected := rig.h.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	serve := func(r *http.Request) func() {
		return func() {
			rec := httptest.NewRecorder()
			protected.ServeHTTP(rec, r)
			status = rec.Code
		}
	}
	serve(cookie)() // warm up: dial and load the lookup script
	for _, step := range []struct {
		name    string
		req     *http.Request
		advance time.Duration
	}{
		{"cookie", cookie, 0},
		{"cookie, touch due", cookie, 2 * time.Minute},
		{"bearer", bearer, 0},
		{"bearer, touch due", bearer, 2 * time.Minute},
	} {
		rig.clock.Advance(step.advance)
		if n := rig.rt.count(serve(step.req)); n != 1 || status != http.StatusNoContent {
			t.Errorf("%s: %d round trips, status %d; want 1 and 204", step.name, n, status)
		}
	}
	id, err := rig.svc.CheckSessionToken(context.Background(), cookieValueOf(cookie))
	if err != nil {
		t.Fatal(err)
	}
	if err := rig.svc.SignOut(context.Background(), id, magiclink.SignOutGlobal); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*http.Request{"cookie": cookie, "bearer": bearer} {
		if serve(r)(); status != http.StatusUnauthorized {
			t.Errorf("%s after a global sign-out: %d, want 401", name, status)
		}
	}
}

func cookieValueOf(r *http.Request) string {
	c, _ := r.Cookie(httpadapter.SecureSessionCookie)
	return c.Value
}

// BenchmarkAuthenticateRedis is Authenticate on a loopback Redis; it
// reports the round trips per request, which must stay 1.
func BenchmarkAuthenticateRedis(b *testing.B) {
	for _, kind := range []string{"cookie", "bearer"} {
		b.Run(kind, func(b *testing.B) {
			rig := newSessionRig(b)
			cookie, bearer := rig.requests(b)
			r := map[string]*http.Request{"cookie": cookie, "bearer": bearer}[kind]
			protected := rig.h.Authenticate(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			protected.ServeHTTP(httptest.NewRecorder(), r)
			before := rig.rt.n.Load()
			b.ReportAllocs()
			for b.Loop() {
				protected.ServeHTTP(httptest.NewRecorder(), r)
			}
			b.ReportMetric(float64(rig.rt.n.Load()-before)/float64(b.N), "roundtrips/op")
		})
	}
}
