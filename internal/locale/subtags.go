package locale

import "strings"

// firstEntry is the first entry of an Accept-Language style list, without
// its parameters: "tr-TR" of "tr-TR;q=0.8,en".
func firstEntry(tag string) string {
	entry, _, _ := strings.Cut(tag, ",")
	entry, _, _ = strings.Cut(entry, ";")
	return entry
}

// subtags is the one reader of a language tag: it writes entry into buf
// trimmed, in lower case, with "_" as "-" and cut before a POSIX encoding
// or modifier ("de_DE.UTF-8", "ca_ES@valencia"), and appends to ends where
// each of its valid leading subtags ends: 1–8 letters or digits each, up to
// the first that is not. Candidates are buf[:ends[i]], longest last. It
// reports false, having read nothing, for an entry that is not ASCII (see
// foldUnicode) or does not fit buf; Lookup passes arrays on its stack, so
// that it allocates nothing.
func subtags(entry string, buf []byte, ends []int) ([]int, bool) {
	entry = strings.Trim(entry, " \t\n\v\f\r")
	if len(entry) > len(buf) {
		return ends, false
	}
	end := 0
	for i := 0; i < len(entry); i++ {
		c := entry[i]
		switch {
		case c >= 0x80:
			return ends, false
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
		ends = append(ends, i)
		start = i + 1
	}
	return ends, true
}

// foldUnicode makes an entry with non-ASCII characters one subtags reads
// the same way: Unicode lower case and trimming first (the Kelvin sign
// "\u212a" is a "k", a no-break space is space), then the first character
// still not ASCII, which no subtag may hold, becomes "!" with everything
// after it dropped, so that the subtag it was in is the first invalid one.
func foldUnicode(entry string) string {
	entry = strings.TrimSpace(strings.ToLower(entry))
	for i := 0; i < len(entry); i++ {
		if entry[i] >= 0x80 {
			return entry[:i] + "!"
		}
	}
	return entry
}

// isASCII reports whether s has only ASCII characters.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
