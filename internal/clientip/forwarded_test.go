package clientip

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestForwardedGrammar checks the Forwarded parser against RFC 7239 §4
// (element, pair, token / quoted-string value) and §6 (node) case by case.
// The request comes from a trusted proxy (10.0.0.0/8), so the header is
// read; want "" means the header must be refused with ErrNoClientIP, never
// read as some address. Cases marked "was accepted" were read as valid
// before the strict parser, those marked "was refused" are well-formed
// nodes the old parser could not read.
func TestForwardedGrammar(t *testing.T) {
	t.Parallel()
	r, err := New(mustCIDRs(t, "10.0.0.0/8"), "Forwarded")
	require.NoError(t, err)
	tests := []struct {
		name, header, want string
	}{
		// Well-formed.
		{"RFC 7239 example with by and proto", `for=192.0.2.60;proto=http;by=203.0.113.43`, "192.0.2.60"},
		{"two elements, rightmost untrusted wins", `for=192.0.2.43, for=198.51.100.17`, "198.51.100.17"},
		{"quoted bracketed IPv6 with port", `for="[2001:db8:cafe::17]:4711"`, "2001:db8:cafe::17"},
		{"quoted bracketed IPv6", `for="[2001:db8:cafe::17]"`, "2001:db8:cafe::17"},
		{"quoted IPv4 with port", `for="192.0.2.43:47011"`, "192.0.2.43"},
		{"quoted IPv4", `for="192.0.2.43"`, "192.0.2.43"},
		{"parameter names are case-insensitive", `FOR=192.0.2.43;Proto=https`, "192.0.2.43"},
		{"empty pairs are allowed", `;for=192.0.2.43;;proto=https;`, "192.0.2.43"},
		{"obfuscated port (was refused)", `for="192.0.2.43:_hidden"`, "192.0.2.43"},
		{"obfuscated port on IPv6 (was refused)", `for="[2001:db8::1]:_p-1.x"`, "2001:db8::1"},
		{"quoted-pair in the node (was refused)", `for="\1\92.0.2.43"`, "192.0.2.43"},
		{"comma and semicolon inside another quoted value", `host="a,b;c";for=192.0.2.43`, "192.0.2.43"},
		{"escaped quote inside another quoted value", `for=192.0.2.43;x="a\",b", for=10.1.1.1`, "192.0.2.43"},
		{"obfuscated by on a trusted hop", `for=192.0.2.43, for=10.1.1.1;by=_proxy`, "192.0.2.43"},
		{"spaces around the element comma are OWS", "for=192.0.2.43 ,\tfor=10.1.1.1\t", "192.0.2.43"},
		{"IPv4-mapped IPv6 is unmapped and trusted", `for=192.0.2.43, for="[::ffff:10.1.1.1]"`, "192.0.2.43"},

		// Malformed pairs (§4).
		{"space before = (was accepted)", `For =1.1.1.1`, ""},
		{"space after = (was accepted)", `for= 1.1.1.1`, ""},
		{"space before ; (was accepted)", `for=1.1.1.1 ;proto=http`, ""},
		{"space after ; (was accepted)", `for=1.1.1.1; proto=http`, ""},
		{"space inside a name (was accepted)", `for=1.1.1.1;pro to=http`, ""},
		{"empty name (was accepted)", `for=1.1.1.1;=x`, ""},
		{"pair without = (was accepted)", `for=1.1.1.1;proto`, ""},
		{"empty token value (was accepted)", `for=1.1.1.1;proto=`, ""},
		{"non-tchar in a name (was accepted)", `for=1.1.1.1;pr@to=http`, ""},
		{"non-tchar in a token value (was accepted)", `for=1.1.1.1;x=a@b`, ""},
		{"junk after a quoted value (was accepted)", `for=1.1.1.1;host="a"b`, ""},
		{"dangling backslash in a quoted value (was accepted)", `for=1.1.1.1;x="\`, ""},
		{"control character in a quoted value (was accepted)", "for=1.1.1.1;x=\"a\x01\"", ""},
		{"unterminated quoted value", `for="1.1.1.1`, ""},
		{"duplicate for (was accepted)", `for=1.1.1.1;for=10.0.0.9`, ""},
		{"duplicate for in other case (was accepted)", `for=1.1.1.1;FOR=10.0.0.9`, ""},
		{"duplicate proto (was accepted)", `for=1.1.1.1;proto=http;proto=https`, ""},
		{"too many parameters (was accepted)", "for=1.1.1.1" + strings.Repeat(";a=1", maxForwardedPairs), ""},
		{"no for parameter", `proto=https;by=10.0.0.2`, ""},
		{"only semicolons", `;;`, ""},
		{"non-OWS space around the element (was accepted)", "for=1.1.1.1\u00a0", ""},
		{"malformed trusted hop behind a valid client (was accepted)", `for=198.51.100.9, for =10.1.1.1`, ""},

		// Malformed or unusable nodes (§6).
		{"unquoted IPv4 with port (was accepted)", `for=1.1.1.1:80`, ""},
		{"unquoted bracketed IPv6 (was accepted)", `for=[2001:db8::1]`, ""},
		{"unquoted bare IPv6 (was accepted)", `for=2001:db8::1`, ""},
		{"quoted bare IPv6 (was accepted)", `for="2001:db8::1"`, ""},
		{"IPv4 in brackets (was accepted)", `for="[192.0.2.43]"`, ""},
		{"IPv6 with a zone (was accepted)", `for="[fe80::1%eth0]"`, ""},
		{"unclosed bracket", `for="[2001:db8::1"`, ""},
		{"junk after the bracket", `for="[2001:db8::1]x"`, ""},
		{"empty port", `for="192.0.2.43:"`, ""},
		{"six-digit port", `for="[2001:db8::1]:123456"`, ""},
		{"non-digit port", `for="192.0.2.43:8a"`, ""},
		{"bare underscore port", `for="192.0.2.43:_"`, ""},
		{"second colon", `for="192.0.2.43:80:81"`, ""},
		{"empty quoted node", `for=""`, ""},
		{"leading zero in IPv4", `for=01.1.1.1`, ""},
		{"hostname", `for=example.com`, ""},
		{"unknown", `for=unknown`, ""},
		{"unknown with port", `for="unknown:80"`, ""},
		{"obfuscated node", `for=_hidden`, ""},
		{"obfuscated node with port", `for="_hidden:_port"`, ""},
		{"unspecified IPv4", `for=0.0.0.0`, ""},
		{"unspecified IPv6", `for="[::]"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = "10.0.0.2:443"
			req.Header["Forwarded"] = []string{tt.header}
			got, err := r.ClientIP(req)
			if tt.want == "" {
				require.ErrorIs(t, err, ErrNoClientIP, "header %q was read as %v", tt.header, got)
				assert.False(t, got.IsValid())
				assert.Less(t, len(err.Error()), 200)
				return
			}
			require.NoError(t, err, "header %q", tt.header)
			assert.Equal(t, tt.want, got.String())
		})
	}
}

// TestXForwardedForOWS pins that only spaces and tabs are trimmed around an
// X-Forwarded-For element: other Unicode spaces make the entry malformed.
func TestXForwardedForOWS(t *testing.T) {
	t.Parallel()
	r, err := New(mustCIDRs(t, "10.0.0.0/8"))
	require.NoError(t, err)
	for header, want := range map[string]string{
		" \t198.51.100.9\t ":       "198.51.100.9",
		"198.51.100.9\u00a0":       "",
		"198.51.100.9, 10.1.1.1\v": "",
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = "10.0.0.2:443"
		req.Header["X-Forwarded-For"] = []string{header}
		got, err := r.ClientIP(req)
		if want == "" {
			require.ErrorIs(t, err, ErrNoClientIP, "header %q was read as %v", header, got)
			continue
		}
		require.NoError(t, err, "header %q", header)
		assert.Equal(t, want, got.String())
	}
}

// TestIsTchar compares the bitmap with RFC 9110's list of token characters.
func TestIsTchar(t *testing.T) {
	t.Parallel()
	for c := range 256 {
		want := c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0)
		assert.Equal(t, want, isTchar(byte(c)), "byte %#x", c)
	}
}

func TestEqualFoldASCII(t *testing.T) {
	t.Parallel()
	assert.True(t, equalFoldASCII("For", "fOR"))
	assert.True(t, equalFoldASCII("", ""))
	assert.False(t, equalFoldASCII("for", "fo"))
	assert.False(t, equalFoldASCII("^", "~"), "'^'|0x20 is '~': folding must touch letters only")
	assert.False(t, equalFoldASCII("@", "`"))
}
