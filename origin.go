package magiclink

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// originsField names the configuration field in errors from NewOrigins, so a
// mistake points at the setting the operator has to fix.
const originsField = "Origins"

// nextField names the request field in errors from SafeNext; the HTTP adapter
// reports it to the client as-is.
const nextField = "callback_next"

// maxNextLen bounds a post-sign-in destination. Anything longer is not a
// destination a real application links to, and the limit keeps links short
// enough for every mail client.
const maxNextLen = 2048

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
	patterns  []string
	exact     map[string]struct{}
	wildcards []wildcardOrigin
}

// wildcardOrigin is a canonical pattern "scheme://*.base[:port]". suffix is
// ".base", so a host matches when it ends with suffix and has at least one
// label in front of it; the leading dot is what stops "evilbase" matching.
type wildcardOrigin struct {
	scheme string
	suffix string
	port   string
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
//     never on an IP address and never over a public suffix such as "com",
//     "co.uk" or "github.io" unless opts.DangerouslyAllowPublicSuffixWildcard.
//
// Every bad pattern is reported, each as an error matching ErrInvalidConfig
// that quotes it, joined with errors.Join.
func NewOriginsWithOptions(opts OriginOptions, patterns ...string) (*Origins, error) {
	if len(patterns) == 0 {
		return nil, configError(originsField, "at least one callback origin is required")
	}
	o := &Origins{exact: make(map[string]struct{}, len(patterns))}
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
			o.exact[canon] = struct{}{}
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
			len(p.host) > len(w.suffix) && strings.HasSuffix(p.host, w.suffix) {
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
	var p originParts
	n := 0
	switch {
	case len(s) >= 8 && strings.EqualFold(s[:8], "https://"):
		n = 8
	case len(s) >= 7 && strings.EqualFold(s[:7], "http://"):
		n = 7
	default:
		return p, false
	}
	end := len(s)
	for i := n; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '\\' {
			return p, false
		}
		if (c == '/' || c == '?' || c == '#') && end == len(s) {
			if !rest {
				return p, false
			}
			end = i
		}
	}
	authority := s[n:end]
	host, port, ok := splitHostPort(authority)
	if !ok {
		return p, false
	}
	hostLower, hostCanon, ok := checkRequestHost(host)
	if !ok {
		return p, false
	}
	if port != "" {
		if !validPort(port) {
			return p, false
		}
		if port == "443" && n == 8 || port == "80" && n == 7 {
			port = ""
		}
	}
	schemeLower := isLowerASCII(s[:n])

	// Fast path: the input already is (or starts with) the canonical origin,
	// so the result is a substring and nothing is allocated.
	if schemeLower && hostLower && hostCanon == "" {
		canonEnd := n + len(host)
		if port != "" {
			canonEnd = end
		}
		p.canonical = s[:canonEnd]
	} else {
		h := host
		if hostCanon != "" {
			h = hostCanon
		}
		var b strings.Builder
		b.Grow(n + len(h) + 1 + len(port))
		b.WriteString(strings.ToLower(s[:n]))
		b.WriteString(strings.ToLower(h))
		if port != "" {
			b.WriteByte(':')
			b.WriteString(port)
		}
		p.canonical = b.String()
	}
	p.scheme = p.canonical[:n-3]
	hostEnd := len(p.canonical)
	if port != "" {
		hostEnd -= len(port) + 1
	}
	p.host = p.canonical[n:hostEnd]
	if port != "" {
		p.port = p.canonical[hostEnd+1:]
	}
	return p, true
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

// parsePattern validates and canonicalises one configured origin pattern.
func parsePattern(raw string, opts OriginOptions) (canon string, w wildcardOrigin, isWildcard bool, err error) {
	fail := func(why string) (string, wildcardOrigin, bool, error) {
		return "", wildcardOrigin{}, false, configError(originsField, "origin "+quote(raw)+" "+why)
	}
	switch {
	case raw == "":
		return fail("is empty")
	case strings.EqualFold(raw, "null"):
		return fail("is not allowed: the null origin is shared by sandboxed frames, files and redirects, so it identifies nobody")
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == 0x7f {
			return fail("contains whitespace or a control character")
		}
	}
	if strings.ContainsRune(raw, '\\') {
		return fail("contains a backslash")
	}
	i := strings.Index(raw, "://")
	if i < 0 {
		return fail(`must start with "https://"`)
	}
	scheme := strings.ToLower(raw[:i])
	if scheme != "https" && scheme != "http" {
		return fail("has scheme " + quote(scheme) + "; only https (or http for loopback) is allowed")
	}
	rest := raw[i+3:]
	if j := strings.IndexAny(rest, "?#"); j >= 0 {
		if rest[j] == '?' {
			return fail("has a query; an origin is only scheme://host[:port]")
		}
		return fail("has a fragment; an origin is only scheme://host[:port]")
	}
	// One trailing slash is what people copy from an address bar; it carries
	// no meaning, so drop it rather than make them edit the value.
	rest = strings.TrimSuffix(rest, "/")
	if strings.ContainsRune(rest, '/') {
		return fail("has a path; an origin is only scheme://host[:port]")
	}
	if strings.ContainsRune(rest, '@') {
		return fail("has user information; an origin is only scheme://host[:port]")
	}
	if strings.ContainsRune(rest, '%') {
		return fail("has a percent-encoded host; write the host as plain text")
	}
	if rest == "" {
		return fail("has no host")
	}
	host, port, ok := splitHostPort(rest)
	if !ok {
		return fail("has a malformed host or port")
	}
	if port != "" {
		if !validPort(port) {
			return fail("has an invalid port; use a number from 1 to 65535 without leading zeros")
		}
		if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
			port = ""
		}
	}

	wild := strings.HasPrefix(host, "*.")
	base := host
	if wild {
		base = host[2:]
	}
	if strings.ContainsRune(base, '*') || host == "*" {
		return fail(`uses "*" other than as the entire leftmost label, as in "https://*.example.com"`)
	}
	if strings.HasSuffix(base, ".") {
		return fail("has a trailing dot in the host; remove it")
	}

	var loopback bool
	if strings.HasPrefix(base, "[") {
		if wild {
			return fail("combines a wildcard with an IP address")
		}
		a, perr := netip.ParseAddr(base[1 : len(base)-1])
		switch {
		case perr != nil || !a.Is6():
			return fail("has an invalid IPv6 address")
		case a.Zone() != "":
			return fail("has an IPv6 zone, which browsers never send")
		case a.Is4In6():
			return fail("has an IPv4-mapped IPv6 address; use the IPv4 address")
		}
		base = "[" + a.String() + "]"
		loopback = a.IsLoopback()
	} else if a, perr := netip.ParseAddr(base); perr == nil {
		if wild {
			return fail("combines a wildcard with an IP address")
		}
		if !a.Is4() {
			return fail("has an IPv6 address without brackets")
		}
		base = a.String()
		loopback = a.IsLoopback()
	} else {
		ascii, ierr := idna.Lookup.ToASCII(base)
		if ierr != nil {
			return fail("has a host that is not a valid domain name")
		}
		if endsInNumber(ascii[strings.LastIndexByte(ascii, '.')+1:]) {
			// Browsers parse such a host as an IPv4 address in some base.
			if wild {
				return fail("combines a wildcard with an IP address")
			}
			return fail("has a host that looks like a malformed IPv4 address; write IPv4 addresses in dotted decimal")
		}
		if _, ok := checkDNSName(ascii); !ok {
			return fail("has a host that is not a valid domain name")
		}
		base = ascii
		loopback = base == "localhost" || strings.HasSuffix(base, ".localhost")
	}

	if scheme == "http" && !loopback && !opts.AllowInsecureHTTP {
		return fail("uses http, which is only allowed for loopback hosts; use https (or OriginOptions.AllowInsecureHTTP for closed test networks)")
	}
	// Every name under "localhost" is loopback (RFC 6761), so a wildcard over
	// it cannot reach anyone else even though it is technically a TLD.
	if wild && base != "localhost" && !opts.DangerouslyAllowPublicSuffixWildcard {
		if suffix, _ := publicsuffix.PublicSuffix(base); suffix == base {
			return fail("is a wildcard over the public suffix " + quote(base) + ", which would trust sites anyone can register there")
		}
	}

	h := base
	if wild {
		h = "*." + base
	}
	canon = scheme + "://" + h
	if port != "" {
		canon += ":" + port
	}
	if wild {
		return canon, wildcardOrigin{scheme: scheme, suffix: "." + base, port: port}, true, nil
	}
	return canon, wildcardOrigin{}, false, nil
}

// quote quotes at most maxEcho bytes of s, escaping anything unprintable.
func quote(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:maxEcho]) + "…"
}

// SafeNext validates a post-sign-in destination and returns it cleaned, or an
// error matching ErrUnsafeNext that says what is wrong. An empty next means
// "/".
//
// Only a same-site path is accepted, because next ends up in a redirect and
// every looser rule has been an open redirect somewhere: browsers read "//x",
// "/\x" and "/\t/x" as another host, and servers that decode %2F or resolve
// ".." after us can turn a harmless path into one. So next must be printable
// ASCII of at most 2048 bytes starting with exactly one "/"; it may not
// contain "//" in the path, a backslash, or a control character raw or
// percent-encoded anywhere; its path may not contain %2F or %5C. Dot segments
// (also spelled %2e) are resolved and the result checked again. The query may
// percent-encode anything but control characters; a fragment is kept.
//
// SafeNext rejects every absolute URL, even one naming our own origin.
func SafeNext(next string) (string, error) {
	if next == "" {
		return "/", nil
	}
	if err := checkNext(next); err != nil {
		return "", err
	}
	pathEnd := strings.IndexAny(next, "?#")
	if pathEnd < 0 {
		pathEnd = len(next)
	}
	cleaned := cleanPath(next[:pathEnd])
	if cleaned == next[:pathEnd] {
		return next, nil
	}
	out := cleaned + next[pathEnd:]
	// Resolving dot segments cannot create "//" or a backslash, but checking
	// again costs little and keeps that argument out of the security proof.
	if err := checkNext(out); err != nil {
		return "", err
	}
	return out, nil
}

// unsafeNext builds the error for a rejected next.
func unsafeNext(reason string) error {
	return newError(kindUnsafeNext, nextField, reason, nil)
}

// checkNext applies every rule except dot-segment resolution.
func checkNext(s string) error {
	if len(s) > maxNextLen {
		return unsafeNext("is longer than " + strconv.Itoa(maxNextLen) + " bytes")
	}
	if s[0] != '/' {
		if i := strings.IndexAny(s, ":/?#"); i >= 0 && s[i] == ':' {
			return unsafeNext("must be a path starting with \"/\", not an absolute URL")
		}
		return unsafeNext("must be a path starting with \"/\"")
	}
	inPath := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return unsafeNext("contains a control character at byte " + strconv.Itoa(i))
		case c == ' ':
			return unsafeNext("contains a space at byte " + strconv.Itoa(i) + "; percent-encode it")
		case c >= 0x80:
			return unsafeNext("contains a non-ASCII byte at byte " + strconv.Itoa(i) + "; percent-encode it")
		case c == '\\':
			return unsafeNext("contains a backslash at byte " + strconv.Itoa(i))
		case c == '?' || c == '#':
			inPath = false
		case c == '/' && inPath && i+1 < len(s) && s[i+1] == '/':
			return unsafeNext("contains \"//\" in the path at byte " + strconv.Itoa(i) + ", which browsers may read as another host")
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return unsafeNext("contains a malformed percent escape at byte " + strconv.Itoa(i))
			}
			v := unhex(s[i+1])<<4 | unhex(s[i+2])
			switch {
			case v < 0x20 || v == 0x7f:
				return unsafeNext("contains a percent-encoded control character at byte " + strconv.Itoa(i))
			case inPath && (v == '/' || v == '\\'):
				return unsafeNext("contains a percent-encoded slash or backslash in the path at byte " + strconv.Itoa(i))
			case inPath && v == '%' && i+4 < len(s) && isHex(s[i+3]) && isHex(s[i+4]):
				// A double-encoded slash survives one decoding and becomes
				// a real one in any layer that decodes twice.
				if w := unhex(s[i+3])<<4 | unhex(s[i+4]); w == '/' || w == '\\' {
					return unsafeNext("contains a double-encoded slash or backslash in the path at byte " + strconv.Itoa(i))
				}
			}
			i += 2
		}
	}
	// No net/url check is needed here: s starts with "/" and never with
	// "//", so no parser can find a scheme (which must start with a letter)
	// or an authority (which needs "//"). FuzzSafeNext asserts exactly that
	// against url.Parse and ResolveReference; skipping the parse keeps the
	// common case free of allocations.
	return nil
}

// cleanPath resolves "." and ".." segments (also percent-encoded) the way a
// browser does, clamping ".." at the root. A trailing slash is kept. The path
// has already passed checkNext, so it has no empty segments except a final
// one.
func cleanPath(p string) string {
	if !strings.Contains(p, ".") && !strings.Contains(p, "%2") {
		return p
	}
	segs := strings.Split(p[1:], "/")
	hasDot := false
	for _, s := range segs {
		if dotSegment(s) != 0 {
			hasDot = true
			break
		}
	}
	if !hasDot {
		return p
	}
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		switch dotSegment(s) {
		case 1:
		case 2:
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			if s != "" {
				out = append(out, s)
			}
		}
	}
	res := "/" + strings.Join(out, "/")
	if len(out) > 0 && strings.HasSuffix(p, "/") {
		res += "/"
	}
	return res
}

// dotSegment returns 1 for a "." segment, 2 for "..", and 0 otherwise,
// treating "%2e" in any case as a dot as browsers do.
func dotSegment(s string) int {
	dots := 0
	for len(s) > 0 {
		switch {
		case s[0] == '.':
			s = s[1:]
		case len(s) >= 3 && s[0] == '%' && s[1] == '2' && (s[2] == 'e' || s[2] == 'E'):
			s = s[3:]
		default:
			return 0
		}
		dots++
		if dots > 2 {
			return 0
		}
	}
	return dots
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
