package httpadapter_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
)

// TestHeaderInjection: addresses and names carrying line breaks, NUL or
// Unicode line separators are refused with 400, and nothing is mailed or
// stored.
func TestHeaderInjection(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{http: httpadapter.Config{APIKeys: []httpadapter.APIKey{
		{ID: "partner", Key: partnerAPIKey, OrgID: "org1", PortalOrigin: appOrigin}}}})
	emails := []string{
		"victim@example.com\r\nBcc: all@evil.com",
		"victim@example.com\nBcc: all@evil.com",
		"victim@example.com\rBcc: all@evil.com",
		"victim@example.com\r\n",
		"victim\r\n@example.com",
		"victim@example.com\x00",
		"victim\x00@example.com",
		"victim@exa\x00mple.com",
		"victim@example.com%0d%0aBcc:all@evil.com",
		"victim@example.com%0aBcc:all@evil.com",
		"victim@example.com\u2028Bcc: all@evil.com",
		"victim@example.com\u2029",
		"victim\u2028@example.com",
		"victim@example\u2028.com",
		"victim@example.com\u0085",
		"Victim <victim@example.com>",
		"\"victim\r\nBcc\"@example.com",
		"victim@example.com, all@evil.com",
		"victim@example.com;all@evil.com",
	}
	for _, e := range emails {
		rec := r.do(jsonRequest(sendPath, map[string]any{"email": e, "callback_origin": appOrigin}))
		_, pe, err := decodePortal(rec.Body.Bytes())
		if rec.Code != http.StatusBadRequest || err != nil || pe.Code != "VALIDATION_FAILED" {
			t.Errorf("send-magic-link email %q: %d %s, want 400 VALIDATION_FAILED", e, rec.Code, rec.Body)
		}
	}
	if n := r.mail.Len(); n != 0 {
		t.Errorf("%d mails sent for injected addresses", n)
	}

	partner := func(first, last, email string) *httptest.ResponseRecorder {
		req := jsonRequest(createPath, map[string]any{"firstName": first, "lastName": last, "email": email,
			"phone": "+905555555555", "languageCode": "tr-TR", "mailPermission": true})
		req.Header.Set("X-Api-Key", partnerAPIKey)
		return r.do(req)
	}
	names := []string{
		"Kaan\r\nBcc: all@evil.com", "Kaan\nX", "Kaan\rX", "Kaan\x00", "\x00", "Ka\x1ban", "Kaan\x7f",
		"Kaan\u2028Bcc: all@evil.com", "Ka\u2029an", "Ka\u0085an", "Kaan\u2028", "Kaan\r\n",
	}
	refused := 0
	for i, n := range names {
		for _, field := range []string{"first", "last"} {
			email := fmt.Sprintf("partner%d%s@example.com", i, field)
			first, last := "Kaan", "Kıvırcık"
			if field == "first" {
				first = n
			} else {
				last = n
			}
			rec := partner(first, last, email)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"Success":false`) {
				t.Errorf("CreateMagicLink %sName %q: %d %s, want 400", field, n, rec.Code, rec.Body)
			} else {
				refused++
			}
			if _, err := r.store.UserByEmail(ctxBG, "org1", email); err == nil {
				t.Errorf("CreateMagicLink %sName %q: the user was created", field, n)
			}
		}
	}
	for _, e := range emails {
		if rec := partner("Kaan", "K", e); rec.Code != http.StatusBadRequest {
			t.Errorf("CreateMagicLink email %q: %d %s, want 400", e, rec.Code, rec.Body)
		} else {
			refused++
		}
	}
	t.Logf("header injection: %d send-magic-link addresses and %d CreateMagicLink names/addresses refused", len(emails), refused)
}

// TestHostileBodies: bodies over 64 KiB get 413 whether or not they
// announce their length; deep nesting gets 400 (or 413 when it is also too
// large) quickly and without exhausting the stack.
func TestHostileBodies(t *testing.T) {
	t.Parallel()
	pub, _, _ := edKey()
	r := newRig(t, rigOptions{http: httpadapter.Config{
		APIKeys: []httpadapter.APIKey{{ID: "partner", Key: partnerAPIKey, OrgID: "org1", PortalOrigin: appOrigin}},
		Admin:   &httpadapter.AdminConfig{Keys: map[string]any{"k": pub}, Methods: []string{"EdDSA"}, PortalOrigin: appOrigin},
	}})
	big := `{"email":"a@example.com","callback_origin":"https://app.example.com","pad":"` + strings.Repeat("x", 70<<10) + `"}`
	cases := []struct {
		name  string
		body  string
		want  []int
		chunk bool // hide the length (chunked transfer)
	}{
		{"65 KiB + with Content-Length", big, []int{413}, false},
		{"65 KiB + chunked", big, []int{413}, true},
		{"exactly 64 KiB + 1 of spaces", strings.Repeat(" ", 64<<10+1), []int{413}, false},
		{"1 MiB chunked", strings.Repeat("[", 1<<20), []int{413}, true},
		{"100,000 [", strings.Repeat("[", 100_000), []int{400, 413}, false},
		{"100,000 [ chunked", strings.Repeat("[", 100_000), []int{400, 413}, true},
		{"60,000 [ (under the size limit)", strings.Repeat("[", 60_000), []int{400}, false},
		{"60,000 [ closed", strings.Repeat("[", 30_000) + strings.Repeat("]", 30_000), []int{400}, false},
		{"nested objects", strings.Repeat(`{"a":`, 8_000) + "1" + strings.Repeat("}", 8_000), []int{400}, false},
		{"nested in a field", `{"email":` + strings.Repeat("[", 50_000) + `}`, []int{400}, false},
	}
	paths := []string{sendPath, createPath, adminPath, verifyPath}
	for _, c := range cases {
		for _, p := range paths {
			req := jsonRequest(p, c.body)
			req.Header.Set("X-Api-Key", partnerAPIKey)
			if c.chunk {
				req.ContentLength = -1
			}
			start := time.Now()
			rec := r.do(req)
			took := time.Since(start)
			ok := false
			for _, w := range c.want {
				ok = ok || rec.Code == w
			}
			if p == adminPath && rec.Code == http.StatusUnauthorized {
				ok = true // authentication comes before the body
			}
			if !ok {
				t.Errorf("%s %s: %d %.200s, want one of %v", p, c.name, rec.Code, rec.Body, c.want)
			}
			if took > 5*time.Second {
				t.Errorf("%s %s took %v", p, c.name, took)
			}
		}
	}
	if r.mail.Len() != 0 {
		t.Errorf("%d mails sent for hostile bodies", r.mail.Len())
	}
}

// TestSpoofedForwardedForDoesNotBypassIPLimit: 10,000 requests from one
// address, each with a different forged X-Forwarded-For, get exactly Burst
// successes — whether the address is untrusted (the header is ignored) or
// a trusted proxy that appends the real client (only the rightmost
// untrusted entry counts).
func TestSpoofedForwardedForDoesNotBypassIPLimit(t *testing.T) {
	t.Parallel()
	const burst, requests = 3, 10_000
	for _, tc := range []struct {
		name, remote string
		xff          func(i int) string
	}{
		{"untrusted remote", "203.0.113.7:40000", func(i int) string { return spoofIP(i) }},
		{"untrusted remote, long chain", "203.0.113.7:40000", func(i int) string { return spoofIP(i) + ", " + spoofIP(i+1) + ", 10.0.0.1" }},
		{"trusted proxy appends the client", "10.0.0.1:40000", func(i int) string { return spoofIP(i) + ", 198.51.100.9" }},
		{"trusted proxies, client behind two", "10.0.0.1:40000", func(i int) string { return spoofIP(i) + ", 198.51.100.9, 10.0.0.2" }},
	} {
		r := newRig(t, rigOptions{
			svc: magiclink.Config{Mailer: mailer.Discard{}, Limits: magiclink.Limits{
				SendPerIP: ratelimit.Rate{Limit: burst, Period: time.Hour, Burst: burst}}},
			http: httpadapter.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		})
		ok, limited := 0, 0
		for i := range requests {
			req := jsonRequest(sendPath, map[string]any{"email": "u" + strconv.Itoa(i) + "@example.com", "callback_origin": appOrigin})
			req.RemoteAddr = tc.remote
			req.Header.Set("X-Forwarded-For", tc.xff(i))
			rec := r.do(req)
			switch rec.Code {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
				limited++
				if rec.Header().Get("Retry-After") == "" {
					t.Fatalf("%s: 429 without Retry-After", tc.name)
				}
			default:
				t.Fatalf("%s: request %d: %d %s", tc.name, i, rec.Code, rec.Body)
			}
		}
		if ok != burst || limited != requests-burst {
			t.Errorf("%s: %d allowed, %d limited; want exactly %d allowed", tc.name, ok, limited, burst)
		}
		t.Logf("spoofed X-Forwarded-For, %s: %d of %d allowed (burst %d)", tc.name, ok, requests, burst)
	}
}

// TestLimiterMemoryBoundedUnderDistinctClients: behind a trusted proxy,
// 10,000 real, distinct client IPs each get their burst (no key is denied
// for lack of room) from a memory limiter bounded to far fewer keys. That
// the limiter never holds more than its bound is ratelimit's
// TestMemoryMaxKeys.
func TestLimiterMemoryBoundedUnderDistinctClients(t *testing.T) {
	t.Parallel()
	const maxKeys, clients = 1000, 10_000
	lim := ratelimit.NewMemory(ratelimit.WithMaxKeys(maxKeys))
	t.Cleanup(func() { _ = lim.Close() })
	r := newRig(t, rigOptions{
		svc: magiclink.Config{Mailer: mailer.Discard{}, Limiter: lim, Limits: magiclink.Limits{
			SendPerIP:    ratelimit.Rate{Limit: 2, Period: time.Hour, Burst: 2},
			SendPerEmail: ratelimit.Rate{Limit: 5, Period: time.Hour, Burst: 2}}},
		http: httpadapter.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	})
	for i := range clients {
		req := jsonRequest(sendPath, map[string]any{"email": "c" + strconv.Itoa(i) + "@example.com", "callback_origin": appOrigin})
		req.RemoteAddr = "10.1.2.3:5555"
		req.Header.Set("X-Forwarded-For", spoofIP(i))
		if rec := r.do(req); rec.Code != http.StatusOK {
			t.Fatalf("client %d (%s): %d %s; a fresh client must get its burst", i, spoofIP(i), rec.Code, rec.Body)
		}
	}
}

// spoofIP returns a distinct public IPv4 address for i.
func spoofIP(i int) string {
	return netip.AddrFrom4([4]byte{100 + byte(i>>16&0x3f), byte(i >> 8), byte(i), byte(1 + rand.IntN(254))}).String()
}
