package magiclink

import (
	"cmp"
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// originsField names the configuration field in errors from NewOrigins, so a
// mistake points at the setting the operator has to fix.
const originsField = "Origins"

// maxOriginLen bounds an untrusted origin before any parsing work: a scheme,
// a 253-byte host and a port fit comfortably.
const maxOriginLen = 300

// maxHostLen is the DNS limit on a host name in its textual form.
const maxHostLen = 253

// maxEcho bounds how much of a configured value an error message repeats, so
// a pasted blob does not flood the log line.
const maxEcho = 100

// OriginOptions are the rarely needed relaxations of NewOriginsWithOptions.
// The zero value is the safe default and what NewOrigins uses.
type OriginOptions struct {
	// AllowInsecureHTTP permits http:// origins for hosts other than loopback.
	// A link sent to a plain-HTTP origin can be read and replayed by anyone on
	// the network path, so only set this for closed test environments.
	AllowInsecureHTTP bool

	// DangerouslyAllowPublicSuffixWildcard permits wildcard patterns such as
	// "https://*.github.io" whose base is a public suffix. Such a pattern
	// trusts every site anyone can register under that suffix, which is
	// almost never what is meant.
	DangerouslyAllowPublicSuffixWildcard bool
}

// Origins is an allowlist of callback origins, built once from configuration
// and then consulted for every request. It is immutable and safe for
// concurrent use.
//
// Exact origins live in a map and wildcard patterns in a short slice, both
// holding canonical strings, so that checking an already canonical origin
// (which is what browsers send) allocates nothing.
type Origins struct {
	patterns []string
	// exact maps each exact canonical origin to whether Allow may accept
	// it byte for byte without parsing: true when parsing it yields it
	// unchanged, which every canonical origin should.
	exact     map[string]bool
	wildcards []wildcardOrigin
}

// wildcardOrigin is a canonical pattern "scheme://*.base[:port]" or
// "scheme://+.base[:port]". suffix is ".base", so a host matches when it
// ends with suffix and has at least one label in front of it (exactly one
// when single); the leading dot is what stops "evilbase" matching.
type wildcardOrigin struct {
	scheme string
	suffix string
	port   string
	single bool
}

// NewOrigins builds an allowlist from origin patterns such as
// "https://app.example.com" or "https://*.example.com", with the default,
// strict OriginOptions. See NewOriginsWithOptions for the rules.
func NewOrigins(patterns ...string) (*Origins, error) {
	return NewOriginsWithOptions(OriginOptions{}, patterns...)
}

// NewOriginsWithOptions builds an allowlist from origin patterns, rejecting at
// configuration time every pattern that could later match more than the
// operator meant:
//
//   - the scheme is https; http only for loopback hosts (localhost, its
//     subdomains, 127.0.0.0/8, [::1]) unless opts.AllowInsecureHTTP;
//   - no "null", no user information, no path (one trailing "/" is dropped),
//     no query, no fragment;
//   - hosts are lowercased and Unicode hosts converted to punycode, because
//     browsers send the punycode form; default ports (:443, :80) are dropped;
//   - "*" is allowed only as the entire leftmost label ("https://*.example.com"),
//     and matches one or more labels ("a.example.com", "a.b.example.com"),
//     never the bare domain; "+" in its place ("https://+.example.com")
//     matches exactly one label ("a.example.com", not "a.b.example.com").
//     Neither is allowed on an IP address or over a public suffix such as
//     "com", "co.uk" or "github.io" unless
//     opts.DangerouslyAllowPublicSuffixWildcard.
//
// Every bad pattern is reported, each as an error matching ErrInvalidConfig
// that quotes it, joined with errors.Join.
func NewOriginsWithOptions(opts OriginOptions, patterns ...string) (*Origins, error) {
	if len(patterns) == 0 {
		return nil, configError(originsField, "at least one callback origin is required")
	}
	o := &Origins{exact: make(map[string]bool, len(patterns))}
	seen := make(map[string]struct{}, len(patterns))
	var errs []error
	for _, p := range patterns {
		canon, w, isWildcard, err := parsePattern(p, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Duplicates, including ones that differ only in case or default
		// port, are harmless; keep the first so Patterns stays readable.
		if _, dup := seen[canon]; dup {
			continue
		}
		seen[canon] = struct{}{}
		o.patterns = append(o.patterns, canon)
		if isWildcard {
			o.wildcards = append(o.wildcards, w)
		} else {
			p, ok := parseOrigin(canon, false)
			o.exact[canon] = ok && p.canonical == canon
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return o, nil
}

// Allow reports whether the untrusted origin is on the allowlist and returns
// its canonical form (lowercase scheme and host, no default port), which is
// what callers should store and build links from.
//
// Unlike configuration, Allow does no IDN conversion: browsers always send
// punycode, so a raw Unicode host is refused rather than reinterpreted. It
// also refuses anything that is not exactly scheme://host[:port] — "null",
// user information, any path (even "/"), query, fragment, whitespace, control
// characters, backslashes, percent signs and a trailing dot on the host.
//
// When origin is already canonical the returned string is origin itself, so
// the common case allocates nothing. A nil *Origins allows nothing.
func (o *Origins) Allow(origin string) (canonical string, ok bool) {
	if o == nil || len(origin) > maxOriginLen {
		return "", false
	}
	// What browsers send is usually a configured origin byte for byte;
	// parsing it would only hand it back.
	if verbatim := o.exact[origin]; verbatim {
		return origin, true
	}
	p, ok := parseOrigin(origin, false)
	if !ok {
		return "", false
	}
	if _, ok := o.exact[p.canonical]; ok {
		return p.canonical, true
	}
	for i := range o.wildcards {
		w := &o.wildcards[i]
		if w.scheme == p.scheme && w.port == p.port &&
			len(p.host) > len(w.suffix) && strings.HasSuffix(p.host, w.suffix) &&
			(!w.single || strings.IndexByte(p.host[:len(p.host)-len(w.suffix)], '.') < 0) {
			return p.canonical, true
		}
	}
	return "", false
}

// Patterns returns the canonical configured patterns in configuration order,
// without duplicates. The slice is a copy and may be modified.
func (o *Origins) Patterns() []string {
	if o == nil {
		return nil
	}
	return append([]string(nil), o.patterns...)
}

// String lists the canonical patterns, for logs and debugging.
func (o *Origins) String() string {
	if o == nil {
		return "[]"
	}
	return "[" + strings.Join(o.patterns, " ") + "]"
}

// OriginOf returns the canonical origin (scheme://host[:port]) of an absolute
// http or https URL, such as a Referer header, with the same strict rules as
// Origins.Allow applied to the part before the path. The rest of the URL may
// not contain whitespace, control characters, backslashes or non-ASCII bytes
// either: browsers never send them, and a parser that treats "\" as "/" could
// otherwise disagree with us about where the host ends.
//
// The result is not checked against any allowlist; pass it to Origins.Allow.
func OriginOf(rawURL string) (string, bool) {
	p, ok := parseOrigin(rawURL, true)
	if !ok {
		return "", false
	}
	return p.canonical, true
}

// originParts is a parsed request-time origin. scheme, host and port are
// substrings of canonical; port is empty for the scheme's default port.
type originParts struct {
	canonical string
	scheme    string
	host      string
	port      string
}

// parseOrigin parses an untrusted origin by hand rather than with net/url,
// both to stay allocation-free and to refuse the many forms net/url (and
// browsers) would quietly accept. With rest, s may continue after the
// authority with a path, query or fragment, which is ignored but must still be
// free of bytes no browser sends.
func parseOrigin(s string, rest bool) (originParts, bool) {
	var n int
	switch {
	case len(s) >= 8 && strings.EqualFold(s[:8], "https://"):
		n = 8
	case len(s) >= 7 && strings.EqualFold(s[:7], "http://"):
		n = 7
	default:
		return originParts{}, false
	}
	end, ok := authorityEnd(s, n, rest)
	if !ok {
		return originParts{}, false
	}
	host, port, ok := splitHostPort(s[n:end])
	if !ok {
		return originParts{}, false
	}
	hostLower, hostCanon, ok := checkRequestHost(host)
	if !ok {
		return originParts{}, false
	}
	if port != "" {
		if !validPort(port) {
			return originParts{}, false
		}
		if port == "443" && n == 8 || port == "80" && n == 7 {
			port = ""
		}
	}
	var canon string
	if isLowerASCII(s[:n]) && hostLower && hostCanon == "" {
		// Fast path: the input already is (or starts with) the canonical
		// origin, so the result is a substring and nothing is allocated.
		canonEnd := n + len(host)
		if port != "" {
			canonEnd = end
		}
		canon = s[:canonEnd]
	} else {
		canon = buildOrigin(s[:n], cmp.Or(hostCanon, host), port)
	}
	return splitCanonical(canon, n, port), true
}

// authorityEnd is where the authority that starts at n ends: at the first
// "/", "?" or "#" when rest allows more after it, else at the end of s. Any
// whitespace, control, non-ASCII character or backslash refuses s.
func authorityEnd(s string, n int, rest bool) (int, bool) {
	end := len(s)
	for i := n; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '\\' {
			return 0, false
		}
		if (c == '/' || c == '?' || c == '#') && end == len(s) {
			if !rest {
				return 0, false
			}
			end = i
		}
	}
	return end, true
}

// buildOrigin writes the canonical origin of a scheme prefix ("https://"),
// host and port: lowercase, with the port when there is one.
func buildOrigin(schemePrefix, host, port string) string {
	var b strings.Builder
	b.Grow(len(schemePrefix) + len(host) + 1 + len(port))
	b.WriteString(strings.ToLower(schemePrefix))
	b.WriteString(strings.ToLower(host))
	if port != "" {
		b.WriteByte(':')
		b.WriteString(port)
	}
	return b.String()
}

// splitCanonical returns the parts of canonical origin canon, whose scheme
// prefix is n bytes long, as substrings of it.
func splitCanonical(canon string, n int, port string) originParts {
	p := originParts{canonical: canon, scheme: canon[:n-3]}
	hostEnd := len(canon)
	if port != "" {
		hostEnd -= len(port) + 1
		p.port = canon[hostEnd+1:]
	}
	p.host = canon[n:hostEnd]
	return p
}

// splitHostPort splits an authority into host and port without accepting
// user information or an empty port. A bracketed IPv6 host keeps its brackets.
func splitHostPort(authority string) (host, port string, ok bool) {
	if authority == "" || strings.ContainsAny(authority, "@%") {
		return "", "", false
	}
	if authority[0] == '[' {
		i := strings.IndexByte(authority, ']')
		if i < 0 {
			return "", "", false
		}
		host, after := authority[:i+1], authority[i+1:]
		switch {
		case after == "":
			return host, "", true
		case after[0] == ':' && len(after) > 1:
			return host, after[1:], true
		}
		return "", "", false
	}
	i := strings.IndexByte(authority, ':')
	if i < 0 {
		return authority, "", true
	}
	host, port = authority[:i], authority[i+1:]
	if host == "" || port == "" {
		return "", "", false
	}
	return host, port, true
}

// validPort accepts the decimal ports 1-65535 written without leading zeros,
// the only form a browser serialises.
func validPort(port string) bool {
	if len(port) == 0 || len(port) > 5 || port[0] == '0' {
		return false
	}
	v := 0
	for i := 0; i < len(port); i++ {
		c := port[i]
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int(c-'0')
	}
	return v <= 65535
}

// checkRequestHost validates an untrusted host. lower reports whether it is
// already lowercase; canon is non-empty only for an IPv6 literal that is not
// written in its canonical form, and then holds that form.
func checkRequestHost(host string) (lower bool, canon string, ok bool) {
	if host == "" {
		return false, "", false
	}
	if host[0] == '[' {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return false, "", false
		}
		// Compare against the canonical text in a stack buffer, so the usual
		// case ("[::1]") allocates nothing.
		var buf [64]byte
		b := append(buf[:0], '[')
		b = a.AppendTo(b)
		b = append(b, ']')
		if string(b) == host {
			return true, "", true
		}
		return false, string(b), true
	}
	lower, ok = checkDNSName(host)
	return lower, "", ok
}

// checkDNSName accepts an ASCII host name made of letter-digit-hyphen labels,
// or a dotted-decimal IPv4 address. lower reports whether it has no uppercase
// letters. It refuses a trailing dot (which would be a second spelling of the
// same host) and anything a browser would read as a number in another base.
func checkDNSName(host string) (lower, ok bool) {
	if len(host) > maxHostLen {
		return false, false
	}
	lower = true
	start := 0
	for i := 0; i <= len(host); i++ {
		if i < len(host) && host[i] != '.' {
			c := host[i]
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			case c >= 'A' && c <= 'Z':
				lower = false
			case c == '-':
				if i == start || i+1 == len(host) || host[i+1] == '.' {
					return false, false
				}
			default:
				return false, false
			}
			continue
		}
		if l := i - start; l == 0 || l > 63 {
			return false, false
		}
		start = i + 1
	}
	last := host[strings.LastIndexByte(host, '.')+1:]
	if endsInNumber(last) {
		// The URL standard parses such a host as IPv4 ("0x7f.1",
		// "2130706433"); only the canonical dotted-decimal form is accepted.
		a, err := netip.ParseAddr(host)
		return lower, err == nil && a.Is4()
	}
	return lower, true
}

// endsInNumber reports whether a final host label would make the URL standard
// treat the whole host as an IPv4 address.
func endsInNumber(label string) bool {
	if len(label) >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X') {
		return true
	}
	for i := 0; i < len(label); i++ {
		if label[i] < '0' || label[i] > '9' {
			return false
		}
	}
	return label != ""
}

// isLowerASCII reports whether s has no uppercase ASCII letters.
func isLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}

// quote quotes at most maxEcho bytes of s, escaping anything unprintable.
func quote(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:maxEcho]) + "…"
}
