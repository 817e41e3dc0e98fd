// Package catalog holds the texts of pages by locale and key, read from
// {locale}.json files: the HTTP adapter's pages and the example server's
// are localized with it, so a host overrides and adds languages the same
// way for both, and internal/locale picks the language for both.
package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/magiclink-go/magiclink/internal/locale"
)

// Catalog holds texts by locale and key. English is complete; another
// locale's missing key falls back to English. A Catalog is immutable after
// Load and safe for concurrent use.
type Catalog struct {
	texts map[string]map[string]string
}

// Dir is where the texts live in a file system given to Load: one
// {locale}.json per locale, an object of key → text.
const Dir = "locales"

// verbPattern finds the fmt verbs of a text, such as "%[1]s" or "%d".
var verbPattern = regexp.MustCompile(`%(\[\d+\])?[a-z]`)

// Load reads the built-in texts, then merges a host's (nil for none) over
// them key by key. A host may add locales ("it.json") and replace single
// texts; neither it nor a built-in translation may invent keys (a typo
// would silently never show) or change a text's verbs (the page would
// print "%!s(MISSING)"): English is the reference.
func Load(builtin, host fs.FS) (*Catalog, error) {
	c := &Catalog{texts: map[string]map[string]string{}}
	if err := c.merge(builtin, nil); err != nil {
		return nil, fmt.Errorf("built-in texts: %w", err)
	}
	en := c.texts[locale.Fallback]
	if len(en) == 0 {
		return nil, errors.New("built-in texts: no English (en) texts")
	}
	for _, tag := range slices.Sorted(maps.Keys(c.texts)) {
		if err := checkTexts(path.Join(Dir, tag+".json"), c.texts[tag], en); err != nil {
			return nil, fmt.Errorf("built-in texts: %w", err)
		}
	}
	if host != nil {
		if err := c.merge(host, en); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// merge reads every {locale}.json of fsys's Dir into c. With known
// set, each key must be one of known's, with the same verbs.
func (c *Catalog) merge(fsys fs.FS, known map[string]string) error {
	entries, err := fs.ReadDir(fsys, Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", Dir, err)
	}
	for _, e := range entries {
		name := path.Join(Dir, e.Name())
		tag, ok := strings.CutSuffix(e.Name(), ".json")
		if e.IsDir() || !ok {
			continue
		}
		if cands := locale.Candidates(tag); len(cands) == 0 || cands[0] != tag {
			return fmt.Errorf("%s: want {locale}.json with a lower-case locale such as \"de\" or \"pt-br\"", name)
		}
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		var texts map[string]string
		if err := json.Unmarshal(raw, &texts); err != nil {
			return fmt.Errorf("%s: want a JSON object of key to text: %w", name, err)
		}
		if known != nil {
			if err := checkTexts(name, texts, known); err != nil {
				return err
			}
		}
		if c.texts[tag] == nil {
			c.texts[tag] = map[string]string{}
		}
		maps.Copy(c.texts[tag], texts)
	}
	return nil
}

// checkTexts reports a key known lacks, or a text whose verbs differ from
// the English one's, naming the file and the key.
func checkTexts(name string, texts, known map[string]string) error {
	for _, key := range slices.Sorted(maps.Keys(texts)) {
		want, ok := known[key]
		if !ok {
			return fmt.Errorf("%s: unknown key %q", name, key)
		}
		if got, exp := verbs(texts[key]), verbs(want); !slices.Equal(got, exp) {
			return fmt.Errorf("%s: key %q has the verbs %q; the English text has %q", name, key, got, exp)
		}
	}
	return nil
}

// verbs lists a text's fmt verbs, sorted, so that a translation may reorder
// explicitly indexed ones.
func verbs(s string) []string {
	v := verbPattern.FindAllString(strings.ReplaceAll(s, "%%", ""), -1)
	slices.Sort(v)
	return v
}

// Has reports whether the catalog has texts for the locale.
func (c *Catalog) Has(tag string) bool {
	_, ok := c.texts[tag]
	return ok
}

// Text returns key's text in the locale, else in English.
func (c *Catalog) Text(tag, key string) (string, bool) {
	if s, ok := c.texts[tag][key]; ok {
		return s, true
	}
	s, ok := c.texts[locale.Fallback][key]
	return s, ok
}

// Own returns key's text in the locale itself, without falling back to
// English: what that locale's files set.
func (c *Catalog) Own(tag, key string) (string, bool) {
	s, ok := c.texts[tag][key]
	return s, ok
}

// Locales lists, sorted, the locales the catalog has texts for.
func (c *Catalog) Locales() []string {
	return slices.Sorted(maps.Keys(c.texts))
}

// Missing lists, sorted, the English keys the locale has no text of its
// own for: what a translation still lacks.
func (c *Catalog) Missing(tag string) []string {
	var out []string
	for _, key := range slices.Sorted(maps.Keys(c.texts[locale.Fallback])) {
		if _, ok := c.texts[tag][key]; !ok {
			out = append(out, key)
		}
	}
	return out
}
