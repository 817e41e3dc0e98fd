package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magiclink-go/magiclink/internal/syncbuf"
	"github.com/magiclink-go/magiclink/internal/testredis"
)

// testServer is a server started in-process by Run.
type testServer struct {
	base   string
	stdout *syncbuf.Buffer
	stderr *syncbuf.Buffer
}

// start runs the server on 127.0.0.1:0 with the given environment and stops
// it (checking for a clean shutdown) when the test ends.
func start(t *testing.T, environ map[string]string) *testServer {
	t.Helper()
	vars := map[string]string{"ADDR": "127.0.0.1:0"}
	for k, v := range environ {
		vars[k] = v
	}
	ts := &testServer{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, nil, env(vars), ts.stdout, ts.stderr, ready) }()
	select {
	case ts.base = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v\nstderr:\n%s", err, ts.stderr)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return ts
}

// browser is an HTTP client that behaves like a browser for these tests: it
// keeps cookies, sends Origin on POSTs, and does not follow redirects, so
// the test can assert them.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	// policy is the Referrer-Policy of the last HTML page, whose forms
	// the next POST submits.
	policy string
	// lang is the browser's Accept-Language ("" sends none).
	lang string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, c: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request and returns the response with its body read.
func (b *browser) do(method, target string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.base + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	if form != nil {
		// What a browser sends with a form post from the last page: under
		// no-referrer (the confirm page) the Origin is "null".
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Origin", b.base)
		if b.policy == "no-referrer" {
			req.Header.Set("Origin", "null")
		}
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		b.policy = resp.Header.Get("Referrer-Policy")
	}
	return resp, string(data)
}

// expect fails the test unless resp has the status and the body holds every
// fragment.
func (b *browser) expect(resp *http.Response, body string, status int, fragments ...string) {
	b.t.Helper()
	if resp.StatusCode != status {
		b.t.Fatalf("%s %s = %d, want %d; body:\n%s", resp.Request.Method, resp.Request.URL, resp.StatusCode, status, body)
	}
	for _, f := range fragments {
		if !strings.Contains(body, f) {
			b.t.Fatalf("%s %s: body lacks %q:\n%s", resp.Request.Method, resp.Request.URL, f, body)
		}
	}
}

// mail is one entry of /dev/mailbox.json.
type mail struct {
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	HTML    string    `json:"html"`
	Link    string    `json:"link"`
	Code    string    `json:"code"`
	SentAt  time.Time `json:"sent_at"`
}

// mails returns the JSON mailbox, newest last.
func (b *browser) mails() []mail {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, "/dev/mailbox.json", nil)
	b.expect(resp, body, http.StatusOK)
	var mails []mail
	if err := json.Unmarshal([]byte(body), &mails); err != nil {
		b.t.Fatalf("mailbox JSON: %v\n%s", err, body)
	}
	return mails
}

// lastMail returns the newest mail to to from the JSON mailbox.
func (b *browser) lastMail(to string) mail {
	b.t.Helper()
	mails := b.mails()
	body, _ := json.Marshal(mails)
	for i := len(mails) - 1; i >= 0; i-- {
		if mails[i].To == to {
			return mails[i]
		}
	}
	b.t.Fatalf("no mail to %s in %s", to, body)
	return mail{}
}

// requestMail submits the sign-in form of / for email.
func (b *browser) requestMail(email string) mail {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, "/", nil)
	b.expect(resp, body, http.StatusOK, `<form method="post" action="/signin"`, `<label for="email">`, `lang="en"`)
	resp, body = b.do(http.MethodPost, "/signin", url.Values{"email": {email}})
	b.expect(resp, body, http.StatusOK, "Check your mail", email, `name="code"`, `action="/auth/verify"`)
	return b.lastMail(email)
}

var hiddenToken = regexp.MustCompile(`name="token_hash" value="([A-Za-z0-9_-]{43})"`)

// confirm opens the link (twice: a GET must not consume it, as a mail
// scanner's would not) and presses the confirm button.
func (b *browser) confirm(link string) (*http.Response, string) {
	b.t.Helper()
	var token string
	for range 2 {
		resp, body := b.do(http.MethodGet, link, nil)
		b.expect(resp, body, http.StatusOK, "Confirm sign-in", `method="post"`)
		m := hiddenToken.FindStringSubmatch(body)
		if m == nil {
			b.t.Fatalf("confirm page has no token field:\n%s", body)
		}
		token = m[1]
	}
	return b.do(http.MethodPost, "/auth/verify", url.Values{"token_hash": {token}, "type": {"magiclink"}})
}

// signedIn asserts that a sign-in redirected to /me and /me shows email.
func (b *browser) signedIn(resp *http.Response, body, email, method string) {
	b.t.Helper()
	b.expect(resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != b.base+"/me" {
		b.t.Fatalf("sign-in redirected to %q, want %q", loc, b.base+"/me")
	}
	resp, body = b.do(http.MethodGet, "/me", nil)
	b.expect(resp, body, http.StatusOK, "You are signed in", `<dd id="me-email">`+email+`</dd>`, method, `action="/auth/sign-out"`)
}

func TestLinkFlow(t *testing.T) {
	t.Parallel()
	ts := start(t, map[string]string{"MAGICLINK_SECRET": strings.Repeat("x", 32)})
	if got, want := ts.stdout.String(), "magiclink example server listening on "+ts.base+"\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	b := newBrowser(t, ts.base)

	resp, body := b.do(http.MethodGet, "/me", nil)
	b.expect(resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Fatalf("signed-out /me redirected to %q, want /", loc)
	}

	m := b.requestMail("ada@example.com")
	if !strings.HasPrefix(m.Link, ts.base+"/auth/verify?token_hash=") || len(m.Code) != 6 || !strings.Contains(m.Text, m.Link) {
		t.Fatalf("mail = %+v", m)
	}
	resp, body = b.confirm(m.Link)
	b.signedIn(resp, body, "ada@example.com", "a sign-in link")

	// The page shows the mailbox link and the session on every page.
	resp, body = b.do(http.MethodGet, "/", nil)
	b.expect(resp, body, http.StatusOK, "already signed in as <strong>ada@example.com</strong>", `href="/dev/mailbox"`)

	// A used link's page shows the expired state, with the code form as a
	// way on, and no button.
	resp, body = b.do(http.MethodGet, m.Link, nil)
	b.expect(resp, body, http.StatusOK, "expired or was already used", `name="code"`)
	if strings.Contains(body, `name="token_hash"`) {
		t.Fatal("a used link's page offers the sign-in button")
	}

	resp, body = b.do(http.MethodPost, "/auth/sign-out", url.Values{})
	b.expect(resp, body, http.StatusSeeOther)
	resp, body = b.do(http.MethodGet, "/me", nil)
	b.expect(resp, body, http.StatusSeeOther)
}

func TestCodeFlow(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	b := newBrowser(t, ts.base)
	m := b.requestMail("grace@example.com")

	// A wrong code fails and leaves the right one working.
	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	resp, body := b.do(http.MethodPost, "/auth/verify", url.Values{"email": {"grace@example.com"}, "code": {wrong}})
	b.expect(resp, body, http.StatusBadRequest, "code is not valid")

	resp, body = b.do(http.MethodPost, "/auth/verify", url.Values{"email": {"grace@example.com"}, "code": {m.Code}})
	b.signedIn(resp, body, "grace@example.com", "a 6-digit code")

	// The code consumed the link too: its page says so.
	resp, body = b.do(http.MethodGet, m.Link, nil)
	b.expect(resp, body, http.StatusOK, "expired or was already used")
}

func TestSignInFormErrors(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	b := newBrowser(t, ts.base)
	resp, body := b.do(http.MethodPost, "/signin", url.Values{"email": {"not an address"}})
	b.expect(resp, body, http.StatusBadRequest, `role="alert"`, "Enter a valid e-mail address", `aria-invalid="true"`, `value="not an address"`)

	// The per-address limit (bursts of 2) is on by default.
	var last int
	for range 4 {
		resp, body = b.do(http.MethodPost, "/signin", url.Values{"email": {"limit@example.com"}})
		last = resp.StatusCode
	}
	b.expect(resp, body, http.StatusTooManyRequests, "Too many sign-in requests")
	if resp.Header.Get("Retry-After") == "" || last != http.StatusTooManyRequests {
		t.Fatalf("429 without Retry-After")
	}
}

func TestMailboxPages(t *testing.T) {
	t.Parallel()
	ts := start(t, nil)
	b := newBrowser(t, ts.base)
	b.requestMail("mailbox@example.com")
	for _, p := range []string{"/dev/mailbox", "/dev/mailbox/"} {
		resp, body := b.do(http.MethodGet, p, nil)
		b.expect(resp, body, http.StatusOK, "Dev mailbox", "mailbox@example.com", `<a href="/">← Back to the app</a>`,
			`<span class="state state-live">live</span>`)
	}
	// Once the link signed in, the mailbox says so.
	b.confirm(b.lastMail("mailbox@example.com").Link)
	resp, body := b.do(http.MethodGet, "/dev/mailbox", nil)
	b.expect(resp, body, http.StatusOK, `<span class="state state-used">used</span>`)
	if strings.Contains(body, `class="state state-live"`) {
		t.Fatal("the used link is still shown live")
	}
	resp, body = b.do(http.MethodGet, "/static/style.css", nil)
	b.expect(resp, body, http.StatusOK, ":focus-visible")
	resp, body = b.do(http.MethodGet, "/nope", nil)
	b.expect(resp, body, http.StatusNotFound)
}

func TestSMTPTurnsMailboxOff(t *testing.T) {
	t.Parallel()
	// Nothing listens there; the SMTP mailer connects only when sending.
	ts := start(t, map[string]string{"SMTP_URL": "smtp://127.0.0.1:1?tls=none"})
	b := newBrowser(t, ts.base)
	for _, p := range []string{"/dev/mailbox", "/dev/mailbox.json"} {
		resp, body := b.do(http.MethodGet, p, nil)
		b.expect(resp, body, http.StatusNotFound)
	}
	resp, body := b.do(http.MethodGet, "/", nil)
	if strings.Contains(body, "/dev/mailbox") {
		t.Errorf("sign-in page links the mailbox although it is off")
	}
	b.expect(resp, body, http.StatusOK)
}

func TestRedisStore(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	ts := start(t, map[string]string{"REDIS_URL": "redis://" + srv.Addr() + "/0"})
	b := newBrowser(t, ts.base)
	m := b.requestMail("redis@example.com")
	resp, body := b.confirm(m.Link)
	b.signedIn(resp, body, "redis@example.com", "a sign-in link")
}

func TestPartnerAndAdminEndpoints(t *testing.T) {
	t.Parallel()
	adminSecret := strings.Repeat("a", 32)
	ts := start(t, map[string]string{
		"MAGICLINK_API_KEY":            "dev-key-0123456789",
		"MAGICLINK_ADMIN_JWT_SECRET":   adminSecret,
		"MAGICLINK_ADMIN_JWT_ISSUER":   "https://issuer.example",
		"MAGICLINK_ADMIN_JWT_AUDIENCE": "magiclink-admin",
		"MAGICLINK_ADMIN_SCOPE":        "magic_link:create",
		"MAGICLINK_CUSTOMERS":          "cus_1=customer@example.com",
	})
	post := func(path string, header map[string]string, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return resp.StatusCode, out
	}

	status, out := post("/api/v1/Auth/CreateMagicLink", map[string]string{"X-Api-Key": "dev-key-0123456789"},
		`{"firstName":"Kaan","lastName":"K","email":"partner@example.com","phone":"+905555555555","languageCode":"tr-TR","mailPermission":true}`)
	data, _ := out["Data"].(map[string]any)
	if link, _ := data["MagicLink"].(string); status != http.StatusOK || !strings.HasPrefix(link, ts.base+"/auth/verify?") {
		t.Fatalf("CreateMagicLink = %d %v, want a link to the portal origin %s", status, out, ts.base)
	}
	// The key has its own organisation (finding 16.2): an address with a
	// public account registers like any other, 200 and not 409.
	b := newBrowser(t, ts.base)
	resp, body := b.confirm(b.requestMail("public@example.com").Link)
	b.signedIn(resp, body, "public@example.com", "a sign-in link")
	if status, out = post("/api/v1/Auth/CreateMagicLink", map[string]string{"X-Api-Key": "dev-key-0123456789"},
		`{"firstName":"P","lastName":"P","email":"public@example.com","phone":"+905555555555","languageCode":"tr-TR","mailPermission":true}`); status != http.StatusOK {
		t.Fatalf("partner registration of a public account's address = %d %v, want 200 (another organisation)", status, out)
	}

	token := func(scope string) string {
		claims := jwt.MapClaims{"sub": "ops", "iss": "https://issuer.example", "aud": "magiclink-admin",
			"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(), "scope": scope}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(adminSecret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	status, out = post("/admin/magic_link", map[string]string{"Authorization": "Bearer " + token("magic_link:create")}, `{"customerId":"cus_1"}`)
	if link, _ := out["link"].(string); status != http.StatusOK || !strings.HasPrefix(link, ts.base+"/auth/verify?") || !strings.Contains(link, "next=/overview") {
		t.Fatalf("admin magic_link = %d %v", status, out)
	}
	if status, out = post("/admin/magic_link", map[string]string{"Authorization": "Bearer " + token("other")}, `{"customerId":"cus_1"}`); status != http.StatusForbidden {
		t.Fatalf("admin magic_link without the scope = %d %v, want 403", status, out)
	}
	if status, out = post("/admin/magic_link", map[string]string{"Authorization": "Bearer " + token("magic_link:create")}, `{"customerId":"cus_2"}`); status != http.StatusNotFound {
		t.Fatalf("admin magic_link for an unknown customer = %d %v, want 404", status, out)
	}
}

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	post := func(base, xff string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/signin", strings.NewReader("email=proxy%40example.com"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Without trusted proxies the header is ignored: the client is the
	// TCP peer.
	if status := post(start(t, nil).base, "not-an-address"); status != http.StatusOK {
		t.Fatalf("untrusted X-Forwarded-For: %d, want 200 (header ignored)", status)
	}
	// From a trusted proxy the header is read, and a garbage entry where
	// the client should be is refused rather than guessed.
	trusted := start(t, map[string]string{"MAGICLINK_TRUSTED_PROXIES": "127.0.0.0/8"}).base
	if status := post(trusted, "not-an-address"); status != http.StatusBadRequest {
		t.Fatalf("trusted proxy, garbage X-Forwarded-For: %d, want 400", status)
	}
	if status := post(trusted, "203.0.113.9"); status != http.StatusOK {
		t.Fatalf("trusted proxy, good X-Forwarded-For: %d, want 200", status)
	}
}

func TestPortalOrigin(t *testing.T) {
	t.Parallel()
	ts := start(t, map[string]string{
		"MAGICLINK_ALLOWED_ORIGINS": "https://www.example.com, https://*.example.com",
		"MAGICLINK_PORTAL_ORIGIN":   "https://portal.example.com",
		"MAGICLINK_API_KEY":         "dev-key-0123456789",
	})
	req, _ := http.NewRequest(http.MethodPost, ts.base+"/api/v1/Auth/CreateMagicLink", strings.NewReader(
		`{"firstName":"A","lastName":"B","email":"portal@example.com","phone":"+905555555555","languageCode":"en","mailPermission":false}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", "dev-key-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"MagicLink":"https://portal.example.com/auth/verify?`) {
		t.Fatalf("CreateMagicLink = %d %s, want a link to the portal origin", resp.StatusCode, body)
	}
}

func TestFirstOriginPatternNeedsPortal(t *testing.T) {
	t.Parallel()
	var stderr syncbuf.Buffer
	code := Main(context.Background(), nil, env(map[string]string{"ADDR": "127.0.0.1:0", "MAGICLINK_ALLOWED_ORIGINS": "https://*.example.com"}), io.Discard, &stderr)
	if want := "magiclink: MAGICLINK_PORTAL_ORIGIN is required when the first allowed origin is a pattern (https://*.example.com)\n"; code != 1 || stderr.String() != want {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr.String(), want)
	}
}

func TestBadEnvironmentExitsWithOneLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"short secret", map[string]string{"MAGICLINK_SECRET": "short"}, "magiclink: MAGICLINK_SECRET must be at least 32 bytes (got 5)\n"},
		{"unreachable redis", map[string]string{"REDIS_URL": "redis://:pa55word@127.0.0.1:1/0"}, "magiclink: REDIS_URL: cannot reach Redis at 127.0.0.1:1: "},
		{"unreachable database", map[string]string{"DATABASE_URL": "postgres://app:pa55word@127.0.0.1:1/app?connect_timeout=2"}, "magiclink: DATABASE_URL: cannot reach PostgreSQL at 127.0.0.1:1/app: "},
		{"bad database URL", map[string]string{"DATABASE_URL": "mysql://app:pa55word@127.0.0.1/app"}, "magiclink: DATABASE_URL must be a postgres://"},
		{"bad SMTP URL", map[string]string{"SMTP_URL": "smtp://user:pa55word@mail.example.com:587?tls=sometimes"}, "magiclink: SMTP_URL: invalid SMTP URL: tls=\"sometimes\""},
		{"SMTP AUTH without TLS", map[string]string{"SMTP_URL": "smtp://user:pa55word@mail.example.com:25?tls=none"},
			"magiclink: SMTP_URL: SMTP URL: refusing SMTP AUTH without TLS; use tls=starttls or tls=implicit, or add insecure_auth=true"},
		{"taken address", map[string]string{"ADDR": "256.0.0.1:0", "MAGICLINK_DEV_MAILBOX": "true"}, "magiclink: cannot listen on ADDR 256.0.0.1:0: "},
		{"dev mailbox on all interfaces", map[string]string{"ADDR": "0.0.0.0:0"}, "magiclink: ADDR 0.0.0.0:0 is not a loopback address, so the dev mailbox would show live sign-in links to the network: set SMTP_URL, or MAGICLINK_DEV_MAILBOX=true"},
		{"argument", map[string]string{"ARGS": "serve"}, `magiclink: unexpected argument "serve"; configure the server with environment variables` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"ADDR": "127.0.0.1:0"}
			for k, v := range tt.env {
				vars[k] = v
			}
			var args []string
			if a := vars["ARGS"]; a != "" {
				args = []string{a}
			}
			var stdout, stderr syncbuf.Buffer
			code := Main(context.Background(), args, env(vars), &stdout, &stderr)
			got := stderr.String()
			if code != 1 {
				t.Errorf("exit code = %d, want 1", code)
			}
			if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
				t.Errorf("stderr = %q, want exactly one line", got)
			}
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("stderr = %q, want it to start with %q", got, tt.want)
			}
			if strings.Contains(got, "pa55word") || strings.Contains(got, "goroutine") {
				t.Errorf("stderr = %q reveals a password or a stack", got)
			}
			if stdout.String() != "" {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}
