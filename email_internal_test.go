package magiclink

import (
	"strings"
	"testing"

	"golang.org/x/net/idna"
)

// oldNormalizeEmail is NormalizeEmail as it was before its one-pass common
// case, kept so that FuzzNormalizeEmailCommon can hold the two to the same
// answers.
func oldNormalizeEmail(s string) (string, error) {
	s = strings.Trim(s, " \t")
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
	return strings.ToLower(s), nil
}

// emailSeeds are addresses at the edges of every rule the common case
// checks on its own.
var emailSeeds = []string{
	"", " ", "\t", "a@b.co", " a@b.co\t", "\ta@b.co ", "A@B.CO", "Bench@Example.com", "a.b@c.d.e",
	".a@b.co", "a.@b.co", "a..b@c.co", "@b.co", "a@", "a@b", "a@b@c.co", "a@b.c@o",
	"a@-b.co", "a@b-.co", "a@b..co", "a@.b.co", "a@b.co.", "a@b.123", "a@1.2.3.4", "a@b.1a", "a@123.b",
	"!#$%&'*+-/=?^_`{|}~@x.io", "a\"b@c.co", "a b@c.co", "a(b)@c.co", "a,b@c.co", "a:b@c.co", "a;b@c.co",
	"a<b@c.co", "a>b@c.co", "a[b]@c.co", "a\\b@c.co", "a\x7f@c.co", "a\x00@c.co", "a\r\n@c.co",
	"ü@b.co", "a@bü.co", "a@BÜCHER.de", "a@xn--bcher-kva.de", "a@b_c.co", "a@b.c_o",
	strings.Repeat("a", 64) + "@b.co", strings.Repeat("a", 65) + "@b.co",
	"a@" + strings.Repeat("b", 63) + ".co", "a@" + strings.Repeat("b", 64) + ".co",
	"a@" + strings.Repeat("b.", 125) + "co", "a@" + strings.Repeat("bc.", 84) + "de",
	strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 59),
	strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 60),
}

func TestNormalizeEmailMatchesOld(t *testing.T) {
	for _, in := range emailSeeds {
		checkNormalizeEmailSame(t, in)
	}
}

// FuzzNormalizeEmailCommon: NormalizeEmail gives exactly the answers, and
// the errors, of the implementation before its one-pass common case.
func FuzzNormalizeEmailCommon(f *testing.F) {
	for _, s := range emailSeeds {
		f.Add(s)
	}
	f.Fuzz(checkNormalizeEmailSame)
}

func checkNormalizeEmailSame(t *testing.T, in string) {
	got, gotErr := NormalizeEmail(in)
	want, wantErr := oldNormalizeEmail(in)
	if got != want || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("NormalizeEmail(%q) = %q, %v; the old implementation gave %q, %v", in, got, gotErr, want, wantErr)
	}
}

// TestNormalizeEmailCommonCase: the one-pass case does take ordinary
// addresses (else the comparison above would prove nothing about it).
func TestNormalizeEmailCommonCase(t *testing.T) {
	for in, want := range map[string]string{"bench@example.com": "bench@example.com", "Bench@Example.COM": "bench@example.com", "a.b+c@d-e.f1.io": "a.b+c@d-e.f1.io"} {
		if got, ok := normalizeCommon(in); !ok || got != want {
			t.Errorf("normalizeCommon(%q) = %q, %v; want %q, true", in, got, ok, want)
		}
	}
	for _, in := range []string{"ü@b.co", "a@bü.co", "a@b", "a..b@c.co", "a@b@c.co"} {
		if _, ok := normalizeCommon(in); ok {
			t.Errorf("normalizeCommon(%q) took an address for the full checks", in)
		}
	}
}

// BenchmarkNormalizeEmail compares NormalizeEmail with the implementation
// before its one-pass common case, in the same run.
func BenchmarkNormalizeEmail(b *testing.B) {
	for _, impl := range []struct {
		name string
		f    func(string) (string, error)
	}{{"old", oldNormalizeEmail}, {"new", NormalizeEmail}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := impl.f("bench@example.com"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
