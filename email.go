package magiclink

import (
	"strings"

	"golang.org/x/net/idna"
)

// MaxEmailLength is the longest address accepted, in bytes (RFC 5321's
// forward-path limit less the angle brackets).
const MaxEmailLength = 254

// NormalizeEmail validates a bare e-mail address and returns its canonical
// form: trimmed, lowercased, with an internationalized domain converted to
// punycode.
//
// The local part must be an RFC 5322 dot-atom of at most 64 ASCII bytes, and
// the domain a host name of at least two labels. That rejects display names,
// comments, quoted local parts, spaces, CR, LF and other control characters
// (which could inject mail headers), and addresses longer than
// MaxEmailLength. Lowercasing the local part is what users expect of a
// sign-in form even though RFC 5321 leaves it to the receiving server.
func NormalizeEmail(s string) (string, error) {
	s = trimBlanks(s)
	if out, ok := normalizeCommon(s); ok {
		return out, nil
	}
	if s == "" {
		return "", newError(kindInvalidEmail, "email", "email is required", nil)
	}
	if len(s) > MaxEmailLength {
		return "", newError(kindInvalidEmail, "email", "email is longer than 254 bytes", nil)
	}
	at := strings.IndexByte(s, '@')
	if at < 0 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return "", newError(kindInvalidEmail, "email", "email must have the form name@domain", nil)
	}
	local, domain := s[:at], s[at+1:]
	if !validLocalPart(local) {
		return "", newError(kindInvalidEmail, "email", "email must be a bare address without spaces, quotes or display name", nil)
	}
	if !isASCII(domain) {
		ascii, err := idna.Lookup.ToASCII(domain)
		if err != nil {
			return "", newError(kindInvalidEmail, "email", "email domain is not a valid host name", nil)
		}
		domain = ascii
		s = local + "@" + domain
		if len(s) > MaxEmailLength {
			return "", newError(kindInvalidEmail, "email", "email is longer than 254 bytes", nil)
		}
	}
	if !validDomain(domain) {
		return "", newError(kindInvalidEmail, "email", "email domain is not a valid host name", nil)
	}
	// strings.ToLower returns s itself when there is nothing to change.
	return strings.ToLower(s), nil
}

// trimBlanks is strings.Trim(s, " \t") without building a cutset: only
// blanks, since a CR, LF or Unicode line separator is refused, never
// trimmed away.
func trimBlanks(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// normalizeCommon is NormalizeEmail of a trimmed address in one pass, for
// the common case: ASCII, within MaxEmailLength, one "@" between a valid
// local part and a valid ASCII domain. For anything else ok is false, and
// the separate checks after it decide, and say what is wrong. Every
// address it accepts they accept with the same result
// (FuzzNormalizeEmailCommon pins that against them).
func normalizeCommon(s string) (out string, ok bool) {
	if len(s) > MaxEmailLength {
		return "", false
	}
	upper := false
	at := -1
	prev := byte('.') // a leading dot is refused like a doubled one
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '@' {
			at = i
			break
		}
		switch {
		case c == '.':
			if prev == '.' {
				return "", false
			}
		case 'A' <= c && c <= 'Z':
			upper = true
		case !inByteSet(c, atextLo, atextHi):
			return "", false
		}
		prev = c
	}
	if at <= 0 || at > 64 || prev == '.' {
		return "", false
	}
	domain := s[at+1:]
	domainUpper, ok := commonDomain(domain)
	if !ok {
		return "", false
	}
	if upper || domainUpper {
		return strings.ToLower(s), true
	}
	return s, true
}

// commonDomain is validDomain for an address's domain in the same pass
// that finds upper-case letters; it refuses a second "@" and any non-ASCII
// byte (for NormalizeEmail to judge).
func commonDomain(d string) (upper, ok bool) {
	if len(d) > 253 {
		return false, false
	}
	labels, start, allDigits := 0, 0, true
	for i := 0; i <= len(d); i++ {
		if i < len(d) && d[i] != '.' {
			c := d[i]
			switch {
			case '0' <= c && c <= '9':
				continue
			case 'a' <= c && c <= 'z', c == '-':
			case 'A' <= c && c <= 'Z':
				upper = true
			default:
				return false, false
			}
			allDigits = false
			continue
		}
		if n := i - start; n == 0 || n > 63 || d[start] == '-' || d[i-1] == '-' {
			return false, false
		}
		labels++
		start = i + 1
		if i < len(d) {
			allDigits = true
		}
	}
	return upper, labels >= 2 && !allDigits
}

// atextLo and atextHi are the bytes 0-63 and 64-127 allowed in a dot-atom
// besides ".": letters, digits and !#$%&'*+-/=?^_`{|}~.
const (
	atextLo uint64 = 1<<'!' | 1<<'#' | 1<<'$' | 1<<'%' | 1<<'&' | 1<<'\'' | 1<<'*' | 1<<'+' |
		1<<'-' | 1<<'/' | (1<<10-1)<<'0' | 1<<'=' | 1<<'?'
	atextHi uint64 = (1<<26-1)<<('A'-64) | 1<<('^'-64) | 1<<('_'-64) | 1<<('`'-64) |
		(1<<26-1)<<('a'-64) | 1<<('{'-64) | 1<<('|'-64) | 1<<('}'-64) | 1<<('~'-64)
)

// inByteSet reports whether c is in the set whose bytes 0-63 are the bits
// of lo and 64-127 those of hi.
func inByteSet(c byte, lo, hi uint64) bool {
	if c < 64 {
		return lo>>c&1 == 1
	}
	return c < 128 && hi>>(c-64)&1 == 1
}

// validLocalPart reports whether l is a dot-atom of at most 64 bytes.
func validLocalPart(l string) bool {
	if l == "" || len(l) > 64 || l[0] == '.' || l[len(l)-1] == '.' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.':
			if l[i-1] == '.' {
				return false
			}
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validDomain reports whether d is an ASCII host name of two or more
// letter-digit-hyphen labels whose last label is not numeric.
func validDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	labels, start, allDigits := 0, 0, true
	for i := 0; i <= len(d); i++ {
		if i < len(d) && d[i] != '.' {
			c := d[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
			if c < '0' || c > '9' {
				allDigits = false
			}
			continue
		}
		label := d[start:i]
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		labels++
		start = i + 1
		if i < len(d) {
			allDigits = true
		}
	}
	return labels >= 2 && !allDigits
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
