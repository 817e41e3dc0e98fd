// Package e2e holds the browser end-to-end tests of magiclink: they start
// the example server (examples/server/app) in-process and drive Debian's
// Chromium through its sign-in flows with github.com/chromedp/chromedp.
//
// The tests are skipped when no Chromium is installed, unless
// MAGICLINK_REQUIRE_BROWSER=1 (as in CI); then they fail. With
// MAGICLINK_SCREENSHOTS set to a directory, every step is saved there as a
// PNG (each path is logged; TestBrowserPages names its shots after the page
// and locale, such as confirm-de.png); unset, none are taken.
package e2e
