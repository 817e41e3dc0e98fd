package clientip

import (
	"net/http"
	"testing"
)

// BenchmarkClientIP measures resolution behind one trusted proxy, for a
// normal header and for a 1 MB one whose cost must not depend on its size,
// and for a typical RFC 7239 Forwarded header.
func BenchmarkClientIP(b *testing.B) {
	r, err := New(mustCIDRs(b, "10.0.0.0/8"))
	if err != nil {
		b.Fatal(err)
	}
	fwd, err := New(mustCIDRs(b, "10.0.0.0/8"), "Forwarded")
	if err != nil {
		b.Fatal(err)
	}
	short := hugeRequest("1.2.3.4, ", "198.51.100.9, 10.1.1.1")
	short.Header.Set("X-Forwarded-For", "203.0.113.1, 198.51.100.9, 10.1.1.1")
	forwarded := hugeRequest("1.2.3.4, ", "198.51.100.9")
	forwarded.Header.Set("Forwarded", `for=203.0.113.1, for="[2001:db8::9]:4711";proto=https;host=example.com, for=10.1.1.1;by=10.0.0.2`)
	for _, bc := range []struct {
		name string
		r    *Resolver
		req  *http.Request
	}{
		{"short", r, short},
		{"1MB", r, hugeRequest("1.2.3.4, ", "198.51.100.9, 10.1.1.1")},
		{"forwarded", fwd, forwarded},
	} {
		req, res := bc.req, bc.r
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := res.ClientIP(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
