package app

import "github.com/magiclink-go/magiclink/mailer"

// namedMails renders the sign-in mails with the example's name in each
// mail's own language ("magiclink-Beispiel" in a German mail), where the
// Service has one AppName for every mail. The Service and an outbox get
// the same value, so the outbox still renders off the request path (it
// does so only for its own renderer).
type namedMails struct {
	*mailer.Templates
}

// Render implements mailer.Renderer: d with the app name of the locale
// the templates render it in, then the templates' mail.
func (n namedMails) Render(d mailer.LinkData) (*mailer.Message, error) {
	d.AppName = appName(n.Resolve(d.Locale))
	return n.Templates.Render(d)
}

// appName is the example's name in lang ("app.name"), English when the
// texts lack that language.
func appName(lang string) string {
	return pageData{Lang: lang}.text("app.name")
}
