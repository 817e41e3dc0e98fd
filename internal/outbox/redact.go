package outbox

import (
	"html"
	"strings"

	"github.com/magiclink-go/magiclink/mailer"
)

// redact makes an error text safe for a log line: transport errors may
// quote the recipient (SMTP RCPT replies do), and nothing may carry the
// link or the code, in any of the forms a rendered mail holds them.
func redact(text, to, link, code string) string {
	if to != "" {
		text = replaceFold(text, to, mailer.MaskAddress(to))
	}
	spaced := ""
	if len(code) == 6 {
		spaced = code[:3] + " " + code[3:]
	}
	for _, secret := range [...]string{link, html.EscapeString(link), code, spaced} {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "[redacted]")
		}
	}
	return text
}

// replaceFold replaces every case-insensitive occurrence of old (ASCII) in s.
func replaceFold(s, old, repl string) string {
	lower, lowerOld := strings.ToLower(s), strings.ToLower(old)
	if len(lower) != len(s) || len(lowerOld) != len(old) {
		return strings.ReplaceAll(s, old, repl)
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, lowerOld)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s, lower = s[i+len(old):], lower[i+len(old):]
	}
}
