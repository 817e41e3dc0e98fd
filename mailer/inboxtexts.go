package mailer

import (
	"cmp"
	"fmt"
	"net/http"
	"strings"
)

// InboxTexts are the words of the HTML inbox in one language, for
// InboxLocalized. An empty field keeps its English default, shown here in
// quotes. All and Newest are fmt formats; one whose verbs do not fit its
// numbers falls back to the English format, so the page never shows
// "%!d(MISSING)".
type InboxTexts struct {
	// Lang is the page's language, for <html lang> and Content-Language,
	// such as "de" ("en").
	Lang string
	// Title heads the page ("Dev mailbox").
	Title string
	// Back labels InboxBackLink's link ("Back to the app"). BackHref, when
	// set, is where it goes for this request instead of InboxBackLink's
	// href, such as "/?locale=de" to keep the language the visitor chose.
	Back     string
	BackHref string
	// All sums up a page that shows every mail: %[1]d is their number
	// ("%[1]d mail(s), newest first.").
	All string
	// Newest sums up a page that shows only the newest mails: %[1]d
	// shown, %[2]d kept, %[3]d the largest limit ("The newest %[1]d of
	// %[2]d mails (?limit= up to %[3]d), newest first.").
	Newest string
	// JSON labels the link to the JSON view ("As JSON"); DevOnly warns
	// what the page is ("Development only: these links sign anyone in.").
	JSON    string
	DevOnly string
	// To, Subject, Sent, Link and Code label each mail's fields ("To",
	// "Subject", "Sent", "Link", "Code").
	To, Subject, Sent, Link, Code string
	// Live, Used and Expired are the link states of InboxLinkState
	// ("live", "used", "expired").
	Live, Used, Expired string
	// TextPart opens a mail's text part ("Text part"); Empty stands for
	// no mail ("No mail yet.").
	TextPart string
	Empty    string
}

// englishInbox are the inbox's own words.
func englishInbox() InboxTexts {
	return InboxTexts{
		Lang: "en", Title: "Dev mailbox", Back: "Back to the app",
		All:     "%[1]d mail(s), newest first.",
		Newest:  "The newest %[1]d of %[2]d mails (?limit= up to %[3]d), newest first.",
		JSON:    "As JSON",
		DevOnly: "Development only: these links sign anyone in.",
		To:      "To", Subject: "Subject", Sent: "Sent", Link: "Link", Code: "Code",
		Live: "live", Used: "used", Expired: "expired",
		TextPart: "Text part", Empty: "No mail yet.",
	}
}

// InboxLocalized has the HTML inbox speak, for each request, the language
// of the texts that texts returns for it: a host passes its own language
// negotiation and translations, so the inbox speaks like its other pages.
// Without it the inbox is in English. The mails themselves are shown as
// they were sent.
func InboxLocalized(texts func(r *http.Request) InboxTexts) InboxOption {
	return func(c *inboxConfig) { c.texts = texts }
}

// inboxWords are the texts one inbox page shows.
func (c *inboxConfig) inboxWords(r *http.Request) InboxTexts {
	en := englishInbox()
	var t InboxTexts
	if c.texts != nil {
		t = c.texts(r)
	}
	return InboxTexts{
		Lang: cmp.Or(t.Lang, en.Lang), Title: cmp.Or(t.Title, en.Title),
		Back:     cmp.Or(t.Back, c.backLabel, en.Back),
		BackHref: cmp.Or(t.BackHref, c.backHref),
		All:      cmp.Or(t.All, en.All), Newest: cmp.Or(t.Newest, en.Newest),
		JSON: cmp.Or(t.JSON, en.JSON), DevOnly: cmp.Or(t.DevOnly, en.DevOnly),
		To: cmp.Or(t.To, en.To), Subject: cmp.Or(t.Subject, en.Subject), Sent: cmp.Or(t.Sent, en.Sent),
		Link: cmp.Or(t.Link, en.Link), Code: cmp.Or(t.Code, en.Code),
		Live: cmp.Or(t.Live, en.Live), Used: cmp.Or(t.Used, en.Used), Expired: cmp.Or(t.Expired, en.Expired),
		TextPart: cmp.Or(t.TextPart, en.TextPart), Empty: cmp.Or(t.Empty, en.Empty),
	}
}

// summary sums up the page: how many of the kept mails it shows.
func (t InboxTexts) summary(shown, total int) string {
	format, english := t.All, englishInbox().All
	args := []any{total}
	if shown < total {
		format, english = t.Newest, englishInbox().Newest
		args = []any{shown, total, MaxInboxLimit}
	}
	if s := fmt.Sprintf(format, args...); !strings.Contains(s, "%!") {
		return s
	}
	return fmt.Sprintf(english, args...)
}

// stateLabel is a link state's badge in t's words; "" shows none.
func (t InboxTexts) stateLabel(s LinkState) string {
	switch s {
	case LinkLive:
		return t.Live
	case LinkUsed:
		return t.Used
	case LinkExpired:
		return t.Expired
	}
	return ""
}
