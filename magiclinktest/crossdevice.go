package magiclinktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"golang.org/x/net/html"

	"github.com/magiclink-go/magiclink/httpadapter"
)

// Asker is a browser that asked for a sign-in link and waits for it to be
// approved on another device (cross-device sign-in). Its Client holds the
// pending cookie and, once Signed in, the session.
type Asker struct {
	// Client is the asking browser: its own cookie jar, following
	// redirects.
	Client *http.Client
	// Email is the address it asked for.
	Email string

	h *Harness
}

// PendingStatus is one answer of GET /auth/pending as a test sees it.
type PendingStatus struct {
	// HTTPStatus is the response status (200, or 404 without a request).
	HTTPStatus int
	// Status is "waiting", "approved" or "expired" (empty on a 404).
	Status string
	// Match is the number to show while waiting.
	Match string
	// ExpiresIn is the seconds left while waiting.
	ExpiresIn int
	// Code is the error code of a non-200 answer, such as PENDING_INVALID.
	Code string
}

// Ask sends a link for email from a new browser (its own cookie jar), the
// way the sign-in page does, and returns that browser. The mail is in
// LastLink(email) and LastCode(email).
func (h *Harness) Ask(email string) *Asker {
	h.t.Helper()
	c := h.Client()
	h.askForLink(c, "Ask", email, "Mozilla/5.0 (X11; Linux x86_64) magiclinktest Chrome/131.0")
	return &Asker{Client: c, Email: email, h: h}
}

// Poll asks GET /auth/pending once, as the waiting page does. An approved
// answer signs the Asker's Client in (the session cookie lands in its jar)
// and is given only once.
func (a *Asker) Poll() PendingStatus {
	a.h.t.Helper()
	resp, err := a.Client.Get(a.h.URL + a.h.prefix + httpadapter.PathPending)
	if err != nil {
		a.h.t.Fatalf("magiclinktest: Poll: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		Match     string `json:"match"`
		ExpiresIn int    `json:"expires_in"`
		Code      string `json:"code"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil {
		a.h.t.Fatalf("magiclinktest: Poll: answer %d is not JSON: %v", resp.StatusCode, err)
	}
	return PendingStatus{HTTPStatus: resp.StatusCode, Status: body.Status, Match: body.Match, ExpiresIn: body.ExpiresIn, Code: body.Code}
}

// Match returns the number the asking browser shows, failing the test
// unless the request is waiting.
func (a *Asker) Match() string {
	a.h.t.Helper()
	st := a.Poll()
	if st.Status != "waiting" || len(st.Match) != 2 {
		a.h.t.Fatalf("magiclinktest: Match: the request is %+v, not waiting", st)
	}
	return st.Match
}

// SignedIn polls once, fails the test unless the request was approved,
// and returns the Asker's Client, now signed in.
func (a *Asker) SignedIn() *http.Client {
	a.h.t.Helper()
	if st := a.Poll(); st.Status != "approved" {
		a.h.t.Fatalf("magiclinktest: SignedIn: the request is %+v, not approved", st)
	}
	if !a.h.onLogin && !a.h.hasSession(a.Client) {
		a.h.t.Fatalf("magiclinktest: SignedIn: the approval set no %s cookie", a.h.cookie)
	}
	return a.Client
}

// Approve does what a person does on a second device: it opens link in a
// new browser, types match into the confirm page's approval form and
// submits it. It returns the status of that submission (200 when approved;
// 400 for a wrong number, which ends the request) and fails the test only
// when the page offers no approval form.
func (h *Harness) Approve(link, match string) int {
	h.t.Helper()
	c := h.Client()
	resp, err := c.Get(link)
	if err != nil {
		h.t.Fatalf("magiclinktest: Approve: GET the link: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	action, fields, err := approvalForm(page)
	if err != nil {
		h.t.Fatalf("magiclinktest: Approve: the link's page has %v: %s", err, summary(page))
	}
	u, _ := url.Parse(link)
	fields.Set("match", match)
	req, err := formPost(u, action, fields, resp.Header.Get("Referrer-Policy"), h.URL)
	if err != nil {
		h.t.Fatalf("magiclinktest: Approve: %v", err)
	}
	resp, err = c.Do(req)
	if err != nil {
		h.t.Fatalf("magiclinktest: Approve: POST the approval: %v", err)
	}
	resp.Body.Close()
	if h.hasSession(c) {
		h.t.Fatalf("magiclinktest: Approve: the approving browser was signed in")
	}
	return resp.StatusCode
}

// approvalForm finds the form of a page that posts a match number.
func approvalForm(page []byte) (action string, fields url.Values, err error) {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return "", nil, err
	}
	form := find(doc, func(n *html.Node) bool {
		return n.Type == html.ElementNode && n.Data == "form" &&
			find(n, func(in *html.Node) bool { return in.Data == "input" && attr(in, "name") == "match" }) != nil
	})
	if form == nil {
		return "", nil, errors.New("no approval form (a form posting match)")
	}
	return attr(form, "action"), formValues(form), nil
}
