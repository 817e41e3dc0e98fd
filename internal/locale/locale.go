// Package locale is the one place this module decides which of its
// translations a reader gets: the mailer picks a mail's language with it and
// the HTTP adapter a page's, so that "tr-TR" falls back to "tr" and then "en"
// the same way in both.
package locale

import (
	"slices"
	"strconv"
	"strings"
)

// Fallback is the locale every translation set has and every negotiation
// ends at.
const Fallback = "en"

// maxHeader bounds how much of an Accept-Language header is read: real
// browsers send well under a hundred bytes.
const maxHeader = 512

// Candidates turns a tag such as "tr_TR", "TR-tr" or "tr-TR;q=0.8,en" into
// ["tr-tr", "tr"]: the progressively shorter lower-case prefixes of its first
// entry. It drops a POSIX encoding or modifier ("de_DE.UTF-8",
// "ca_ES@valencia") and stops at the first subtag that is not 1–8 letters or
// digits, so nothing a client sends becomes a file name or a key as is.
func Candidates(tag string) []string {
	entry := firstEntry(tag)
	if !isASCII(entry) {
		entry = foldUnicode(entry)
	}
	var small [maxLookup]byte
	var smallEnds [maxLookup/2 + 1]int
	buf, at := small[:], smallEnds[:0]
	if len(entry) > len(buf) {
		buf, at = make([]byte, len(entry)), make([]int, 0, len(entry)/2+1)
	}
	ends, _ := subtags(entry, buf, at)
	if len(ends) == 0 {
		return nil
	}
	// One string holds the longest candidate; the others are its prefixes.
	longest := string(buf[:ends[len(ends)-1]])
	out := make([]string, len(ends))
	for i, e := range ends {
		out[len(ends)-1-i] = longest[:e]
	}
	return out
}

// Match returns the first of tag's candidates that have reports true, and
// whether there was one.
func Match(tag string, have func(string) bool) (string, bool) {
	for _, c := range Candidates(tag) {
		if have(c) {
			return c, true
		}
	}
	return "", false
}

// Resolve is Match with the fallback: the best locale for tag that have
// reports, else Fallback.
func Resolve(tag string, have func(string) bool) string {
	if l, ok := Match(tag, have); ok {
		return l
	}
	return Fallback
}

// Preferences lists the language ranges of an Accept-Language header from
// the most to the least preferred, by q-value (RFC 9110 §12.5.4); equal
// q-values keep the header's order. Ranges with q=0 ("not acceptable"), the
// wildcard "*" and malformed entries are left out.
func Preferences(header string) []string {
	if len(header) > maxHeader {
		header = header[:maxHeader]
	}
	type pref struct {
		tag string
		q   float64
	}
	var prefs []pref
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.TrimSpace(tag)
		if tag == "" || tag == "*" || len(Candidates(tag)) == 0 {
			continue
		}
		q, ok := quality(params)
		if !ok || q == 0 {
			continue
		}
		prefs = append(prefs, pref{tag, q})
	}
	slices.SortStableFunc(prefs, func(a, b pref) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	out := make([]string, len(prefs))
	for i, p := range prefs {
		out[i] = p.tag
	}
	return out
}

// quality reads the q parameter of one Accept-Language entry: 1 when
// absent, false when it is not a number from 0 to 1.
func quality(params string) (float64, bool) {
	params = strings.TrimSpace(params)
	if params == "" {
		return 1, true
	}
	name, value, ok := strings.Cut(params, "=")
	if !ok || strings.TrimSpace(strings.ToLower(name)) != "q" {
		return 0, false
	}
	q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil || q < 0 || q > 1 {
		return 0, false
	}
	return q, true
}

// Negotiate picks the locale for an Accept-Language header: the most
// preferred range that have reports (after its own fallback, "tr-TR" to
// "tr"), else Fallback.
func Negotiate(header string, have func(string) bool) string {
	for _, tag := range Preferences(header) {
		if l, ok := Match(tag, have); ok {
			return l
		}
	}
	return Fallback
}
