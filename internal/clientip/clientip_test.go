package clientip

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustCIDRs(t testing.TB, s string) []netip.Prefix {
	t.Helper()
	p, err := ParseCIDRs(s)
	require.NoError(t, err)
	return p
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	// 10.0.0.0/8 and fd00::/8 are "our" proxies in every case below.
	trusted := "10.0.0.0/8, fd00::/8"
	tests := []struct {
		name    string
		trusted string
		headers []string // Resolver headers; nil means the default
		remote  string
		set     map[string][]string
		want    string
		wantErr bool
	}{
		{name: "no trusted proxies ignores headers", remote: "203.0.113.7:5555",
			set: map[string][]string{"X-Forwarded-For": {"1.2.3.4"}}, want: "203.0.113.7"},
		{name: "untrusted remote ignores headers", trusted: trusted, remote: "203.0.113.7:5555",
			set: map[string][]string{"X-Forwarded-For": {"1.2.3.4"}}, want: "203.0.113.7"},
		{name: "spoofed leftmost ignored", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"1.2.3.4, 198.51.100.9"}}, want: "198.51.100.9"},
		{name: "proxy chain skipped", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"1.2.3.4, 198.51.100.9, 10.1.1.1, 10.2.2.2"}}, want: "198.51.100.9"},
		{name: "header instances merged in order", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"1.2.3.4, 198.51.100.9", "10.1.1.1", " 10.2.2.2 "}}, want: "198.51.100.9"},
		{name: "client in an earlier instance", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.9", "10.1.1.1, 10.2.2.2"}}, want: "198.51.100.9"},
		{name: "empty header keeps remote", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {""}}, want: "10.0.0.2"},
		{name: "only empty elements keep remote", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {" , ,"}}, want: "10.0.0.2"},
		{name: "absent header keeps remote", trusted: trusted, remote: "10.0.0.2:443", want: "10.0.0.2"},
		{name: "empty elements skipped", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.9,, 10.1.1.1,"}}, want: "198.51.100.9"},
		{name: "all trusted gives leftmost", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"10.9.9.9, 10.1.1.1"}}, want: "10.9.9.9"},
		{name: "garbage on the walk is an error", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.9, nonsense, 10.1.1.1"}}, wantErr: true},
		{name: "garbage left of the client is never read", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"<script>, 198.51.100.9"}}, want: "198.51.100.9"},
		{name: "unspecified address refused", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"0.0.0.0"}}, wantErr: true},
		{name: "ipv4 with port", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"1.2.3.4:5678"}}, want: "1.2.3.4"},
		{name: "bracketed ipv6 with port", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"[2001:db8::1]:443"}}, want: "2001:db8::1"},
		{name: "bracketed ipv6 without port", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"[2001:db8::1]"}}, want: "2001:db8::1"},
		{name: "ipv6 zone in header stripped", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"fe80::1%eth0"}}, want: "fe80::1"},
		{name: "ipv6 zone in remote stripped", remote: "[fe80::1%eth0]:8080", want: "fe80::1"},
		{name: "trusted ipv6 remote with zone", trusted: "fe80::/10", remote: "[fe80::1%eth0]:8080",
			set: map[string][]string{"X-Forwarded-For": {"2001:db8::7"}}, want: "2001:db8::7"},
		{name: "ipv4-mapped remote unmapped", trusted: trusted, remote: "[::ffff:10.0.0.2]:443",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.9"}}, want: "198.51.100.9"},
		{name: "ipv4-mapped entry unmapped and trusted", trusted: trusted, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.9, ::ffff:10.1.1.1"}}, want: "198.51.100.9"},
		{name: "ipv4-mapped trusted prefix", trusted: "::ffff:10.0.0.0/104", remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.9"}}, want: "198.51.100.9"},
		{name: "bare remote address", remote: "192.0.2.1", want: "192.0.2.1"},
		{name: "unparsable remote", remote: "@", wantErr: true},
		{name: "empty remote", remote: "", wantErr: true},
		{name: "x-real-ip", trusted: trusted, headers: []string{"X-Real-IP"}, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Real-Ip": {"198.51.100.9"}, "X-Forwarded-For": {"1.1.1.1"}}, want: "198.51.100.9"},
		{name: "first configured header present wins", trusted: trusted, headers: []string{"X-Real-IP", "X-Forwarded-For"}, remote: "10.0.0.2:443",
			set: map[string][]string{"X-Forwarded-For": {"198.51.100.9"}}, want: "198.51.100.9"},
		{name: "forwarded for", trusted: trusted, headers: []string{"Forwarded"}, remote: "10.0.0.2:443",
			set: map[string][]string{"Forwarded": {`for=1.2.3.4, For="[2001:db8::9]:4711";proto=https, for=10.1.1.1;by=10.0.0.2`}}, want: "2001:db8::9"},
		{name: "forwarded quoted comma stays in value", trusted: trusted, headers: []string{"Forwarded"}, remote: "10.0.0.2:443",
			set: map[string][]string{"Forwarded": {`for=198.51.100.9;host="a,b", for=10.1.1.1`}}, want: "198.51.100.9"},
		{name: "forwarded unknown is an error", trusted: trusted, headers: []string{"Forwarded"}, remote: "10.0.0.2:443",
			set: map[string][]string{"Forwarded": {`for=unknown, for=10.1.1.1`}}, wantErr: true},
		{name: "forwarded element without for is an error", trusted: trusted, headers: []string{"Forwarded"}, remote: "10.0.0.2:443",
			set: map[string][]string{"Forwarded": {`proto=https`}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := New(mustCIDRs(t, tt.trusted), tt.headers...)
			require.NoError(t, err)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.remote
			for k, vs := range tt.set {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			got, err := r.ClientIP(req)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrNoClientIP, "got %v", got)
				assert.False(t, got.IsValid(), "an error must come with the zero Addr")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.String())
		})
	}
}

func TestClientIPHugeHeader(t *testing.T) {
	t.Parallel()
	r, err := New(mustCIDRs(t, "10.0.0.0/8"))
	require.NoError(t, err)

	t.Run("valid rightmost entry", func(t *testing.T) {
		t.Parallel()
		req := hugeRequest("garbage!, ", "198.51.100.9")
		got, err := r.ClientIP(req)
		require.NoError(t, err)
		assert.Equal(t, "198.51.100.9", got.String())
	})
	t.Run("trusted entries beyond MaxHops", func(t *testing.T) {
		t.Parallel()
		req := hugeRequest("10.1.1.1, ", "10.1.1.1")
		_, err := r.ClientIP(req)
		require.ErrorIs(t, err, ErrNoClientIP, "a chain of more than MaxHops of our own proxies must be refused")
	})
}

// hugeRequest returns a request from a trusted proxy whose X-Forwarded-For
// is about 1 MB of filler followed by last.
func hugeRequest(filler, last string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "10.0.0.2:443"
	req.Header.Set("X-Forwarded-For", strings.Repeat(filler, (1<<20)/len(filler))+last)
	return req
}

func TestNew(t *testing.T) {
	t.Parallel()
	_, err := New(nil, "Bad Header")
	require.Error(t, err)
	_, err = New([]netip.Prefix{{}})
	require.Error(t, err, "the zero Prefix must be refused")
	r, err := New(nil)
	require.NoError(t, err)
	assert.Equal(t, []string{DefaultHeader}, r.headers)
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: nil},
		{in: " , ", want: nil},
		{in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{in: "10.1.2.3/8, 192.0.2.1 ,2001:db8::1,fd00::/8", want: []string{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::1/128", "fd00::/8"}},
		{in: "::ffff:192.0.2.1", want: []string{"192.0.2.1/32"}},
		{in: "::ffff:10.0.0.0/104", want: []string{"10.0.0.0/8"}},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "example.com", wantErr: true},
		{in: "fe80::1%eth0", wantErr: true},
		{in: "10.0.0.0/8,nope", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCIDRs(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			assert.Equal(t, tt.want, s)
		})
	}
}

func TestErrorsWrapSentinel(t *testing.T) {
	t.Parallel()
	r, err := New(mustCIDRs(t, "10.0.0.0/8"))
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "10.0.0.2:1"
	req.Header.Set("X-Forwarded-For", strings.Repeat("x", 10_000))
	_, err = r.ClientIP(req)
	require.True(t, errors.Is(err, ErrNoClientIP))
	assert.Less(t, len(err.Error()), 200, "error messages must not echo a huge header")
}

// FuzzClientIP checks that no header content can crash the resolver, yield
// an invalid address without an error, or move the answer away from an
// untrusted RemoteAddr.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4, 10.0.0.1", "[2001:db8::1]:443", "fe80::1%eth0", `for="[::1]:80";proto=https`, ",,", "\"", "for=\"a,b\"\\\""} {
		f.Add(s, true)
		f.Add(s, false)
	}
	trusted := mustCIDRs(f, "10.0.0.0/8")
	xff, err := New(trusted)
	require.NoError(f, err)
	fwd, err := New(trusted, "Forwarded")
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, header string, fromProxy bool) {
		for _, r := range []*Resolver{xff, fwd} {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = "203.0.113.1:1"
			if fromProxy {
				req.RemoteAddr = "10.0.0.2:1"
			}
			req.Header.Set("X-Forwarded-For", header)
			req.Header.Set("Forwarded", header)
			got, err := r.ClientIP(req)
			if err != nil {
				require.ErrorIs(t, err, ErrNoClientIP)
				require.True(t, fromProxy, "an untrusted RemoteAddr never fails")
				continue
			}
			require.True(t, got.IsValid())
			require.Empty(t, got.Zone())
			require.False(t, got.Is4In6())
			if !fromProxy {
				require.Equal(t, "203.0.113.1", got.String())
			}
		}
	})
}
