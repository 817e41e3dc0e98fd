package locale

import "strings"

// maxLookup bounds the entry Lookup reads without allocating; a longer one
// takes the allocating path of Match.
const maxLookup = 64

// Lookup is Match over the keys of m, for a caller on a hot path: the
// value of the first of tag's candidates that m has. It gives the same
// answer as Match (a test holds it to that) and allocates nothing for an
// ASCII tag whose first entry fits 64 bytes.
func Lookup[V any](tag string, m map[string]V) (V, bool) {
	entry, _, _ := strings.Cut(tag, ",")
	entry, _, _ = strings.Cut(entry, ";")
	var buf [maxLookup]byte
	ends, n, ok := lowerSubtags(entry, &buf)
	if !ok {
		l, found := Match(tag, func(c string) bool { _, has := m[c]; return has })
		return m[l], found
	}
	for i := n - 1; i >= 0; i-- {
		// The compiler does not allocate for a map index by string(bytes).
		if v, ok := m[string(buf[:ends[i]])]; ok {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// lowerSubtags writes entry into buf as Candidates reads it (trimmed,
// lower case, "_" as "-", up to a POSIX encoding or modifier) and returns
// where each of its valid leading subtags ends, and how many there are.
// It reports false for an entry it cannot read that way without
// allocating: non-ASCII, or longer than buf.
func lowerSubtags(entry string, buf *[maxLookup]byte) (ends [maxLookup/2 + 1]int, n int, ok bool) {
	entry = strings.Trim(entry, " \t\n\v\f\r")
	if len(entry) > len(buf) {
		return ends, 0, false
	}
	end := 0
	for i := 0; i < len(entry); i++ {
		c := entry[i]
		switch {
		case c >= 0x80:
			return ends, 0, false
		case c == '.' || c == '@':
			entry = entry[:i]
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if i >= len(entry) {
			break
		}
		buf[i] = c
		end = i + 1
	}
	start := 0
	for i := 0; i <= end; i++ {
		if i < end && buf[i] != '-' {
			if c := buf[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
				break
			}
			continue
		}
		if i == start || i-start > 8 {
			break
		}
		ends[n], n = i, n+1
		start = i + 1
	}
	return ends, n, true
}
