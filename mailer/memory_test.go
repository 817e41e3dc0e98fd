package mailer

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixedClock() func() time.Time {
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

func TestMemoryCapture(t *testing.T) {
	t.Parallel()
	mem := NewMemory()
	ctx := t.Context()
	_, ok := mem.Last("a@example.com")
	assert.False(t, ok)
	require.NoError(t, mem.Send(ctx, &Message{To: "a@example.com", Code: "1"}))
	require.NoError(t, mem.Send(ctx, &Message{To: "b@example.com", Code: "2"}))
	require.NoError(t, mem.Send(ctx, &Message{To: "A@example.com", Code: "3"}))
	assert.Equal(t, 3, mem.Len())

	last, ok := mem.Last("a@EXAMPLE.com")
	require.True(t, ok)
	assert.Equal(t, "3", last.Code)

	msgs := mem.Messages()
	require.Len(t, msgs, 3)
	msgs[0].Code = "changed"
	assert.Equal(t, "1", mem.Messages()[0].Code, "Messages returns copies")

	mem.Reset()
	assert.Equal(t, 0, mem.Len())
}

func TestMemoryWait(t *testing.T) {
	t.Parallel()
	mem := NewMemory()
	got := make(chan *Message, 1)
	go func() {
		m, err := mem.Wait(t.Context(), "jane@example.com")
		assert.NoError(t, err)
		got <- m
	}()
	require.NoError(t, mem.Send(t.Context(), &Message{To: "other@example.com"}))
	require.NoError(t, mem.Send(t.Context(), &Message{To: "jane@example.com", Code: "111111"}))
	select {
	case m := <-got:
		assert.Equal(t, "111111", m.Code)
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the mail arrived")
	}

	// The next Wait returns the next mail, not the one already returned.
	require.NoError(t, mem.Send(t.Context(), &Message{To: "jane@example.com", Code: "222222"}))
	m, err := mem.Wait(t.Context(), "JANE@example.com")
	require.NoError(t, err)
	assert.Equal(t, "222222", m.Code)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = mem.Wait(ctx, "jane@example.com")
	assert.ErrorIs(t, err, context.Canceled)
}

func TestMemoryHandler(t *testing.T) {
	t.Parallel()
	mem := NewMemory(WithClock(fixedClock()))
	ctx := t.Context()
	m1, err := DefaultTemplates().Render(linkData("en"))
	require.NoError(t, err)
	require.NoError(t, mem.Send(ctx, m1))
	m2 := *m1
	m2.To, m2.Subject, m2.Code = "second@example.com", "Second <mail>", "999999"
	m2.HTML = `<p onclick="x">"quoted" & <b>bold</b></p>`
	require.NoError(t, mem.Send(ctx, &m2))

	mux := http.NewServeMux()
	mux.Handle("/dev/mailbox", http.StripPrefix("/dev/mailbox", mem.Handler()))
	mux.Handle("/dev/mailbox/", http.StripPrefix("/dev/mailbox", mem.Handler()))
	mux.Handle("/dev/mailbox.json", mem.JSONHandler())

	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}

	rec := get("/dev/mailbox")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Contains(t, rec.Header().Get("Content-Type"), "text/html")
	page := rec.Body.String()
	second := strings.Index(page, "second@example.com")
	first := strings.Index(page, "jane@example.com")
	require.True(t, second >= 0 && first >= 0)
	assert.Less(t, second, first, "newest first")
	assert.Contains(t, page, `<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" srcdoc="`)
	assert.NotContains(t, page, "allow-scripts", "the mail must not run scripts")
	assert.NotContains(t, page, "allow-same-origin")
	assert.NotContains(t, page, "allow-forms")
	assert.Contains(t, page, "&lt;head&gt;&lt;base target=&#34;_blank&#34;&gt;", "links open in a new tab; the doctype stays first")
	assert.Contains(t, page, "&lt;base target=&#34;_blank&#34;&gt;&lt;p onclick", "a fragment gets the base in front")
	assert.Contains(t, page, "Second &lt;mail&gt;")
	assert.NotContains(t, page, `<p onclick="x">`, "mail HTML must be escaped into srcdoc")
	assert.Contains(t, page, "&lt;p onclick=&#34;x&#34;&gt;")

	for _, path := range []string{"/dev/mailbox.json", "/dev/mailbox?format=json", "/dev/mailbox/.json"} {
		rec = get(path)
		require.Equal(t, http.StatusOK, rec.Code, path)
		assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"), path)
		assert.Contains(t, rec.Header().Get("Content-Type"), "application/json", path)
		var raw []map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw), path)
		require.Len(t, raw, 2)
		keys := make([]string, 0)
		for k := range raw[0] {
			keys = append(keys, k)
		}
		assert.ElementsMatch(t, []string{"to", "subject", "text", "html", "link", "code", "sent_at"}, keys, path)
		assert.Equal(t, "jane@example.com", raw[0]["to"], "newest last")
		assert.Equal(t, "second@example.com", raw[1]["to"])
		assert.Equal(t, m1.Link, raw[0]["link"])
		assert.Equal(t, "042917", raw[0]["code"])
		assert.Equal(t, "2026-01-02T03:04:06Z", raw[0]["sent_at"])
		assert.Equal(t, "2026-01-02T03:04:07Z", raw[1]["sent_at"])
	}

	rec = get("/dev/mailbox/other")
	assert.Equal(t, http.StatusNotFound, rec.Code)

	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/dev/mailbox.json", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))

	empty := NewMemory()
	rec = httptest.NewRecorder()
	empty.JSONHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.JSONEq(t, "[]", rec.Body.String())
}

func TestLogAndDiscard(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := NewLog(&buf)
	m, err := DefaultTemplates().Render(linkData("fr"))
	require.NoError(t, err)
	require.NoError(t, l.Send(t.Context(), m))
	out := buf.String()
	assert.Contains(t, out, "jane@example.com")
	assert.Contains(t, out, m.Subject)
	assert.Contains(t, out, m.Link)
	assert.Contains(t, out, "042 917")

	require.NoError(t, Discard{}.Send(t.Context(), m))
}

// The inbox links back to the app and marks each link with the state the
// host reports; without the options it shows neither.
func TestMemoryHandlerOptions(t *testing.T) {
	t.Parallel()
	mem := NewMemory(WithClock(fixedClock()))
	for _, to := range []string{"live@example.com", "used@example.com", "old@example.com", "odd@example.com"} {
		m, err := DefaultTemplates().Render(linkData("en"))
		require.NoError(t, err)
		m.To, m.Link = to, "https://app.example.com/auth/verify?token_hash="+strings.Split(to, "@")[0]
		require.NoError(t, mem.Send(t.Context(), m))
	}
	states := map[string]LinkState{"live": LinkLive, "used": LinkUsed, "old": LinkExpired}
	var asked []time.Time
	h := mem.Handler(InboxBackLink("/", ""), InboxLinkState(func(_ context.Context, link string, sentAt time.Time) LinkState {
		asked = append(asked, sentAt)
		return states[link[strings.LastIndex(link, "=")+1:]]
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	page := rec.Body.String()
	assert.Contains(t, page, `<nav><a href="/">← Back to the app</a></nav>`)
	for _, want := range []string{
		`<span class="state state-live">live</span> <a href="https://app.example.com/auth/verify?token_hash=live"`,
		`<span class="state state-used">used</span> <a href="https://app.example.com/auth/verify?token_hash=used"`,
		`<span class="state state-expired">expired</span> <a href="https://app.example.com/auth/verify?token_hash=old"`,
		`<dd><a href="https://app.example.com/auth/verify?token_hash=odd"`,
	} {
		assert.Contains(t, page, want)
	}
	require.Len(t, asked, 4)
	assert.True(t, asked[0].After(asked[3]), "the state function gets each mail's sent time, newest first")

	rec = httptest.NewRecorder()
	mem.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.NotContains(t, rec.Body.String(), "<nav>")
	assert.NotContains(t, rec.Body.String(), `class="state`)
}
