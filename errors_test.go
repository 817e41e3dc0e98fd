package magiclink_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/ratelimit"
)

var sentinels = map[string]*magiclink.Error{
	"ErrValidation":       magiclink.ErrValidation,
	"ErrInvalidEmail":     magiclink.ErrInvalidEmail,
	"ErrOriginNotAllowed": magiclink.ErrOriginNotAllowed,
	"ErrUnsafeNext":       magiclink.ErrUnsafeNext,
	"ErrInvalidToken":     magiclink.ErrInvalidToken,
	"ErrInvalidCode":      magiclink.ErrInvalidCode,
	"ErrInvalidSession":   magiclink.ErrInvalidSession,
	"ErrRateLimited":      magiclink.ErrRateLimited,
	"ErrStoreUnavailable": magiclink.ErrStoreUnavailable,
	"ErrMailUnavailable":  magiclink.ErrMailUnavailable,
	"ErrInvalidConfig":    magiclink.ErrInvalidConfig,
	"ErrNoMailer":         magiclink.ErrNoMailer,
	"ErrSignInDenied":     magiclink.ErrSignInDenied,
}

// refines lists the only pairs where one kind matches another.
var refines = map[string]string{
	"ErrInvalidEmail": "ErrValidation",
	"ErrNoMailer":     "ErrInvalidConfig",
}

func TestSentinelsHaveOwnCodesAndMatchOnlyTheirKind(t *testing.T) {
	codes := map[string]string{}
	for name, s := range sentinels {
		if prev, dup := codes[s.Code]; dup {
			t.Errorf("%s and %s share code %q", name, prev, s.Code)
		}
		codes[s.Code] = name
		for other, o := range sentinels {
			want := name == other || refines[name] == other
			if got := errors.Is(s, o); got != want {
				t.Errorf("errors.Is(%s, %s) = %v, want %v", name, other, got, want)
			}
		}
	}
}

func TestErrorsAreFreshValues(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err1 := f.svc.Verify(ctx, "not-a-token")
	_, err2 := f.svc.Verify(ctx, "not-a-token")
	var e1, e2 *magiclink.Error
	if !errors.As(err1, &e1) || !errors.As(err2, &e2) {
		t.Fatalf("Verify errors %v, %v are not *Error", err1, err2)
	}
	if e1 == e2 || e1 == magiclink.ErrInvalidToken {
		t.Fatal("Verify returned a shared *Error")
	}
	e1.Message, e1.Code = "changed", "CHANGED"
	if magiclink.ErrInvalidToken.Message == "changed" || e2.Message == "changed" {
		t.Fatal("changing a returned error changed another")
	}
	if !errors.Is(e1, magiclink.ErrInvalidToken) {
		t.Error("an error's kind must not change with its Code")
	}
	if err := f.svc.SendLink(ctx, magiclink.SendRequest{Email: "bad", CallbackOrigin: "https://app.example.com"}); err == magiclink.ErrInvalidEmail || !errors.Is(err, magiclink.ErrInvalidEmail) {
		t.Errorf("SendLink with a bad address: %v", err)
	}
}

func TestCreateLinkTTLErrorIsValidationNotEmail(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.CreateLink(context.Background(), magiclink.LinkRequest{Email: "a@example.com", Origin: "https://app.example.com", TTL: 48 * time.Hour})
	if !errors.Is(err, magiclink.ErrValidation) || errors.Is(err, magiclink.ErrInvalidEmail) {
		t.Fatalf("TTL error %v: want ErrValidation and not ErrInvalidEmail", err)
	}
	var e *magiclink.Error
	if !errors.As(err, &e) || e.Field != "ttl" {
		t.Fatalf("TTL error %v: want Field ttl", err)
	}
}

func TestNoMailerIsNotInternal(t *testing.T) {
	f := newFixture(t, func(c *magiclink.Config) { c.Mailer = nil })
	err := f.svc.SendLink(context.Background(), magiclink.SendRequest{Email: "a@example.com", CallbackOrigin: "https://app.example.com"})
	var e *magiclink.Error
	if !errors.Is(err, magiclink.ErrNoMailer) || !errors.Is(err, magiclink.ErrInvalidConfig) || !errors.As(err, &e) || e.Code != "MAILER_MISSING" {
		t.Fatalf("SendLink without mailer: %v", err)
	}
}

func TestNewReportsEveryProblemInOrder(t *testing.T) {
	_, err := magiclink.New(magiclink.Config{
		Origins:        []string{"ftp://a.example", "https://*.com"},
		Secret:         []byte("short"),
		Limits:         magiclink.Limits{SendPerIP: ratelimit.Rate{Limit: -1}, AdminPerSubject: ratelimit.Rate{Limit: 1}},
		LinkPath:       "verify",
		LinkTTL:        time.Millisecond,
		CreateLinkTTL:  48 * time.Hour,
		SessionIdleTTL: -time.Second,
	})
	if !errors.Is(err, magiclink.ErrInvalidConfig) {
		t.Fatalf("New: %v, want ErrInvalidConfig", err)
	}
	var fields []string
	for _, e := range flatten(err) {
		var me *magiclink.Error
		if !errors.As(e, &me) || !errors.Is(me, magiclink.ErrInvalidConfig) {
			t.Fatalf("problem %v is not a config *Error", e)
		}
		fields = append(fields, me.Field)
	}
	want := "Origins Origins Secret Limits.SendPerIP Limits.AdminPerSubject LinkPath LinkTTL CreateLinkTTL SessionIdleTTL"
	if got := strings.Join(fields, " "); got != want {
		t.Fatalf("fields %q, want %q", got, want)
	}
}

// flatten unpacks errors.Join trees into their leaves, in order.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
