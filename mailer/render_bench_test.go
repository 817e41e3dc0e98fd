package mailer

import (
	"testing"
	"time"
)

// BenchmarkRender measures rendering one sign-in mail (subject, text and
// HTML): the work a Dispatcher's worker does off the request path.
func BenchmarkRender(b *testing.B) {
	t := DefaultTemplates()
	d := LinkData{To: "ada@example.com", AppName: "Acme", Origin: "https://app.example.com",
		Link: "https://app.example.com/auth/verify?token_hash=2Jg-0VF6L0gcee1S999fjlNb-XgwiS6VluxedAInXPw&type=magiclink&next=/overview",
		Code: "123456", TTL: 15 * time.Minute, Locale: "en"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.Render(d); err != nil {
			b.Fatal(err)
		}
	}
}
