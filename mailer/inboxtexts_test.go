package mailer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pseudoInbox is every inbox text marked, so that a test sees which words
// come from the host and which are the inbox's own.
func pseudoInbox() InboxTexts {
	return InboxTexts{
		Lang: "x-pseudo", Title: "«title»", Back: "«back»", BackHref: "/?locale=x-pseudo",
		All: "«all %[1]d»", Newest: "«newest %[1]d/%[2]d/%[3]d»", JSON: "«json»", DevOnly: "«dev only»",
		To: "«to»", Subject: "«subject»", Sent: "«sent»", Link: "«link»", Code: "«code»",
		Live: "«live»", Used: "«used»", Expired: "«expired»", TextPart: "«text part»", Empty: "«empty»",
	}
}

// stylePattern and tagPattern find the markup of a page, to leave its
// visible text (the title's included); pseudoPattern finds the host's words
// in it.
var (
	stylePattern  = regexp.MustCompile(`(?s)<style>.*</style>`)
	tagPattern    = regexp.MustCompile(`(?s)<[^>]*>`)
	pseudoPattern = regexp.MustCompile(`«[^»]*»`)
)

// inboxPageOf serves the inbox with opts and returns the response.
func inboxPageOf(t *testing.T, mem *Memory, target string, opts ...InboxOption) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	mem.Handler(opts...).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return rec
}

// With InboxLocalized, every word of the inbox is the host's: none of its
// English is left, in the text or in the title, and the page says its
// language.
func TestInboxLocalizedLeavesNoEnglish(t *testing.T) {
	t.Parallel()
	mem := NewMemory(WithClock(fixedClock()))
	for _, tok := range []string{"t1", "t2", "t3"} {
		require.NoError(t, mem.Send(t.Context(), &Message{To: "ana@example.com", Subject: "Σ", Text: "τ", HTML: "<p>η</p>",
			Link: "https://app.example/auth/verify?token_hash=" + tok, Code: "042917"}))
	}
	states := map[string]LinkState{"t1": LinkLive, "t2": LinkUsed, "t3": LinkExpired}
	var asked *http.Request
	opts := []InboxOption{
		InboxBackLink("/", "Back to the app"),
		InboxLinkState(func(_ context.Context, link string, _ time.Time) LinkState {
			return states[link[strings.LastIndex(link, "=")+1:]]
		}),
		InboxLocalized(func(r *http.Request) InboxTexts { asked = r; return pseudoInbox() }),
	}
	for _, target := range []string{"/?locale=x-pseudo", "/?limit=3", "/?limit=2"} {
		rec := inboxPageOf(t, mem, target, opts...)
		require.NotNil(t, asked)
		assert.Equal(t, target, asked.URL.RequestURI(), "the host's function gets the request")
		page := rec.Body.String()
		assert.Contains(t, page, `<html lang="x-pseudo">`)
		assert.Equal(t, "x-pseudo", rec.Header().Get("Content-Language"))
		assert.Contains(t, page, `<nav><a href="/?locale=x-pseudo">← «back»</a></nav>`, "BackHref and Back replace InboxBackLink's")
		// What is left of the visible text without the host's words.
		left := pseudoPattern.ReplaceAllString(tagPattern.ReplaceAllString(stylePattern.ReplaceAllString(page, ""), "\n"), "")
		for _, word := range englishWords(englishInbox()) {
			if regexp.MustCompile(`\b` + regexp.QuoteMeta(word) + `\b`).MatchString(left) {
				t.Errorf("%s: the inbox's own English %q is left in %q", target, word, strings.Join(strings.Fields(left), " "))
			}
		}
	}
	page := inboxPageOf(t, mem, "/", opts...).Body.String()
	assert.Contains(t, page, "«all 3»")
	for _, badge := range []string{"live", "used", "expired"} {
		assert.Contains(t, page, `<span class="state state-`+badge+`">«`+badge+`»</span>`)
	}
	assert.Contains(t, inboxPageOf(t, mem, "/?limit=2", opts...).Body.String(), "«newest 2/3/1000»")
	assert.Contains(t, inboxPageOf(t, NewMemory(), "/", opts...).Body.String(), "«empty»")
}

// englishWords are the English texts of t as a page shows them: its formats
// with their numbers, each of the others as it is.
func englishWords(t InboxTexts) []string {
	var out []string
	v := reflect.ValueOf(t)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		switch name {
		case "Lang", "BackHref":
			continue
		case "All", "Newest":
			out = append(out, strings.Fields(strings.NewReplacer("%[1]d", "", "%[2]d", "", "%[3]d", "").Replace(v.Field(i).String()))...)
			continue
		}
		out = append(out, v.Field(i).String())
	}
	return out
}

// A host's empty field keeps the English default, and a format whose verbs
// do not fit falls back to the English one instead of printing fmt's
// complaint.
func TestInboxLocalizedFallsBackToEnglish(t *testing.T) {
	t.Parallel()
	mem := NewMemory()
	require.NoError(t, mem.Send(t.Context(), &Message{To: "ana@example.com", Subject: "Σ", Link: "https://app.example/auth/verify?token_hash=x"}))
	page := inboxPageOf(t, mem, "/", InboxLocalized(func(*http.Request) InboxTexts {
		return InboxTexts{Lang: "de", Title: "Entwickler-Postfach", All: "%[1]s und %[2]d"}
	})).Body.String()
	assert.Contains(t, page, `<html lang="de">`)
	assert.Contains(t, page, "<h1>Entwickler-Postfach</h1>")
	assert.Contains(t, page, "1 mail(s), newest first.")
	assert.NotContains(t, page, "%!")
	assert.Contains(t, page, "<dt>Subject</dt>")
	assert.NotContains(t, page, "<nav>", "no back link without InboxBackLink or BackHref")
}
