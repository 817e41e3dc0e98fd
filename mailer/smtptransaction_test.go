package mailer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// wireListener hands the go-smtp server connections that record what the
// client sent, one entry per read, and can hide PIPELINING from the EHLO
// reply (go-smtp always offers it; go-smtp writes each reply line with its
// own Write, so the line is dropped whole).
type wireListener struct {
	net.Listener
	hidePipelining bool

	mu    sync.Mutex
	reads []string
}

func (l *wireListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: c, l: l}, nil
}

// chunks returns the client's writes as the server read them.
func (l *wireListener) chunks() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reads...)
}

type wireConn struct {
	net.Conn
	l *wireListener
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.l.mu.Lock()
		c.l.reads = append(c.l.reads, string(p[:n]))
		c.l.mu.Unlock()
	}
	return n, err
}

func (c *wireConn) Write(p []byte) (int, error) {
	if c.l.hidePipelining && string(p) == "250-PIPELINING\r\n" {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// startWireSMTP runs be in plain text behind a wireListener.
func startWireSMTP(t *testing.T, be *testBackend, hidePipelining bool) (int, *wireListener) {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := &wireListener{Listener: raw, hidePipelining: hidePipelining}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return raw.Addr().(*net.TCPAddr).Port, l
}

// envelopeChunks counts the reads that carried MAIL FROM, and how many of
// those carried RCPT TO and DATA too.
func envelopeChunks(chunks []string) (mails, grouped int) {
	for _, c := range chunks {
		if !strings.Contains(c, "MAIL FROM:") {
			continue
		}
		mails++
		if strings.Contains(c, "RCPT TO:") && strings.Contains(c, "DATA\r\n") {
			grouped++
		}
	}
	return mails, grouped
}

// TestSMTPPipelinesEnvelopeWhenOffered: against go-smtp, which offers
// PIPELINING, MAIL, RCPT and DATA of every mail reach the server in one
// read; with PIPELINING hidden they come one at a time. Both deliver every
// mail intact on one connection, with no RSET or NOOP between mails.
func TestSMTPPipelinesEnvelopeWhenOffered(t *testing.T) {
	t.Parallel()
	for _, hide := range []bool{false, true} {
		name := map[bool]string{false: "offered", true: "not offered"}[hide]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			be := &testBackend{}
			port, l := startWireSMTP(t, be, hide)
			s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, MaxConnections: 1})
			m := testMessage(t)
			for range 3 {
				require.NoError(t, s.Send(t.Context(), m))
			}
			got := be.messages()
			require.Len(t, got, 3)
			for _, raw := range got {
				checkMIME(t, raw, m)
			}
			assert.Equal(t, []string{m.To, m.To, m.To}, be.rcptTo)
			assert.Equal(t, 1, be.connCount())
			mails, grouped := envelopeChunks(l.chunks())
			assert.Equal(t, 3, mails)
			wire := strings.Join(l.chunks(), "")
			assert.NotContains(t, wire, "RSET", "a delivered mail needs no RSET")
			assert.NotContains(t, wire, "NOOP", "a busy connection needs no NOOP")
			if hide {
				assert.Zero(t, grouped, "commands pipelined to a server without PIPELINING")
			} else {
				assert.Equal(t, 3, grouped, "MAIL, RCPT and DATA not sent in one write")
			}
		})
	}
}

// TestSMTPPipelineFailureResetsSession: a refusal in the middle of a
// pipelined envelope is reported as that refusal (not as the 5xx the
// server gives the commands after it), with its class, sends no message
// data, and leaves the session reset: the next mail goes out on the same
// connection. The same holds without PIPELINING.
func TestSMTPPipelineFailureResetsSession(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		setup     func(be *testBackend)
		code      int
		temporary bool
		rcpts     int // RCPT commands the backend saw for the failed mail
	}{
		{"451 at MAIL", func(be *testBackend) {
			be.mailErrs = []error{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}}
		}, 451, true, 0},
		{"550 at MAIL", func(be *testBackend) {
			be.mailErrs = []error{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender refused"}}
		}, 550, false, 0},
		{"452 at RCPT", func(be *testBackend) {
			be.rcptErrs = []error{&smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}}
		}, 452, true, 1},
		{"550 at RCPT", func(be *testBackend) {
			be.rcptErrs = []error{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}
		}, 550, false, 1},
	}
	for _, hide := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(tc.name+map[bool]string{false: "", true: " lockstep"}[hide], func(t *testing.T) {
				t.Parallel()
				be := &testBackend{}
				tc.setup(be)
				port, l := startWireSMTP(t, be, hide)
				s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, MaxConnections: 1})
				err := s.Send(t.Context(), testMessage(t))
				var se *SendError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tc.code, se.Code, "%v", err)
				assert.Equal(t, tc.temporary, errors.Is(err, ErrTemporary))
				_, rcpts, datas := be.counts()
				assert.Equal(t, tc.rcpts, rcpts)
				assert.Zero(t, datas, "message data sent after a refused envelope")

				require.NoError(t, s.Send(t.Context(), testMessage(t)))
				assert.Len(t, be.messages(), 1)
				assert.Equal(t, 1, be.connCount(), "the refusal cost the connection")
				assert.Contains(t, strings.Join(l.chunks(), ""), "RSET\r\n")
			})
		}
	}
}

// TestSMTPPipelineConnectionLostAtMail: a reused connection that the server
// closed fails the pipelined MAIL before anything was accepted; the mail
// goes out once on a new connection.
func TestSMTPPipelineConnectionLostAtMail(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	port, _ := startWireSMTP(t, be, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone, MaxConnections: 1})
	require.NoError(t, s.Send(t.Context(), testMessage(t)))
	be.dropLast()
	require.NoError(t, s.Send(t.Context(), testMessage(t)))
	assert.Len(t, be.messages(), 2, "one copy per send")
	assert.Equal(t, 2, be.connCount())
}

// TestSMTPDataLinesStartingWithDot: lines of the message that begin with a
// dot are stuffed on the wire and arrive as written.
func TestSMTPDataLinesStartingWithDot(t *testing.T) {
	t.Parallel()
	be := &testBackend{}
	port, _ := startWireSMTP(t, be, false)
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSNone})
	m := testMessage(t)
	m.Text = "first\n.\n..two dots\n.one dot\nlast"
	m.HTML = ""
	require.NoError(t, s.Send(t.Context(), m))
	require.Len(t, be.messages(), 1)
	msg, err := netmail.ReadMessage(bytes.NewReader(be.messages()[0]))
	require.NoError(t, err)
	body, err := io.ReadAll(msg.Body)
	require.NoError(t, err)
	assert.Equal(t, "first\r\n.\r\n..two dots\r\n.one dot\r\nlast", strings.TrimRight(string(body), "\r\n"))
}

// TestAppendDataMatchesDotWriter: appendData writes what textproto's
// DotWriter writes, for the edge cases of line ends and leading dots.
func TestAppendDataMatchesDotWriter(t *testing.T) {
	t.Parallel()
	inputs := []string{
		"", "a", "a\r\n", "a\n", ".", ".\r\n", "..\r\n", "a\r\n.\r\nb", "\n\n", "\r\n\r\n",
		".a\n.b\r\n.c", "x\ry\r\n", "trailing\r", "a\r\n\r\n.\r\n", strings.Repeat("line\r\n.dot\r\n", 500),
	}
	for _, in := range inputs {
		var want bytes.Buffer
		bw := textproto.NewWriter(bufio.NewWriter(&want))
		dw := bw.DotWriter()
		_, err := io.WriteString(dw, in)
		require.NoError(t, err)
		require.NoError(t, dw.Close())
		require.NoError(t, bw.W.Flush())
		assert.Equal(t, want.String(), string(appendData(nil, []byte(in))), "input %q", in)
	}
}

// TestSMTPPipeline354AfterRefusal: a server that answers DATA with 354
// although it refused the recipient (go-smtp never does; RFC 2920 §3.1
// lets it) gets an empty message ended at once, the refusal is the error,
// and the session stays in step. A unit test of that branch against a
// scripted server on a pipe.
func TestSMTPPipeline354AfterRefusal(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	script := make(chan error, 1)
	go func() { script <- runScript(server) }()

	gc, err := gosmtp.NewClient(client, "localhost")
	require.NoError(t, err)
	require.NoError(t, gc.Hello("localhost"))
	has := func(ext string) bool { ok, _ := gc.Extension(ext); return ok }
	c := &smtpConn{raw: &deadlineConn{Conn: client}, client: gc, info: newSessionInfo(has)}
	require.True(t, c.info.pipelining)

	err = c.mail(&outgoing{from: "<a@x.example>", to: "<b@y.example>", data: appendData(nil, []byte("Subject: x\r\n\r\nbody"))})
	assert.Equal(t, 550, replyCode(err), "%v", err)
	var st *stepError
	require.ErrorAs(t, err, &st)
	assert.Equal(t, stepRcpt, st.step)
	assert.True(t, c.reusableAfter(err), "RSET after the refusal failed")
	require.NoError(t, <-script)
}

// runScript plays a server that pipelines, refuses the recipient, still
// answers DATA with 354, and expects the lone dot and then RSET.
func runScript(conn net.Conn) error {
	text := textproto.NewConn(conn)
	steps := []struct{ expect, reply string }{
		{"", "220 scripted"},
		{"EHLO localhost", "250-scripted\r\n250 PIPELINING"},
		{"MAIL FROM:<a@x.example>", "250 ok"},
		{"RCPT TO:<b@y.example>", "550 5.1.1 no such user"},
		{"DATA", "354 go ahead"},
		{".", "554 5.5.1 no valid recipients"},
		{"RSET", "250 reset"},
	}
	for _, s := range steps {
		if s.expect != "" {
			line, err := text.ReadLine()
			if err != nil {
				return err
			}
			if line != s.expect {
				return errors.New("got " + line + ", want " + s.expect)
			}
		}
		if err := text.PrintfLine("%s", s.reply); err != nil {
			return err
		}
	}
	return nil
}
