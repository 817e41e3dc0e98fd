package httpadapter

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The pending cookie is written byte for byte as http.Cookie writes it.
func TestPendingCookieHeaderMatchesNetHTTP(t *testing.T) {
	t.Parallel()
	value := strings.Repeat("aZ09-_", 7) + "Q"
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		// Dates from 1601 to 9999, every weekday, month and hour, and zones
		// other than UTC.
		exp := time.Unix(rng.Int64N(253402300799+11644473600)-11644473600, 0).In(time.FixedZone("X", 3600*(i%25-12)))
		path, maxAge, secure := []string{"/auth", "/base/auth", "/a b/auth"}[i%3], 1+i%100000, i%2 == 0
		want := (&http.Cookie{Name: PendingCookie, Value: value, Path: path, MaxAge: maxAge, Expires: exp,
			HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}).String()
		if got := pendingCookieHeader(value, path, exp, maxAge, secure); got != want {
			t.Fatalf("pendingCookieHeader(%v) = %q, want %q", exp, got, want)
		}
	}
}

// Anything the fast writer would have to sanitize, quote or drop goes to
// http.SetCookie instead.
func TestPendingCookieHeaderRefusesWhatNeedsSanitizing(t *testing.T) {
	t.Parallel()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]struct {
		value, path string
		exp         time.Time
		maxAge      int
	}{
		"empty value":        {"", "/auth", exp, 60},
		"space in value":     {"a b", "/auth", exp, 60},
		"comma in value":     {"a,b", "/auth", exp, 60},
		"quote in value":     {`a"b`, "/auth", exp, 60},
		"semicolon in value": {"a;b", "/auth", exp, 60},
		"long value":         {strings.Repeat("a", 65), "/auth", exp, 60},
		"semicolon in path":  {"abc", "/a;b", exp, 60},
		"control in path":    {"abc", "/a\nb", exp, 60},
		"empty path":         {"abc", "", exp, 60},
		"year before 1601":   {"abc", "/auth", time.Date(1600, 12, 31, 0, 0, 0, 0, time.UTC), 60},
		"year after 9999":    {"abc", "/auth", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), 60},
		"no max age":         {"abc", "/auth", exp, 0},
	}
	for name, c := range cases {
		if got := pendingCookieHeader(c.value, c.path, c.exp, c.maxAge, true); got != "" {
			t.Errorf("%s: got %q, want \"\" (left to http.SetCookie)", name, got)
		}
	}
}
