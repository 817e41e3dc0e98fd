package app

import (
	"net/http"

	"github.com/magiclink-go/magiclink/mailer"
)

// mailboxTexts are the dev mailbox's words by locale, from the pages'
// texts, so that the mailbox speaks like every other page.
var mailboxTexts = func() map[string]mailer.InboxTexts {
	out := map[string]mailer.InboxTexts{}
	for _, l := range languages {
		d := pageData{Lang: l.Tag}
		out[l.Tag] = mailer.InboxTexts{
			Lang: l.Tag, Title: d.text("layout.mailbox"), Back: d.text("mailbox.back"),
			All: d.text("mailbox.all"), Newest: d.text("mailbox.newest"),
			JSON: d.text("mailbox.json"), DevOnly: d.text("mailbox.dev_only"),
			To: d.text("mailbox.to"), Subject: d.text("mailbox.subject"), Sent: d.text("mailbox.sent"),
			Link: d.text("mailbox.link"), Code: d.text("mailbox.code"),
			Live: d.text("mailbox.live"), Used: d.text("mailbox.used"), Expired: d.text("mailbox.expired"),
			TextPart: d.text("mailbox.text_part"), Empty: d.text("mailbox.empty"),
		}
	}
	return out
}()

// mailboxLocale gives the dev mailbox the language the other pages would
// have for r (its "locale" query parameter, else Accept-Language), and a
// way back to the app that keeps a chosen one.
func mailboxLocale(r *http.Request) mailer.InboxTexts {
	lang, chosen := pageLocale(r, "")
	t := mailboxTexts[lang]
	if t.Lang == "" {
		t = mailboxTexts["en"]
	}
	t.BackHref = "/"
	if chosen {
		t.BackHref = "/?locale=" + lang
	}
	return t
}
