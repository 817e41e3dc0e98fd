package mailer

import (
	"fmt"
	"html"
	"time"
)

// Templates renders sign-in mails. This placeholder renders English only;
// it is replaced by the embedded, localized templates.
type Templates struct{}

// DefaultTemplates returns the built-in templates.
func DefaultTemplates() *Templates { return &Templates{} }

// Render implements Renderer.
func (t *Templates) Render(d LinkData) (*Message, error) {
	mins := int((d.TTL + time.Minute - 1) / time.Minute)
	subject := "Your sign-in link for " + d.AppName
	text := fmt.Sprintf("Sign in to %s (requested from %s):\n\n%s\n\nOr enter this code: %s\n\nThe link and code expire in %d minutes.\n", d.AppName, d.Origin, d.Link, d.Code, mins)
	h := fmt.Sprintf("<p>Sign in to %s (requested from %s):</p><p><a href=\"%s\">Sign in</a></p><p>Or enter this code: <b>%s</b></p><p>The link and code expire in %d minutes.</p>",
		html.EscapeString(d.AppName), html.EscapeString(d.Origin), html.EscapeString(d.Link), html.EscapeString(d.Code), mins)
	return &Message{To: d.To, Subject: subject, Text: text, HTML: h, Locale: "en", Link: d.Link, Code: d.Code}, nil
}
