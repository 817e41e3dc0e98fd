package magiclink

import "testing"

// benchOrigins is a realistic allowlist: a few exact origins and wildcards,
// with the matched wildcard last so the loop over wildcards is exercised.
func benchOrigins(b *testing.B) *Origins {
	b.Helper()
	o, err := NewOrigins(
		"https://app.example.com",
		"https://admin.example.com",
		"http://localhost:3000",
		"https://*.preview.example.net",
		"https://*.staging.example.org:8443",
		"https://*.example.com",
	)
	if err != nil {
		b.Fatalf("bench allowlist is invalid: %v", err)
	}
	return o
}

// BenchmarkOriginsAllowExact measures the per-request check of a canonical
// exact origin, the form browsers send; the target is 0 allocs/op.
func BenchmarkOriginsAllowExact(b *testing.B) {
	o := benchOrigins(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := o.Allow("https://app.example.com"); !ok {
			b.Fatal("exact origin not allowed")
		}
	}
}

// BenchmarkOriginsAllowWildcard measures the per-request check of a canonical
// origin matched by a wildcard; the target is 0 allocs/op.
func BenchmarkOriginsAllowWildcard(b *testing.B) {
	o := benchOrigins(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := o.Allow("https://pr-1234.deploy.example.com"); !ok {
			b.Fatal("wildcard origin not allowed")
		}
	}
}

// BenchmarkOriginsAllowRejected measures refusing an origin that is close to
// an allowed one, which is what an attacker probing the allowlist costs us.
func BenchmarkOriginsAllowRejected(b *testing.B) {
	o := benchOrigins(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := o.Allow("https://example.com.evil.com"); ok {
			b.Fatal("hostile origin allowed")
		}
	}
}

// BenchmarkSafeNext measures validating a typical destination with a query.
func BenchmarkSafeNext(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SafeNext("/dashboard/projects?tab=settings#billing"); err != nil {
			b.Fatal(err)
		}
	}
}
