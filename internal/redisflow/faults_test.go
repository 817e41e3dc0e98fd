package redisflow

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/internal/leaktest"
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// Phases of the Redis fault test.
const (
	phaseUp int32 = iota
	phaseKilling
	phaseDown
	phaseRestarting
	phaseBack
)

// TestRedisKilledAndRestartedUnderLoad runs sends and verifies through the
// real handler on Redis, kills Redis, restarts it on the same port, and
// checks: while it is down every answer is 503 STORE_UNAVAILABLE with
// Retry-After; never a 500 or a panic; service returns after the restart;
// no link and no code is ever accepted twice; no goroutine is left behind.
func TestRedisKilledAndRestartedUnderLoad(t *testing.T) {
	rs := testredis.Start(t)
	base := leaktest.Goroutines()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true, MaxRetries: 1,
		DialTimeout: 500 * time.Millisecond, PoolSize: 32})
	srv := newServer(t, rdb, serverOptions{prefix: "fault"})
	mem := srv.Mailer

	var (
		phase    atomic.Int32
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		mu       sync.Mutex
		verified = map[string]int{} // token → successful verifies
		statuses = map[string]int{} // "phase status code" → count
		bad      []string
		downN    atomic.Int64 // answers entirely inside the down phase
		upOK     atomic.Int64 // successful verifies before the kill
		backOK   atomic.Int64 // successful verifies after the restart
		sigDown  = make(chan struct{})
		sigUp    = make(chan struct{})
		sigBack  = make(chan struct{})
		sigMore  = make(chan struct{})
		once     [4]sync.Once
	)
	record := func(startPhase int32, what string, rp reply) {
		endPhase := phase.Load()
		mu.Lock()
		defer mu.Unlock()
		statuses[fmt.Sprintf("%d→%d %s %d %s", startPhase, endPhase, what, rp.status, rp.code)]++
		switch {
		case rp.err != nil:
			bad = append(bad, fmt.Sprintf("%s: transport error %v", what, rp.err))
		case rp.status >= 500 && rp.status != http.StatusServiceUnavailable:
			bad = append(bad, fmt.Sprintf("%s: %d %s", what, rp.status, rp.body))
		case rp.status == http.StatusServiceUnavailable && (rp.code != "STORE_UNAVAILABLE" || rp.retryAfter == ""):
			bad = append(bad, fmt.Sprintf("%s: 503 without STORE_UNAVAILABLE and Retry-After: %q %s", what, rp.retryAfter, rp.body))
		case startPhase == phaseDown && endPhase == phaseDown && rp.status != http.StatusServiceUnavailable:
			bad = append(bad, fmt.Sprintf("%s while Redis was down: %d %s", what, rp.status, rp.body))
		case rp.status != http.StatusOK && rp.status != http.StatusServiceUnavailable &&
			!(rp.status == http.StatusBadRequest && rp.code == "TOKEN_INVALID"):
			bad = append(bad, fmt.Sprintf("%s: unexpected %d %s", what, rp.status, rp.body))
		}
		if startPhase == phaseDown && endPhase == phaseDown {
			if downN.Add(1) == 40 {
				once[0].Do(func() { close(sigDown) })
			}
		}
	}
	// verify redeems a mail by its link, or by its code when email and
	// code are given; either way the token is what was redeemed.
	verify := func(tok, email, code string) {
		p := phase.Load()
		body := map[string]string{"token_hash": tok, "type": "magiclink"}
		what := "verify"
		if code != "" {
			body, what = map[string]string{"email": email, "code": code}, "verify-code"
		}
		rp := srv.postJSON(verifyPath, body)
		if rp.status == http.StatusBadRequest && rp.code == "CODE_INVALID" {
			rp.code = "TOKEN_INVALID" // the code's mail was already redeemed
		}
		record(p, what, rp)
		if rp.status != http.StatusOK {
			return
		}
		mu.Lock()
		// A mail's link and its code are each single-use, and the code
		// still works after the link (store.Tokens): count per credential.
		verified[what+" "+tok]++
		mu.Unlock()
		switch p {
		case phaseUp:
			if upOK.Add(1) == 40 {
				once[1].Do(func() { close(sigUp) })
			}
		case phaseBack:
			switch backOK.Add(1) {
			case 1:
				once[2].Do(func() { close(sigBack) })
			case 30:
				once[3].Do(func() { close(sigMore) })
			}
		}
	}

	const workers = 12
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("w%d-%d@example.com", w, i)
				p := phase.Load()
				rp := srv.postJSON(sendPath, map[string]string{"email": email, "callback_origin": appOrigin})
				record(p, "send", rp)
				if rp.status != http.StatusOK {
					continue
				}
				m, ok := mem.Last(email)
				if !ok {
					t.Errorf("send answered 200 but no mail went to %s", email)
					continue
				}
				tok := tokenOf(m.Link)
				// Two link verifies and a code verify race for the mail,
				// then a link replay: the link is redeemed at most once
				// and the code at most once (a used code also spends the
				// link; a used link leaves the code alive).
				var inner sync.WaitGroup
				inner.Add(3)
				for range 2 {
					go func() { defer inner.Done(); verify(tok, "", "") }()
				}
				go func() { defer inner.Done(); verify(tok, email, m.Code) }()
				inner.Wait()
				verify(tok, "", "")
			}
		}()
	}

	wait := func(ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(60 * time.Second):
			close(stop)
			wg.Wait()
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	wait(sigUp, "40 verifies before the kill")
	phase.Store(phaseKilling)
	rs.Stop(t)
	killedAt := time.Now()
	phase.Store(phaseDown)
	wait(sigDown, "40 answers while Redis is down")
	phase.Store(phaseRestarting)
	rs.Restart(t)
	phase.Store(phaseBack)
	restartedAt := time.Now()
	wait(sigBack, "the first successful verify after the restart")
	firstBack := time.Since(restartedAt)
	// Keep the load on until 30 more verifies succeeded.
	wait(sigMore, "30 successful verifies after the restart")
	close(stop)
	wg.Wait()

	// Full service on the same port: a sequential send → verify → session
	// → protected route.
	email := "after-restart@example.com"
	if rp := srv.postJSON(sendPath, map[string]string{"email": email, "callback_origin": appOrigin}); rp.status != http.StatusOK {
		t.Fatalf("send after restart: %d %s", rp.status, rp.body)
	}
	m, _ := mem.Last(email)
	rp := srv.postJSON(verifyPath, map[string]string{"token_hash": tokenOf(m.Link), "type": "magiclink"})
	if rp.status != http.StatusOK {
		t.Fatalf("verify after restart: %d %s", rp.status, rp.body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rp.body, &tr)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	resp, err := srv.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("protected route after restart: %v %v", err, resp)
	}
	readAll(resp)

	for _, b := range bad {
		t.Error(b)
	}
	dups := 0
	for tok, n := range verified {
		if n > 1 {
			dups++
			t.Errorf("%.16s… was accepted %d times", tok, n)
		}
	}
	if downN.Load() == 0 {
		t.Error("no request ran entirely while Redis was down; the test proved nothing")
	}
	keys := make([]string, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("  phase %s: %d", k, statuses[k])
	}
	t.Logf("Redis down for %v, first verify %v after the restart; %d answers while down (all 503 STORE_UNAVAILABLE + Retry-After), %d tokens verified, %d accepted twice, 0 answers 500",
		restartedAt.Sub(killedAt).Round(time.Millisecond), firstBack.Round(time.Millisecond), downN.Load(), len(verified), dups)

	srv.close()
	_ = rdb.Close()
	leaktest.Check(t, base)
}

// TestRedisDownEveryEndpoint: with Redis down, every endpoint that needs
// the store answers 503 with Retry-After in its own envelope — never 500 —
// while a session issued before keeps working (it needs no store); after a
// restart on the same port every endpoint works again.
func TestRedisDownEveryEndpoint(t *testing.T) {
	rs := testredis.Start(t)
	base := leaktest.Goroutines()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true, MaxRetries: 1, DialTimeout: 500 * time.Millisecond})
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	high := ratelimit.Rate{Limit: 1000, Period: time.Second, Burst: 1000}
	s := newServer(t, rdb, serverOptions{
		prefix: "down",
		limits: magiclink.Limits{SendPerIP: high, SendPerEmail: high, VerifyPerIP: high, CreatePerAPIKey: high, AdminPerSubject: high},
		adapter: func(c *httpadapter.Config) {
			c.APIKeys = []httpadapter.APIKey{{ID: "p", Key: partnerAPIKey, OrgID: "org1", PortalOrigin: appOrigin}}
			c.Admin = &httpadapter.AdminConfig{Keys: map[string]any{"k": pub}, Methods: []string{"EdDSA"}, PortalOrigin: appOrigin}
		},
	})
	st := s.store
	adminTok := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "ops", "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = "k"
		v, _ := tok.SignedString(priv)
		return v
	}()
	if err := st.PutCustomer(t.Context(), &store.Customer{ID: "cus_1", Email: "c@example.com"}); err != nil {
		t.Fatal(err)
	}
	m := s.sendFor(t, "before@example.com")
	rp := s.postJSON(verifyPath, map[string]string{"token_hash": tokenOf(m.Link), "type": "magiclink"})
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rp.body, &tr)
	if tr.AccessToken == "" {
		t.Fatalf("no session before the fault: %d %s", rp.status, rp.body)
	}
	pending := s.sendFor(t, "pending@example.com")

	type call struct {
		name string
		req  func() *http.Request
	}
	jsonReq := func(path, body string, hdr ...string) func() *http.Request {
		return func() *http.Request {
			req := newRequest(t, http.MethodPost, s.URL+path, body)
			req.Header.Set("Content-Type", "application/json")
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			return req
		}
	}
	calls := []call{
		{"send-magic-link", jsonReq(sendPath, `{"email":"x@example.com","callback_origin":"https://app.example.com"}`)},
		{"verify JSON (link)", jsonReq(verifyPath, `{"token_hash":"`+tokenOf(pending.Link)+`","type":"magiclink"}`)},
		{"verify JSON (code)", jsonReq(verifyPath, `{"email":"pending@example.com","code":"`+pending.Code+`"}`)},
		{"verify form", func() *http.Request {
			req := newRequest(t, http.MethodPost, s.URL+verifyPath, url.Values{"token_hash": {tokenOf(pending.Link)}, "type": {"magiclink"}}.Encode())
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req
		}},
		{"CreateMagicLink", jsonReq(createPath, `{"firstName":"A","lastName":"B","email":"new@example.com","phone":"+905555555555","languageCode":"en","mailPermission":true}`, "X-Api-Key", partnerAPIKey)},
		{"admin magic_link", jsonReq(adminPath, `{"customerId":"cus_1"}`, "Authorization", "Bearer "+adminTok)},
	}
	rs.Stop(t)
	for _, c := range calls {
		start := time.Now()
		resp, err := s.client.Do(c.req())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body := readAll(resp)
		t.Logf("%s with Redis down: %d in %v", c.name, resp.StatusCode, time.Since(start).Round(time.Millisecond))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s with Redis down: %d (Retry-After %q) %s, want 503 with Retry-After", c.name, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	// Sessions are stored, so that revoking one takes effect at once; with
	// the store down a session cannot be checked, which is a 503 to retry,
	// never a 401 that would sign the user out.
	req := newRequest(t, http.MethodGet, s.URL+"/me", "")
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	if resp, err := s.client.Do(req); err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a session checked with Redis down: %v %v, want 503 with Retry-After", err, resp)
	} else {
		readAll(resp)
	}
	rs.Restart(t)
	restarted := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.client.Do(calls[0].req())
		if err == nil {
			readAll(resp)
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("send-magic-link never recovered after the restart: %v %v", err, resp)
		}
		time.Sleep(50 * time.Millisecond) // waiting for the client's reconnect to an external process
	}
	t.Logf("send-magic-link recovered %v after the restart", time.Since(restarted).Round(time.Millisecond))
	_ = st.PutCustomer(t.Context(), &store.Customer{ID: "cus_1", Email: "c@example.com"}) // the restart emptied Redis
	for _, c := range []call{calls[4], calls[5]} {
		resp, err := s.client.Do(c.req())
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("%s after the restart: %v %v", c.name, err, resp)
		}
		if resp != nil {
			readAll(resp)
		}
	}
	s.close()
	_ = rdb.Close()
	leaktest.Check(t, base)
}

// newRequest builds a request or fails the test.
func newRequest(t *testing.T, method, u, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
