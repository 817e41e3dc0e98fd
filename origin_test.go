package magiclink

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewOriginsCanonicalPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts OriginOptions
		in   string
		want string
	}{
		{"exact https", OriginOptions{}, "https://app.example.com", "https://app.example.com"},
		{"uppercase scheme and host", OriginOptions{}, "HTTPS://App.Example.COM", "https://app.example.com"},
		{"default https port dropped", OriginOptions{}, "https://a.example:443", "https://a.example"},
		{"default http port dropped", OriginOptions{}, "http://localhost:80", "http://localhost"},
		{"non-default port kept", OriginOptions{}, "https://a.example:8443", "https://a.example:8443"},
		{"single trailing slash dropped", OriginOptions{}, "https://a.example/", "https://a.example"},
		{"IDN to punycode", OriginOptions{}, "https://bücher.example", "https://xn--bcher-kva.example"},
		{"IDN uppercase to punycode", OriginOptions{}, "https://BÜCHER.example", "https://xn--bcher-kva.example"},
		{"punycode kept", OriginOptions{}, "https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
		{"wildcard", OriginOptions{}, "https://*.example.com", "https://*.example.com"},
		{"wildcard uppercase", OriginOptions{}, "https://*.EXAMPLE.com", "https://*.example.com"},
		{"wildcard with port", OriginOptions{}, "https://*.example.com:8443", "https://*.example.com:8443"},
		{"wildcard default port dropped", OriginOptions{}, "https://*.example.com:443", "https://*.example.com"},
		{"wildcard IDN base", OriginOptions{}, "https://*.bücher.example", "https://*.xn--bcher-kva.example"},
		{"http localhost", OriginOptions{}, "http://localhost:3000", "http://localhost:3000"},
		{"http localhost subdomain", OriginOptions{}, "http://app.localhost:3000", "http://app.localhost:3000"},
		{"http wildcard localhost", OriginOptions{}, "http://*.localhost:3000", "http://*.localhost:3000"},
		{"http 127.0.0.1", OriginOptions{}, "http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http 127/8", OriginOptions{}, "http://127.1.2.3", "http://127.1.2.3"},
		{"http ipv6 loopback", OriginOptions{}, "http://[::1]:8080", "http://[::1]:8080"},
		{"ipv6 canonicalised", OriginOptions{}, "https://[0:0:0:0:0:0:0:1]", "https://[::1]"},
		{"ipv6 lowercased", OriginOptions{}, "https://[2001:DB8::1]", "https://[2001:db8::1]"},
		{"https ipv4", OriginOptions{}, "https://192.0.2.1", "https://192.0.2.1"},
		{"http allowed by option", OriginOptions{AllowInsecureHTTP: true}, "http://intranet.example", "http://intranet.example"},
		{"public suffix wildcard allowed by option", OriginOptions{DangerouslyAllowPublicSuffixWildcard: true}, "https://*.github.io", "https://*.github.io"},
		{"private-registry child is not a suffix", OriginOptions{}, "https://*.me.github.io", "https://*.me.github.io"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := NewOriginsWithOptions(tt.opts, tt.in)
			require.NoError(t, err, "pattern %q should be accepted", tt.in)
			require.Equal(t, []string{tt.want}, o.Patterns(), "pattern %q canonicalised wrongly", tt.in)
		})
	}
}

func TestNewOriginsRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    OriginOptions
		in      string
		message string // a fragment the error must contain, so it stays precise
	}{
		{"empty", OriginOptions{}, "", "is empty"},
		{"null", OriginOptions{}, "null", "null origin"},
		{"null uppercase", OriginOptions{}, "NULL", "null origin"},
		{"no scheme", OriginOptions{}, "app.example.com", "https://"},
		{"wildcard without scheme", OriginOptions{}, "*.example.com", "https://"},
		{"other scheme", OriginOptions{}, "ftp://a.example", `scheme "ftp"`},
		{"javascript scheme", OriginOptions{}, "javascript://a.example", "scheme"},
		{"userinfo", OriginOptions{}, "https://user@a.example", "user information"},
		{"userinfo with password", OriginOptions{}, "https://user:pw@a.example", "user information"},
		{"path", OriginOptions{}, "https://a.example/app", "path"},
		{"double trailing slash", OriginOptions{}, "https://a.example//", "path"},
		{"query", OriginOptions{}, "https://a.example?x=1", "query"},
		{"fragment", OriginOptions{}, "https://a.example#x", "fragment"},
		{"no host", OriginOptions{}, "https://", "no host"},
		{"port only", OriginOptions{}, "https://:443", "malformed"},
		{"empty port", OriginOptions{}, "https://a.example:", "malformed"},
		{"port zero", OriginOptions{}, "https://a.example:0", "invalid port"},
		{"port too big", OriginOptions{}, "https://a.example:65536", "invalid port"},
		{"port leading zero", OriginOptions{}, "https://a.example:0443", "invalid port"},
		{"port not a number", OriginOptions{}, "https://a.example:https", "invalid port"},
		{"public suffix wildcard com", OriginOptions{}, "https://*.com", "public suffix"},
		{"public suffix wildcard co.uk", OriginOptions{}, "https://*.co.uk", "public suffix"},
		{"public suffix wildcard github.io", OriginOptions{}, "https://*.github.io", "public suffix"},
		{"unlisted TLD wildcard", OriginOptions{}, "https://*.example", "public suffix"},
		{"http non-loopback", OriginOptions{}, "http://a.example", "http"},
		{"http wildcard non-loopback", OriginOptions{}, "http://*.example.com", "http"},
		{"http public ip", OriginOptions{}, "http://192.0.2.1", "http"},
		{"star in the middle of a label", OriginOptions{}, "https://a*.b.com", `"*"`},
		{"star as a middle label", OriginOptions{}, "https://a.*.b.com", `"*"`},
		{"bare star", OriginOptions{}, "https://*", `"*"`},
		{"two stars", OriginOptions{}, "https://*.*.example.com", `"*"`},
		{"star suffix", OriginOptions{}, "https://example.*", `"*"`},
		{"star with nothing behind", OriginOptions{}, "https://*.", "domain name"},
		{"wildcard on ipv4", OriginOptions{}, "https://*.0.0.1", "wildcard with an IP"},
		{"trailing dot", OriginOptions{}, "https://a.example.", "trailing dot"},
		{"space", OriginOptions{}, "https://a.example ", "whitespace"},
		{"tab inside", OriginOptions{}, "https://a.\texample", "whitespace"},
		{"newline", OriginOptions{}, "https://a.example\n", "control"},
		{"backslash", OriginOptions{}, `https://a.example\`, "backslash"},
		{"percent-encoded host", OriginOptions{}, "https://a%2eexample", "percent"},
		{"underscore", OriginOptions{}, "https://a_b.example", "domain name"},
		{"empty label", OriginOptions{}, "https://a..example", "domain name"},
		{"leading hyphen", OriginOptions{}, "https://-a.example", "domain name"},
		{"hex ipv4", OriginOptions{}, "https://0x7f.1", "IPv4"},
		{"numeric tld", OriginOptions{}, "https://a.123", "IPv4"},
		{"ipv6 zone", OriginOptions{}, "https://[fe80::1%25eth0]", "percent"},
		{"ipv4-mapped ipv6", OriginOptions{}, "https://[::ffff:127.0.0.1]", "IPv4-mapped"},
		{"broken ipv6", OriginOptions{}, "https://[::1", "malformed"},
		{"invalid ipv6", OriginOptions{}, "https://[zz::1]", "IPv6"},
		{"long label", OriginOptions{}, "https://" + strings.Repeat("a", 64) + ".example", "domain name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := NewOriginsWithOptions(tt.opts, tt.in)
			require.Nil(t, o, "pattern %q must not produce an allowlist", tt.in)
			require.Error(t, err, "pattern %q must be rejected", tt.in)
			require.ErrorIs(t, err, ErrInvalidConfig, "pattern %q must fail as a configuration error", tt.in)
			require.Contains(t, err.Error(), tt.message, "error for %q does not say what is wrong", tt.in)
			var e *Error
			require.True(t, errors.As(err, &e), "error for %q is not an *Error", tt.in)
			require.Equal(t, "Origins", e.Field, "error for %q names the wrong field", tt.in)
		})
	}
}

func TestNewOriginsNeedsAPattern(t *testing.T) {
	t.Parallel()
	_, err := NewOrigins()
	require.ErrorIs(t, err, ErrInvalidConfig, "an empty allowlist must be a configuration error")
}

func TestNewOriginsErrorQuotesAtMost100Bytes(t *testing.T) {
	t.Parallel()
	long := "https://a.example/" + strings.Repeat("x", 5000)
	_, err := NewOrigins(long)
	require.ErrorIs(t, err, ErrInvalidConfig, "a long pattern with a path must be rejected")
	require.Less(t, len(err.Error()), 300, "the error must not echo the whole pattern")
	require.Contains(t, err.Error(), `"https://a.example/`, "the error must quote the pattern's start")
}

func TestNewOriginsFirstBadPatternFailsAll(t *testing.T) {
	t.Parallel()
	_, err := NewOrigins("https://a.example", "https://*.com")
	require.ErrorIs(t, err, ErrInvalidConfig, "one bad pattern must fail the whole allowlist")
	require.Contains(t, err.Error(), `"https://*.com"`, "the error must name the bad pattern")
}

func TestOriginsPatternsDeduplicatedAndCopied(t *testing.T) {
	t.Parallel()
	o, err := NewOrigins("https://a.example", "HTTPS://A.example:443", "https://*.b.example", "https://*.B.example/")
	require.NoError(t, err, "valid patterns must be accepted")
	want := []string{"https://a.example", "https://*.b.example"}
	require.Equal(t, want, o.Patterns(), "duplicate patterns must collapse in configuration order")
	o.Patterns()[0] = "https://evil.example"
	require.Equal(t, want, o.Patterns(), "Patterns must return a copy")
	require.Equal(t, "[https://a.example https://*.b.example]", o.String(), "String lists the canonical patterns")
}

func TestOriginsAllow(t *testing.T) {
	t.Parallel()
	o, err := NewOrigins(
		"https://app.example.com",
		"https://a.example:8443",
		"https://*.b.example",
		"https://*.c.example:9443",
		"https://bücher.example",
		"http://localhost:3000",
		"http://[::1]:8080",
		"https://192.0.2.1",
	)
	require.NoError(t, err, "test allowlist must be valid")

	tests := []struct {
		name  string
		in    string
		ok    bool
		canon string
	}{
		// Exact matches.
		{"exact", "https://app.example.com", true, "https://app.example.com"},
		{"exact case-insensitive host", "https://APP.Example.Com", true, "https://app.example.com"},
		{"exact case-insensitive scheme", "HTTPS://app.example.com", true, "https://app.example.com"},
		{"default port equivalence", "https://app.example.com:443", true, "https://app.example.com"},
		{"non-default port matches", "https://a.example:8443", true, "https://a.example:8443"},
		{"non-default port required", "https://a.example", false, ""},
		{"non-default port must be exact", "https://a.example:8444", false, ""},
		{"default port not configured", "https://app.example.com:8443", false, ""},
		{"other scheme", "http://app.example.com", false, ""},
		{"http localhost", "http://localhost:3000", true, "http://localhost:3000"},
		{"localhost other port", "http://localhost:3001", false, ""},
		{"ipv6 loopback", "http://[::1]:8080", true, "http://[::1]:8080"},
		{"ipv6 long form canonicalised", "http://[0:0::1]:8080", true, "http://[::1]:8080"},
		{"ipv4", "https://192.0.2.1", true, "https://192.0.2.1"},
		{"ipv4 other spelling", "https://192.0.2.01", false, ""},
		{"ipv4 as hex", "https://0xc0.0.2.1", false, ""},
		{"ipv4 as one number", "https://3221225985", false, ""},
		{"IDN as punycode", "https://xn--bcher-kva.example", true, "https://xn--bcher-kva.example"},
		{"IDN punycode uppercase", "https://XN--BCHER-KVA.example", true, "https://xn--bcher-kva.example"},
		{"Unicode host not converted at request time", "https://bücher.example", false, ""},

		// Wildcards.
		{"wildcard one label", "https://x.b.example", true, "https://x.b.example"},
		{"wildcard two labels", "https://y.x.b.example", true, "https://y.x.b.example"},
		{"wildcard uppercase", "https://X.B.Example", true, "https://x.b.example"},
		{"wildcard default port", "https://x.b.example:443", true, "https://x.b.example"},
		{"wildcard never bare domain", "https://b.example", false, ""},
		{"wildcard never suffix-extended", "https://b.example.evil.com", false, ""},
		{"wildcard never label-extended", "https://x.b.example.evil.com", false, ""},
		{"wildcard never glued prefix", "https://evilb.example", false, ""},
		{"wildcard other scheme", "http://x.b.example", false, ""},
		{"wildcard other port", "https://x.b.example:8443", false, ""},
		{"wildcard with port", "https://x.c.example:9443", true, "https://x.c.example:9443"},
		{"wildcard with port needs port", "https://x.c.example", false, ""},
		{"wildcard with port other port", "https://x.c.example:9444", false, ""},
		{"wildcard empty label", "https://.b.example", false, ""},
		{"wildcard empty inner label", "https://x..b.example", false, ""},

		// Request-time rejections.
		{"empty", "", false, ""},
		{"null", "null", false, ""},
		{"userinfo host confusion", "https://app.example.com@evil.com", false, ""},
		{"userinfo", "https://user@app.example.com", false, ""},
		{"trailing slash", "https://app.example.com/", false, ""},
		{"trailing path", "https://app.example.com/path", false, ""},
		{"query", "https://app.example.com?x", false, ""},
		{"fragment", "https://app.example.com#x", false, ""},
		{"backslash", `https://app.example.com\`, false, ""},
		{"backslash host confusion", `https://evil.com\.app.example.com`, false, ""},
		{"leading space", " https://app.example.com", false, ""},
		{"trailing space", "https://app.example.com ", false, ""},
		{"inner tab", "https://app.\texample.com", false, ""},
		{"CR", "https://app.example.com\r", false, ""},
		{"LF", "https://app.example.com\n", false, ""},
		{"NUL", "https://app.example.com\x00", false, ""},
		{"DEL", "https://app.example.com\x7f", false, ""},
		{"trailing dot", "https://app.example.com.", false, ""},
		{"trailing dot wildcard", "https://x.b.example.", false, ""},
		{"percent-encoded dot", "https://app%2eexample.com", false, ""},
		{"no scheme", "app.example.com", false, ""},
		{"scheme-relative", "//app.example.com", false, ""},
		{"one slash", "https:/app.example.com", false, ""},
		{"empty port", "https://app.example.com:", false, ""},
		{"port leading zero", "https://a.example:08443", false, ""},
		{"port zero", "https://a.example:0", false, ""},
		{"port overflow", "https://a.example:99999", false, ""},
		{"fullwidth dot", "https://app。example.com", false, ""},
		{"ipv6 zone", "http://[::1%25lo]:8080", false, ""},
		{"unbracketed ipv6", "http://::1:8080", false, ""},
		{"overlong input", "https://" + strings.Repeat("a.", 200) + "b.example", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := o.Allow(tt.in)
			require.Equal(t, tt.ok, ok, "Allow(%q) decided wrongly", tt.in)
			require.Equal(t, tt.canon, got, "Allow(%q) returned the wrong canonical origin", tt.in)
		})
	}
}

func TestOriginsAllowWildcardBaseOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	o, err := NewOrigins("https://example.com", "https://*.example.com")
	require.NoError(t, err, "bare domain plus wildcard is a valid allowlist")
	_, ok := o.Allow("https://example.com")
	require.True(t, ok, "the bare domain is allowed when listed on its own")
	_, ok = o.Allow("https://www.example.com")
	require.True(t, ok, "a subdomain is allowed by the wildcard")
}

func TestOriginsAllowNil(t *testing.T) {
	t.Parallel()
	var o *Origins
	_, ok := o.Allow("https://a.example")
	require.False(t, ok, "a nil allowlist must allow nothing")
	require.Nil(t, o.Patterns(), "a nil allowlist has no patterns")
}

// This test is not parallel: testing.AllocsPerRun refuses to run beside
// other tests, whose allocations it would count.
func TestOriginsAllowCanonicalDoesNotAllocate(t *testing.T) {
	o, err := NewOrigins("https://a.example", "https://*.b.example")
	require.NoError(t, err, "test allowlist must be valid")
	for _, in := range []string{"https://a.example", "https://x.b.example"} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, ok := o.Allow(in); !ok {
				panic("not allowed")
			}
		})
		require.Zero(t, allocs, "Allow(%q) of a canonical origin must not allocate", in)
	}
}

func TestOriginOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"https://app.example.com/page?x=1#f", "https://app.example.com", true},
		{"https://app.example.com", "https://app.example.com", true},
		{"https://app.example.com/", "https://app.example.com", true},
		{"https://App.Example.com:443/x", "https://app.example.com", true},
		{"https://app.example.com:8443/x", "https://app.example.com:8443", true},
		{"http://localhost:3000/", "http://localhost:3000", true},
		{"https://app.example.com?q", "https://app.example.com", true},
		{"https://app.example.com#f", "https://app.example.com", true},
		{"http://[::1]:8080/", "http://[::1]:8080", true},
		{"https://user@app.example.com/", "", false},
		{"https://evil.com\\@app.example.com/", "", false},
		{"https://app.example.com/a\\b", "", false},
		{"https://app.example.com/a b", "", false},
		{"https://app.example.com/\n", "", false},
		{"https://app.example.com./", "", false},
		{"ftp://app.example.com/", "", false},
		{"/relative/path", "", false},
		{"", "", false},
		{"null", "", false},
		{"https:///path", "", false},
	}
	for _, tt := range tests {
		got, ok := OriginOf(tt.in)
		require.Equal(t, tt.ok, ok, "OriginOf(%q) decided wrongly", tt.in)
		require.Equal(t, tt.want, got, "OriginOf(%q) returned the wrong origin", tt.in)
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	accept := []struct {
		in, want string
	}{
		{"", "/"},
		{"/", "/"},
		{"/overview", "/overview"},
		{"/overview?tab=1", "/overview?tab=1"},
		{"/a/b?x=1#frag", "/a/b?x=1#frag"},
		{"/a/../b", "/b"},
		{"/a/./b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"/a/./b/", "/a/b/"},
		{"/a/%2e%2e/b", "/b"},
		{"/a/.%2E/b", "/b"},
		{"/a/%2E./b?x=1", "/b?x=1"},
		{"/..", "/"},
		{"/../../x", "/x"},
		{"/a/..", "/"},
		{"/search?q=%2F%2Fx", "/search?q=%2F%2Fx"},
		{"/search?u=//evil.com", "/search?u=//evil.com"},
		{"/search?q=%5C", "/search?q=%5C"},
		{"/p#//frag", "/p#//frag"},
		{"/caf%C3%A9", "/caf%C3%A9"},
		{"/a...b/...", "/a...b/..."},
		{"/.well-known/x", "/.well-known/x"},
		{"/a:b", "/a:b"},
		{"/" + strings.Repeat("a", 2047), "/" + strings.Repeat("a", 2047)},
	}
	for _, tt := range accept {
		got, err := SafeNext(tt.in)
		require.NoError(t, err, "SafeNext(%q) must accept a safe path", tt.in)
		require.Equal(t, tt.want, got, "SafeNext(%q) cleaned wrongly", tt.in)
	}

	reject := []struct {
		in, message string
	}{
		{"//evil.com", `"//"`},
		{"///evil.com", `"//"`},
		{`/\evil.com`, "backslash"},
		{"/%5cevil.com", "percent-encoded slash or backslash"},
		{"/%5Cevil.com", "percent-encoded slash or backslash"},
		{"/%2F%2Fevil.com", "percent-encoded slash or backslash"},
		{"/%2f%2fevil.com", "percent-encoded slash or backslash"},
		{"/a%2Fb", "percent-encoded slash or backslash"},
		{"/%252F%252Fevil.com", "double-encoded"},
		{"/..//evil.com", `"//"`},
		{"/%2e%2e/%2e%2e//evil.com", `"//"`},
		{"/./evil.com/../..//x", `"//"`},
		{"/a//b", `"//"`},
		{"https:evil.com", "absolute URL"},
		{"javascript:alert(1)", "absolute URL"},
		{"http://evil.com", "absolute URL"},
		{"https://evil.com/x", "absolute URL"},
		{"evil.com", `starting with "/"`},
		{"overview", `starting with "/"`},
		{`\/\/evil.com`, `starting with "/"`},
		{"?x=1", `starting with "/"`},
		{"/%09/evil.com", "control"},
		{"/\t/evil.com", "control"},
		{"/a\rb", "control"},
		{"/a\nb", "control"},
		{"/a\x00b", "control"},
		{"/a\x7fb", "control"},
		{"/a%0db", "control"},
		{"/a%0Ab", "control"},
		{"/a%00b", "control"},
		{"/a%7Fb", "control"},
		{"/a?x=%0d%0aSet-Cookie:x", "control"},
		{"/a#%00", "control"},
		{"/a?x=\\", "backslash"},
		{"/a b", "space"},
		{"/café", "non-ASCII"},
		{"/a%zz", "malformed percent"},
		{"/a%2", "malformed percent"},
		{"/a?x=%", "malformed percent"},
		{"/" + strings.Repeat("a", 2999), "longer than 2048"},
	}
	for _, tt := range reject {
		got, err := SafeNext(tt.in)
		require.Empty(t, got, "SafeNext(%q) must not return a destination", tt.in)
		require.ErrorIs(t, err, ErrUnsafeNext, "SafeNext(%q) must be rejected as unsafe", tt.in)
		require.Contains(t, err.Error(), tt.message, "SafeNext(%q) error does not say what is wrong", tt.in)
		var e *Error
		require.True(t, errors.As(err, &e), "SafeNext(%q) error is not an *Error", tt.in)
		require.Equal(t, "callback_next", e.Field, "SafeNext(%q) error names the wrong field", tt.in)
		require.Less(t, len(err.Error()), 200, "SafeNext(%q) error must not echo the input", tt.in)
	}
}

func TestSafeNextStaysOnSite(t *testing.T) {
	t.Parallel()
	base, err := url.Parse("https://app.example/")
	require.NoError(t, err, "base URL must parse")
	for _, in := range []string{"/", "/a/../b", "/%2e%2e/x", "/a?x=//y", "/p#//f", "/..", "/a:b/c"} {
		out, err := SafeNext(in)
		require.NoError(t, err, "SafeNext(%q) must accept a safe path", in)
		again, err := SafeNext(out)
		require.NoError(t, err, "SafeNext(%q) must accept its own output %q", in, out)
		require.Equal(t, out, again, "SafeNext must be idempotent on %q", in)
		u, err := url.Parse(out)
		require.NoError(t, err, "output %q must parse", out)
		require.Equal(t, "app.example", base.ResolveReference(u).Host, "output %q must stay on the site", out)
	}
}

// TestOriginsSingleLabelWildcard: "+." matches exactly one label where
// "*." matches any depth; both refuse the bare domain and lookalikes, and
// "+" is held to the same placement and public-suffix rules as "*".
func TestOriginsSingleLabelWildcard(t *testing.T) {
	t.Parallel()
	o, err := NewOrigins("https://+.one.example.com", "https://*.any.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got := o.Patterns(); len(got) != 2 || got[0] != "https://+.one.example.com" {
		t.Errorf("Patterns() = %v, want the canonical +. pattern first", got)
	}
	for origin, want := range map[string]bool{
		"https://a.one.example.com":      true,
		"https://a.b.one.example.com":    false,
		"https://one.example.com":        false,
		"https://aone.example.com":       false,
		"https://a.one.example.com.evil": false,
		"http://a.one.example.com":       false,
		"https://a.any.example.com":      true,
		"https://a.b.any.example.com":    true,
		"https://any.example.com":        false,
	} {
		if _, ok := o.Allow(origin); ok != want {
			t.Errorf("Allow(%q) = %v, want %v", origin, ok, want)
		}
	}
	for _, bad := range []string{"https://+.com", "https://a.+.example.com", "https://+", "https://+.1.2.3.4", "https://+x.example.com"} {
		if _, err := NewOrigins(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewOrigins(%q) = %v, want a configuration error", bad, err)
		}
	}
}

// Allow's byte-for-byte shortcut is taken only for configured origins that
// parsing hands back unchanged, so it answers what parsing would.
func TestOriginsVerbatimShortcutAgreesWithParsing(t *testing.T) {
	t.Parallel()
	o, err := NewOriginsWithOptions(OriginOptions{AllowInsecureHTTP: true},
		"https://APP.example.com:443/", "https://bücher.example", "https://[::1]:8443", "http://localhost:3000",
		"http://127.0.0.1", "https://a.example:8444", "http://intranet.example:80", "https://*.example.net")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.exact) != 7 {
		t.Fatalf("%d exact origins, want 7: %v", len(o.exact), o.exact)
	}
	for canon, verbatim := range o.exact {
		p, ok := parseOrigin(canon, false)
		if !verbatim || !ok || p.canonical != canon {
			t.Errorf("exact origin %q: verbatim %v, but parsing gives %q, %v", canon, verbatim, p.canonical, ok)
		}
		if got, ok := o.Allow(canon); !ok || got != canon {
			t.Errorf("Allow(%q) = %q, %v", canon, got, ok)
		}
	}
}
