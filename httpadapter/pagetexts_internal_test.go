package httpadapter

import (
	"io/fs"
	"testing"

	"github.com/magiclink-go/magiclink/internal/catalog"
)

// Every built-in locale has every English text. (Load itself refuses a
// built-in text English lacks, or one with other verbs.)
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
	for _, l := range []string{"de", "fr", "es", "tr"} {
		if missing := c.Missing(l); len(missing) > 0 {
			t.Errorf("%s lacks %q", l, missing)
		}
	}
}
