package magiclink_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
)

// A mailed link carries the language its mail was written in, so the pages
// it opens speak it too; a locale the templates lack, or garbage, gives
// an English mail and a link without one. Links made by CreateLink keep
// the documents' exact format.
func TestSendLinkCarriesTheMailsLocale(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i, tt := range []struct{ in, want, subject string }{
		{"de", "de", "Anmeldelink"},
		{"de-AT", "de", "Anmeldelink"},
		{"tr-TR", "tr", "giriş bağlantınız"},
		{"en", "en", "Your sign-in link"},
		{"", "", "Your sign-in link"},
		{"it", "", "Your sign-in link"},
		{"de\"><script>", "", "Your sign-in link"},
		{strings.Repeat("x", 4096), "", "Your sign-in link"},
	} {
		before := len(f.mail.all())
		if err := f.svc.SendLink(context.Background(), magiclink.SendRequest{Email: fmt.Sprintf("lang%d@example.com", i),
			CallbackOrigin: "https://app.example.com", Next: "/overview", Locale: tt.in}); err != nil {
			t.Fatalf("SendLink(locale %.20q): %v", tt.in, err)
		}
		msgs := f.mail.all()
		if len(msgs) != before+1 {
			t.Fatalf("locale %.20q: %d mails", tt.in, len(msgs)-before)
		}
		m := msgs[len(msgs)-1]
		u, err := url.Parse(m.Link)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if got := q.Get("locale"); got != tt.want || q.Has("locale") != (tt.want != "") {
			t.Errorf("locale %.20q: link %q has locale %q, want %q", tt.in, m.Link, got, tt.want)
		}
		if !strings.HasPrefix(m.Link, "https://app.example.com/auth/verify?token_hash="+q.Get("token_hash")+"&type=magiclink&next=/overview") {
			t.Errorf("locale %.20q: link %q lost the documented prefix", tt.in, m.Link)
		}
		if !strings.Contains(m.Subject, tt.subject) {
			t.Errorf("locale %.20q: subject %q, want it to contain %q", tt.in, m.Subject, tt.subject)
		}
		if _, err := f.svc.Verify(context.Background(), q.Get("token_hash")); err != nil {
			t.Errorf("locale %.20q: Verify: %v", tt.in, err)
		}
	}
	if l := f.link(t, "lang@example.com"); strings.Contains(l.URL, "locale") {
		t.Errorf("CreateLink's link %q names a locale", l.URL)
	}
}
