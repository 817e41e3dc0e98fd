package httpadapter

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultAccentColor is the pages' accent colour without Config.AccentColor.
const DefaultAccentColor = "#1a56db"

// minContrast is WCAG 2.x's AA contrast ratio for normal text.
const minContrast = 4.5

// Texts a page may put on the accent colour, in order of preference: white,
// a near-black that reads softer than black, and black, which always
// reaches minContrast when white does not.
var onAccentColors = []string{"#ffffff", "#111111", "#000000"}

// branding is the validated look of the pages.
type branding struct {
	appName  string
	logoURL  string
	logoSrc  string // the logo's CSP source: an origin, or 'self'
	accent   string
	onAccent string
}

// maxAppNameLen bounds Config.AppName, which every page shows in its title.
const maxAppNameLen = 100

// appNameRule says what cleanAppName accepts, for a config error.
var appNameRule = fmt.Sprintf("must be 1–%d printable characters", maxAppNameLen)

// cleanAppName trims an app name and reports whether it is one a page may
// show: 1–maxAppNameLen characters of valid UTF-8 without control or
// bidirectional-override characters.
func cleanAppName(s string) (string, bool) {
	name := strings.TrimSpace(s)
	ok := name != "" && utf8.RuneCountInString(name) <= maxAppNameLen && utf8.ValidString(name) && !hasControl(name)
	return name, ok
}

func validateBranding(cfg Config, serviceName string) (branding, error) {
	b := branding{appName: serviceName, accent: DefaultAccentColor}
	if cfg.AppName != "" {
		name, ok := cleanAppName(cfg.AppName)
		if !ok {
			return b, configError("AppName", "%.40q %s", cfg.AppName, appNameRule)
		}
		b.appName = name
	}
	if cfg.LogoURL != "" {
		src, err := logoSource(cfg.LogoURL)
		if err != nil {
			return b, configError("LogoURL", "%.80q %v", cfg.LogoURL, err)
		}
		b.logoURL, b.logoSrc = cfg.LogoURL, src
	}
	if cfg.AccentColor != "" {
		if !isHexColor(cfg.AccentColor) {
			return b, configError("AccentColor", "%.20q must be a colour such as \"#1a56db\" or \"#15d\"", cfg.AccentColor)
		}
		b.accent = strings.ToLower(cfg.AccentColor)
	}
	on, ratio := textOn(b.accent)
	if ratio < minContrast {
		return b, configError("AccentColor", "%s leaves text at a contrast of %.2f:1, below %.1f:1", b.accent, ratio, minContrast)
	}
	b.onAccent = on
	return b, nil
}

// logoSource checks a logo URL, an https URL or a path on the pages' own
// origin, and returns what the CSP's img-src must allow for it.
func logoSource(s string) (string, error) {
	if len(s) > 2048 || hasControl(s) || strings.ContainsAny(s, " \\") {
		return "", fmt.Errorf("must be at most 2048 bytes without spaces, backslashes or control characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("is not a URL: %v", err)
	}
	switch {
	case u.Scheme == "https" && u.Host != "" && u.User == nil && u.Opaque == "":
		return "https://" + strings.ToLower(u.Host), nil
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//"):
		return "'self'", nil
	}
	return "", fmt.Errorf("must be an https URL without user info, or a path on this origin such as \"/logo.svg\"")
}

func isHexColor(s string) bool {
	if len(s) != 4 && len(s) != 7 || s[0] != '#' {
		return false
	}
	_, err := strconv.ParseUint(s[1:], 16, 32)
	return err == nil && !strings.ContainsAny(s[1:], "+-")
}

// textOn picks the text colour for a background: the first of
// onAccentColors that reaches minContrast, else the one with the most
// contrast, and that contrast.
func textOn(bg string) (string, float64) {
	best, bestRatio := "", 0.0
	for _, c := range onAccentColors {
		r := contrast(bg, c)
		if r >= minContrast {
			return c, r
		}
		if r > bestRatio {
			best, bestRatio = c, r
		}
	}
	return best, bestRatio
}

// contrast is the WCAG 2.x contrast ratio of two #rgb or #rrggbb colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is the relative luminance of a #rgb or #rrggbb colour.
func luminance(hex string) float64 {
	h := hex[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	v, _ := strconv.ParseUint(h, 16, 32)
	channel := func(c uint64) float64 {
		s := float64(c) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*channel(v>>16&0xff) + 0.7152*channel(v>>8&0xff) + 0.0722*channel(v&0xff)
}
