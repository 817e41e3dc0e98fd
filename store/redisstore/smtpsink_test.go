package redisstore

import (
	"bytes"
	"io"
	"log"
	"net"
	netmail "net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Modes of an smtpSink.
const (
	sinkAccept = iota // take every mail
	sinkRefuse        // 451 to every MAIL FROM
	sinkHang          // take each mail's DATA, record it, then hold the reply until release is closed
)

// smtpSink is a real SMTP server (go-smtp) on loopback that records, per
// recipient, the Message-ID of every mail it took.
type smtpSink struct {
	mu       sync.Mutex
	mode     int
	refused  int
	hanging  int
	release  chan struct{}
	byTo     map[string][]string // recipient → Message-IDs taken
	bodies   map[string][]byte   // recipient → first body taken
	received int
	changed  chan struct{}
}

// startSink starts a sink in mode and returns it and its port.
func startSink(t testing.TB, mode int) (*smtpSink, int) {
	t.Helper()
	k := &smtpSink{mode: mode, release: make(chan struct{}), byTo: map[string][]string{},
		bodies: map[string][]byte{}, changed: make(chan struct{})}
	s := smtp.NewServer(k)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	s.MaxRecipients = 1
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		k.setMode(sinkAccept) // releases held sessions
		_ = s.Close()
		<-done
	})
	return k, l.Addr().(*net.TCPAddr).Port
}

func (k *smtpSink) setMode(mode int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mode == sinkHang && mode != sinkHang {
		close(k.release)
		k.release = make(chan struct{})
	}
	k.mode = mode
}

// notify wakes waiters; k.mu is held.
func (k *smtpSink) notify() {
	close(k.changed)
	k.changed = make(chan struct{})
}

// snapshot returns the counters and a channel closed at the next change.
func (k *smtpSink) snapshot() (refused, hanging, received int, changed <-chan struct{}) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refused, k.hanging, k.received, k.changed
}

func (k *smtpSink) taken() (map[string][]string, map[string][]byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ids := make(map[string][]string, len(k.byTo))
	for to, v := range k.byTo {
		ids[to] = append([]string(nil), v...)
	}
	bodies := make(map[string][]byte, len(k.bodies))
	for to, b := range k.bodies {
		bodies[to] = b
	}
	return ids, bodies
}

func (k *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }

type sinkSession struct {
	k  *smtpSink
	to string
}

var errTryLater = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}

func (s *sinkSession) Mail(string, *smtp.MailOptions) error {
	k := s.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mode != sinkRefuse {
		return nil
	}
	k.refused++
	k.notify()
	return errTryLater
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := netmail.ReadMessage(bytes.NewReader(body))
	if err != nil {
		return err
	}
	k := s.k
	k.mu.Lock()
	k.byTo[s.to] = append(k.byTo[s.to], m.Header.Get("Message-Id"))
	if _, ok := k.bodies[s.to]; !ok {
		k.bodies[s.to] = body
	}
	k.received++
	hang, release := k.mode == sinkHang, k.release
	if hang {
		k.hanging++
	}
	k.notify()
	k.mu.Unlock()
	if hang {
		// The mail is here but its sender never hears so: it must send
		// it again, and the copy must carry the same Message-ID.
		<-release
		return errTryLater
	}
	return nil
}

func (s *sinkSession) Reset()        { s.to = "" }
func (s *sinkSession) Logout() error { return nil }
