// Package e2e holds the browser end-to-end tests of magiclink: they start
// the example server (examples/server/app) in-process and drive Debian's
// Chromium through its sign-in flows with github.com/chromedp/chromedp.
//
// The tests are skipped when no Chromium is installed, unless
// MAGICLINK_REQUIRE_BROWSER=1 (as in CI); then they fail. Screenshots of
// every step go to a temporary directory, or to MAGICLINK_E2E_SCREENSHOTS
// when set (kept after the run); each path is logged.
package e2e
