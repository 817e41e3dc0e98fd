package mailer

import (
	"bytes"
	"context"
	"errors"
	netmail "net/mail"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSMTPUsesMessageID: a mail's ID becomes its Message-ID; an ID that is
// not safe in a header is replaced by a random one.
func TestSMTPUsesMessageID(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone})
	m := testMessage(t)
	m.ID = "0123456789abcdef0123456789abcdef"
	require.NoError(t, s.Send(t.Context(), m))
	bad := testMessage(t)
	bad.ID = "x>\r\nBcc: evil@example.com"
	require.NoError(t, s.Send(t.Context(), bad))
	got := be.messages()
	require.Len(t, got, 2)
	first, err := netmail.ReadMessage(bytes.NewReader(got[0]))
	require.NoError(t, err)
	require.Equal(t, "<0123456789abcdef0123456789abcdef@acme.example>", first.Header.Get("Message-Id"))
	checkMIME(t, got[1], bad) // a fresh random ID, and no injected header
	require.NotContains(t, string(got[1]), "evil@example.com")
}

// idRecorder fails the first attempts temporarily and records each
// attempt's ID.
type idRecorder struct {
	mu    sync.Mutex
	fails int
	ids   []string
}

func (r *idRecorder) Send(_ context.Context, m *Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, m.ID)
	if len(r.ids) <= r.fails {
		return Temporary(errors.New("451 try later"))
	}
	return nil
}

// TestDispatcherKeepsIDAcrossRetries: every attempt of one mail carries the
// same ID, so a receiver can drop the duplicate of a retried mail.
func TestDispatcherKeepsIDAcrossRetries(t *testing.T) {
	t.Parallel()
	rec := &idRecorder{fails: 2}
	now := func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	d := NewDispatcher(rec, DispatcherOptions{After: now})
	ctx := context.Background()
	require.NoError(t, d.Send(ctx, &Message{To: "a@example.com"}))
	require.NoError(t, d.Send(ctx, &Message{To: "b@example.com", ID: "given-id"}))
	require.NoError(t, d.Close(ctx))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	byID := map[string]int{}
	for _, id := range rec.ids {
		require.NotEmpty(t, id, "an attempt without an ID")
		byID[id]++
	}
	require.Len(t, byID, 2, "two mails must carry two IDs over all their attempts: %v", rec.ids)
	require.Contains(t, byID, "given-id", "a caller's ID is kept")
	require.Equal(t, 4, len(rec.ids), "two failures, then one success each: %v", rec.ids)
}
