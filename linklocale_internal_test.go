package magiclink

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// listing is a Renderer that lists the locales it renders.
type listing struct {
	mailer.Renderer
	locales []string
}

func (l listing) Locales() []string { return l.locales }

func TestNewLinkLocales(t *testing.T) {
	t.Parallel()
	keys := func(m map[string]string) []string {
		var out []string
		for k, v := range m {
			if v != "&locale="+k {
				t.Errorf("locale %q has the suffix %q", k, v)
			}
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	builtin := []string{"de", "en", "es", "fr", "tr"}
	if got := keys(newLinkLocales(mailer.DefaultTemplates())); !slices.Equal(got, builtin) {
		t.Errorf("built-in templates give %q, want %q", got, builtin)
	}
	// Only well-formed lower-case tags become suffixes: nothing to escape.
	odd := listing{locales: []string{"en", "it", "pt-br", "Bad", "x y", "a&b=c", "de_DE", "", "toolongsubtag"}}
	if got, want := keys(newLinkLocales(odd)), []string{"en", "it", "pt-br"}; !slices.Equal(got, want) {
		t.Errorf("a listing renderer gives %q, want %q", got, want)
	}
	// A renderer that does not list its locales gets the built-in ones.
	if got := keys(newLinkLocales(struct{ mailer.Renderer }{})); !slices.Equal(got, builtin) {
		t.Errorf("an unlisting renderer gives %q, want %q", got, builtin)
	}
}

func testService(t *testing.T) *Service {
	t.Helper()
	s, err := New(Config{Origins: []string{"https://app.example.com"}, Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The link names a locale the templates have, or none: never what was
// asked as is.
func TestLinkLocale(t *testing.T) {
	t.Parallel()
	s := testService(t)
	for in, want := range map[string]string{
		"de": "&locale=de", "DE": "&locale=de", "de-AT": "&locale=de", "de_DE.UTF-8": "&locale=de",
		"tr-TR,tr;q=0.9,en;q=0.8": "&locale=tr", "en": "&locale=en", "fr-CA": "&locale=fr", "es-419": "&locale=es",
		"": "", "it": "", "xx-YY": "", "<script>": "", "de&next=//evil": "", "de-AT&next=//evil": "&locale=de", "../de": "",
		"&locale=en": "", "d\u00e9": "",
		"de" + strings.Repeat("-abcdefgh", 60): "", // over maxLinkLocale
	} {
		if got := s.linkLocale(in); got != want {
			t.Errorf("linkLocale(%q) = %q, want %q", in, got, want)
		}
	}
}

// A send's locale costs no allocation.
func TestLinkLocaleAllocatesNothing(t *testing.T) {
	s := testService(t)
	for _, tag := range []string{"", "de", "de-DE", "tr-TR,tr;q=0.9,en-US;q=0.8,en;q=0.7", "it"} {
		if n := testing.AllocsPerRun(100, func() { s.linkLocale(tag) }); n != 0 {
			t.Errorf("linkLocale(%q) makes %v allocations", tag, n)
		}
	}
}

// The locale goes after next, so the documented prefix stays and
// Link.Token, sliced out of the URL, is still the secret.
func TestIssueWithLocaleKeepsToken(t *testing.T) {
	t.Parallel()
	s := testService(t)
	for _, lang := range []string{"", "&locale=de", "&locale=pt-br"} {
		l, err := s.issue(context.Background(), "a@example.com", "", "", "https://app.example.com", "/a b&c", lang, time.Minute, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(l.URL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("token_hash") != l.Token || len(l.Token) != encodedSecretLen || q.Get("next") != "/a b&c" || q.Get("type") != "magiclink" {
			t.Fatalf("link %q: token %q, query %v", l.URL, l.Token, q)
		}
		if want := strings.TrimPrefix(lang, "&locale="); q.Get("locale") != want || !strings.HasSuffix(l.URL, "next=/a%20b%26c"+lang) {
			t.Fatalf("link %q: locale %q, want %q at the end", l.URL, q.Get("locale"), want)
		}
		if _, err := s.Verify(context.Background(), l.Token); err != nil {
			t.Fatalf("Verify(Link.Token) of %q: %v", l.URL, err)
		}
	}
}
