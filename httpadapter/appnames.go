package httpadapter

import (
	"fmt"
	"path"

	"github.com/magiclink-go/magiclink/internal/catalog"
)

// appNameKey is the catalog key of the app name a page shows. A host's
// locales/{locale}.json may set it, so that the pages name a product
// whose name is translated in that locale's words. The built-in English
// text is empty, and an empty text means Config.AppName.
const appNameKey = "app.name"

// appNames resolves the app name of every locale in c once: the locale's
// appNameKey text, else the English one (the catalog's fallback), else
// fallback when that text is empty. A name a host set that a page may not
// show fails, naming its file and the key.
func appNames(c *catalog.Catalog, fallback string) (map[string]string, error) {
	locales := c.Locales()
	for _, tag := range locales {
		if own, _ := c.Own(tag, appNameKey); own != "" {
			if _, ok := cleanAppName(own); !ok {
				return nil, fmt.Errorf("%s: key %q: %.40q %s", path.Join(catalog.Dir, tag+".json"), appNameKey, own, appNameRule)
			}
		}
	}
	names := make(map[string]string, len(locales))
	for _, tag := range locales {
		names[tag] = fallback
		if s, _ := c.Text(tag, appNameKey); s != "" {
			names[tag], _ = cleanAppName(s)
		}
	}
	return names, nil
}

// appName is the app name a page in lang shows.
func (ps *pageSet) appName(lang string) string {
	if name, ok := ps.appNames[lang]; ok {
		return name
	}
	return ps.brand.appName
}
