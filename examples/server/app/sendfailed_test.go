package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
)

// A refused sign-in form answers the wait the error carries: a durable
// outbox's breaker says how long it refuses, a rate limit how long it
// lasts; without a hint the wait is 1 s.
func TestSendFailedRetryAfter(t *testing.T) {
	cfg, err := ParseConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), cfg, "http://127.0.0.1:1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	for _, tt := range []struct {
		name   string
		err    error
		status int
		want   int
	}{
		{"mail refusal with a 3 s hint", fmt.Errorf("send: %w", &magiclink.Error{Code: "MAIL_UNAVAILABLE", RetryAfter: 3 * time.Second}), http.StatusServiceUnavailable, 3},
		{"mail refusal with a 2.1 s hint", &magiclink.Error{Code: "MAIL_UNAVAILABLE", RetryAfter: 2100 * time.Millisecond}, http.StatusServiceUnavailable, 3},
		{"mail refusal without a hint", &magiclink.Error{Code: "MAIL_UNAVAILABLE"}, http.StatusServiceUnavailable, 1},
		{"store outage", &magiclink.Error{Code: "STORE_UNAVAILABLE", RetryAfter: time.Second}, http.StatusServiceUnavailable, 1},
		{"rate limit", &magiclink.Error{Code: "RATE_LIMITED", RetryAfter: 42 * time.Second}, http.StatusTooManyRequests, 42},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, magiclink.ErrMailUnavailable) && !errors.Is(tt.err, magiclink.ErrStoreUnavailable) && !errors.Is(tt.err, magiclink.ErrRateLimited) {
				t.Fatalf("test error %v is of no refusal kind", tt.err)
			}
			r := httptest.NewRequest(http.MethodPost, "/auth/send", nil)
			w := httptest.NewRecorder()
			s.sendFailed(w, r, s.data(r, "", "index.title"), "ada@example.com", tt.err)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("Retry-After"); got != strconv.Itoa(tt.want) {
				t.Fatalf("Retry-After %q, want %d", got, tt.want)
			}
		})
	}
}
