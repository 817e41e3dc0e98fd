package mailer

import (
	"bytes"
	netmail "net/mail"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSMTPAutomaticMailHeaders: every mail says it was sent by a machine,
// so vacation responders and Outlook do not answer the no-reply sender.
// Read off what a real SMTP server received.
func TestSMTPAutomaticMailHeaders(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone})
	require.NoError(t, s.Send(t.Context(), testMessage(t)))
	got := be.messages()
	require.Len(t, got, 1)
	msg, err := netmail.ReadMessage(bytes.NewReader(got[0]))
	require.NoError(t, err)
	assert.Equal(t, "auto-generated", msg.Header.Get("Auto-Submitted"))
	assert.Equal(t, "All", msg.Header.Get("X-Auto-Response-Suppress"))
	assert.Empty(t, msg.Header.Get("Precedence"), "not bulk mail: Precedence would hurt delivery")
}

// TestSMTPMessageIDStableAcrossRetries: a Dispatcher retries a mail the
// server answered with 421 after reading it; both copies the server saw
// carry the same Message-ID, so a receiver that got the first one after
// all can drop the second.
func TestSMTPMessageIDStableAcrossRetries(t *testing.T) {
	t.Parallel()
	be := &testBackend{
		dataErrs: []error{&smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "busy"}},
	}
	port, _ := startSMTP(t, be, plainServer, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone})
	d := NewDispatcher(s, DispatcherOptions{Workers: 1, Logger: discardLogger(),
		After: func(time.Duration) <-chan time.Time { return closedTimer() }})
	require.NoError(t, d.Send(t.Context(), testMessage(t)))
	require.NoError(t, d.Close(t.Context()))

	be.mu.Lock()
	attempts := append([][]byte(nil), be.attempts...)
	be.mu.Unlock()
	require.Len(t, attempts, 2, "one rejected attempt, one delivered")
	var ids []string
	for _, raw := range attempts {
		msg, err := netmail.ReadMessage(bytes.NewReader(raw))
		require.NoError(t, err)
		ids = append(ids, msg.Header.Get("Message-Id"))
	}
	assert.Regexp(t, `^<[0-9a-f]{32}@acme\.example>$`, ids[0])
	assert.Equal(t, ids[0], ids[1], "the retry changed the Message-ID")
	assert.Len(t, be.messages(), 1)
}
