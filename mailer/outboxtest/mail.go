package outboxtest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html"
	"math/big"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// mail is one test mail with a fresh link secret and code.
type mail struct {
	to, token, link, code string
}

func newMail(tag string, i int) mail {
	var b [32]byte
	_, _ = rand.Read(b[:])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return mail{
		to:    fmt.Sprintf("%s-%d@example.com", tag, i),
		token: token,
		link:  "https://app.example/auth/verify?token_hash=" + token + "&type=magiclink&next=%2F",
		code:  fmt.Sprintf("%06d", n.Int64()),
	}
}

// message is the mail rendered, as a Service without a LinkSender sends it.
func (m mail) message() *mailer.Message {
	return &mailer.Message{
		To:      m.to,
		Subject: "Sign in to Acme",
		Text:    "Open " + m.link + " or type " + m.code[:3] + " " + m.code[3:],
		HTML:    `<a href="` + html.EscapeString(m.link) + `">Sign in</a> <b>` + m.code + `</b>`,
		Locale:  "en",
		Link:    m.link,
		Code:    m.code,
	}
}

// data is the mail as LinkData, as a Service gives it to a LinkSender.
func (m mail) data(expires time.Time) mailer.LinkData {
	return mailer.LinkData{To: m.to, AppName: "Acme", Origin: "https://app.example", Link: m.link,
		Code: m.code, TTL: 15 * time.Minute, ExpiresAt: expires, Locale: "en"}
}
