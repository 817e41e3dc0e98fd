package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/magiclink-go/magiclink/mailer"
)

// Payload kinds: a rendered message, or the data of a link mail that the
// worker renders.
const (
	kindMessage = 'm'
	kindLink    = 'l'
)

// payloadV1 is the format byte of an encoded payload (before sealing).
const payloadV1 = 0x01

// payload is what one queued mail carries. Exactly one of msg and link is
// set.
type payload struct {
	msg  *mailer.Message
	link *mailer.LinkData
}

// encodeMessage encodes m without its ID, which travels beside the payload.
func encodeMessage(m *mailer.Message) []byte {
	b := make([]byte, 0, 32+len(m.To)+len(m.Subject)+len(m.Text)+len(m.HTML)+len(m.Locale)+len(m.Link)+len(m.Code))
	b = append(b, payloadV1, kindMessage)
	for _, s := range [...]string{m.To, m.Subject, m.Text, m.HTML, m.Locale, m.Link, m.Code} {
		b = appendString(b, s)
	}
	return b
}

func encodeLink(d *mailer.LinkData) []byte {
	b := make([]byte, 0, 64+len(d.To)+len(d.AppName)+len(d.Origin)+len(d.Link)+len(d.Code)+len(d.Locale))
	b = append(b, payloadV1, kindLink)
	for _, s := range [...]string{d.To, d.AppName, d.Origin, d.Link, d.Code, d.Locale} {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, int64(d.TTL))
	var exp int64
	if !d.ExpiresAt.IsZero() {
		exp = d.ExpiresAt.UnixNano()
	}
	return binary.AppendVarint(b, exp)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errPayload = errors.New("outbox: malformed payload")

// decodePayload is the inverse of encodeMessage and encodeLink.
func decodePayload(b []byte) (payload, error) {
	if len(b) < 2 || b[0] != payloadV1 {
		return payload{}, errPayload
	}
	r := reader{b: b[2:]}
	var p payload
	switch b[1] {
	case kindMessage:
		m := &mailer.Message{}
		for _, f := range [...]*string{&m.To, &m.Subject, &m.Text, &m.HTML, &m.Locale, &m.Link, &m.Code} {
			*f = r.string()
		}
		p.msg = m
	case kindLink:
		d := &mailer.LinkData{}
		for _, f := range [...]*string{&d.To, &d.AppName, &d.Origin, &d.Link, &d.Code, &d.Locale} {
			*f = r.string()
		}
		d.TTL = time.Duration(r.varint())
		if exp := r.varint(); exp != 0 {
			d.ExpiresAt = time.Unix(0, exp)
		}
		p.link = d
	default:
		return payload{}, fmt.Errorf("%w: kind %q", errPayload, b[1])
	}
	if r.bad || len(r.b) != 0 {
		return payload{}, errPayload
	}
	return p, nil
}

// reader consumes an encoded payload; bad records any overrun.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) string() string {
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.bad = true
		return ""
	}
	s := string(r.b[k : k+int(n)])
	r.b = r.b[k+int(n):]
	return s
}

func (r *reader) varint() int64 {
	v, k := binary.Varint(r.b)
	if k <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[k:]
	return v
}
