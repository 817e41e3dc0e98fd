package httpadapter

import (
	"io/fs"
	"slices"
	"testing"

	"github.com/magiclink-go/magiclink/internal/catalog"
)

// Every built-in locale has every English text but the app name, which
// is the host's to set (an empty English text stands for Config.AppName,
// and a built-in translation of it would hide Config.AppName in that
// locale). (Load itself refuses a built-in text English lacks, or one
// with other verbs.)
func TestBuiltinPageTextsAreComplete(t *testing.T) {
	t.Parallel()
	builtin, err := fs.Sub(builtinPages, "pages")
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Load(builtin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := c.Own("en", appNameKey); !ok || s != "" {
		t.Errorf("the built-in English %q is %q, %v; want an empty text", appNameKey, s, ok)
	}
	for _, l := range []string{"de", "fr", "es", "tr"} {
		if missing := c.Missing(l); !slices.Equal(missing, []string{appNameKey}) {
			t.Errorf("%s lacks %q; want only %q", l, missing, appNameKey)
		}
	}
}
