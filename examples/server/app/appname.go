package app

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io/fs"
	"path"

	"github.com/magiclink-go/magiclink/internal/catalog"
	"github.com/magiclink-go/magiclink/mailer"
)

// namedMails renders the sign-in mails with the example's name in each
// mail's own language ("magiclink-Beispiel" in a German mail), where the
// Service has one AppName for every mail. The Service and an outbox get
// the same value, so the outbox still renders off the request path (it
// does so only for its own renderer).
type namedMails struct {
	*mailer.Templates
}

// Render implements mailer.Renderer: d with the app name of the locale
// the templates render it in, then the templates' mail.
func (n namedMails) Render(d mailer.LinkData) (*mailer.Message, error) {
	d.AppName = appName(n.Resolve(d.Locale))
	return n.Templates.Render(d)
}

// appName is the example's name in lang ("app.name"), English when the
// texts lack that language.
func appName(lang string) string {
	return pageData{Lang: lang}.text("app.name")
}

// adapterPages is the adapter's Config.Pages: only its texts
// locales/{locale}.json, each setting "app.name" to the example's name in
// that locale, so the adapter's pages (confirm, errors) name the example
// as its own pages and mails do. It is an in-memory zip archive, the
// standard library's fs.FS over bytes.
func adapterPages() (fs.FS, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, tag := range texts.Locales() {
		name, ok := texts.Own(tag, "app.name")
		if !ok {
			continue // the adapter falls back to the English name
		}
		raw, err := json.Marshal(map[string]string{"app.name": name})
		if err != nil {
			return nil, err
		}
		w, err := zw.Create(path.Join(catalog.Dir, tag+".json"))
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
}
