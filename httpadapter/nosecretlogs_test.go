package httpadapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/httpadapter"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/ratelimit"
	"github.com/magiclink-go/magiclink/store"
)

// downStore fails every call with store.ErrUnavailable while down is set.
type downStore struct {
	store.Store
	down atomic.Bool
}

var errDown = fmt.Errorf("%w: connection refused (test)", store.ErrUnavailable)

func (s *downStore) PutToken(ctx context.Context, t *store.Token) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.PutToken(ctx, t)
}

func (s *downStore) ConsumeToken(ctx context.Context, h store.Digest) (*store.Token, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.ConsumeToken(ctx, h)
}

func (s *downStore) UserByEmail(ctx context.Context, org, email string) (*store.User, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.UserByEmail(ctx, org, email)
}

// echoingMailer fails mails to one address with an error that quotes the
// whole message, as a careless transport might; the rest go to Memory.
type echoingMailer struct {
	*mailer.Memory
	failTo string
	failed chan *mailer.Message
}

func (m echoingMailer) Send(ctx context.Context, msg *mailer.Message) error {
	if msg.To == m.failTo {
		select {
		case m.failed <- msg:
		default:
		}
		return mailer.Permanent(errors.New("550 rejected message for " + msg.To + ": " + msg.Text + " html " + msg.HTML + " link " + msg.Link + " code " + msg.Code))
	}
	return m.Memory.Send(ctx, msg)
}

// TestNoSecretInLogs runs every flow with one Debug-level logger shared by
// the Service, the adapter and the Dispatcher, then looks for every secret
// the flows handled — link secrets, codes, the API key, the user secret
// key, session JWTs, the admin JWT — in everything that was logged.
func TestNoSecretInLogs(t *testing.T) {
	logger, logs := logCapture()
	mem := mailer.NewMemory()
	const failing = "bounce@example.com"
	failedMails := make(chan *mailer.Message, 1)
	d := mailer.NewDispatcher(echoingMailer{Memory: mem, failTo: failing, failed: failedMails},
		mailer.DispatcherOptions{Logger: logger, After: fireNow})
	defer func() { _ = d.Close(context.Background()) }()
	fs := &downStore{Store: store.NewMemory()}
	adminKey := []byte("admin-hmac-key-0123456789abcdef-0123456789")
	r := newRig(t, rigOptions{
		svc: magiclink.Config{Store: fs, Mailer: d, Logger: logger, Limits: magiclink.Limits{
			SendPerIP:       ratelimit.Rate{Limit: 1000, Period: time.Minute, Burst: 1000},
			SendPerEmail:    ratelimit.Rate{Limit: 2, Period: time.Hour, Burst: 2},
			VerifyPerIP:     ratelimit.Rate{Limit: 1000, Period: time.Minute, Burst: 1000},
			CreatePerAPIKey: ratelimit.Rate{Limit: 1000, Period: time.Minute, Burst: 1000},
			AdminPerSubject: ratelimit.Rate{Limit: 1000, Period: time.Minute, Burst: 1000},
		}},
		http: httpadapter.Config{Logger: logger,
			APIKeys: []httpadapter.APIKey{{ID: "partner", Key: partnerAPIKey, OrgID: "org1", PortalOrigin: appOrigin}},
			Admin:   &httpadapter.AdminConfig{Key: adminKey, Methods: []string{"HS256"}, PortalOrigin: appOrigin}},
	})
	if err := fs.PutCustomer(ctxBG, &store.Customer{ID: "cus_9", Email: "customer@example.com"}); err != nil {
		t.Fatal(err)
	}
	s := serveRig(r)
	defer s.close()
	var secrets []string // every secret handled, for the final search
	addSecret := func(v string) {
		if v != "" {
			secrets = append(secrets, v)
		}
	}
	var codes []string
	flush := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mailFor := func(email string) *mailer.Message {
		flush()
		m, ok := mem.Last(email)
		if !ok {
			t.Fatalf("no mail to %s", email)
		}
		addSecret(linkToken(m.Link))
		codes = append(codes, m.Code)
		return m
	}
	expect := func(what string, got, want int, body []byte) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %d %s, want %d", what, got, body, want)
		}
	}
	send := func(email string) reply {
		return s.postJSON(sendPath, map[string]string{"email": email, "callback_origin": appOrigin, "callback_next": "/overview"})
	}
	do := func(req *http.Request) (*http.Response, []byte) {
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, readAll(resp)
	}

	// 1. Link flow: send, mailbox, confirm page (GET), POST, cookie, /me.
	rp := send("alice@example.com")
	expect("send", rp.status, 200, rp.body)
	m := mailFor("alice@example.com")
	u, _ := url.Parse(m.Link)
	resp, body := do(mustRequest(http.MethodGet, s.ts.URL+u.Path+"?"+u.RawQuery, ""))
	expect("confirm page", resp.StatusCode, 200, body)
	form := url.Values{"token_hash": {linkToken(m.Link)}, "type": {"magiclink"}}.Encode()
	req := mustRequest(http.MethodPost, s.ts.URL+verifyPath, form)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body = do(req)
	expect("form verify", resp.StatusCode, http.StatusSeeOther, body)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == httpadapter.InsecureSessionCookie {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie after sign-in")
	}
	addSecret(cookie.Value)
	req = mustRequest(http.MethodGet, s.ts.URL+"/me", "")
	req.AddCookie(cookie)
	resp, body = do(req)
	expect("/me with the cookie", resp.StatusCode, 200, body)
	// Replay of the used link.
	rp = s.postJSON(verifyPath, map[string]string{"token_hash": linkToken(m.Link), "type": "magiclink"})
	expect("replayed link", rp.status, 400, rp.body)

	// 2. Code flow, with a wrong code first.
	rp = send("bob@example.com")
	expect("send", rp.status, 200, rp.body)
	m = mailFor("bob@example.com")
	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	rp = s.postJSON(verifyPath, map[string]string{"email": "bob@example.com", "code": wrong})
	expect("wrong code", rp.status, 400, rp.body)
	rp = s.postJSON(verifyPath, map[string]string{"email": "bob@example.com", "code": m.Code})
	expect("code verify", rp.status, 200, rp.body)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rp.body, &tr)
	addSecret(tr.AccessToken)
	req = mustRequest(http.MethodGet, s.ts.URL+"/me", "")
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	resp, body = do(req)
	expect("/me with the bearer", resp.StatusCode, 200, body)
	req = mustRequest(http.MethodGet, s.ts.URL+"/me", "")
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken+"x")
	resp, body = do(req)
	expect("/me with a tampered bearer", resp.StatusCode, 401, body)

	// 3. CreateMagicLink: new user (SecretKey returned), then with the key,
	// then with a wrong key.
	addSecret(partnerAPIKey)
	partner := func(secret string) (int, []byte) {
		req := mustRequest(http.MethodPost, s.ts.URL+createPath, `{"firstName":"Kaan","lastName":"K","email":"kaan@example.com","phone":"+905555555555","languageCode":"tr-TR","mailPermission":true}`)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", partnerAPIKey)
		if secret != "" {
			req.Header.Set("X-User-Secret-Key", secret)
		}
		resp, body := do(req)
		return resp.StatusCode, body
	}
	code, body := partner("")
	expect("CreateMagicLink", code, 200, body)
	var pb struct {
		Data struct {
			SecretKey *string
			MagicLink string
		}
	}
	_ = json.Unmarshal(body, &pb)
	if pb.Data.SecretKey == nil {
		t.Fatalf("no SecretKey in %s", body)
	}
	addSecret(*pb.Data.SecretKey)
	addSecret(linkToken(pb.Data.MagicLink))
	code, body = partner(*pb.Data.SecretKey)
	expect("CreateMagicLink with the user key", code, 200, body)
	_ = json.Unmarshal(body, &pb)
	addSecret(linkToken(pb.Data.MagicLink))
	wrongKey := strings.Repeat("Q", 44)
	addSecret(wrongKey)
	code, body = partner(wrongKey)
	expect("CreateMagicLink with a wrong user key", code, 401, body)

	// 4. Admin link with a bearer JWT, and an expired one.
	adminJWT := func(exp time.Time) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ops", "exp": exp.Unix(), "iat": time.Now().Unix()}).SignedString(adminKey)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, c := range []struct {
		tok  string
		want int
	}{{adminJWT(time.Now().Add(time.Minute)), 200}, {adminJWT(time.Now().Add(-time.Hour)), 401}} {
		addSecret(c.tok)
		req := mustRequest(http.MethodPost, s.ts.URL+adminPath, `{"customerId":"cus_9"}`)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.tok)
		resp, body := do(req)
		expect("admin link", resp.StatusCode, c.want, body)
		var al struct{ Link string }
		_ = json.Unmarshal(body, &al)
		addSecret(linkToken(al.Link))
	}

	// 5. A mail that fails (its transport error quotes link and code).
	rp = send(failing)
	expect("send to the failing address", rp.status, 200, rp.body)
	flush()
	select {
	case fm := <-failedMails:
		addSecret(linkToken(fm.Link))
		codes = append(codes, fm.Code)
	default:
		t.Fatal("the failing mailer never saw the mail")
	}
	if !strings.Contains(logs.String(), "delivery failed") {
		t.Error("the failed delivery was not logged")
	}

	// 6. Rate limited: the per-address limit is 2 per hour.
	for i := range 3 {
		rp = send("carol@example.com")
		if i < 2 {
			expect("send", rp.status, 200, rp.body)
			mailFor("carol@example.com")
		}
	}
	expect("third send to one address", rp.status, 429, rp.body)

	// 7. Store failure.
	fs.down.Store(true)
	rp = send("dave@example.com")
	expect("send with the store down", rp.status, 503, rp.body)
	rp = s.postJSON(verifyPath, map[string]string{"token_hash": linkToken(m.Link), "type": "magiclink"})
	expect("verify with the store down", rp.status, 503, rp.body)
	fs.down.Store(false)

	// The search.
	out := logs.String()
	if len(out) == 0 || strings.Count(out, "\n") < 5 {
		t.Fatalf("only %d log lines were captured; the test would prove nothing", strings.Count(out, "\n"))
	}
	for _, sec := range secrets {
		if strings.Contains(out, sec) {
			t.Errorf("a secret appears in the logs: %.12s…", sec)
		}
		if len(sec) >= 32 && !strings.HasPrefix(sec, "eyJ") && strings.Contains(out, sec[:16]) {
			t.Errorf("a 16-character prefix of a secret appears in the logs: %.12s…", sec)
		}
		if parts := strings.Split(sec, "."); len(parts) == 3 && strings.Contains(out, parts[2]) {
			t.Errorf("a JWT signature appears in the logs: %.12s…", parts[2])
		}
	}
	for _, c := range codes {
		re := regexp.MustCompile(`(^|[^0-9])` + c[:3] + ` ?` + c[3:] + `([^0-9]|$)`)
		if loc := re.FindStringIndex(out); loc != nil {
			t.Errorf("a code appears in the logs: …%s…", out[max(0, loc[0]-60):min(len(out), loc[1]+20)])
		}
	}
	for _, addr := range []string{"alice@example.com", "bob@example.com", "kaan@example.com", "customer@example.com", failing} {
		if strings.Contains(out, addr) {
			t.Errorf("the full address %s appears in the logs (addresses should be masked)", addr)
		}
	}
	t.Logf("captured %d log lines (%d bytes) over every flow; searched for %d secrets and %d codes: none found",
		strings.Count(out, "\n"), len(out), len(secrets), len(codes))
}

func mustRequest(method, u, body string) *http.Request {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	return req
}
