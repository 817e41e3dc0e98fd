package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is a real SMTP server on loopback that keeps, for every mail it
// receives, the recipient, the Message-ID and the link's token. It stands
// in for the relay a deployment sends to, so the whole flow includes real
// SMTP round trips on pooled connections.
type sink struct {
	srv *smtp.Server
	ln  net.Listener

	mu        sync.Mutex
	tokens    []string
	byRcpt    map[string]int
	byMsgID   map[string]int
	nReceived int
	arrived   chan struct{} // closed and replaced on each mail
}

var tokenRE = regexp.MustCompile(`token_hash(?:=3D|=)([A-Za-z0-9_-]{43})`)

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	k := &sink{ln: ln, byRcpt: map[string]int{}, byMsgID: map[string]int{}, arrived: make(chan struct{})}
	k.srv = smtp.NewServer(k)
	k.srv.Domain = "localhost"
	k.srv.ReadTimeout = 30 * time.Second
	k.srv.WriteTimeout = 30 * time.Second
	k.srv.MaxRecipients = 1
	k.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = k.srv.Serve(ln) }()
	return k, nil
}

func (k *sink) addr() string { return k.ln.Addr().String() }
func (k *sink) close()       { _ = k.srv.Close() }

// NewSession implements smtp.Backend.
func (k *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }

// count returns how many mails arrived, and a channel closed at the next.
func (k *sink) count() (int, <-chan struct{}) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.nReceived, k.arrived
}

// received returns how many mails arrived so far.
func (k *sink) received() int {
	n, _ := k.count()
	return n
}

// waitFor waits until n mails arrived or ctx is done, and returns the
// count then.
func (k *sink) waitFor(ctx context.Context, n int) int {
	for {
		got, next := k.count()
		if got >= n {
			return got
		}
		select {
		case <-next:
		case <-ctx.Done():
			got, _ = k.count()
			return got
		}
	}
}

// takeTokens returns the tokens received since the last call.
func (k *sink) takeTokens() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	t := k.tokens
	k.tokens = nil
	return t
}

// duplicates returns how many mails repeated a Message-ID already seen.
func (k *sink) duplicates() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	d := 0
	for _, n := range k.byMsgID {
		d += n - 1
	}
	return d
}

type sinkSession struct {
	k  *sink
	to string
}

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = strings.ToLower(to)
	return nil
}
func (s *sinkSession) Reset()        { s.to = "" }
func (s *sinkSession) Logout() error { return nil }

func (s *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msgID := ""
	if m, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(raw))); err == nil {
		msgID = m.Header.Get("Message-Id")
	}
	// The text part carries the link; quoted-printable may fold it, so
	// unfold soft line breaks before matching.
	body := bytes.ReplaceAll(raw, []byte("=\r\n"), nil)
	tok := ""
	if m := tokenRE.FindSubmatch(body); m != nil {
		tok = string(m[1])
	}
	k := s.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if tok != "" {
		k.tokens = append(k.tokens, tok)
	}
	k.byRcpt[s.to]++
	k.byMsgID[msgID]++
	k.nReceived++
	close(k.arrived)
	k.arrived = make(chan struct{})
	return nil
}
