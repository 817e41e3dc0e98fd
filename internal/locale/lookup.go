package locale

// maxLookup bounds the entry Lookup reads without allocating; a longer one
// takes the allocating path of Match.
const maxLookup = 64

// Lookup is Match over the keys of m, for a caller on a hot path: the
// value of the first of tag's candidates that m has. It reads tag with the
// same reader as Candidates (subtags), so it gives the same answer as Match
// (a test holds it to that), and allocates nothing for an ASCII tag whose
// first entry fits 64 bytes.
func Lookup[V any](tag string, m map[string]V) (V, bool) {
	var buf [maxLookup]byte
	var at [maxLookup/2 + 1]int
	ends, ok := subtags(firstEntry(tag), buf[:], at[:0])
	if !ok {
		l, found := Match(tag, func(c string) bool { _, has := m[c]; return has })
		return m[l], found
	}
	for i := len(ends) - 1; i >= 0; i-- {
		// The compiler does not allocate for a map index by string(bytes).
		if v, ok := m[string(buf[:ends[i]])]; ok {
			return v, true
		}
	}
	var zero V
	return zero, false
}
