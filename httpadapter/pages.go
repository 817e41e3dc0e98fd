package httpadapter

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/internal/catalog"
)

// builtinPages holds the built-in page templates, their stylesheet and
// texts (see Config.Pages for the names).
//
//go:embed pages
var builtinPages embed.FS

// The pages the adapter renders, each a file {name}.html that defines the
// templates "title" and "content" inside the shared layout.
const (
	pageConfirm        = "confirm"
	pageSent           = "sent"
	pageLinkInvalid    = "link-invalid"
	pageCodeInvalid    = "code-invalid"
	pageRateLimited    = "rate-limited"
	pageUnavailable    = "unavailable"
	pageInternal       = "internal"
	pageBlocked        = "blocked"
	pageRequestInvalid = "request-invalid"
	pageSignInDenied   = "signin-denied"
	pageApproved       = "approved"
	pageDeviceMismatch = "device-mismatch"
	pageMatchInvalid   = "match-invalid"
	pagePendingInvalid = "pending-invalid"
)

// pageNames lists every page, for loading and for checking a host's files.
var pageNames = []string{pageConfirm, pageSent, pageLinkInvalid, pageCodeInvalid, pageRateLimited,
	pageUnavailable, pageInternal, pageBlocked, pageRequestInvalid, pageSignInDenied,
	pageApproved, pageDeviceMismatch, pageMatchInvalid, pagePendingInvalid}

// Shared files of the pages.
const (
	layoutFile = "layout.html"
	partsFile  = "parts.html"
	styleFile  = "style.css"
)

// pageSet is the parsed pages with everything New derived from them.
// It is immutable and safe for concurrent use.
type pageSet struct {
	pages   map[string]*template.Template
	catalog *catalog.Catalog
	brand   branding
	// appNames is the app name by locale (see appNames).
	appNames map[string]string
	style    template.CSS
	csp      string
}

// loadPages builds the page set: each page from the host's file of that
// name when host has one, else the built-in one. Every template is parsed
// and rendered once here, so a broken override fails New, naming its file.
func loadPages(host fs.FS, brand branding) (*pageSet, error) {
	builtin, err := fs.Sub(builtinPages, "pages")
	if err != nil {
		return nil, fmt.Errorf("built-in pages: %w", err)
	}
	if err := checkHostFiles(host); err != nil {
		return nil, err
	}
	read := func(name string) (string, error) {
		if host != nil {
			b, err := fs.ReadFile(host, name)
			if err == nil {
				return string(b), nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("%s: %w", name, err)
			}
		}
		b, err := fs.ReadFile(builtin, name)
		return string(b), err
	}
	ps := &pageSet{pages: make(map[string]*template.Template, len(pageNames)), brand: brand}
	if ps.catalog, err = catalog.Load(builtin, host); err != nil {
		return nil, err
	}
	if ps.appNames, err = appNames(ps.catalog, brand.appName); err != nil {
		return nil, err
	}
	css, err := read(styleFile)
	if err != nil {
		return nil, err
	}
	if strings.Contains(strings.ToLower(css), "</style") {
		return nil, fmt.Errorf("%s: must not contain \"</style\"", styleFile)
	}
	style := ":root{--accent:" + brand.accent + ";--on-accent:" + brand.onAccent + "}\n" + css
	ps.style = template.CSS(style)
	ps.csp = pageCSP(style, brand.logoSrc)
	shared := template.New("pages").Option("missingkey=error")
	for _, name := range []string{layoutFile, partsFile} {
		src, err := read(name)
		if err != nil {
			return nil, err
		}
		if _, err := shared.New(name).Parse(src); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, name := range pageNames {
		if ps.pages[name], err = parsePage(shared, name, read); err != nil {
			return nil, err
		}
		if _, err := ps.render(name, sampleView(ps)); err != nil {
			return nil, fmt.Errorf("%s.html: %w", name, err)
		}
	}
	return ps, nil
}

// parsePage parses one page into a copy of the shared layout and parts.
func parsePage(shared *template.Template, name string, read func(string) (string, error)) (*template.Template, error) {
	file := name + ".html"
	src, err := read(file)
	if err != nil {
		return nil, err
	}
	t, err := shared.Clone()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if _, err := t.New(file).Parse(src); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, def := range []string{"title", "content"} {
		if t.Lookup(def) == nil {
			return nil, fmt.Errorf("%s: must define the template %q", file, def)
		}
	}
	return t, nil
}

// checkHostFiles refuses an HTML file at the root of the host's pages that
// names no page: a misspelt override would otherwise be ignored quietly.
func checkHostFiles(host fs.FS) error {
	if host == nil {
		return nil
	}
	entries, err := fs.ReadDir(host, ".")
	if err != nil {
		return fmt.Errorf("reading the root: %w", err)
	}
	known := map[string]bool{layoutFile: true, partsFile: true}
	for _, n := range pageNames {
		known[n+".html"] = true
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".html") && !known[e.Name()] {
			return fmt.Errorf("%s names no page; the pages are %s", e.Name(), strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
	}
	return nil
}

// render executes a page.
func (ps *pageSet) render(name string, v *pageView) ([]byte, error) {
	var buf bytes.Buffer
	if err := ps.pages[name].ExecuteTemplate(&buf, layoutFile, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sampleView is a view with every optional part present, so that the check
// in loadPages reaches every branch a template is likely to take.
func sampleView(ps *pageSet) *pageView {
	v := &pageView{
		Origin: "https://app.example.com", VerifyAction: "/auth/verify", SendAction: "/auth/send-magic-link",
		ResendOrigin: "https://app.example.com", Next: "/", TokenHash: "sample", Account: "a@example.com",
		Email: "a@example.com", CodeForm: true, Resend: true, RetryURL: "/auth/verify", RetryAfter: 90, Reason: "email",
		Notice: "approve.number_required", SignInHere: true, Approve: true, ApproveAction: "/auth/approve",
		AskedBrowser: "Firefox", AskedOS: "Windows", AskedIP: "198.51.100.7", AskedAge: 3 * time.Minute,
	}
	ps.fill(v, "en")
	return v
}

// pageCSP is the pages' Content-Security-Policy: nothing may load but the
// page's own stylesheet (by its hash) and the configured logo, forms post
// only to this origin, and no one may frame a page (clickjacking the
// button would sign a victim in).
func pageCSP(style, logoSrc string) string {
	sum := sha256.Sum256([]byte(style))
	csp := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if logoSrc != "" {
		csp += "; img-src " + logoSrc
	}
	return csp + "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}
