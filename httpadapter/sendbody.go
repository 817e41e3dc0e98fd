package httpadapter

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"
)

// sendBody is the decoded body of send-magic-link: each member's value and
// whether it was there with the right type, so every field's problem can
// be reported. It is decoded without reflection or a map, because this is
// the endpoint anybody may call: its cost per request matters most.
type sendBody struct {
	email, callbackOrigin, callbackNext, locale jsonValue
}

// jsonValue is one string member of a body.
type jsonValue struct {
	s    string
	kind fieldKind
}

// bodyBuffers recycles the buffers request bodies are read into; the
// decoded values are copied out of them, so a buffer is free once its
// request is decoded.
type bodyBuffers struct{ pool sync.Pool }

func (b *bodyBuffers) get() *[]byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return p
	}
	buf := make([]byte, 0, 1024)
	return &buf
}

func (b *bodyBuffers) put(p *[]byte) {
	*p = (*p)[:0]
	b.pool.Put(p)
}

// decodeSendBody checks the content type and decodes the body of
// send-magic-link. It accepts and refuses exactly what decodeJSON does,
// with the same messages, and reads string members as jsonFields.str does.
func (h *Handler) decodeSendBody(w http.ResponseWriter, r *http.Request) (sendBody, *apiError) {
	if !isMediaType(r, "application/json") {
		return sendBody{}, unsupportedMediaType("application/json")
	}
	buf := h.bodies.get()
	defer h.bodies.put(buf)
	body, aerr := readBodyInto(w, r, buf)
	if aerr != nil {
		return sendBody{}, aerr
	}
	return parseSendBody(body)
}

// parseSendBody decodes a body read in full.
func parseSendBody(body []byte) (sendBody, *apiError) {
	// A body in valid UTF-8 that json.Valid accepts and that is an object
	// is one json.Unmarshal would accept into jsonFields (both apply the
	// same nesting limit); for anything else the general decoder words
	// the error.
	if !utf8.Valid(body) || !flatObject(body) && (!json.Valid(body) || firstByte(body) != '{') {
		if _, aerr := parseFields(body); aerr != nil {
			return sendBody{}, aerr
		}
		return sendBody{}, validation(issue{Path: "", Message: "request body must be a JSON object"})
	}
	// One copy of the body holds every decoded value.
	text := string(body)
	b := sendBody{email: jsonValue{kind: fieldMissing}, callbackOrigin: jsonValue{kind: fieldMissing},
		callbackNext: jsonValue{kind: fieldMissing}, locale: jsonValue{kind: fieldMissing}}
	for m := (members{s: text}); ; {
		key, raw, ok := m.next()
		if !ok {
			break
		}
		// As with a map, the last of repeated members wins.
		switch memberName(key) {
		case "email":
			b.email = stringValue(raw)
		case "callback_origin":
			b.callbackOrigin = stringValue(raw)
		case "callback_next":
			b.callbackNext = stringValue(raw)
		case "locale":
			b.locale = stringValue(raw)
		}
	}
	return b, nil
}

// flatObject reports whether b is a JSON object whose members are all
// strings, numbers, booleans or null, with nothing but blanks after it: the
// shape of every real send body, checked in one pass. It never accepts what
// json.Valid refuses (a fuzz test pins that); anything else, nested values
// included, is left to json.Valid, which is several times slower.
func flatObject(b []byte) bool {
	i := skipBlank(b, 0)
	if i == len(b) || b[i] != '{' {
		return false
	}
	i = skipBlank(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipBlank(b, i+1) == len(b)
	}
	for {
		if i = jsonString(b, i); i < 0 {
			return false
		}
		if i = skipBlank(b, i); i == len(b) || b[i] != ':' {
			return false
		}
		if i = flatValue(b, skipBlank(b, i+1)); i < 0 {
			return false
		}
		if i = skipBlank(b, i); i == len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipBlank(b, i+1)
		case '}':
			return skipBlank(b, i+1) == len(b)
		default:
			return false
		}
	}
}

func skipBlank(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// flatValue returns the index after the string, number or literal at
// b[i], or -1.
func flatValue(b []byte, i int) int {
	if i == len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		return jsonString(b, i)
	case c == '-' || '0' <= c && c <= '9':
		return jsonNumber(b, i)
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
			return i + len(lit)
		}
	}
	return -1
}

// jsonString returns the index after the string at b[i], or -1: no
// control characters, and only the escapes JSON has.
func jsonString(b []byte, i int) int {
	if i == len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			if i++; i == len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return -1
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// jsonNumber returns the index after the number at b[i], or -1:
// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if j := digits(b, i+1); j > i+1 {
			i = j
		} else {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// readBodyInto reads the whole body under the size limit into *buf, grown
// as needed; it answers like readBody.
func readBodyInto(w http.ResponseWriter, r *http.Request, buf *[]byte) ([]byte, *apiError) {
	if r.ContentLength > MaxBodyBytes {
		return nil, payloadTooLarge()
	}
	b := *buf
	if n := int(r.ContentLength) + 1; cap(b) < n {
		b = make([]byte, 0, n)
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = b
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, payloadTooLarge()
			}
			return nil, validation(issue{Path: "", Message: "request body could not be read"})
		}
	}
	*buf = b
	return b, nil
}

// firstByte returns the first byte of b after JSON whitespace, or 0.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return c
		}
	}
	return 0
}

// memberName decodes a member name as written (quotes included).
func memberName(raw string) string {
	if inner := raw[1 : len(raw)-1]; strings.IndexByte(inner, '\\') < 0 {
		return inner
	}
	var s string
	if json.Unmarshal([]byte(raw), &s) != nil {
		return ""
	}
	return s
}

// stringValue reads a member's value as a string: null and every other
// type are a wrong type, as in a Zod string schema.
func stringValue(raw string) jsonValue {
	if len(raw) < 2 || raw[0] != '"' {
		return jsonValue{kind: fieldWrongType}
	}
	if inner := raw[1 : len(raw)-1]; strings.IndexByte(inner, '\\') < 0 {
		return jsonValue{s: inner, kind: fieldOK}
	}
	var s string
	if json.Unmarshal([]byte(raw), &s) != nil {
		return jsonValue{kind: fieldWrongType}
	}
	return jsonValue{s: s, kind: fieldOK}
}

// members walks the members of a JSON object. s must be valid JSON whose
// value is an object: the walk relies on that and checks nothing.
type members struct {
	s string
	i int
}

// next returns the next member's name and value as written, or false
// after the last.
func (m *members) next() (key, value string, ok bool) {
	s := m.s
	i := skipSpace(s, m.i)
	if s[i] == '{' || s[i] == ',' {
		i = skipSpace(s, i+1)
	}
	if s[i] == '}' {
		return "", "", false
	}
	end := stringEnd(s, i)
	key = s[i:end]
	i = skipSpace(s, skipSpace(s, end)+1) // past the colon
	end = valueEnd(s, i)
	m.i = end
	return key, s[i:end], true
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at s[i].
func stringEnd(s string, i int) int {
	for j := i + 1; ; j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// valueEnd returns the index after the value starting at s[i].
func valueEnd(s string, i int) int {
	switch s[i] {
	case '"':
		return stringEnd(s, i)
	case '{', '[':
		depth := 0
		for j := i; ; {
			switch s[j] {
			case '"':
				j = stringEnd(s, j)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
			j++
		}
	}
	j := i
	for j < len(s) && strings.IndexByte(",}] \t\r\n", s[j]) < 0 {
		j++
	}
	return j
}
