package magiclink

import (
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// parsePattern validates and canonicalises one configured origin pattern:
// its characters, then its scheme and authority, host and port, wildcard,
// host form, and the policy on http and public suffixes. Each step returns
// why the pattern is refused, or "".
func parsePattern(raw string, opts OriginOptions) (canon string, w wildcardOrigin, isWildcard bool, err error) {
	var p pattern
	why := checkPatternChars(raw)
	if why == "" {
		p.scheme, p.authority, why = splitPattern(raw)
	}
	if why == "" {
		why = p.splitAuthority()
	}
	if why == "" {
		why = p.canonicalHost()
	}
	if why == "" {
		why = p.checkPolicy(opts)
	}
	if why != "" {
		return "", wildcardOrigin{}, false, configError(originsField, "origin "+quote(raw)+" "+why)
	}
	canon, w, isWildcard = p.result()
	return canon, w, isWildcard, nil
}

// pattern is a configured origin pattern on its way through parsePattern.
type pattern struct {
	scheme, authority string
	// base is the host without the "*." or "+." of a wildcard.
	base, port     string
	wild, loopback bool
	// single marks a "+." wildcard: exactly one label, not one or more.
	single bool
}

// checkPatternChars refuses empty and "null" patterns and characters no
// origin contains.
func checkPatternChars(raw string) (why string) {
	switch {
	case raw == "":
		return "is empty"
	case strings.EqualFold(raw, "null"):
		return "is not allowed: the null origin is shared by sandboxed frames, files and redirects, so it identifies nobody"
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == 0x7f {
			return "contains whitespace or a control character"
		}
	}
	if strings.ContainsRune(raw, '\\') {
		return "contains a backslash"
	}
	return ""
}

// splitPattern returns the lowercased scheme and the authority of raw,
// refusing anything but scheme://authority (one trailing "/" is dropped).
func splitPattern(raw string) (scheme, authority, why string) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return "", "", `must start with "https://"`
	}
	scheme = strings.ToLower(raw[:i])
	if scheme != "https" && scheme != "http" {
		return "", "", "has scheme " + quote(scheme) + "; only https (or http for loopback) is allowed"
	}
	rest := raw[i+3:]
	if j := strings.IndexAny(rest, "?#"); j >= 0 {
		if rest[j] == '?' {
			return "", "", "has a query; an origin is only scheme://host[:port]"
		}
		return "", "", "has a fragment; an origin is only scheme://host[:port]"
	}
	// One trailing slash is what people copy from an address bar; it carries
	// no meaning, so drop it rather than make them edit the value.
	rest = strings.TrimSuffix(rest, "/")
	switch {
	case strings.ContainsRune(rest, '/'):
		return "", "", "has a path; an origin is only scheme://host[:port]"
	case strings.ContainsRune(rest, '@'):
		return "", "", "has user information; an origin is only scheme://host[:port]"
	case strings.ContainsRune(rest, '%'):
		return "", "", "has a percent-encoded host; write the host as plain text"
	case rest == "":
		return "", "", "has no host"
	}
	return scheme, rest, ""
}

// splitAuthority sets the port (dropping the scheme's default), the base
// host and whether it is a wildcard.
func (p *pattern) splitAuthority() (why string) {
	host, port, ok := splitHostPort(p.authority)
	if !ok {
		return "has a malformed host or port"
	}
	if port != "" {
		if !validPort(port) {
			return "has an invalid port; use a number from 1 to 65535 without leading zeros"
		}
		if p.scheme == "https" && port == "443" || p.scheme == "http" && port == "80" {
			port = ""
		}
	}
	p.port = port
	p.single = strings.HasPrefix(host, "+.")
	p.wild = p.single || strings.HasPrefix(host, "*.")
	p.base = host
	if p.wild {
		p.base = host[2:]
	}
	if strings.ContainsAny(p.base, "*+") || host == "*" || host == "+" {
		return `uses "*" or "+" other than as the entire leftmost label, as in "https://*.example.com" (any depth) or "https://+.example.com" (one label)`
	}
	if strings.HasSuffix(p.base, ".") {
		return "has a trailing dot in the host; remove it"
	}
	return ""
}

// canonicalHost puts the base host in canonical form — an IPv6 or IPv4
// address, or a domain name in punycode — and notes whether it is loopback.
func (p *pattern) canonicalHost() (why string) {
	if strings.HasPrefix(p.base, "[") {
		return p.canonicalIPv6()
	}
	if a, err := netip.ParseAddr(p.base); err == nil {
		if p.wild {
			return "combines a wildcard with an IP address"
		}
		if !a.Is4() {
			return "has an IPv6 address without brackets"
		}
		p.base, p.loopback = a.String(), a.IsLoopback()
		return ""
	}
	return p.canonicalDomain()
}

// canonicalIPv6 canonicalises a bracketed IPv6 base host.
func (p *pattern) canonicalIPv6() (why string) {
	if p.wild {
		return "combines a wildcard with an IP address"
	}
	a, err := netip.ParseAddr(p.base[1 : len(p.base)-1])
	switch {
	case err != nil || !a.Is6():
		return "has an invalid IPv6 address"
	case a.Zone() != "":
		return "has an IPv6 zone, which browsers never send"
	case a.Is4In6():
		return "has an IPv4-mapped IPv6 address; use the IPv4 address"
	}
	p.base, p.loopback = "["+a.String()+"]", a.IsLoopback()
	return ""
}

// canonicalDomain converts a domain base host to punycode and checks it.
func (p *pattern) canonicalDomain() (why string) {
	ascii, err := idna.Lookup.ToASCII(p.base)
	if err != nil {
		return "has a host that is not a valid domain name"
	}
	if endsInNumber(ascii[strings.LastIndexByte(ascii, '.')+1:]) {
		// Browsers parse such a host as an IPv4 address in some base.
		if p.wild {
			return "combines a wildcard with an IP address"
		}
		return "has a host that looks like a malformed IPv4 address; write IPv4 addresses in dotted decimal"
	}
	if _, ok := checkDNSName(ascii); !ok {
		return "has a host that is not a valid domain name"
	}
	p.base = ascii
	p.loopback = ascii == "localhost" || strings.HasSuffix(ascii, ".localhost")
	return ""
}

// checkPolicy refuses plain http off loopback and wildcards over a public
// suffix, unless opts relax them.
func (p *pattern) checkPolicy(opts OriginOptions) (why string) {
	if p.scheme == "http" && !p.loopback && !opts.AllowInsecureHTTP {
		return "uses http, which is only allowed for loopback hosts; use https (or OriginOptions.AllowInsecureHTTP for closed test networks)"
	}
	// Every name under "localhost" is loopback (RFC 6761), so a wildcard over
	// it cannot reach anyone else even though it is technically a TLD.
	if p.wild && p.base != "localhost" && !opts.DangerouslyAllowPublicSuffixWildcard {
		if suffix, _ := publicsuffix.PublicSuffix(p.base); suffix == p.base {
			return "is a wildcard over the public suffix " + quote(p.base) + ", which would trust sites anyone can register there"
		}
	}
	return ""
}

// result is the canonical pattern and, for a wildcard, its matcher.
func (p *pattern) result() (canon string, w wildcardOrigin, isWildcard bool) {
	h := p.base
	switch {
	case p.single:
		h = "+." + p.base
	case p.wild:
		h = "*." + p.base
	}
	canon = p.scheme + "://" + h
	if p.port != "" {
		canon += ":" + p.port
	}
	if p.wild {
		return canon, wildcardOrigin{scheme: p.scheme, suffix: "." + p.base, port: p.port, single: p.single}, true
	}
	return canon, wildcardOrigin{}, false
}
