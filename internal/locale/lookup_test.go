package locale

import (
	"slices"
	"strings"
	"testing"
)

// referenceCandidates is Candidates as it was written before Lookup and
// Candidates shared one reader (subtags): string functions, Unicode-aware,
// kept as the oracle both are held to.
func referenceCandidates(tag string) []string {
	tag, _, _ = strings.Cut(tag, ",")
	tag, _, _ = strings.Cut(tag, ";")
	tag = strings.ToLower(strings.TrimSpace(strings.ReplaceAll(tag, "_", "-")))
	tag, _, _ = strings.Cut(tag, ".")
	tag, _, _ = strings.Cut(tag, "@")
	var parts []string
	for p := range strings.SplitSeq(tag, "-") {
		if p == "" || len(p) > 8 || strings.ContainsFunc(p, func(r rune) bool {
			return (r < 'a' || r > 'z') && (r < '0' || r > '9')
		}) {
			break
		}
		parts = append(parts, p)
	}
	var out []string
	for i := len(parts); i > 0; i-- {
		out = append(out, strings.Join(parts[:i], "-"))
	}
	return out
}

// lookupCandidates is what Lookup tries for tag, longest first, and
// whether it got there without Match.
func lookupCandidates(tag string) ([]string, bool) {
	var buf [maxLookup]byte
	var at [maxLookup/2 + 1]int
	ends, ok := subtags(firstEntry(tag), buf[:], at[:0])
	if !ok {
		return nil, false
	}
	var out []string
	for i := len(ends) - 1; i >= 0; i-- {
		out = append(out, string(buf[:ends[i]]))
	}
	return out, true
}

var lookupTags = []string{
	"tr-TR", "tr_TR", "TR-tr", "de_DE.UTF-8", "ca_ES@valencia", "tr-TR;q=0.8,en", "en_US<script>", "",
	"../../etc", " de-AT ", "de-", "-de", "de--at", "pt-BR-x-abcdefghi", "zh-Hant-TW", "de-DE,de;q=0.9,en;q=0.8",
	"ab1-2x", "DE", "d\u00e9", "de-\u212a", "\u00a0de", strings.Repeat("a-", 40), strings.Repeat("ab-", 21) + "c",
	"de.", "@de", "x-" + strings.Repeat("z", 8), "x-" + strings.Repeat("z", 9),
	"\u0130t", "de-\u00e9", "de.\u00e9", "de \u00e9", "de\u00a0", "de\u0085\u00e9", "\xff-de", "de-at\xc3",
	"DE_at.\u00e9", strings.Repeat("de-", 30) + "\u00e9", strings.Repeat("x", 70),
}

// Candidates reads every tag as the reference does, and Lookup tries
// exactly those candidates, in the same order.
func TestLookupTriesCandidates(t *testing.T) {
	for _, tag := range lookupTags {
		checkCandidates(t, tag)
	}
}

// checkCandidates holds Candidates to the reference and Lookup to Match
// for tag.
func checkCandidates(t *testing.T, tag string) {
	t.Helper()
	want := referenceCandidates(tag)
	if got := Candidates(tag); !slices.Equal(got, want) {
		t.Fatalf("Candidates(%q) = %q; the reference gives %q", tag, got, want)
	}
	if got, ok := lookupCandidates(tag); ok && !slices.Equal(got, want) {
		t.Fatalf("Lookup tries %q for %q; the reference gives %q", got, tag, want)
	}
	m := map[string]int{"en": 1, "de": 2, "tr-tr": 3, "tr": 4, "pt-br": 5}
	match, matchOK := Match(tag, func(l string) bool { _, ok := m[l]; return ok })
	if got, ok := Lookup(tag, m); ok != matchOK || (ok && got != m[match]) {
		t.Fatalf("Lookup(%q) = %d, %v; Match gives %q, %v", tag, got, ok, match, matchOK)
	}
}

// FuzzLookupTriesCandidates is the regression test of the shared reader:
// Candidates against the reference, Lookup against Match.
func FuzzLookupTriesCandidates(f *testing.F) {
	for _, tag := range lookupTags {
		f.Add(tag)
	}
	f.Fuzz(checkCandidates)
}

func TestLookup(t *testing.T) {
	m := map[string]string{"en": "&locale=en", "de": "&locale=de", "tr-tr": "&locale=tr-tr", "tr": "&locale=tr"}
	for tag, want := range map[string]string{
		"de": "&locale=de", "de-DE": "&locale=de", "TR_tr": "&locale=tr-tr", "tr-CY": "&locale=tr",
		"de-DE,de;q=0.9,en;q=0.8": "&locale=de", "de-\u212a": "&locale=de", // the Kelvin sign takes Match's path
		"it": "", "": "", "<script>": "", strings.Repeat("de-", 30) + "x": "&locale=de",
	} {
		if got, _ := Lookup(tag, m); got != want {
			t.Errorf("Lookup(%q) = %q, want %q", tag, got, want)
		}
	}
}

// The send path looks a mail's locale up on every send.
func TestLookupAllocatesNothing(t *testing.T) {
	m := map[string]string{"en": "&locale=en", "de": "&locale=de", "tr": "&locale=tr"}
	for _, tag := range []string{"de", "de-DE", "tr-TR,tr;q=0.9,en-US;q=0.8,en;q=0.7", "it", "", "x<y"} {
		if n := testing.AllocsPerRun(100, func() { Lookup(tag, m) }); n != 0 {
			t.Errorf("Lookup(%q) makes %v allocations", tag, n)
		}
	}
}

// benchTags are tags as the send path and the pages see them: a bare
// language, a region, a browser's whole header and one no locale has.
var benchTags = []string{"de", "tr-TR", "de-DE,de;q=0.9,en;q=0.8", "pt_BR.UTF-8", "it"}

func BenchmarkLookup(b *testing.B) {
	m := map[string]string{"en": "&locale=en", "de": "&locale=de", "tr-tr": "&locale=tr-tr", "tr": "&locale=tr", "pt-br": "&locale=pt-br"}
	b.ReportAllocs()
	for b.Loop() {
		for _, tag := range benchTags {
			Lookup(tag, m)
		}
	}
}

func BenchmarkCandidates(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, tag := range benchTags {
			Candidates(tag)
		}
	}
}
