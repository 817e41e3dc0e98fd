package clientip

import (
	"net/http"
	"testing"
)

// BenchmarkClientIP measures resolution behind one trusted proxy, for a
// normal header and for a 1 MB one whose cost must not depend on its size.
func BenchmarkClientIP(b *testing.B) {
	r, err := New(mustCIDRs(b, "10.0.0.0/8"))
	if err != nil {
		b.Fatal(err)
	}
	short := hugeRequest("1.2.3.4, ", "198.51.100.9, 10.1.1.1")
	short.Header.Set("X-Forwarded-For", "203.0.113.1, 198.51.100.9, 10.1.1.1")
	for _, bc := range []struct {
		name string
		req  *http.Request
	}{
		{"short", short},
		{"1MB", hugeRequest("1.2.3.4, ", "198.51.100.9, 10.1.1.1")},
	} {
		req := bc.req
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.ClientIP(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
