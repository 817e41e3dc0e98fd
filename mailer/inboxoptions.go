package mailer

import (
	"context"
	"net/http"
	"time"
)

// LinkState is what an inbox shows about a mail's sign-in link.
type LinkState int

// Link states. LinkUnknown shows nothing.
const (
	LinkUnknown LinkState = iota
	// LinkLive is a link that still signs in.
	LinkLive
	// LinkUsed is a link that was used (or whose code was).
	LinkUsed
	// LinkExpired is a link that outlived its lifetime unused.
	LinkExpired
)

// class names the state in the inbox page's CSS; "" shows no badge.
func (s LinkState) class() string {
	switch s {
	case LinkLive:
		return "live"
	case LinkUsed:
		return "used"
	case LinkExpired:
		return "expired"
	}
	return ""
}

// InboxOption configures the HTML inbox of Memory.Handler.
type InboxOption func(*inboxConfig)

type inboxConfig struct {
	backHref  string
	backLabel string
	linkState func(ctx context.Context, link string, sentAt time.Time) LinkState
	texts     func(r *http.Request) InboxTexts
}

// InboxBackLink puts a link back to the application, such as "/", at the
// top of the inbox, labelled label (default "Back to the app", or the
// InboxTexts of InboxLocalized).
func InboxBackLink(href, label string) InboxOption {
	return func(c *inboxConfig) { c.backHref, c.backLabel = href, label }
}

// InboxLinkState marks each mail's link with what state reports for it
// (live, used, expired), so that a developer sees which link a sign-in
// spent. It is called once per shown mail and page view; the memory mailer
// itself does not know what happened to a link.
func InboxLinkState(state func(ctx context.Context, link string, sentAt time.Time) LinkState) InboxOption {
	return func(c *inboxConfig) { c.linkState = state }
}
