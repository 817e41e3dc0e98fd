package clientip

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxForwardedPairs bounds the parameters of one Forwarded element. RFC 7239
// registers four (for, by, host, proto); the bound keeps the duplicate check
// cheap on an element a client may have written.
const maxForwardedPairs = 16

// forwardedFor validates one element of a Forwarded header against RFC 7239
// §4 and returns the address of its for= parameter:
//
//	forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
//	forwarded-pair    = token "=" value
//	value             = token / quoted-string
//
// No whitespace is allowed inside an element (only around the commas that
// separate elements), a parameter may not appear twice, and the for= value
// must be a node of §6 that names an address. Any departure is an error: a
// proxy of ours never writes one, so it means someone else wrote the entry.
func forwardedFor(elem string) (netip.Addr, error) {
	var names [maxForwardedPairs]string
	n := 0
	var forValue string
	var forEscaped, haveFor bool
	for i := 0; i < len(elem); {
		if elem[i] == ';' { // an empty forwarded-pair is allowed
			i++
			continue
		}
		name, value, escaped, next, err := forwardedPair(elem, i)
		if err != nil {
			return netip.Addr{}, malformedForwarded(elem, err.Error())
		}
		for _, seen := range names[:n] {
			if equalFoldASCII(seen, name) {
				return netip.Addr{}, malformedForwarded(elem, "parameter "+quote(name)+" appears twice")
			}
		}
		if n == maxForwardedPairs {
			return netip.Addr{}, malformedForwarded(elem, fmt.Sprintf("more than %d parameters", maxForwardedPairs))
		}
		names[n] = name
		n++
		if equalFoldASCII(name, "for") {
			forValue, forEscaped, haveFor = value, escaped, true
		}
		i = next
	}
	if !haveFor {
		return netip.Addr{}, malformedForwarded(elem, "no for= parameter")
	}
	if forEscaped {
		forValue = unescapeQuoted(forValue)
	}
	a, reason := parseNode(forValue)
	if reason != "" {
		return netip.Addr{}, malformedForwarded(elem, "for= "+reason)
	}
	return a, nil
}

func malformedForwarded(elem, reason string) error {
	return fmt.Errorf("%w: malformed Forwarded element %.64q: %s", ErrNoClientIP, elem, reason)
}

func quote(s string) string { return fmt.Sprintf("%.32q", s) }

// forwardedPair reads the forwarded-pair starting at s[i]: a token, "=",
// then a token or a quoted-string (returned without its quotes, escapes
// kept and reported by escaped), followed by ";" or the end of the element.
// next is the index after the value.
func forwardedPair(s string, i int) (name, value string, escaped bool, next int, err error) {
	j := tokenEnd(s, i)
	if j == i {
		return "", "", false, 0, fmt.Errorf("unexpected %q where a parameter name should start", s[i])
	}
	name = s[i:j]
	if j == len(s) || s[j] != '=' {
		return "", "", false, 0, fmt.Errorf("parameter %s not directly followed by '='", quote(name))
	}
	j++
	start := j
	if j < len(s) && s[j] == '"' {
		end, esc, ok := quotedStringEnd(s, j)
		if !ok {
			return "", "", false, 0, fmt.Errorf("parameter %s has a malformed quoted-string", quote(name))
		}
		value, escaped, j = s[start+1:end-1], esc, end
	} else {
		j = tokenEnd(s, j)
		if j == start {
			return "", "", false, 0, fmt.Errorf("parameter %s has an empty or malformed value", quote(name))
		}
		value = s[start:j]
	}
	if j < len(s) && s[j] != ';' {
		return "", "", false, 0, fmt.Errorf("unexpected %q after the value of %s", s[j], quote(name))
	}
	return name, value, escaped, j, nil
}

// quotedStringEnd returns the index just after the quoted-string (RFC 9110
// §5.6.4) that opens at s[i] and whether it holds a quoted-pair; ok is
// false if it is malformed or unterminated.
func quotedStringEnd(s string, i int) (end int, escaped, ok bool) {
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		if c >= 0x23 && c <= 0x7e && c != '\\' {
			continue // the common qdtext, tested first
		}
		switch {
		case c == '"':
			return j + 1, escaped, true
		case c == '\\':
			// quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
			if j+1 == len(s) || !isQuotedPairChar(s[j+1]) {
				return 0, false, false
			}
			j, escaped = j+1, true
		case c == '\t' || c == ' ' || c == '!' || c >= 0x80:
			// the rest of qdtext
		default:
			return 0, false, false
		}
	}
	return 0, false, false
}

func isQuotedPairChar(c byte) bool { return c == '\t' || (c >= 0x20 && c != 0x7f) }

// unescapeQuoted resolves the quoted-pairs of a validated quoted-string's
// content. A proxy has no reason to escape a node, so this rare path may
// allocate.
func unescapeQuoted(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// equalFoldASCII reports whether two tokens are equal ignoring ASCII case;
// unlike strings.EqualFold it knows nothing of Unicode, which tokens never
// hold, and so is cheap enough for every parameter.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// tcharTable[c] is 1 when the ASCII byte c may appear in a token (RFC 9110
// §5.6.2: ALPHA, DIGIT and !#$%&'*+-.^_`|~); TestIsTchar checks it against
// that list. A constant keeps the lookup one load, without mutable state.
const tcharTable = "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x01\x00\x01\x01\x01\x01\x01\x00\x00\x01\x01\x00\x01\x01\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00" +
	"\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x01\x00\x01\x00"

// isTchar reports whether c may appear in a token.
func isTchar(c byte) bool { return c < 128 && tcharTable[c] == 1 }

// tokenEnd returns the index of the first byte at or after i in s that is
// not a tchar.
func tokenEnd(s string, i int) int {
	for ; i < len(s); i++ {
		if !isTchar(s[i]) {
			return i
		}
	}
	return i
}

// parseNode parses a node of RFC 7239 §6 and returns its address, or a
// reason why it names none:
//
//	node      = nodename [ ":" node-port ]
//	nodename  = IPv4address / "[" IPv6address "]" / "unknown" / obfnode
//	node-port = port / obfport        ; port = 1*5DIGIT
//	obfnode   = "_" 1*( ALPHA / DIGIT / "." / "_" / "-" ), obfport alike
//
// "unknown" and obfuscated identifiers are well-formed but name no address
// to key a client by, so they are refused too, as is the unspecified
// address.
func parseNode(s string) (netip.Addr, string) {
	host, rest, bracketed := s, "", false
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, "has an unclosed '['"
		}
		host, rest, bracketed = s[1:end], s[end+1:], true
	} else if i := strings.IndexByte(s, ':'); i >= 0 {
		host, rest = s[:i], s[i:]
	}
	if rest != "" && (rest[0] != ':' || !isNodePort(rest[1:])) {
		return netip.Addr{}, "has a malformed port"
	}
	if !bracketed {
		switch {
		case equalFoldASCII(host, "unknown"):
			return netip.Addr{}, "is \"unknown\""
		case isObfuscated(host):
			return netip.Addr{}, "is an obfuscated identifier"
		}
	}
	if host == "" {
		return netip.Addr{}, "is not an IPv4 address or a bracketed IPv6 address"
	}
	a, err := netip.ParseAddr(host)
	// RFC 3986's IPv6address has no zone.
	if err != nil || a.Is6() != bracketed || a.Zone() != "" {
		return netip.Addr{}, "is not an IPv4 address or a bracketed IPv6 address"
	}
	if a = a.Unmap(); a.IsUnspecified() {
		return netip.Addr{}, "is the unspecified address"
	}
	return a, ""
}

// isNodePort reports whether s is a port (1*5DIGIT) or an obfport.
func isNodePort(s string) bool {
	if isObfuscated(s) {
		return true
	}
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isObfuscated reports whether s is "_" 1*( ALPHA / DIGIT / "." / "_" / "-" ).
func isObfuscated(s string) bool {
	if len(s) < 2 || s[0] != '_' {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
