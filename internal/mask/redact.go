package mask

import (
	"html"
	"strings"
)

// Redact makes the text of a failed delivery's error safe for a log line
// or a dead letter: transport errors may quote the recipient to (SMTP RCPT
// replies do), in any letter case, and it becomes its masked Address;
// nothing may carry the link or the code, in any of the forms a rendered
// mail holds them (the HTML part has the link escaped, "&amp;", and a
// six-digit code spaced, "123 456"), and each becomes "[redacted]".
func Redact(text, to, link, code string) string {
	if to != "" {
		text = replaceFold(text, to, Address(to))
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

// replaceFold replaces every case-insensitive occurrence of old in s.
// When lower-casing changes the length of s or of old (some non-ASCII
// letters), the offsets would not line up, and only exact occurrences are
// replaced.
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
