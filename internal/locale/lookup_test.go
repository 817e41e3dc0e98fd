package locale

import (
	"slices"
	"strings"
	"testing"
)

// lookupCandidates is what Lookup tries for tag, longest first, and
// whether it got there without Match.
func lookupCandidates(tag string) ([]string, bool) {
	entry, _, _ := strings.Cut(tag, ",")
	entry, _, _ = strings.Cut(entry, ";")
	var buf [maxLookup]byte
	ends, n, ok := lowerSubtags(entry, &buf)
	if !ok {
		return nil, false
	}
	var out []string
	for i := n - 1; i >= 0; i-- {
		out = append(out, string(buf[:ends[i]]))
	}
	return out, true
}

var lookupTags = []string{
	"tr-TR", "tr_TR", "TR-tr", "de_DE.UTF-8", "ca_ES@valencia", "tr-TR;q=0.8,en", "en_US<script>", "",
	"../../etc", " de-AT ", "de-", "-de", "de--at", "pt-BR-x-abcdefghi", "zh-Hant-TW", "de-DE,de;q=0.9,en;q=0.8",
	"ab1-2x", "DE", "d\u00e9", "de-\u212a", "\u00a0de", strings.Repeat("a-", 40), strings.Repeat("ab-", 21) + "c",
	"de.", "@de", "x-" + strings.Repeat("z", 8), "x-" + strings.Repeat("z", 9),
}

// Lookup tries exactly the candidates Match tries, in the same order.
func TestLookupTriesCandidates(t *testing.T) {
	for _, tag := range lookupTags {
		got, ok := lookupCandidates(tag)
		if !ok {
			continue // Lookup calls Match itself
		}
		if want := Candidates(tag); !slices.Equal(got, want) {
			t.Errorf("Lookup tries %q for %q; Candidates gives %q", got, tag, want)
		}
	}
}

func FuzzLookupTriesCandidates(f *testing.F) {
	for _, tag := range lookupTags {
		f.Add(tag)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		if got, ok := lookupCandidates(tag); ok {
			if want := Candidates(tag); !slices.Equal(got, want) {
				t.Fatalf("Lookup tries %q for %q; Candidates gives %q", got, tag, want)
			}
		}
		m := map[string]int{"en": 1, "de": 2, "tr-tr": 3, "tr": 4, "pt-br": 5}
		want, wantOK := Match(tag, func(l string) bool { _, ok := m[l]; return ok })
		if got, ok := Lookup(tag, m); ok != wantOK || (ok && got != m[want]) {
			t.Fatalf("Lookup(%q) = %d, %v; Match gives %q, %v", tag, got, ok, want, wantOK)
		}
	})
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
