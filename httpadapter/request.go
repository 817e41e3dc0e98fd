package httpadapter

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes is the largest request body any endpoint reads.
const MaxBodyBytes = 64 << 10

// maxRequestIDLen bounds a kept X-Request-Id.
const maxRequestIDLen = 128

type requestIDKey struct{}

// requestIDFrom returns the request's ID set by the middleware.
func requestIDFrom(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey{}).(*string); ok {
		return *id
	}
	return ""
}

// validRequestID reports whether an incoming X-Request-Id may be echoed: it
// lands in logs and a response header, so only a short token is kept.
func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// newRequestID returns a random UUID (version 4), the form the admin API document shows.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24).
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// isMediaType reports whether the Content-Type header names want; parameters
// such as charset are allowed.
func isMediaType(r *http.Request, want string) bool {
	ct := header(r, "Content-Type")
	if ct == "" {
		return false
	}
	if ct == want {
		return true // the common case, without ParseMediaType's allocations
	}
	if plainMediaType(ct) {
		// Nothing for ParseMediaType to strip or fold: it would return ct
		// itself (or an error), and ct is not want.
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == want
}

// jsonOrForm serves a post that an app sends as JSON and a page as a
// form, with asJSON or asForm; any other body is 415 UNSUPPORTED_MEDIA_TYPE.
func (h *Handler) jsonOrForm(w http.ResponseWriter, r *http.Request, asJSON, asForm http.HandlerFunc) {
	switch {
	case isMediaType(r, "application/json"):
		asJSON(w, r)
	case isMediaType(r, "application/x-www-form-urlencoded"):
		asForm(w, r)
	default:
		h.portalError(w, r, unsupportedMediaType("application/x-www-form-urlencoded or application/json"))
	}
}

// header is r.Header.Get for a key already in canonical form: Get would
// canonicalize it again, a check per call that on the send path added up
// to several percent. Callers pass constants, and a test pins that each is
// canonical.
func header(r *http.Request, canonicalKey string) string {
	if v := r.Header[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// plainMediaType reports whether ct is printable ASCII without
// parameters, blanks or uppercase letters: nothing ParseMediaType would cut
// off, trim or fold.
func plainMediaType(ct string) bool {
	for i := 0; i < len(ct); i++ {
		if c := ct[i]; c <= ' ' || c >= 0x7f || c == ';' || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// jsonFields is a decoded JSON object whose members are checked one by one,
// so that a wrong type names its field instead of failing the whole body.
type jsonFields map[string]json.RawMessage

// decodeJSON checks the content type and reads one JSON object of at most
// MaxBodyBytes with nothing after it. Unknown members are kept in the map
// and ignored by the endpoints, as a Zod object schema strips them.
func decodeJSON(w http.ResponseWriter, r *http.Request) (jsonFields, *apiError) {
	if !isMediaType(r, "application/json") {
		return nil, unsupportedMediaType("application/json")
	}
	body, aerr := readBody(w, r)
	if aerr != nil {
		return nil, aerr
	}
	return parseFields(body)
}

// parseFields decodes body, which must be one JSON object in valid UTF-8.
// Its errors are the contract's validation messages for a body that is
// not; typed decoders (sendBody) use it to word theirs the same way.
func parseFields(body []byte) (jsonFields, *apiError) {
	if !utf8.Valid(body) {
		return nil, validation(issue{Path: "", Message: "request body is not valid UTF-8"})
	}
	// json.Unmarshal checks the whole input, so data after the value is a
	// syntax error here, and its nesting limit stops deeply nested input.
	var f jsonFields
	if err := json.Unmarshal(body, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, validation(issue{Path: "", Message: "request body must be a JSON object"})
		}
		return nil, malformed(err)
	}
	if f == nil {
		return nil, validation(issue{Path: "", Message: "request body must be a JSON object"})
	}
	return f, nil
}

// readBody reads the whole body under the size limit.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if r.ContentLength > MaxBodyBytes {
		return nil, payloadTooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, payloadTooLarge()
		}
		return nil, validation(issue{Path: "", Message: "request body could not be read"})
	}
	return body, nil
}

// malformed describes a JSON syntax error without echoing the input.
func malformed(err error) *apiError {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return validation(issue{Path: "", Message: fmt.Sprintf("malformed JSON at byte %d", se.Offset)})
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return validation(issue{Path: "", Message: "malformed JSON: unexpected end of input"})
	}
	// The nesting limit and other decoder errors name no input either.
	return validation(issue{Path: "", Message: "malformed JSON"})
}

// fieldKind is what a member failed on, for endpoints that tell a missing
// member (400) from a wrong one (422).
type fieldKind int

const (
	fieldOK fieldKind = iota
	fieldMissing
	fieldWrongType
)

// str reads an optional string member. null counts as a wrong type, as in a
// Zod string schema.
func (f jsonFields) str(name string) (string, fieldKind) {
	raw, ok := f[name]
	if !ok {
		return "", fieldMissing
	}
	if len(raw) < 2 || raw[0] != '"' {
		return "", fieldWrongType
	}
	// Most values have no escapes; the body is already checked to be valid
	// JSON and UTF-8, so their bytes are the string.
	if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), fieldOK
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", fieldWrongType
	}
	return s, fieldOK
}

// boolean reads a boolean member.
// stringIssue appends the issue a string member read as k makes: a wrong
// type always, absence only when the member is required.
func stringIssue(issues []issue, name string, k fieldKind, required bool) []issue {
	switch {
	case k == fieldWrongType:
		return append(issues, issue{name, name + " must be a string"})
	case k == fieldMissing && required:
		return append(issues, issue{name, name + " is required"})
	}
	return issues
}

// typeIssue is the issue of a "type" member other than "magiclink", the
// one link type the verify family takes.
func typeIssue() issue { return issue{"type", "type must be \"magiclink\""} }

// linkRef is the link a JSON body of the verify family names.
type linkRef struct {
	token     string
	tokenKind fieldKind
	// otherType: type was sent, as a string, naming another link type
	// than "magiclink"; when that is an issue (typeIssue) is the caller's.
	otherType bool
}

// linkFields reads token_hash and type, appending the issues of their
// kinds: a wrong type for either, a missing token_hash when required.
func linkFields(f jsonFields, issues []issue, required bool) (linkRef, []issue) {
	token, tk := f.str("token_hash")
	typ, yk := f.str("type")
	issues = stringIssue(issues, "token_hash", tk, required)
	issues = stringIssue(issues, "type", yk, false)
	return linkRef{token: token, tokenKind: tk, otherType: yk == fieldOK && typ != "magiclink"}, issues
}

func (f jsonFields) boolean(name string) (bool, fieldKind) {
	raw, ok := f[name]
	if !ok {
		return false, fieldMissing
	}
	switch string(raw) {
	case "true":
		return true, fieldOK
	case "false":
		return false, fieldOK
	}
	return false, fieldWrongType
}

// hasControl reports characters that have no place in a name or address:
// C0 and C1 controls (NUL, CR, LF, NEL…), DEL, the Unicode line and
// paragraph separators, which some mail and log software treat as line
// breaks, and the bidirectional overrides that make text display other
// than it reads.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' ||
			(r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
	})
}

// singleHeader returns the one value of a header a credential comes in,
// and false when the header is repeated: two Authorization headers leave
// it open which one a proxy in front of us checked.
func singleHeader(r *http.Request, name string) (string, bool) {
	v := r.Header.Values(name)
	switch len(v) {
	case 0:
		return "", true
	case 1:
		return v[0], true
	}
	return "", false
}

// clientIP resolves the client address through the trusted proxies. An
// unusable address is a 400: keying a rate limit on an empty or shared
// value would let one client exhaust everyone's budget.
func (h *Handler) clientIP(r *http.Request) (netip.Addr, *apiError) {
	ip, err := h.ip.ClientIP(r)
	if err != nil || !ip.IsValid() {
		h.log.WarnContext(r.Context(), "httpadapter: no usable client IP", "request_id", requestIDFrom(r.Context()))
		return netip.Addr{}, newAPIError(http.StatusBadRequest, codeValidationFailed, "the client address could not be determined")
	}
	return ip, nil
}
