package httpadapter

import (
	"testing"
	"testing/fstest"
)

// A page's app name is looked up, not built: filling a view costs no
// allocation, with or without the host's names. Not parallel: the
// allocation count is process-wide.
func TestPageAppNameCostsNoAllocation(t *testing.T) {
	host := fstest.MapFS{"locales/de.json": {Data: []byte(`{"app.name": "Acme-Beispiel"}`)}}
	ps, err := loadPages(host, branding{appName: "Acme", accent: DefaultAccentColor, onAccent: "#ffffff"})
	if err != nil {
		t.Fatal(err)
	}
	var v pageView
	for _, lang := range []string{"de", "en", "fr"} {
		if n := testing.AllocsPerRun(100, func() { ps.fill(&v, lang) }); n != 0 {
			t.Errorf("filling a %s view allocates %v times", lang, n)
		}
	}
	if ps.fill(&v, "de"); v.AppName != "Acme-Beispiel" {
		t.Errorf("de AppName %q", v.AppName)
	}
	if ps.fill(&v, "fr"); v.AppName != "Acme" {
		t.Errorf("fr AppName %q", v.AppName)
	}
}
