package magiclinktest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/magiclink-go/magiclink/httpadapter"
)

// Tokens are what an API client holds after a JSON sign-in or a refresh.
type Tokens struct {
	// AccessToken goes in "Authorization: Bearer …"; RefreshToken to
	// Refresh, once.
	AccessToken  string
	RefreshToken string
	// UserID and Email are the signed-in user.
	UserID string
	Email  string
}

// tokenBody is the JSON answer of verify and POST /auth/token.
type tokenBody struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	User         struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
}

// SignInAPI signs email in the way an app does: it sends a link and posts
// its token to POST /auth/verify as JSON, and returns the access and
// refresh tokens, or fails the test.
func (h *Harness) SignInAPI(email string) Tokens {
	h.t.Helper()
	h.SendLink(email)
	u, err := url.Parse(h.LastLink(email))
	if err != nil {
		h.t.Fatalf("magiclinktest: SignInAPI: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"token_hash": u.Query().Get("token_hash"), "type": "magiclink"})
	t, status := h.postTokens(httpadapter.PathVerify, body)
	if status != http.StatusOK {
		h.t.Fatalf("magiclinktest: SignInAPI(%q): POST %s answered %d", email, httpadapter.PathVerify, status)
	}
	return t
}

// Refresh trades a refresh token at POST /auth/token. It returns the new
// tokens and true, or false when the endpoint refused the token (401: an
// unknown or already used refresh token, whose reuse also ends the
// session). Any other answer fails the test.
func (h *Harness) Refresh(refreshToken string) (Tokens, bool) {
	h.t.Helper()
	body, _ := json.Marshal(map[string]string{"grant_type": "refresh_token", "refresh_token": refreshToken})
	t, status := h.postTokens(httpadapter.PathToken, body)
	switch status {
	case http.StatusOK:
		return t, true
	case http.StatusUnauthorized:
		return Tokens{}, false
	}
	h.t.Fatalf("magiclinktest: Refresh: POST %s answered %d", httpadapter.PathToken, status)
	return Tokens{}, false
}

// postTokens posts a JSON body to path and reads a token answer.
func (h *Harness) postTokens(path string, body []byte) (Tokens, int) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.URL+h.prefix+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatalf("magiclinktest: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.Server.Client().Do(req)
	if err != nil {
		h.t.Fatalf("magiclinktest: POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return Tokens{}, resp.StatusCode
	}
	var b tokenBody
	if err := json.Unmarshal(data, &b); err != nil || b.AccessToken == "" || b.RefreshToken == "" {
		h.t.Fatalf("magiclinktest: POST %s answered 200 without tokens: %s", path, summary(data))
	}
	return Tokens{AccessToken: b.AccessToken, RefreshToken: b.RefreshToken, UserID: b.User.ID, Email: b.User.Email}, resp.StatusCode
}

// BearerClient returns a client that sends "Authorization: Bearer
// accessToken" with every request to the test server, as an app would.
func (h *Harness) BearerClient(accessToken string) *http.Client {
	c := h.Client()
	c.Transport = bearer{token: accessToken, next: c.Transport}
	return c
}

// bearer adds an Authorization header to a clone of each request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}
