package httpadapter

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// numericDateClaims are the claims RFC 7519 §2 defines as NumericDate: a
// JSON number. golang-jwt also reads a numeric string ("9999999999"),
// which no conforming issuer writes.
var numericDateClaims = map[string]bool{"exp": true, "nbf": true, "iat": true}

// checkJOSE applies the rules golang-jwt leaves to the caller, on the
// token's raw header and payload, before any of it is trusted:
//
//   - no "crit" header (RFC 7515 §4.1.11): it names extensions the
//     recipient must understand, and this one understands none;
//   - no member twice in the header or the payload: RFC 7519 §4 lets a
//     parser refuse duplicates or keep the last, and Go keeps the last, so
//     a component that kept the first would see another subject;
//   - exp, nbf and iat, when present, are JSON numbers.
func checkJOSE(token string) error {
	header, payload, ok := strings.Cut(token, ".")
	if !ok {
		return errors.New("token has no payload")
	}
	payload, _, _ = strings.Cut(payload, ".")
	h, err := decodeSegment(header)
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if _, crit := h["crit"]; crit {
		return errors.New("header has a crit parameter")
	}
	p, err := decodeSegment(payload)
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	for name := range numericDateClaims {
		if v, ok := p[name]; ok && !isJSONNumber(v) {
			return fmt.Errorf("claim %s is not a number", name)
		}
	}
	return nil
}

// decodeSegment decodes one base64url JSON object segment, refusing a
// member that appears twice.
func decodeSegment(seg string) (map[string]json.RawMessage, error) {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, errors.New("not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	members := make(map[string]json.RawMessage)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errors.New("malformed JSON")
		}
		name, _ := t.(string)
		if _, dup := members[name]; dup {
			return nil, fmt.Errorf("member %q appears twice", name)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errors.New("malformed JSON")
		}
		members[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("malformed JSON")
	}
	return members, nil
}

// isJSONNumber reports whether v is a number literal.
func isJSONNumber(v json.RawMessage) bool {
	return len(v) > 0 && (v[0] == '-' || '0' <= v[0] && v[0] <= '9')
}
