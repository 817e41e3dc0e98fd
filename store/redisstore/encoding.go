package redisstore

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// Records are stored in a small binary format: a version byte, fixed-size
// fields, then times as (varint seconds, uvarint nanoseconds) and strings as
// (uvarint length, bytes). It is a third of the size of JSON for a token and
// keeps the token's CodeMAC at a fixed offset, which the takeToken script
// reads.
const (
	tokenV1    = 1
	userV1     = 1
	customerV1 = 1
	sessionV1  = 1
)

// tokenMACOffset is the 1-based Lua string index of Token.CodeMAC in an
// encoded token: after the version byte and the 32-byte hash.
const tokenMACOffset = 1 + 1 + 32

func encodeToken(t *store.Token) []byte {
	b := make([]byte, 0, 1+32+32+2*12+len(t.UserID)+len(t.Email)+len(t.OrgID)+len(t.Origin)+len(t.Next)+5)
	b = append(b, tokenV1)
	b = append(b, t.Hash[:]...)
	b = append(b, t.CodeMAC[:]...)
	b = appendTime(b, t.CreatedAt)
	b = appendTime(b, t.ExpiresAt)
	b = appendString(b, t.UserID)
	b = appendString(b, t.Email)
	b = appendString(b, t.OrgID)
	b = appendString(b, t.Origin)
	b = appendString(b, t.Next)
	return b
}

func decodeToken(b []byte) (*store.Token, error) {
	d := decoder{b: b}
	if d.byte() != tokenV1 {
		return nil, fmt.Errorf("%w: unknown token version", errCorrupt)
	}
	t := &store.Token{}
	d.digest(&t.Hash)
	d.digest(&t.CodeMAC)
	t.CreatedAt = d.time()
	t.ExpiresAt = d.time()
	t.UserID = d.string()
	t.Email = d.string()
	t.OrgID = d.string()
	t.Origin = d.string()
	t.Next = d.string()
	if err := d.done("token"); err != nil {
		return nil, err
	}
	return t, nil
}

func encodeUser(u *store.User) []byte {
	b := make([]byte, 0, 1+32+1+12+len(u.ID)+len(u.OrgID)+len(u.Email)+len(u.FirstName)+
		len(u.LastName)+len(u.Phone)+len(u.LanguageCode)+7)
	b = append(b, userV1)
	b = append(b, u.SecretKeyDigest[:]...)
	if u.MailPermission {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendTime(b, u.CreatedAt)
	b = appendString(b, u.ID)
	b = appendString(b, u.OrgID)
	b = appendString(b, u.Email)
	b = appendString(b, u.FirstName)
	b = appendString(b, u.LastName)
	b = appendString(b, u.Phone)
	b = appendString(b, u.LanguageCode)
	return b
}

func decodeUser(b []byte) (*store.User, error) {
	d := decoder{b: b}
	if d.byte() != userV1 {
		return nil, fmt.Errorf("%w: unknown user version", errCorrupt)
	}
	u := &store.User{}
	d.digest(&u.SecretKeyDigest)
	switch d.byte() {
	case 0:
	case 1:
		u.MailPermission = true
	default:
		d.fail()
	}
	u.CreatedAt = d.time()
	u.ID = d.string()
	u.OrgID = d.string()
	u.Email = d.string()
	u.FirstName = d.string()
	u.LastName = d.string()
	u.Phone = d.string()
	u.LanguageCode = d.string()
	if err := d.done("user"); err != nil {
		return nil, err
	}
	return u, nil
}

func encodeCustomer(c *store.Customer) []byte {
	b := make([]byte, 0, 1+len(c.ID)+len(c.Email)+len(c.OrgID)+3)
	b = append(b, customerV1)
	b = appendString(b, c.ID)
	b = appendString(b, c.Email)
	b = appendString(b, c.OrgID)
	return b
}

func decodeCustomer(b []byte) (*store.Customer, error) {
	d := decoder{b: b}
	if d.byte() != customerV1 {
		return nil, fmt.Errorf("%w: unknown customer version", errCorrupt)
	}
	c := &store.Customer{}
	c.ID = d.string()
	c.Email = d.string()
	c.OrgID = d.string()
	if err := d.done("customer"); err != nil {
		return nil, err
	}
	return c, nil
}

// encodeSession encodes the parts of a session that never change; the
// mutable ones (refresh digests, last seen, expiries) are hash fields of
// their own, which the session scripts read and write.
func encodeSession(s *store.Session) []byte {
	b := make([]byte, 0, 1+32+12+len(s.UserID)+len(s.OrgID)+len(s.Email)+len(s.Method)+len(s.IP)+len(s.UserAgent)+6)
	b = append(b, sessionV1)
	b = append(b, s.TokenHash[:]...)
	b = appendTime(b, s.CreatedAt)
	b = appendString(b, s.UserID)
	b = appendString(b, s.OrgID)
	b = appendString(b, s.Email)
	b = appendString(b, s.Method)
	b = appendString(b, s.IP)
	b = appendString(b, s.UserAgent)
	return b
}

func decodeSession(b []byte) (*store.Session, error) {
	d := decoder{b: b}
	if d.byte() != sessionV1 {
		return nil, fmt.Errorf("%w: unknown session version", errCorrupt)
	}
	s := &store.Session{}
	d.digest(&s.TokenHash)
	s.CreatedAt = d.time()
	s.UserID = d.string()
	s.OrgID = d.string()
	s.Email = d.string()
	s.Method = d.string()
	s.IP = d.string()
	s.UserAgent = d.string()
	if err := d.done("session"); err != nil {
		return nil, err
	}
	s.ID = store.SessionID(s.TokenHash)
	return s, nil
}

// appendTime keeps seconds and nanoseconds apart, so every time.Time —
// the zero time included — round-trips exactly (location aside).
func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the format above; the first short read or bad value marks
// it failed, and done reports it.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) fail() { d.bad, d.b = true, nil }

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) digest(dst *store.Digest) {
	if len(d.b) < len(dst) {
		d.fail()
		return
	}
	d.b = d.b[copy(dst[:], d.b):]
}

func (d *decoder) time() time.Time {
	sec, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return time.Time{}
	}
	d.b = d.b[n:]
	nsec, n := binary.Uvarint(d.b)
	if n <= 0 || nsec >= 1e9 {
		d.fail()
		return time.Time{}
	}
	d.b = d.b[n:]
	return time.Unix(sec, int64(nsec))
}

func (d *decoder) string() string {
	l, n := binary.Uvarint(d.b)
	if n <= 0 || l > uint64(len(d.b)-n) {
		d.fail()
		return ""
	}
	s := string(d.b[n : n+int(l)])
	d.b = d.b[n+int(l):]
	return s
}

func (d *decoder) done(what string) error {
	if d.bad || len(d.b) != 0 {
		return fmt.Errorf("%w: malformed %s", errCorrupt, what)
	}
	return nil
}
