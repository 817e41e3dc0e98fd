package httpadapter_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/syncbuf"
)

// No log line of a whole session of requests — successes, failures,
// outages and a panic — contains a token, code, key, JWT or full address.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnv(t, func(c *magiclink.Config, hc *httpadapter.Config) {
		c.Logger = logger
		hc.Logger = logger
	})
	e.putCustomer("cus_1", "customer@example.com", "")

	var secrets []string
	tok, code := e.issue("ada@example.com", "/")
	secrets = append(secrets, tok, code)
	rec := e.do(formReq("https://app.example.com"+verifyPath, url.Values{"token_hash": {tok}}))
	secrets = append(secrets, sessionCookie(t, rec).Value)
	e.do(formReq("https://app.example.com"+verifyPath, url.Values{"email": {"ada@example.com"}, "code": {"999999"}}))
	// Session tokens: a JSON sign-in, a refresh, the reuse that revokes,
	// a sign-out.
	api := e.apiSignIn("ada@example.com")
	next := tokensOf(t, e.refresh(api.refresh))
	e.refresh(api.refresh)
	secrets = append(secrets, api.access, api.refresh, next.access, next.refresh)
	e.do(withCookie(signOutReq("?scope=global", "", ""), secrets[2]))

	data := partnerResult(t, e.do(partnerReq(seed002Body)), http.StatusOK)
	secrets = append(secrets, data["SecretKey"].(string), tokenOf(t, data["MagicLink"].(string)), partnerKey)
	e.do(partnerReq(seed002Body, "X-User-Secret-Key", "wrong-secret-key"))

	jwtTok := hs(t, claims())
	secrets = append(secrets, jwtTok)
	rec = e.do(adminReq(jwtTok, `{"customerId":"cus_1"}`))
	secrets = append(secrets, tokenOf(t, decode(t, rec)["link"].(string)))
	e.do(adminReq(tamper(jwtTok), `{"customerId":"cus_1"}`))

	e.store.down.Store(true)
	e.do(jsonReq(sendPath, `{"email":"ada@example.com","callback_origin":"https://app.example.com"}`))
	e.do(partnerReq(seed002Body))
	e.do(adminReq(jwtTok, `{"customerId":"cus_1"}`))

	out := logs.String()
	if out == "" {
		t.Fatal("nothing was logged; the test proves nothing")
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("logs contain a secret %.12q…", s)
		}
	}
	for _, addr := range []string{"ada@example.com", "kaan@example.com", "customer@example.com"} {
		if strings.Contains(out, addr) {
			t.Errorf("logs contain the full address %s", addr)
		}
	}
}
