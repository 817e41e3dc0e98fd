package catalog

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

var builtin = fstest.MapFS{
	"locales/en.json": {Data: []byte(`{"hello": "Hello, %[1]s", "bye": "Bye"}`)},
	"locales/de.json": {Data: []byte(`{"hello": "Hallo, %[1]s"}`)},
}

func TestLoadFallsBackToEnglish(t *testing.T) {
	t.Parallel()
	c, err := Load(builtin, fstest.MapFS{"locales/it.json": {Data: []byte(`{"bye": "Ciao"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ tag, key, want string }{
		{"de", "hello", "Hallo, %[1]s"}, {"de", "bye", "Bye"}, {"it", "bye", "Ciao"}, {"it", "hello", "Hello, %[1]s"},
		{"xx", "bye", "Bye"},
	} {
		if got, ok := c.Text(tt.tag, tt.key); !ok || got != tt.want {
			t.Errorf("Text(%q, %q) = %q, %v; want %q", tt.tag, tt.key, got, ok, tt.want)
		}
	}
	if _, ok := c.Text("de", "nope"); ok {
		t.Error("an unknown key has a text")
	}
	if !c.Has("it") || !c.Has("de") || c.Has("fr") {
		t.Error("Has does not list the loaded locales")
	}
	if got := c.Missing("de"); !slices.Equal(got, []string{"bye"}) {
		t.Errorf("Missing(de) = %q", got)
	}
	if got := c.Locales(); !slices.Equal(got, []string{"de", "en", "it"}) {
		t.Errorf("Locales() = %q", got)
	}
	if s, ok := c.Own("it", "bye"); !ok || s != "Ciao" {
		t.Errorf("Own(it, bye) = %q, %v; want the host's own text", s, ok)
	}
	if s, ok := c.Own("it", "hello"); ok {
		t.Errorf("Own(it, hello) = %q, true; want no text of its own, not English", s)
	}
}

// A broken translation, built in or a host's, fails Load naming file and key.
func TestLoadRejectsBrokenTexts(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		builtin, host fstest.MapFS
		want          string
	}{
		"host unknown key":    {builtin, fstest.MapFS{"locales/de.json": {Data: []byte(`{"helo": "x"}`)}}, `locales/de.json: unknown key "helo"`},
		"host verbs":          {builtin, fstest.MapFS{"locales/de.json": {Data: []byte(`{"hello": "Hallo"}`)}}, `key "hello" has the verbs`},
		"host bad name":       {builtin, fstest.MapFS{"locales/DE.json": {Data: []byte(`{}`)}}, "lower-case locale"},
		"host not an object":  {builtin, fstest.MapFS{"locales/de.json": {Data: []byte(`[]`)}}, "want a JSON object"},
		"built-in verbs":      {fstest.MapFS{"locales/en.json": builtin["locales/en.json"], "locales/fr.json": {Data: []byte(`{"hello": "Salut %d"}`)}}, nil, "built-in texts: locales/fr.json"},
		"built-in unknown":    {fstest.MapFS{"locales/en.json": builtin["locales/en.json"], "locales/fr.json": {Data: []byte(`{"hi": "Salut"}`)}}, nil, `unknown key "hi"`},
		"built-in no English": {fstest.MapFS{"locales/de.json": builtin["locales/de.json"]}, nil, "no English"},
	} {
		_, err := Load(tt.builtin, tt.host)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Load error %v, want one containing %q", name, err, tt.want)
		}
	}
}
