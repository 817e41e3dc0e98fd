package reliability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
	"github.com/magiclink-go/magiclink/store/redisstore"
)

// server is a rig behind a real loopback HTTP server, with a protected
// route GET /me behind Authenticate.
type server struct {
	*rig
	ts     *httptest.Server
	client *http.Client
}

func serve(r *rig) *server {
	mux := http.NewServeMux()
	r.h.Register(mux)
	mux.Handle("GET /me", r.h.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id, _ := magiclink.IdentityFrom(req.Context())
		_ = json.NewEncoder(w).Encode(map[string]string{"user": id.UserID, "email": id.Email})
	})))
	ts := httptest.NewServer(mux)
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	return &server{rig: r, ts: ts, client: &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// close stops the server and drops the client's idle connections.
func (s *server) close() {
	s.client.CloseIdleConnections()
	s.ts.Close()
}

// reply is one HTTP answer, decoded.
type reply struct {
	status     int
	code       string // seed-001 error code, if any
	retryAfter string
	body       []byte
	err        error
}

// postJSON posts body to path and decodes the answer.
func (s *server) postJSON(path string, body any) reply {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.ts.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return reply{err: err}
	}
	b := readAll(resp)
	rp := reply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: b}
	var e struct{ Code string }
	_ = json.Unmarshal(b, &e)
	rp.code = e.Code
	return rp
}

// tokenOf extracts token_hash from a mailed link.
func tokenOf(link string) string {
	_, rest, _ := strings.Cut(link, "token_hash=")
	tok, _, _ := strings.Cut(rest, "&")
	return tok
}

// newRedisRig builds a Service on the Redis store and limiter, with limits
// high enough never to deny in these tests but on, so every request makes
// limiter round trips.
func newRedisRig(t *testing.T, rdb redis.UniversalClient, prefix string, mail mailer.Mailer, limits magiclink.Limits) *rig {
	return newRedisRigTimeout(t, rdb, prefix, mail, limits, time.Second)
}

// newRedisRigTimeout is newRedisRig with the store's per-call timeout.
func newRedisRigTimeout(t *testing.T, rdb redis.UniversalClient, prefix string, mail mailer.Mailer, limits magiclink.Limits, timeout time.Duration) *rig {
	t.Helper()
	st, err := redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	if limits == (magiclink.Limits{}) {
		high := ratelimit.Rate{Limit: 1_000_000, Period: time.Second, Burst: 1_000_000}
		limits = magiclink.Limits{SendPerIP: high, SendPerEmail: high, VerifyPerIP: high, CreatePerAPIKey: high, AdminPerSubject: high}
	}
	return newRig(t, rigOptions{svc: magiclink.Config{Store: st, Limiter: st, Limits: limits, Mailer: mail}})
}

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
	base := goroutines()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true, MaxRetries: 1,
		DialTimeout: 500 * time.Millisecond, PoolSize: 32})
	mem := mailer.NewMemory()
	srv := serve(newRedisRig(t, rdb, "fault", mem, magiclink.Limits{}))

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
	req, _ := http.NewRequest(http.MethodGet, srv.ts.URL+"/me", nil)
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
	checkGoroutines(t, base)
}

// TestRedisDownEveryEndpoint: with Redis down, every endpoint that needs
// the store answers 503 with Retry-After in its own envelope — never 500 —
// while a session issued before keeps working (it needs no store); after a
// restart on the same port every endpoint works again.
func TestRedisDownEveryEndpoint(t *testing.T) {
	rs := testredis.Start(t)
	base := goroutines()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true, MaxRetries: 1, DialTimeout: 500 * time.Millisecond})
	pub, priv, _ := edKey()
	st, err := redisstore.New(rdb, redisstore.WithPrefix("down"), redisstore.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	mem := mailer.NewMemory()
	high := ratelimit.Rate{Limit: 1000, Period: time.Second, Burst: 1000}
	r := newRig(t, rigOptions{
		svc: magiclink.Config{Store: st, Limiter: st, Mailer: mem, Limits: magiclink.Limits{SendPerIP: high, SendPerEmail: high,
			VerifyPerIP: high, CreatePerAPIKey: high, AdminPerSubject: high}},
		http: httpadapter.Config{
			APIKeys: []httpadapter.APIKey{{ID: "p", Key: partnerAPIKey, OrgID: "org1", PortalOrigin: appOrigin}},
			Admin:   &httpadapter.AdminConfig{Keys: map[string]any{"k": pub}, Methods: []string{"EdDSA"}, PortalOrigin: appOrigin},
		},
	})
	r.mail = mem
	s := serve(r)
	adminTok := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "ops", "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = "k"
		v, _ := tok.SignedString(priv)
		return v
	}()
	if err := st.PutCustomer(ctxBG, &store.Customer{ID: "cus_1", Email: "c@example.com"}); err != nil {
		t.Fatal(err)
	}
	m := sendFor(t, r, "before@example.com")
	rec := verifyToken(r, tokenOf(m.Link))
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &tr)
	if tr.AccessToken == "" {
		t.Fatalf("no session before the fault: %d %s", rec.Code, rec.Body)
	}
	pending := sendFor(t, r, "pending@example.com")

	type call struct {
		name string
		req  func() *http.Request
	}
	jsonReq := func(path, body string, hdr ...string) func() *http.Request {
		return func() *http.Request {
			req := mustRequest(http.MethodPost, s.ts.URL+path, body)
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
			req := mustRequest(http.MethodPost, s.ts.URL+verifyPath, url.Values{"token_hash": {tokenOf(pending.Link)}, "type": {"magiclink"}}.Encode())
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
	req := mustRequest(http.MethodGet, s.ts.URL+"/me", "")
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	if resp, err := s.client.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a session issued before the fault stopped working: %v %v", err, resp)
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
	_ = st.PutCustomer(ctxBG, &store.Customer{ID: "cus_1", Email: "c@example.com"}) // the restart emptied Redis
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
	checkGoroutines(t, base)
}
