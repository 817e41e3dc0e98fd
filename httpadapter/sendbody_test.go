package httpadapter

import (
	"strings"
	"testing"
)

// sendBodySeeds are bodies the typed decoder must read exactly as the
// general one: escapes in names and values, repeated members, nesting,
// whitespace, wrong types, and bodies that are not objects at all.
var sendBodySeeds = []string{
	`{"email":"hello@example.com","callback_origin":"https://example.com","callback_next":"/overview"}`,
	` { "email" : "a@example.com" , "locale" : "tr-TR" } `,
	"{\n\t\"email\":\r\n\"a@example.com\"}",
	`{"em\u0061il":"a@example.com"}`,
	`{"email":"a\u0040example.com","callback_next":"\/x\"y\\z"}`,
	`{"email":"first@example.com","email":"last@example.com"}`,
	`{"email":"a@example.com","email":5}`,
	`{"email":null,"callback_origin":true,"callback_next":1.5e3,"locale":["en"]}`,
	`{"x":{"email":"inner@example.com","y":[1,{"z":"}"}]},"email":"outer@example.com"}`,
	`{"x":"{\"email\":\"no\"}","email":"yes@example.com"}`,
	`{"email":"é@example.com","x":"\ud83d\ude00"}`,
	`{}`, `{"email":""}`, `{"":"a","email":"b@example.com"}`,
	`{`, `[]`, `null`, `"s"`, `5`, `{"a":1} {}`, `{"email":"a@example.com"}x`, ``, ` `,
	strings.Repeat("[", 10001), `{"x":` + strings.Repeat("[", 10001) + `}`,
	"{\"email\":\"a\xff@example.com\"}", "\xef\xbb\xbf{}",
}

// FuzzSendBodyMatchesGeneralDecoder: for any body, parseSendBody accepts
// exactly what parseFields accepts, with the same error, and reads each
// member as jsonFields.str does.
func FuzzSendBodyMatchesGeneralDecoder(f *testing.F) {
	for _, s := range sendBodySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		checkSendBody(t, body)
	})
}

func TestSendBodyMatchesGeneralDecoder(t *testing.T) {
	t.Parallel()
	for _, s := range sendBodySeeds {
		checkSendBody(t, s)
	}
}

func checkSendBody(t *testing.T, body string) {
	t.Helper()
	short := body
	if len(short) > 80 {
		short = short[:80] + "…"
	}
	fields, ferr := parseFields([]byte(body))
	b, berr := parseSendBody([]byte(body))
	if (ferr == nil) != (berr == nil) {
		t.Fatalf("%q: general decoder error %v, typed %v", short, ferr, berr)
	}
	if ferr != nil {
		if ferr.message != berr.message || ferr.status != berr.status || ferr.code != berr.code {
			t.Fatalf("%q: general decoder says %d %s %q, typed %d %s %q", short, ferr.status, ferr.code, ferr.message, berr.status, berr.code, berr.message)
		}
		return
	}
	for name, got := range map[string]jsonValue{"email": b.email, "callback_origin": b.callbackOrigin, "callback_next": b.callbackNext, "locale": b.locale} {
		s, k := fields.str(name)
		if got.s != s || got.kind != k {
			t.Fatalf("%q: member %s: typed (%q, %d), general (%q, %d)", short, name, got.s, got.kind, s, k)
		}
	}
}
