package mailer

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/magiclink-go/magiclink/internal/locale"
)

// builtinFS holds the built-in templates. For every locale there are three
// files, named after the lower-case locale tag:
//
//	{locale}.subject.txt  subject line (text/template)
//	{locale}.txt          text part (text/template)
//	{locale}.html         HTML part (html/template)
//
//go:embed templates/*.txt templates/*.html
var builtinFS embed.FS

// TemplateData is what the templates see.
//
// Subject and text templates are text/template; the HTML template is
// html/template, so every value is escaped for its context there.
type TemplateData struct {
	// To is the recipient address.
	To string
	// AppName, Origin, Link and Code are copied from LinkData.
	AppName string
	Origin  string
	Link    string
	Code    string
	// CodeSpaced is Code with a space in the middle ("123 456"), easier to
	// read and type.
	CodeSpaced string
	// Minutes is the lifetime in whole minutes, rounded up (at least 1).
	Minutes int
	// ExpiresAt is when link and code expire.
	ExpiresAt time.Time
	// Locale is the locale being rendered, such as "de".
	Locale string
}

// Templates renders localized sign-in mails. The built-in locales are en,
// de, fr, es and tr; a requested locale falls back from "tr-TR" to "tr" to
// "en". A Templates is immutable and safe for concurrent use.
type Templates struct {
	sets map[string]*templateSet
}

type templateSet struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// DefaultTemplates returns the built-in templates. It panics only if the
// embedded templates are broken, which the package tests rule out.
func DefaultTemplates() *Templates {
	t, err := NewTemplates(nil)
	if err != nil {
		panic(err)
	}
	return t
}

// NewTemplates reads templates from fsys, named as the built-in ones
// ({locale}.subject.txt, {locale}.txt, {locale}.html) at the root of fsys
// (use fs.Sub for a subdirectory). A file fsys lacks is taken from the
// built-in templates of that locale; a locale fsys adds (such as "it") must
// provide all three files. Locale names are lower case, such as "pt-br".
// Parse errors are returned here, not at render time. A nil fsys means the
// built-in templates only.
func NewTemplates(fsys fs.FS) (*Templates, error) {
	builtin, err := fs.Sub(builtinFS, "templates")
	if err != nil {
		return nil, fmt.Errorf("mailer: built-in templates: %w", err)
	}
	builtinLocales, err := templateLocales(builtin)
	if err != nil {
		return nil, fmt.Errorf("mailer: built-in templates: %w", err)
	}
	locales := builtinLocales
	if fsys != nil {
		custom, err := templateLocales(fsys)
		if err != nil {
			return nil, fmt.Errorf("mailer: templates: %w", err)
		}
		maps.Copy(locales, custom)
	}
	t := &Templates{sets: make(map[string]*templateSet, len(locales))}
	for _, locale := range slices.Sorted(maps.Keys(locales)) {
		read := func(name string) (string, error) {
			if fsys != nil {
				b, err := fs.ReadFile(fsys, name)
				if err == nil {
					return string(b), nil
				}
				if !errors.Is(err, fs.ErrNotExist) {
					return "", fmt.Errorf("mailer: templates: %w", err)
				}
			}
			b, err := fs.ReadFile(builtin, name)
			if err != nil {
				return "", fmt.Errorf("mailer: templates: locale %q lacks %s and there is no built-in one", locale, name)
			}
			return string(b), nil
		}
		set := &templateSet{}
		src, err := read(locale + ".subject.txt")
		if err != nil {
			return nil, err
		}
		if set.subject, err = texttemplate.New(locale + ".subject.txt").Option("missingkey=error").Parse(src); err != nil {
			return nil, fmt.Errorf("mailer: templates: %w", err)
		}
		if src, err = read(locale + ".txt"); err != nil {
			return nil, err
		}
		if set.text, err = texttemplate.New(locale + ".txt").Option("missingkey=error").Parse(src); err != nil {
			return nil, fmt.Errorf("mailer: templates: %w", err)
		}
		if src, err = read(locale + ".html"); err != nil {
			return nil, err
		}
		if set.html, err = htmltemplate.New(locale + ".html").Option("missingkey=error").Parse(src); err != nil {
			return nil, fmt.Errorf("mailer: templates: %w", err)
		}
		t.sets[locale] = set
	}
	if _, ok := t.sets["en"]; !ok {
		return nil, errors.New("mailer: templates: no English (en) templates to fall back to")
	}
	return t, nil
}

// templateLocales lists the locales that have at least one template file at
// the root of fsys.
func templateLocales(fsys fs.FS) (map[string]bool, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		var locale string
		switch {
		case strings.HasSuffix(name, ".subject.txt"):
			locale = strings.TrimSuffix(name, ".subject.txt")
		case strings.HasSuffix(name, ".txt"):
			locale = strings.TrimSuffix(name, ".txt")
		case strings.HasSuffix(name, ".html"):
			locale = strings.TrimSuffix(name, ".html")
		default:
			continue
		}
		if locale == "" || locale != strings.ToLower(locale) || strings.ContainsAny(locale, "._ ") {
			return nil, fmt.Errorf("template file %q: want {locale}.subject.txt, {locale}.txt or {locale}.html with a lower-case locale such as \"de\" or \"pt-br\"", path.Clean(name))
		}
		out[locale] = true
	}
	return out, nil
}

// Locales returns the locales t has templates for, sorted.
func (t *Templates) Locales() []string {
	return slices.Sorted(maps.Keys(t.sets))
}

// Resolve returns the locale Render uses for the requested one: the full tag
// ("pt-br"), then its language ("pt"), then "en". It accepts any case, "_"
// for "-", and an Accept-Language style list (the first entry counts).
func (t *Templates) Resolve(tag string) string {
	return locale.Resolve(tag, func(l string) bool { _, ok := t.sets[l]; return ok })
}

// Render implements Renderer: it renders the subject, text and HTML parts in
// the best locale for d.Locale. The subject is one line: control characters
// (CR and LF included) become spaces, so no value can start a header.
func (t *Templates) Render(d LinkData) (*Message, error) {
	if strings.ContainsFunc(d.To, isControl) {
		return nil, errors.New("mailer: recipient contains control characters")
	}
	locale := t.Resolve(d.Locale)
	set := t.sets[locale]
	data := TemplateData{
		To:         d.To,
		AppName:    d.AppName,
		Origin:     d.Origin,
		Link:       d.Link,
		Code:       d.Code,
		CodeSpaced: spaceCode(d.Code),
		Minutes:    minutes(d.TTL, d.ExpiresAt),
		ExpiresAt:  d.ExpiresAt,
		Locale:     locale,
	}
	var subject, text, html bytes.Buffer
	if err := set.subject.Execute(&subject, data); err != nil {
		return nil, fmt.Errorf("mailer: rendering subject (%s): %w", locale, err)
	}
	if err := set.text.Execute(&text, data); err != nil {
		return nil, fmt.Errorf("mailer: rendering text (%s): %w", locale, err)
	}
	if err := set.html.Execute(&html, data); err != nil {
		return nil, fmt.Errorf("mailer: rendering HTML (%s): %w", locale, err)
	}
	return &Message{
		To:      d.To,
		Subject: cleanHeader(subject.String()),
		Text:    text.String(),
		HTML:    html.String(),
		Locale:  locale,
		Link:    d.Link,
		Code:    d.Code,
	}, nil
}

// spaceCode splits a 6-digit code in two groups of three.
func spaceCode(code string) string {
	if len(code) == 6 {
		return code[:3] + " " + code[3:]
	}
	return code
}

// minutes returns the lifetime in whole minutes, rounded up, at least 1.
func minutes(ttl time.Duration, expiresAt time.Time) int {
	if ttl <= 0 && !expiresAt.IsZero() {
		ttl = time.Until(expiresAt)
	}
	m := int((ttl + time.Minute - 1) / time.Minute)
	return max(m, 1)
}

// cleanHeader makes s safe for a header value: control characters become
// spaces, runs of spaces collapse, and the ends are trimmed.
func cleanHeader(s string) string {
	s = strings.Map(func(r rune) rune {
		if isControl(r) || r == '\u2028' || r == '\u2029' || r == '\u0085' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
