package magiclink

import (
	"strconv"
	"strings"
)

// nextField names the request field in errors from SafeNext; the HTTP adapter
// reports it to the client as-is.
const nextField = "callback_next"

// maxNextLen bounds a post-sign-in destination. Anything longer is not a
// destination a real application links to, and the limit keeps links short
// enough for every mail client.
const maxNextLen = 2048

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
	if next == "" || next == "/" {
		// The usual destination, answered without the checks below,
		// which would hand "/" back as is.
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
