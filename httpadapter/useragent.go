package httpadapter

import "strings"

// describeAgent names the browser and operating system of a User-Agent
// ("Firefox", "Windows"; either may be empty), for a person deciding
// whether a sign-in request is theirs; the page words them in its language. It is a description, never a security decision: a
// User-Agent is whatever the asker sent. Order matters, since browsers
// carry each other's tokens ("Edg/… Chrome/… Safari/…").
func describeAgent(ua string) (browser, os string) {
	browser = firstMatch(ua, [][2]string{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"}, {"CriOS/", "Chrome"}, {"Chromium/", "Chromium"},
		{"HeadlessChrome/", "Headless Chrome"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
		{"curl/", "curl"}, {"Go-http-client/", "a Go program"}, {"python-requests/", "a Python program"},
	})
	os = firstMatch(ua, [][2]string{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"}, {"Linux", "Linux"},
	})
	return browser, os
}

func firstMatch(s string, table [][2]string) string {
	for _, e := range table {
		if strings.Contains(s, e[0]) {
			return e[1]
		}
	}
	return ""
}
