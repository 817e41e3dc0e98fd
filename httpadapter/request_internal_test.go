package httpadapter

import (
	"mime"
	"net/http"
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
