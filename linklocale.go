package magiclink

import (
	"github.com/magiclink-go/magiclink/internal/locale"
	"github.com/magiclink-go/magiclink/mailer"
)

// maxLinkLocale bounds the requested locale a link's language is read
// from: a language tag is at most 35 bytes; the rest allows an
// Accept-Language list, whose first entry counts.
const maxLinkLocale = 512

// newLinkLocales maps every locale the mail templates have to the query
// suffix a mailed link in that language ends with ("&locale=de"), so that
// the confirm page and every page after it speak the mail's language
// whatever the browser's is. A Renderer that does not list its locales
// (mailer.Templates does) gets the built-in ones. Only well-formed tags
// ("pt-br") are kept, so a suffix never needs escaping.
func newLinkLocales(r mailer.Renderer) map[string]string {
	lister, ok := r.(interface{ Locales() []string })
	if !ok {
		lister = mailer.DefaultTemplates()
	}
	out := map[string]string{}
	for _, l := range lister.Locales() {
		if c := locale.Candidates(l); len(c) > 0 && c[0] == l {
			out[l] = "&locale=" + l
		}
	}
	return out
}

// linkLocale is the suffix of a mailed link for the requested locale: that
// of the best locale the templates have ("de-AT" gives "&locale=de"), or
// "" when the request names none of them, so nothing a caller sends is
// echoed into the URL. It does not allocate for a tag such as "de-DE".
func (s *Service) linkLocale(requested string) string {
	if requested == "" || len(requested) > maxLinkLocale {
		return ""
	}
	suffix, _ := locale.Lookup(requested, s.linkLocales)
	return suffix
}
