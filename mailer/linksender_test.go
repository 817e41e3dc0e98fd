package mailer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type failingRenderer struct{}

func (failingRenderer) Render(LinkData) (*Message, error) { return nil, errors.New("template broke") }

func TestDispatcherSendLinkMailRendersInWorker(t *testing.T) {
	t.Parallel()
	inbox := NewMemory()
	d := NewDispatcher(inbox, DispatcherOptions{Workers: 2})
	ctx := context.Background()
	data := LinkData{To: "ada@example.com", AppName: "Acme", Origin: "https://app.example.com",
		Link: "https://app.example.com/auth/verify?token_hash=abc&type=magiclink&next=/", Code: "123456", TTL: 15 * time.Minute, Locale: "de"}
	if err := d.SendLinkMail(ctx, DefaultTemplates(), data); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m, ok := inbox.Last("ada@example.com")
	if !ok {
		t.Fatal("no mail delivered")
	}
	if m.Locale != "de" || m.Link != data.Link || m.Code != data.Code || !strings.Contains(m.Text, "123 456") || !strings.Contains(m.HTML, "token_hash=abc") {
		t.Fatalf("delivered mail was not rendered from the data: %+v", m)
	}
}

func TestDispatcherSendLinkMailRenderFailure(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	var failed []error
	d := NewDispatcher(NewMemory(), DispatcherOptions{
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		OnFailure: func(_ *Message, err error) { mu.Lock(); failed = append(failed, err); mu.Unlock() },
	})
	ctx := context.Background()
	if err := d.SendLinkMail(ctx, failingRenderer{}, LinkData{To: "ada@example.com", Link: "https://x.example/secret-link", Code: "654321"}); err != nil {
		t.Fatal(err)
	}
	if err := d.SendLinkMail(ctx, nil, LinkData{}); !errors.Is(err, ErrPermanent) {
		t.Fatalf("nil renderer: got %v, want a permanent error", err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 1 || !errors.Is(failed[0], ErrPermanent) {
		t.Fatalf("rendering failure must be one permanent final failure, got %v", failed)
	}
	if out := logs.String(); strings.Contains(out, "secret-link") || strings.Contains(out, "654321") || strings.Contains(out, "ada@example.com") || out == "" {
		t.Fatalf("failure log leaks or is missing: %q", out)
	}
	if err := d.SendLinkMail(ctx, DefaultTemplates(), LinkData{To: "a@example.com"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: got %v, want ErrClosed", err)
	}
}

func TestDiscardSkipsRendering(t *testing.T) {
	t.Parallel()
	var ls LinkSender = Discard{}
	if err := ls.SendLinkMail(context.Background(), failingRenderer{}, LinkData{}); err != nil {
		t.Fatalf("Discard must accept without rendering: %v", err)
	}
}
