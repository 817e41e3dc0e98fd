package httpadapter

import (
	"mime"
	"net/http"
	"strings"
	"testing"
)

// isMediaType's shortcut answers as mime.ParseMediaType would.
func TestIsMediaTypeAgreesWithParseMediaType(t *testing.T) {
	t.Parallel()
	const want = "application/json"
	for _, ct := range []string{
		"application/json", "application/json; charset=utf-8", "Application/JSON", "application/json ",
		" application/json", "application/json\r", "application/json\t", "application/json\v", "application/json\x85",
		"application/x-www-form-urlencoded", "text/plain", "application/jsonx", "application/json;", "application/",
		"", "application/json\u00a0", "APPLICATION/JSON;charset=utf-8", "application/json,text/plain",
	} {
		r := &http.Request{Header: http.Header{"Content-Type": {ct}}}
		mt, _, err := mime.ParseMediaType(ct)
		if got, ref := isMediaType(r, want), err == nil && mt == want; got != ref {
			t.Errorf("isMediaType(%q) = %v, ParseMediaType says %v", ct, got, ref)
		}
	}
}

// The keys the send path reads with header are in canonical form, so a
// direct lookup finds what r.Header.Get would.
func TestHeaderKeysAreCanonical(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"Content-Type", "Accept-Language", "User-Agent", headerCallbackOriginKey, "Origin", "Referer", "X-Request-Id"} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("header key %q is not canonical (%q)", k, c)
		}
		r := &http.Request{Header: http.Header{}}
		r.Header.Set(k, "v")
		if header(r, k) != r.Header.Get(k) {
			t.Errorf("header(%q) = %q, Header.Get says %q", k, header(r, k), r.Header.Get(k))
		}
	}
}

// linkFields reads token_hash and type as approve and verify need them:
// the issues of their kinds, in that order, and whether type named a link
// type other than "magiclink" (null and numbers are wrong kinds instead).
func TestLinkFields(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		body      string
		required  bool
		want      linkRef
		wantIssue []string
	}{
		{`{"token_hash":"t","type":"magiclink"}`, true, linkRef{token: "t"}, nil},
		{`{"token_hash":"t"}`, true, linkRef{token: "t"}, nil},
		{`{"type":"signup"}`, true, linkRef{tokenKind: fieldMissing, otherType: true}, []string{"token_hash is required"}},
		{`{"type":"signup"}`, false, linkRef{tokenKind: fieldMissing, otherType: true}, nil},
		{`{"token_hash":null,"type":3}`, false, linkRef{tokenKind: fieldWrongType}, []string{"token_hash must be a string", "type must be a string"}},
		{`{"token_hash":"","type":""}`, true, linkRef{otherType: true}, nil},
	} {
		f, aerr := parseFields([]byte(c.body))
		if aerr != nil {
			t.Fatalf("%s: %v", c.body, aerr)
		}
		got, issues := linkFields(f, nil, c.required)
		var msgs []string
		for _, is := range issues {
			msgs = append(msgs, is.Message)
		}
		if got != c.want || strings.Join(msgs, "|") != strings.Join(c.wantIssue, "|") {
			t.Errorf("linkFields(%s, required %v) = %+v, %q; want %+v, %q", c.body, c.required, got, msgs, c.want, c.wantIssue)
		}
	}
}
