// Package clientip finds the address of the client behind an HTTP request,
// trusting forwarded headers only as far as the operator's own proxies.
//
// The strategy is "rightmost outside the trusted ranges": RemoteAddr is the
// answer unless it is one of the configured proxies; then the forwarded
// header is read from the right — the end our proxies append to — skipping
// proxies, and the first address that is not one of ours is the client.
// Everything to its left was written by the client and is never looked at,
// so a spoofed leftmost X-Forwarded-For entry changes nothing.
package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
)

// ErrNoClientIP is returned when no usable client address can be found: an
// unparsable RemoteAddr, a malformed entry in a forwarded header where the
// walk needed it, or a chain longer than MaxHops. Callers must not fall back
// to an empty or shared key on this error.
var ErrNoClientIP = errors.New("clientip: no usable client IP")

// DefaultHeader is the header consulted when New is given none.
const DefaultHeader = "X-Forwarded-For"

// MaxHops bounds how many trusted entries a forwarded header may hold to the
// right of the client. No real deployment has this many proxies of its own,
// and the bound keeps the cost of a request independent of header size.
const MaxHops = 64

// Resolver finds a request's client address. Its zero value is not usable;
// construct one with New. A Resolver is immutable and safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
	headers []string
}

// New returns a Resolver that trusts forwarded headers only on connections
// from trustedProxies. headers names the headers the proxies set, in order
// of preference (the first one present in a request is used); it defaults to
// DefaultHeader. "Forwarded" (RFC 7239) is read by its for= parameters and
// held strictly to the RFC's grammar: an element on the walk that departs
// from it (a space around "=" or ";", a repeated parameter, an unquoted
// port, an unbracketed IPv6 address...) is an error. Any other header is
// read as a comma-separated address list like X-Forwarded-For, which also
// covers single-value headers such as X-Real-IP.
//
// With no trusted proxies, RemoteAddr is always the answer and headers are
// ignored.
func New(trustedProxies []netip.Prefix, headers ...string) (*Resolver, error) {
	r := &Resolver{}
	for _, p := range trustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("clientip: invalid trusted proxy prefix %v", p)
		}
		r.trusted = append(r.trusted, normalizePrefix(p))
	}
	if len(headers) == 0 {
		headers = []string{DefaultHeader}
	}
	for _, h := range headers {
		if h == "" || strings.ContainsAny(h, " \t\r\n:") {
			return nil, fmt.Errorf("clientip: invalid header name %q", h)
		}
		r.headers = append(r.headers, textproto.CanonicalMIMEHeaderKey(h))
	}
	return r, nil
}

// normalizePrefix turns an IPv4-mapped IPv6 prefix into the IPv4 prefix it
// denotes, since addresses are unmapped before they are compared, and masks
// the host bits.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// ParseCIDRs parses a comma-separated list of CIDR prefixes and addresses;
// an address stands for itself (/32 or /128). Empty elements are ignored, so
// an empty string yields no prefixes.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("clientip: invalid CIDR %q: %w", part, err)
			}
			out = append(out, normalizePrefix(p))
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("clientip: invalid address %q: %w", part, err)
		}
		if a.Zone() != "" {
			return nil, fmt.Errorf("clientip: address %q has a zone; trusted ranges cannot", part)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ClientIP returns the address of the client that sent req. The result is
// never the zero Addr: every failure is an error wrapping ErrNoClientIP.
// Addresses are unmapped (::ffff:192.0.2.1 → 192.0.2.1) and lose any zone.
//
// When every entry of the forwarded header is a trusted proxy, the request
// came from inside the operator's network and the leftmost entry — the
// first hop that header records — is returned. A header that is absent or
// holds only empty elements leaves RemoteAddr as the answer.
func (r *Resolver) ClientIP(req *http.Request) (netip.Addr, error) {
	remote, err := parseRemoteAddr(req.RemoteAddr)
	if err != nil {
		return netip.Addr{}, err
	}
	if !r.isTrusted(remote) {
		return remote, nil
	}
	for _, h := range r.headers {
		values := req.Header[h]
		if len(values) == 0 {
			continue
		}
		a, found, err := r.walk(values, h == "Forwarded")
		if err != nil {
			return netip.Addr{}, err
		}
		if found {
			return a, nil
		}
	}
	return remote, nil
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// walk reads the list formed by all values in order, right to left, and
// returns the first address outside the trusted ranges, or the leftmost one
// if all are trusted. found is false when the list has no elements at all.
// Elements are cut out of the values by hand from the right, so the work is
// proportional to the part of the header that is read, never to its size,
// and nothing is allocated per element.
func (r *Resolver) walk(values []string, forwarded bool) (addr netip.Addr, found bool, err error) {
	hops := 0
	for vi := len(values) - 1; vi >= 0; vi-- {
		v := values[vi]
		for end := len(v); end >= 0; {
			start := lastListComma(v[:end], forwarded) + 1
			elem := trimOWS(v[start:end])
			end = start - 1
			// RFC 9110 §5.6.1: empty list elements are allowed and ignored.
			if elem == "" {
				continue
			}
			if hops == MaxHops {
				return netip.Addr{}, false, fmt.Errorf("%w: more than %d trusted hops in forwarded header", ErrNoClientIP, MaxHops)
			}
			hops++
			a, err := parseElement(elem, forwarded)
			if err != nil {
				return netip.Addr{}, false, err
			}
			addr, found = a, true
			if !r.isTrusted(a) {
				return addr, true, nil
			}
		}
	}
	return addr, found, nil
}

// lastListComma returns the index of the last comma in s that separates list
// elements, or -1. In a Forwarded header a comma inside a quoted string is
// part of the value. Scanning from the right is sound for quotes because the
// part read is written by trusted proxies, and every element cut out is then
// validated from its left; the walk stops before the client-written part
// matters.
func lastListComma(s string, quoted bool) int {
	if !quoted {
		return strings.LastIndexByte(s, ',')
	}
	in := false
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case '"':
			if !in || i == 0 || s[i-1] != '\\' {
				in = !in
			}
		case ',':
			if !in {
				return i
			}
		}
	}
	return -1
}

// parseElement returns the address of one list element.
func parseElement(elem string, forwarded bool) (netip.Addr, error) {
	if forwarded {
		return forwardedFor(elem)
	}
	a, ok := parseHostPort(elem)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: malformed forwarded address %.64q", ErrNoClientIP, elem)
	}
	return a, nil
}

// trimOWS removes the optional whitespace (RFC 9110 §5.6.3: spaces and
// tabs, nothing else) around a list element.
func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}

// parseHostPort parses an address with or without a port: 192.0.2.1,
// 192.0.2.1:80, 2001:db8::1, [2001:db8::1], [2001:db8::1]:443, fe80::1%eth0.
// Unspecified addresses are refused: no client has one, and keying every
// such request together would be worse than refusing it.
func parseHostPort(s string) (netip.Addr, bool) {
	// Choose the parser up front: a failed parse allocates its error, and
	// this runs on every request.
	var a netip.Addr
	var err error
	switch {
	case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']':
		a, err = netip.ParseAddr(s[1 : len(s)-1])
	case strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1:
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(s)
		a = ap.Addr()
	default:
		a, err = netip.ParseAddr(s)
	}
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap().WithZone("")
	if !a.IsValid() || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// parseRemoteAddr parses http.Request.RemoteAddr, which the server sets to
// host:port, though tests and some servers set a bare address.
func parseRemoteAddr(s string) (netip.Addr, error) {
	a, ok := parseHostPort(s)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: unparsable RemoteAddr %.64q", ErrNoClientIP, s)
	}
	return a, nil
}
