package httpadapter

import (
	"net/http"
	"strconv"
	"time"
)

// pendingCookieHeader is the Set-Cookie value of a pending ticket, written
// as http.Cookie.String writes it for {Name: PendingCookie, Value: value,
// Path: path, Expires: expires, MaxAge: maxAge, HttpOnly: true, Secure:
// secure, SameSite: Lax}, in one allocation. Every send from a browser sets
// this cookie; the general writer validates and sanitizes each part and
// formats the date through time's layout engine, several times the work.
// It returns "" when a part is not one that needs no sanitizing, and the
// caller then uses http.SetCookie.
func pendingCookieHeader(value, path string, expires time.Time, maxAge int, secure bool) string {
	if !plainCookieValue(value) || !plainCookiePath(path) || maxAge < 1 {
		return ""
	}
	expires = expires.UTC()
	if y := expires.Year(); y < 1601 || y > 9999 {
		return ""
	}
	var buf [256]byte
	b := append(buf[:0], PendingCookie...)
	b = append(b, '=')
	b = append(b, value...)
	b = append(b, "; Path="...)
	b = append(b, path...)
	b = append(b, "; Expires="...)
	b = appendHTTPDate(b, expires)
	b = append(b, "; Max-Age="...)
	b = strconv.AppendInt(b, int64(maxAge), 10)
	b = append(b, "; HttpOnly"...)
	if secure {
		b = append(b, "; Secure"...)
	}
	b = append(b, "; SameSite=Lax"...)
	return string(b)
}

// plainCookieValue reports whether v is non-empty base64url text, which a
// cookie carries as is (no quotes, nothing dropped), and short enough for
// pendingCookieHeader's buffer.
func plainCookieValue(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// plainCookiePath reports whether p is a path http.Cookie keeps as is, and
// short enough for pendingCookieHeader's buffer.
func plainCookiePath(p string) bool {
	if p == "" || len(p) > 100 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c >= 0x7f || c == ';' {
			return false
		}
	}
	return true
}

// appendHTTPDate appends t (in UTC, years 1000–9999) in http.TimeFormat,
// "Mon, 02 Jan 2006 15:04:05 GMT".
func appendHTTPDate(b []byte, t time.Time) []byte {
	const days, months = "SunMonTueWedThuFriSat", "JanFebMarAprMayJunJulAugSepOctNovDec"
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	wd := int(t.Weekday()) * 3
	m := (int(month) - 1) * 3
	b = append(b, days[wd:wd+3]...)
	b = append(b, ", "...)
	b = append2(b, day)
	b = append(b, ' ')
	b = append(b, months[m:m+3]...)
	b = append(b, ' ')
	b = append2(b, year/100)
	b = append2(b, year%100)
	b = append(b, ' ')
	b = append2(b, hour)
	b = append(b, ':')
	b = append2(b, minute)
	b = append(b, ':')
	b = append2(b, sec)
	return append(b, " GMT"...)
}

// append2 appends v (0–99) as two digits.
func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

// setPendingCookieHeader adds the Set-Cookie header v to w, through its
// exchange's backing when w is one.
func setPendingCookieHeader(w http.ResponseWriter, v string) {
	if x, ok := w.(*exchange); ok {
		x.addHeader(4, "Set-Cookie", v)
		return
	}
	w.Header().Add("Set-Cookie", v)
}
