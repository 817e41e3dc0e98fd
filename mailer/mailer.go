// Package mailer delivers the sign-in mails of magiclink: the Mailer
// interface and its implementations (SMTP, Mailgun, Log, Memory), the
// localized templates that render a sign-in mail, the Dispatcher that
// sends asynchronously with retries from an in-memory queue, and the Outbox
// contract of the durable outboxes (redisstore.NewOutbox), whose
// conformance suite is mailer/outboxtest.
package mailer

import (
	"context"
	"time"
)

// Message is one rendered mail.
type Message struct {
	// To is the recipient's address (a bare address, no display name).
	To string
	// Subject, Text and HTML are the rendered parts.
	Subject string
	Text    string
	HTML    string
	// Locale is the locale the message was rendered in, such as "de".
	Locale string
	// ID identifies this mail across delivery attempts: SMTP sends it as
	// Message-ID <ID@domain>, so a receiving server can drop the duplicate
	// when a retry follows a reply that was lost. Letters, digits, '.', '-'
	// and '_' only. Empty means a fresh ID per attempt; a Dispatcher fills
	// it in before the first attempt.
	ID string

	// Link and Code are the sign-in link and code the mail carries. They are
	// kept beside the rendered parts for development inboxes and test kits;
	// transports never send them as headers, and nothing may log them.
	Link string
	Code string
}

// Mailer sends one message. Implementations must be safe for concurrent use.
// A returned error should be classified with Temporary or Permanent so that
// a Dispatcher knows whether to retry.
//
// An error that knows when a retry may succeed can say so: when an error
// in its chain (errors.As) has a method RetryAfter() time.Duration
// returning a positive wait, magiclink.Service's ErrMailUnavailable
// carries that wait, rounded up to whole seconds, as RetryAfter (and the
// HTTP adapter as Retry-After) instead of the default 1 s. The outboxes'
// refusals do this with the time until their next trial write.
type Mailer interface {
	Send(ctx context.Context, m *Message) error
}

// LinkData is what a sign-in mail shows.
type LinkData struct {
	// To is the recipient's address.
	To string
	// AppName names the application the user signs in to.
	AppName string
	// Origin is the origin that requested the link, such as
	// "https://app.example.com"; the mail shows it so a user can spot a
	// request they did not make.
	Origin string
	// Link is the sign-in URL and Code the 6-digit code.
	Link string
	Code string
	// TTL is how long link and code stay valid; ExpiresAt when they expire.
	TTL       time.Duration
	ExpiresAt time.Time
	// Locale is the requested locale (BCP 47, such as "tr-TR"); renderers
	// fall back to the language and then to English.
	Locale string
}

// Renderer turns LinkData into a Message.
type Renderer interface {
	Render(d LinkData) (*Message, error)
}

// LinkSender is an optional capability of a Mailer: accepting a sign-in
// mail before it is rendered, so that rendering, the costliest part of a
// send, happens off the caller's path. The Dispatcher implements it (its
// worker renders) and Discard (it renders nothing); magiclink.Service uses
// it when its Mailer has it and renders first otherwise.
type LinkSender interface {
	SendLinkMail(ctx context.Context, r Renderer, d LinkData) error
}
