package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/magiclink-go/magiclink/internal/testpg"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/store"
)

var pg testpg.Shared

func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }

const origin = "http://127.0.0.1:8082"

func serve(t *testing.T, h http.Handler, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, origin+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// signIn mails a link to email and uses it; it returns the JSON answer.
func signIn(t *testing.T, a *app, inbox *mailer.Memory, email string) map[string]any {
	t.Helper()
	rec := serve(t, a.handler, "POST", "/auth/send-magic-link", `{"email":"`+email+`","callback_origin":"`+origin+`"}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("send: %d %s", rec.Code, rec.Body)
	}
	m, ok := inbox.Last(email)
	if !ok {
		t.Fatal("no mail")
	}
	u, _ := url.Parse(m.Link)
	rec = serve(t, a.handler, "POST", "/auth/verify", `{"token_hash":"`+u.Query().Get("token_hash")+`","type":"magiclink"}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("verify: %d %s", rec.Code, rec.Body)
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUsersInTheApplicationsTable: a first sign-in creates a row in
// app_users with the table's own ID, magiclink's schema keeps no user, the
// session token carries the application's plan, and /me reads the row.
func TestUsersInTheApplicationsTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pg.Database(t).Pool(t)
	inbox := mailer.NewMemory()
	a, err := newApp(ctx, pool, origin, inbox)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })

	out := signIn(t, a, inbox, "ada@example.com")
	user, _ := out["user"].(map[string]any)
	if user["id"] != "1" {
		t.Fatalf("first user's ID = %v, want the table's own 1", user["id"])
	}
	var appRows, libRows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM app_users`).Scan(&appRows); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM magiclink.users`).Scan(&libRows); err != nil {
		t.Fatal(err)
	}
	if appRows != 1 || libRows != 0 {
		t.Fatalf("%d rows in app_users and %d in magiclink.users; want 1 and 0", appRows, libRows)
	}
	token, _ := out["access_token"].(string)
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims["plan"] != "free" || claims["sub"] != "1" {
		t.Fatalf("token claims %s: want plan free for sub 1", payload)
	}
	if _, err := pool.Exec(ctx, `UPDATE app_users SET plan = 'pro' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	rec := serve(t, a.handler, "GET", "/me", "", "Authorization", "Bearer "+token)
	if rec.Code != http.StatusOK || rec.Body.String() != "user 1 (ada@example.com), plan pro\n" {
		t.Fatalf("/me: %d %q", rec.Code, rec.Body)
	}
	// A returning user is the same row.
	if again, _ := signIn(t, a, inbox, "ada@example.com")["user"].(map[string]any); again["id"] != "1" {
		t.Fatalf("returning user's ID = %v, want 1", again["id"])
	}
}

// TestFindOrCreateUserOnce: 20 concurrent first sign-ins of one address
// make one row, and all of them get its ID.
func TestFindOrCreateUserOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pg.Database(t).Pool(t)
	if _, err := pool.Exec(ctx, schema); err != nil {
		t.Fatal(err)
	}
	users := &Users{pool: pool}
	var wg sync.WaitGroup
	ids := make([]string, 20)
	var created [20]bool
	for i := range ids {
		wg.Go(func() {
			u, c, err := users.FindOrCreateUser(ctx, &store.User{ID: "ignored", Email: "race@example.com"})
			if err != nil {
				t.Errorf("FindOrCreateUser: %v", err)
				return
			}
			ids[i], created[i] = u.ID, c
		})
	}
	wg.Wait()
	n := 0
	for i := range ids {
		if ids[i] != ids[0] {
			t.Fatalf("call %d got user %q, call 0 %q", i, ids[i], ids[0])
		}
		if created[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d calls report creating the user, want 1", n)
	}
	if _, err := users.UserByID(ctx, "not-a-number"); err != store.ErrNotFound {
		t.Fatalf("UserByID of a foreign ID: %v, want ErrNotFound", err)
	}
}
