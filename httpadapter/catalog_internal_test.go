package httpadapter

import (
	"io/fs"
	"maps"
	"slices"
	"testing"
)

// Every built-in locale has every English text, with the same verbs, and
// no text English lacks.
func TestBuiltinCatalogsAreComplete(t *testing.T) {
	t.Parallel()
	builtin, err := fs.Sub(builtinPages, "pages")
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadCatalog(builtin, nil)
	if err != nil {
		t.Fatal(err)
	}
	en := c.texts["en"]
	for _, l := range []string{"de", "fr", "es", "tr"} {
		texts := c.texts[l]
		if got, want := slices.Sorted(maps.Keys(texts)), slices.Sorted(maps.Keys(en)); !slices.Equal(got, want) {
			t.Errorf("%s has keys %q, want %q", l, got, want)
		}
		if err := checkTexts(l+".json", texts, en); err != nil {
			t.Error(err)
		}
	}
}
