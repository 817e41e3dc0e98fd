package magiclink_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer"
)

// TestTelemetryCountsOutcomesWithoutSecrets signs in once, fails once of
// each kind, and reads the counters and spans through a real OpenTelemetry
// SDK: the counts match, and no attribute or status carries the address,
// link or code.
func TestTelemetryCountsOutcomesWithoutSecrets(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	inbox := mailer.NewMemory()
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com"}, Secret: []byte(strings.Repeat("s", 32)),
		Mailer: inbox, MeterProvider: mp, TracerProvider: tp,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	// Spans are children of the caller's: start one as an HTTP middleware
	// would.
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	defer parent.End()
	const email = "ada.telemetry@example.com"
	if err := svc.SendLink(ctx, magiclink.SendRequest{Email: email, CallbackOrigin: "https://app.example.com"}); err != nil {
		t.Fatal(err)
	}
	_ = svc.SendLink(ctx, magiclink.SendRequest{Email: "not an address", CallbackOrigin: "https://app.example.com"})
	mail := inbox.Messages()[0]
	u, _ := url.Parse(mail.Link)
	token := u.Query().Get("token_hash")
	if _, err := svc.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	_, _ = svc.Verify(ctx, token) // used
	_, _ = svc.VerifyCode(ctx, email, "000000")

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			s, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, dp := range s.DataPoints {
				got[m.Name+labels(dp.Attributes)] += dp.Value
				for _, kv := range dp.Attributes.ToSlice() {
					assertNoSecret(t, "metric attribute", kv.Value.String(), email, token, mail.Code)
				}
			}
		}
	}
	want := map[string]int64{
		"magiclink.sends{result=ok}":                           1,
		"magiclink.sends{result=EMAIL_INVALID}":                1,
		"magiclink.verifies{method=link,result=ok}":            1,
		"magiclink.verifies{method=link,result=TOKEN_INVALID}": 1,
		"magiclink.verifies{method=code,result=CODE_INVALID}":  1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	names := map[string]int{}
	for _, s := range spans.Ended() {
		names[s.Name()]++
		assertNoSecret(t, "span status", s.Status().Description, email, token, mail.Code)
		for _, kv := range s.Attributes() {
			assertNoSecret(t, "span attribute", kv.Value.String(), email, token, mail.Code)
		}
	}
	var unparented int
	for _, s := range spans.Ended() {
		if s.Name() != "request" && !s.Parent().IsValid() {
			unparented++
		}
	}
	if unparented != 0 {
		t.Errorf("%d spans without the caller's span as parent", unparented)
	}
	if names["magiclink.SendLink"] != 2 || names["magiclink.Verify"] != 2 || names["magiclink.VerifyCode"] != 1 {
		t.Errorf("spans = %v, want 2 SendLink, 2 Verify, 1 VerifyCode", names)
	}
}

func labels(s attribute.Set) string {
	var b strings.Builder
	b.WriteString("{")
	for i, kv := range s.ToSlice() {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(string(kv.Key) + "=" + kv.Value.String())
	}
	return b.String() + "}"
}

func assertNoSecret(t *testing.T, where, v string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(v, s) {
			t.Errorf("%s %q contains a secret or address", where, v)
		}
	}
}

// TestTelemetryStartsNoSpanWithoutAParent: a call with no span in its
// context makes none (and so costs no allocation for tracing).
func TestTelemetryStartsNoSpanWithoutAParent(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com"}, Secret: []byte(strings.Repeat("s", 32)),
		Mailer: mailer.NewMemory(), TracerProvider: tp,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	_, _ = svc.Verify(context.Background(), "x")
	if n := len(spans.Ended()) + len(spans.Started()); n != 0 {
		t.Errorf("%d spans recorded without a parent span", n)
	}
}

// TestTelemetryCountsSessionEvents: starts, refreshes (a reuse counted as
// such, for alerting), revocations and sign-outs are counted by event and
// result, with no token in any attribute.
func TestTelemetryCountsSessionEvents(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"},
		Secret: []byte(strings.Repeat("s", 32)), MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	id := magiclink.Identity{UserID: "usr_tel", Email: "tel@example.com", Method: "link"}
	api, err := svc.StartAPISession(ctx, id, magiclink.Client{})
	if err != nil {
		t.Fatal(err)
	}
	browser, _ := svc.StartBrowserSession(ctx, id, magiclink.Client{})
	if _, _, err := svc.Refresh(ctx, api.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, _, _ = svc.Refresh(ctx, api.RefreshToken) // reuse
	_, _, _ = svc.Refresh(ctx, "garbage")
	_ = svc.RevokeSession(ctx, id.UserID, api.SessionID) // already ended by the reuse
	current, _ := svc.CheckSessionToken(ctx, browser.Token)
	_ = svc.SignOut(ctx, current, magiclink.SignOutGlobal)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "magiclink.sessions" {
				for _, dp := range s.DataPoints {
					got[labels(dp.Attributes)] += dp.Value
					for _, kv := range dp.Attributes.ToSlice() {
						assertNoSecret(t, "metric attribute", kv.Value.String(), api.AccessToken, api.RefreshToken, browser.Token)
					}
				}
			}
		}
	}
	want := map[string]int64{
		"{event=start,result=ok}":                 2,
		"{event=refresh,result=ok}":               1,
		"{event=refresh,result=reused}":           1,
		"{event=refresh,result=SESSION_INVALID}":  1,
		"{event=revoke,result=SESSION_NOT_FOUND}": 1,
		"{event=sign_out_global,result=ok}":       1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("magiclink.sessions%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

// TestTelemetryCountsApprovals: a cross-device approval with the wrong
// number and one with a used link are counted by their codes.
func TestTelemetryCountsApprovals(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	inbox := mailer.NewMemory()
	svc, err := magiclink.New(magiclink.Config{
		Origins: []string{"https://app.example.com"}, Secret: []byte(strings.Repeat("s", 32)),
		Mailer: inbox, MeterProvider: mp,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	ticket, err := svc.SendLinkPending(ctx, magiclink.SendRequest{Email: "ada@example.com", CallbackOrigin: "https://app.example.com"}, "Mozilla/5.0")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(inbox.Messages()[0].Link)
	token := u.Query().Get("token_hash")
	wrong := "00"
	if ticket.Match == wrong {
		wrong = "01"
	}
	_ = svc.Approve(ctx, token, wrong) // consumes the link, denies
	_ = svc.Approve(ctx, token, ticket.Match)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "magiclink.approvals" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				got[labels(dp.Attributes)] += dp.Value
			}
		}
	}
	want := map[string]int64{"{result=MATCH_INVALID}": 1, "{result=TOKEN_INVALID}": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("approvals%s = %d, want %d (all %v)", k, got[k], v, got)
		}
	}
}
