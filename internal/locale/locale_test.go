package locale

import (
	"slices"
	"testing"
)

var builtin = func(l string) bool { return slices.Contains([]string{"en", "de", "fr", "es", "tr", "pt-br"}, l) }

func TestCandidates(t *testing.T) {
	for in, want := range map[string][]string{
		"tr-TR":          {"tr-tr", "tr"},
		"tr_TR":          {"tr-tr", "tr"},
		"de_DE.UTF-8":    {"de-de", "de"},
		"ca_ES@valencia": {"ca-es", "ca"},
		"tr-TR;q=0.8,en": {"tr-tr", "tr"},
		"en_US<script>":  {"en"}, // stops at the first bad subtag
		"":               nil,
		"../../etc":      nil,
	} {
		if got := Candidates(in); !slices.Equal(got, want) {
			t.Errorf("Candidates(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	for in, want := range map[string]string{
		"tr-TR": "tr", "TR": "tr", "pt-BR": "pt-br", "pt": "en", "it": "en", "": "en", "de-AT-x-foo": "de",
	} {
		if got := Resolve(in, builtin); got != want {
			t.Errorf("Resolve(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPreferencesHonourQValues(t *testing.T) {
	for in, want := range map[string][]string{
		"de":                              {"de"},
		"fr;q=0.5, de":                    {"de", "fr"},
		"en;q=0.1, tr-TR;q=0.9, de;q=0.9": {"tr-TR", "de", "en"},
		"de;q=0, fr":                      {"fr"},
		"*, es;q=0.2":                     {"es"},
		"de;q=2, es;q=abc, fr;x=1, it":    {"it"},
		" , ;q=1, <b>":                    {},
		"de-CH;Q=0.8, en;q=0.7":           {"de-CH", "en"},
	} {
		if got := Preferences(in); !slices.Equal(got, want) {
			t.Errorf("Preferences(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	for in, want := range map[string]string{
		"de-DE,de;q=0.9,en;q=0.8": "de",
		"it, fr;q=0.5":            "fr", // it is not available: the next preference wins
		"en;q=0.2, tr-TR":         "tr",
		"it":                      "en",
		"":                        "en",
		"de;q=0":                  "en",
	} {
		if got := Negotiate(in, builtin); got != want {
			t.Errorf("Negotiate(%q) = %q, want %q", in, got, want)
		}
	}
}
