package mailer

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func codes(msgs []*Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Code
	}
	return out
}

// TestMemoryRingEvictsOldest pins the bound: once full, each mail evicts
// the oldest, and every view (Messages, Last, Len, Wait, JSON) sees only
// the kept ones in sending order.
func TestMemoryRingEvictsOldest(t *testing.T) {
	t.Parallel()
	mem := NewMemory(WithCapacity(3))
	ctx := t.Context()
	send := func(to, code string) { require.NoError(t, mem.Send(ctx, &Message{To: to, Code: code})) }

	send("a@example.com", "1")
	send("b@example.com", "2")
	assert.Equal(t, []string{"1", "2"}, codes(mem.Messages()))
	send("a@example.com", "3")
	send("b@example.com", "4")
	send("c@example.com", "5")
	assert.Equal(t, 3, mem.Len(), "the ring keeps its capacity")
	assert.Equal(t, []string{"3", "4", "5"}, codes(mem.Messages()), "oldest evicted first, order kept")

	last, ok := mem.Last("a@example.com")
	require.True(t, ok)
	assert.Equal(t, "3", last.Code)

	// Mail 1 to a@ was evicted before anyone waited for it: Wait skips it.
	m, err := mem.Wait(ctx, "a@example.com")
	require.NoError(t, err)
	assert.Equal(t, "3", m.Code)
	// Seven more sends wrap the ring twice over; Wait still goes in order.
	for i := 6; i <= 12; i++ {
		send("a@example.com", fmt.Sprint(i))
	}
	assert.Equal(t, []string{"10", "11", "12"}, codes(mem.Messages()))
	for _, want := range []string{"10", "11", "12"} {
		m, err := mem.Wait(ctx, "A@example.com")
		require.NoError(t, err)
		assert.Equal(t, want, m.Code)
	}

	rec := httptest.NewRecorder()
	mem.JSONHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	var got []inboxEntry
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Len(t, got, 3)
	assert.Equal(t, "10", got[0].Code, "newest last")
	assert.Equal(t, "12", got[2].Code)

	mem.Reset()
	assert.Zero(t, mem.Len())
	send("a@example.com", "13")
	m, err = mem.Wait(ctx, "a@example.com")
	require.NoError(t, err)
	assert.Equal(t, "13", m.Code, "after Reset, Wait starts afresh")
}

func TestMemoryCapacityDefault(t *testing.T) {
	t.Parallel()
	for _, mem := range []*Memory{NewMemory(), NewMemory(WithCapacity(0)), NewMemory(WithCapacity(-5))} {
		for i := range DefaultMemoryCapacity + 10 {
			require.NoError(t, mem.Send(t.Context(), &Message{To: "a@example.com", Code: fmt.Sprint(i)}))
		}
		msgs := mem.Messages()
		require.Len(t, msgs, DefaultMemoryCapacity)
		assert.Equal(t, "10", msgs[0].Code)
		assert.Equal(t, fmt.Sprint(DefaultMemoryCapacity+9), msgs[len(msgs)-1].Code)
	}
}

// TestMemoryInboxLimit covers the limit parameter of both views: the newest
// limit mails, newest last in JSON and first in HTML; anything but one
// number from 1 to MaxInboxLimit is 400 with a message naming the bounds.
func TestMemoryInboxLimit(t *testing.T) {
	t.Parallel()
	mem := NewMemory(WithCapacity(MaxInboxLimit + 50))
	for i := range MaxInboxLimit + 20 {
		require.NoError(t, mem.Send(t.Context(), &Message{To: "a@example.com", Code: fmt.Sprint(i)}))
	}
	jsonView := func(query string) (int, []inboxEntry, string) {
		rec := httptest.NewRecorder()
		mem.JSONHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/mailbox.json"+query, nil))
		var got []inboxEntry
		if rec.Code == http.StatusOK {
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		}
		return rec.Code, got, rec.Body.String()
	}
	for query, want := range map[string]int{
		"":            DefaultInboxLimit,
		"?limit=1":    1,
		"?limit=7":    7,
		"?limit=0007": 7,
		"?limit=1000": MaxInboxLimit,
	} {
		code, got, _ := jsonView(query)
		require.Equal(t, http.StatusOK, code, query)
		require.Len(t, got, want, query)
		assert.Equal(t, fmt.Sprint(MaxInboxLimit+19), got[len(got)-1].Code, "%s: newest last", query)
		assert.Equal(t, fmt.Sprint(MaxInboxLimit+20-want), got[0].Code, "%s: the newest %d", query, want)
	}
	for _, query := range []string{"?limit=", "?limit=0", "?limit=1001", "?limit=-1", "?limit=+5", "?limit=5.0",
		"?limit=abc", "?limit=%205", "?limit=99999999999999999999", "?limit=5&limit=6", "?limit=0x10"} {
		code, _, body := jsonView(query)
		assert.Equal(t, http.StatusBadRequest, code, query)
		assert.Contains(t, body, "limit must be one whole number from 1 to 1000", query)
	}

	rec := httptest.NewRecorder()
	mem.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?limit=2", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	page := rec.Body.String()
	assert.Equal(t, 2, strings.Count(page, "<article>"))
	assert.Contains(t, page, "The newest 2 of 1020 mails")
	newest, older := strings.Index(page, fmt.Sprint(MaxInboxLimit+19)), strings.Index(page, fmt.Sprint(MaxInboxLimit+18))
	assert.True(t, newest >= 0 && older > newest, "newest first in the page")
	rec = httptest.NewRecorder()
	mem.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?limit=nope", nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
}

// TestMemoryInboxNotFramable pins the anti-framing headers of every inbox
// response, errors included: a page on another site must not be able to
// frame live links and codes.
func TestMemoryInboxNotFramable(t *testing.T) {
	t.Parallel()
	mem := NewMemory()
	require.NoError(t, mem.Send(t.Context(), &Message{To: "a@example.com", HTML: "<p>hi</p>"}))
	for _, tc := range []struct {
		h    http.Handler
		path string
		code int
	}{
		{mem.Handler(), "/", http.StatusOK},
		{mem.Handler(), "/?format=json", http.StatusOK},
		{mem.Handler(), "/.json", http.StatusOK},
		{mem.Handler(), "/?limit=0", http.StatusBadRequest},
		{mem.JSONHandler(), "/", http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		tc.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		require.Equal(t, tc.code, rec.Code, tc.path)
		assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"), tc.path)
		if tc.code == http.StatusOK {
			assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'", tc.path)
		}
	}
}

// TestMemoryConcurrent sends, waits and reads from many goroutines at once
// (run under -race): every mail is kept until evicted, the ring ends up full
// with the newest mails in sending order, and each Wait gets its own mail.
func TestMemoryConcurrent(t *testing.T) {
	t.Parallel()
	const senders, perSender, capacity = 16, 50, 100
	mem := NewMemory(WithCapacity(capacity))
	var wg sync.WaitGroup
	for s := range senders {
		to := fmt.Sprintf("s%d@example.com", s)
		wg.Go(func() {
			for i := range perSender {
				assert.NoError(t, mem.Send(t.Context(), &Message{To: to, Code: fmt.Sprint(i)}))
			}
		})
		wg.Go(func() { // reads race with the sends
			for range perSender {
				_ = mem.Messages()
				_, _ = mem.Last(to)
				rec := httptest.NewRecorder()
				mem.JSONHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?limit=10", nil))
				assert.Equal(t, http.StatusOK, rec.Code)
			}
		})
	}
	wg.Wait()
	msgs := mem.Messages()
	require.Len(t, msgs, capacity)
	// Per sender, the kept mails are that sender's newest, in order.
	next := map[string]int{}
	for _, m := range msgs {
		var i int
		_, err := fmt.Sscan(m.Code, &i)
		require.NoError(t, err)
		if prev, ok := next[m.To]; ok {
			require.Equal(t, prev, i, "mails to %s out of order", m.To)
		}
		next[m.To] = i + 1
	}
	for to, n := range next {
		assert.Equal(t, perSender, n, "the newest mail to %s must be kept", to)
	}

	// Concurrent Waits for one address each get a distinct mail.
	for i := range 10 {
		require.NoError(t, mem.Send(t.Context(), &Message{To: "w@example.com", Code: fmt.Sprint(i)}))
	}
	got := make(chan string, 10)
	for range 10 {
		wg.Go(func() {
			m, err := mem.Wait(t.Context(), "w@example.com")
			if assert.NoError(t, err) {
				got <- m.Code
			}
		})
	}
	wg.Wait()
	close(got)
	seen := map[string]bool{}
	for c := range got {
		seen[c] = true
	}
	assert.Len(t, seen, 10)
}

// TestMemoryHeapBounded: memory stays about constant however many mails go
// through. 20,000 mails of 8 KiB each would keep 160 MiB without the ring;
// with a ring of 100 the heap may grow by little more than 800 KiB. Not
// parallel, so that no other test allocates meanwhile.
func TestMemoryHeapBounded(t *testing.T) {
	const mails, size, capacity = 20_000, 8 << 10, 100
	mem := NewMemory(WithCapacity(capacity))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range mails {
		html := strings.Repeat(string(rune('a'+i%26)), size) // a fresh allocation per mail
		require.NoError(t, mem.Send(t.Context(), &Message{To: "a@example.com", HTML: html}))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	assert.Less(t, grown, int64(16<<20), "heap grew by %d bytes for %d mails", grown, mails)
	assert.Equal(t, capacity, mem.Len())
	runtime.KeepAlive(mem)
}
