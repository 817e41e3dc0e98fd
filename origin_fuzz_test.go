package magiclink

import (
	"net/url"
	"strings"
	"testing"
)

// hostileOrigins seeds FuzzOrigins with the spellings that have fooled origin
// checks elsewhere: host confusion through userinfo and backslashes, suffix
// and prefix tricks against wildcards, alternative IP notations, and bytes
// browsers strip or normalise.
var hostileOrigins = []string{
	"https://app.example.com",
	"HTTPS://APP.EXAMPLE.COM:443",
	"https://x.b.example",
	"https://y.x.b.example",
	"https://x.c.example:9443",
	"http://localhost:3000",
	"http://[::1]:8080",
	"http://[0:0::1]:8080",
	"https://xn--bcher-kva.example",
	"https://bücher.example",
	"https://b.example",
	"https://b.example.evil.com",
	"https://evilb.example",
	"https://app.example.com@evil.com",
	`https://evil.com\.app.example.com`,
	"https://app.example.com/",
	"https://app.example.com.",
	"https://app.example.com:",
	"https://app.example.com:0443",
	"https://app%2eexample.com",
	"https://app.example.com\t",
	"https://app.example.com\r\n",
	"https://app.example.com\x00",
	"https://0x7f.1",
	"https://2130706433",
	"https://127.000.0.1",
	"https://.b.example",
	"https://x..b.example",
	"http://[::ffff:127.0.0.1]:8080",
	"http://[::1%25lo]:8080",
	"null",
	"",
	"//app.example.com",
}

// FuzzOrigins checks that whatever Allow accepts round-trips to itself and
// names only a configured host or a subdomain of a configured wildcard base,
// so no parsing quirk can turn an allowed origin into someone else's.
func FuzzOrigins(f *testing.F) {
	for _, s := range hostileOrigins {
		f.Add(s)
	}
	o, err := NewOrigins(
		"https://app.example.com",
		"https://*.b.example",
		"https://*.c.example:9443",
		"https://xn--bcher-kva.example",
		"http://localhost:3000",
		"http://[::1]:8080",
		"https://192.0.2.1",
	)
	if err != nil {
		f.Fatalf("fuzz allowlist is invalid: %v", err)
	}
	exactHosts := map[string]bool{
		"app.example.com": true, "xn--bcher-kva.example": true,
		"localhost": true, "[::1]": true, "192.0.2.1": true,
	}
	bases := []string{"b.example", "c.example"}

	f.Fuzz(func(t *testing.T, in string) {
		canon, ok := o.Allow(in)
		if !ok {
			if canon != "" {
				t.Fatalf("Allow(%q) refused but returned %q", in, canon)
			}
			return
		}
		again, ok := o.Allow(canon)
		if !ok || again != canon {
			t.Fatalf("Allow(%q) = %q, but Allow(%q) = %q, %v; canonical form must round-trip", in, canon, canon, again, ok)
		}
		if origin, ok := OriginOf(canon + "/path?q#f"); !ok || origin != canon {
			t.Fatalf("OriginOf(%q/path?q#f) = %q, %v; want the same origin", canon, origin, ok)
		}
		u, err := url.Parse(canon)
		if err != nil {
			t.Fatalf("canonical origin %q does not parse: %v", canon, err)
		}
		if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("canonical origin %q has more than scheme://host[:port]", canon)
		}
		host := u.Host
		if p := u.Port(); p != "" {
			host = strings.TrimSuffix(host, ":"+p)
		}
		if exactHosts[host] {
			return
		}
		for _, b := range bases {
			if strings.HasSuffix(host, "."+b) && len(host) > len(b)+1 {
				return
			}
		}
		t.Fatalf("Allow(%q) = %q, whose host %q is neither configured nor under a wildcard base", in, canon, host)
	})
}

// hostileNexts seeds FuzzSafeNext with known open-redirect payloads.
var hostileNexts = []string{
	"", "/", "/overview", "/a/b?x=1#frag", "/a/../b", "/search?q=%2F%2Fx",
	"//evil.com", "///evil.com", `/\evil.com`, "/%5cevil.com", "/%2F%2Fevil.com",
	"/..//evil.com", "https:evil.com", "javascript:alert(1)", "/%09/evil.com",
	`\/\/evil.com`, "/a\rb", "/a\nb", "/a\x00b", "/a%0db", "/a%0ab", "/a%00b",
	"/%2e%2e/%2e%2e//evil.com", "/./evil.com/../..//x", "http://evil.com",
	"evil.com", "overview", "/%252F%252Fevil.com", "/.%2e/", "/a/%2E%2e",
	"/\t/evil.com", "/a?x=//y", "/p#//f", "/a:b", "/%2e%2e%2fevil.com",
}

// FuzzSafeNext checks that every accepted destination is a path on our own
// site, whichever way a browser resolves it, and that SafeNext is idempotent.
func FuzzSafeNext(f *testing.F) {
	for _, s := range hostileNexts {
		f.Add(s)
	}
	base, err := url.Parse("https://app.example/")
	if err != nil {
		f.Fatalf("base URL: %v", err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := SafeNext(in)
		if err != nil {
			if out != "" {
				t.Fatalf("SafeNext(%q) failed but returned %q", in, out)
			}
			return
		}
		if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") {
			t.Fatalf("SafeNext(%q) = %q, which does not start with exactly one slash", in, out)
		}
		if strings.Contains(out, `\`) {
			t.Fatalf("SafeNext(%q) = %q, which contains a backslash", in, out)
		}
		if again, err := SafeNext(out); err != nil || again != out {
			t.Fatalf("SafeNext(%q) = %q, but SafeNext(%q) = %q, %v; must be idempotent", in, out, out, again, err)
		}
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("SafeNext(%q) = %q, which does not parse: %v", in, out, err)
		}
		if u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
			t.Fatalf("SafeNext(%q) = %q, which parses as absolute: %#v", in, out, u)
		}
		if r := base.ResolveReference(u); r.Host != "app.example" || r.Scheme != "https" {
			t.Fatalf("SafeNext(%q) = %q, which resolves to %q", in, out, r)
		}
	})
}
