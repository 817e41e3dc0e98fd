package mask

import "testing"

func TestRedact(t *testing.T) {
	t.Parallel()
	link := "https://x.example/?token_hash=abc&type=magiclink"
	for _, c := range []struct{ name, text, to, link, code, want string }{
		{
			name: "every form of every secret",
			text: "550 <Ada@Example.com> rejected: " + link + " / https://x.example/?token_hash=abc&amp;type=magiclink / 123456 / 123 456",
			to:   "ada@example.com", link: link, code: "123456",
			want: "550 <a***@example.com> rejected: [redacted] / [redacted] / [redacted] / [redacted]",
		},
		{
			name: "the address in any case, each time",
			text: "x jane@e.com y JANE@E.COM",
			to:   "jane@e.com",
			want: "x j***@e.com y j***@e.com",
		},
		{
			name: "a code not of six digits is not spaced",
			text: "12345 / 123 45",
			code: "12345",
			want: "[redacted] / 123 45",
		},
		{
			name: "nothing to hide",
			text: "421 try later",
			want: "421 try later",
		},
		{
			name: "a length-changing lower case falls back to exact matches",
			text: "to İnci@e.com and İNCI@E.COM",
			to:   "İnci@e.com",
			want: "to ***@e.com and İNCI@E.COM",
		},
	} {
		if got := Redact(c.text, c.to, c.link, c.code); got != c.want {
			t.Errorf("%s: Redact(%q)\n got %q\nwant %q", c.name, c.text, got, c.want)
		}
	}
}
