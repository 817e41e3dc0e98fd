package mailer

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"

	mail "github.com/wneessen/go-mail"
)

// headerValues are the sender headers every mail of one mailer carries,
// parsed once.
type headerValues struct {
	from    netmail.Address
	replyTo *netmail.Address // nil when there is none
	// envelopeFrom is the MAIL FROM path, "<address>".
	envelopeFrom string
	// domain is the sender's domain, the right-hand side of Message-IDs.
	domain string
}

// newHeaderValues takes from and replyTo as validated by checkSender.
func newHeaderValues(from, replyTo string) headerValues {
	var h headerValues
	if a, _ := parseHeaderAddress(from); a != nil {
		h.from = *a
		h.envelopeFrom = envelopePath(a.Address)
		h.domain = a.Address[strings.LastIndexByte(a.Address, '@')+1:]
	}
	if replyTo != "" {
		h.replyTo, _ = parseHeaderAddress(replyTo)
	}
	return h
}

// envelopePath returns address as an SMTP path, "<address>", quoted as
// net/mail quotes it (and as go-mail sent it).
func envelopePath(address string) string {
	return (&netmail.Address{Address: address}).String()
}

// Automatic-mail headers. Auto-Submitted (RFC 3834) tells vacation
// responders and other robots not to answer; X-Auto-Response-Suppress asks
// the same of Exchange and Outlook. A sign-in mail has no one to answer.
const (
	headerAutoSubmitted         = "Auto-Submitted"
	autoSubmittedValue          = "auto-generated"
	autoResponseSuppressedValue = "All"
)

// build turns m into the envelope and DATA bytes of one transaction:
// go-mail writes the MIME message (and signs it with DKIM), appendData
// makes it ready for the wire. The caller gives the buffer back with
// s.wire.Put when the transaction is over.
func (s *SMTP) build(m *Message) (*outgoing, error) {
	to, err := parseHeaderAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("mailer: invalid recipient: %w", err)
	}
	msg := s.compose(m, to.Address)
	wb := s.wire.Get().(*wireBuffer)
	wb.msg.Reset()
	if _, err := msg.WriteTo(&wb.msg); err != nil {
		s.wire.Put(wb)
		return nil, fmt.Errorf("mailer: writing the message: %w", err)
	}
	wb.data = appendData(wb.data[:0], wb.msg.Bytes())
	return &outgoing{from: s.header.envelopeFrom, to: envelopePath(to.Address), data: wb.data, buf: wb}, nil
}

// wireBuffer holds the bytes of one mail on its way out; an SMTP mailer
// reuses them from mail to mail (SMTP.wire).
type wireBuffer struct {
	msg  bytes.Buffer // the message as go-mail writes it
	data []byte       // the DATA body made from it
}

// compose turns m into a go-mail message to the address to (the address
// alone: the header shows no display name the caller passed in). The
// addresses are parsed already, so go-mail does not parse them again.
func (s *SMTP) compose(m *Message, to string) *mail.Msg {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	from := s.header.from
	msg.FromMailAddress(&from)
	msg.ToMailAddress(&netmail.Address{Address: to})
	if s.header.replyTo != nil {
		replyTo := *s.header.replyTo
		msg.ReplyToMailAddress(&replyTo)
	}
	msg.Subject(cleanHeader(m.Subject))
	msg.SetMessageIDWithValue(messageID(m.ID, s.header.domain))
	msg.SetDateWithValue(s.now())
	msg.SetGenHeader(mail.Header(headerAutoSubmitted), autoSubmittedValue)
	msg.SetGenHeader(mail.HeaderXAutoResponseSuppress, autoResponseSuppressedValue)
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	if s.dkim != nil {
		msg.SetDKIM(s.dkim)
	}
	return msg
}

// messageID returns the Message-ID value (without angle brackets) for a
// mail with the given ID: stable across attempts when the ID is usable, a
// random one otherwise.
func messageID(id, domain string) string {
	if validMessageID(id) {
		return id + "@" + domain
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@" + domain
}

// validMessageID reports whether id may stand left of the "@" of a
// Message-ID as it is.
func validMessageID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseHeaderAddress parses one address for a header and rejects control
// characters, which could otherwise start a new header line.
func parseHeaderAddress(s string) (*netmail.Address, error) {
	if strings.ContainsFunc(s, isControl) {
		return nil, errors.New("address contains control characters")
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(a.Address, "@") {
		return nil, errors.New("address has no domain")
	}
	return a, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
