package httpadapter

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
	"time"
)

// pageStyle is the confirm page's only stylesheet. It is inline, so the page
// needs no external asset, and allowed by its hash in the CSP rather than by
// 'unsafe-inline'. Colours meet WCAG AA contrast; focus is always visible.
const pageStyle = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;color:#1a1a1a}
main{max-width:28rem;margin:10vh auto;padding:2rem;background:#fff;border-radius:.75rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin:0 0 1rem}
p{margin:0 0 1rem}
.origin,.account{font-weight:600;word-break:break-all}
.notice{padding:.75rem 1rem;border-left:4px solid #b3261e;background:#fdecea;color:#5f1410}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input{width:100%;padding:.6rem .7rem;font:inherit;border:1px solid #5f6368;border-radius:.4rem;color:#1a1a1a;background:#fff}
button{margin-top:1rem;width:100%;padding:.7rem 1rem;font:inherit;font-weight:600;color:#fff;background:#1a56db;border:0;border-radius:.4rem;cursor:pointer}
button:hover{background:#1446b8}
input:focus-visible,button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.secondary{margin-top:1.5rem;padding-top:1rem;border-top:1px solid #dadce0}
h2{font-size:1.1rem;margin:0 0 .75rem}
.done{padding:.75rem 1rem;border-left:4px solid #137333;background:#e6f4ea;color:#0d3d1f}
@media (prefers-color-scheme:dark){body{background:#121212;color:#e8eaed}main{background:#1f1f1f}input{background:#121212;color:#e8eaed;border-color:#9aa0a6}.notice{background:#3c1412;color:#f9dedc}}
`

// pageTemplate is the confirm page. It has no script: the button is a plain
// form POST, which is what makes the link safe from mail scanners — they
// fetch links but do not submit forms.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{.Title}} · {{.AppName}}</title>
<style>{{.Style}}</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Confirm}}
{{if .Notice}}<p class="notice" role="alert">{{.Notice}}</p>{{end}}
{{if .Account}}<p>You are signing in to {{.AppName}} as</p>
<p class="account">{{.Account}}</p>
<p>at</p>
{{else}}<p>You are signing in to {{.AppName}} at</p>
{{end}}<p class="origin">{{.Origin}}</p>
{{if .SignInHere}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="token_hash" value="{{.TokenHash}}">
<input type="hidden" name="type" value="magiclink">
<button type="submit">{{if .Approve}}Sign in on this device{{else}}Sign in{{end}}</button>
</form>
{{end}}
{{if .Approve}}
<section class="secondary" aria-labelledby="approve-title">
<h2 id="approve-title">Approve the sign-in on the other device</h2>
<p>Sign-in was requested {{.AskedAgo}} from {{.AskedAgent}}{{if .AskedIP}} at {{.AskedIP}}{{end}}.
If that was you, type the number that device shows. If it was not you{{if .Account}}, or that is not your address{{end}}, close this page.</p>
<form method="post" action="{{.ApproveAction}}">
<input type="hidden" name="token_hash" value="{{.TokenHash}}">
<input type="hidden" name="type" value="magiclink">
<label for="match">Number shown on the other device</label>
<input id="match" name="match" type="text" inputmode="numeric" autocomplete="off" pattern="[0-9]{1,2}" maxlength="2" required>
<button type="submit">Approve the other device</button>
</form>
</section>
{{else}}
<p class="secondary">If you did not ask to sign in{{if .Account}}, or that is not your address{{end}}, close this page; nothing happens until you press the button.</p>
{{end}}
{{else}}
{{if .Message}}<p class="{{if .Done}}done{{else}}notice{{end}}" role="{{if .Done}}status{{else}}alert{{end}}">{{.Message}}</p>{{end}}
{{if .Origin}}<p>Signing in to {{.AppName}} at <span class="origin">{{.Origin}}</span>.</p>{{end}}
{{if .CodeForm}}
<form method="post" action="{{.Action}}">
<label for="email">E-mail address</label>
<input id="email" name="email" type="email" autocomplete="email" required maxlength="254" value="{{.Email}}">
<label for="code">6-digit code from the e-mail</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" maxlength="7" required>
<button type="submit">Sign in with code</button>
</form>
{{end}}
{{end}}
</main>
</body>
</html>
`))

// pageData fills pageTemplate.
type pageData struct {
	Title     string
	AppName   string
	Origin    string
	Action    string
	TokenHash string
	// Account is the address the link signs in to, on the confirm page.
	Account  string
	Email    string
	Message  string
	Confirm  bool
	CodeForm bool
	Style    template.CSS

	// The confirm page's cross-device part (confirm.go).
	Notice        string
	SignInHere    bool
	Approve       bool
	ApproveAction string
	AskedAgent    string
	AskedIP       string
	AskedAgo      string
	// Done marks Message as good news (an approval went through).
	Done bool
}

// Messages of the page states.
const (
	msgExpired   = "This link has expired or was already used — enter the code from the e-mail, or request a new link."
	msgBadCode   = "That code is not valid or has expired — check the e-mail and try again, or request a new link."
	msgForbidden = "This sign-in request did not come from this site, so it was blocked. Open the link from your e-mail again."
	msgInternal  = "Something went wrong. Try again, or request a new link."
)

// pageCSP is the confirm page's Content-Security-Policy: nothing may load,
// only the page's own stylesheet applies, forms post only to this origin,
// and no one may frame it (clickjacking the button would sign a victim in).
func pageCSP() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// renderPage writes the page with its security headers.
func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, status int, d pageData, retryAfter time.Duration) {
	d.AppName = h.appName
	d.Style = template.CSS(pageStyle)
	if d.Action == "" {
		d.Action = h.verifyAt
	}
	if d.Origin == "" {
		d.Origin = h.selfOrigin(r)
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		h.log.ErrorContext(r.Context(), "httpadapter: rendering the confirm page failed", "error", err.Error())
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("internal error\n")
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Security-Policy", h.csp)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if retryAfter > 0 {
		hdr.Set("Retry-After", strconv.Itoa(retrySeconds(retryAfter)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// selfOrigin is the origin of the host serving this request, as the user's
// browser sees it. Behind a trusted TLS-terminating proxy the scheme comes
// from X-Forwarded-Proto.
func (h *Handler) selfOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || (h.fromTrustedProxy(r) && r.Header.Get("X-Forwarded-Proto") == "https") {
		scheme = "https"
	}
	o := scheme + "://" + r.Host
	if canon, ok := h.core.Allow(o); ok {
		return canon
	}
	return o
}
