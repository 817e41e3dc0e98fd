package magiclinktest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// confirmForm finds the confirm button's form on a page: the form that
// posts a token_hash. It returns the form's action and the values a browser
// would submit: every named input with its value attribute.
func confirmForm(page []byte) (action string, fields url.Values, err error) {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return "", nil, err
	}
	form := find(doc, func(n *html.Node) bool {
		return n.Type == html.ElementNode && n.Data == "form" && strings.EqualFold(attr(n, "method"), "post") &&
			find(n, func(in *html.Node) bool { return in.Data == "input" && attr(in, "name") == "token_hash" }) != nil
	})
	if form == nil {
		return "", nil, errors.New("no confirm form (a form posting token_hash)")
	}
	return attr(form, "action"), formValues(form), nil
}

// formPost is the request a browser makes to submit a form of page (the
// address it was served from, with the given Referrer-Policy) on origin:
// fields, URL-encoded, posted to action resolved against page.
func formPost(page *url.URL, action string, fields url.Values, referrerPolicy, origin string) (*http.Request, error) {
	target, err := page.Parse(action)
	if err != nil {
		return nil, fmt.Errorf("form action %q: %w", action, err)
	}
	req, err := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(fields.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	setFormHeaders(req.Header, referrerPolicy, origin)
	return req, nil
}

// setFormHeaders sets what Chromium, Firefox and Safari send with a
// same-origin form post from a page served with the given Referrer-Policy:
// Fetch Metadata, and an Origin that is "null" under no-referrer (Fetch
// standard, "serializing a request origin"). The verify endpoint's
// cross-site checks then see exactly what they see from a real browser.
func setFormHeaders(hdr http.Header, referrerPolicy, origin string) {
	hdr.Set("Sec-Fetch-Site", "same-origin")
	hdr.Set("Sec-Fetch-Mode", "navigate")
	hdr.Set("Sec-Fetch-Dest", "document")
	// With several comma-separated policies the last one is in force.
	policy := ""
	for _, p := range strings.Split(referrerPolicy, ",") {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			policy = p
		}
	}
	if policy == "no-referrer" {
		origin = "null"
	}
	hdr.Set("Origin", origin)
}

// formValues is what a browser submits from form: every named input with
// its value attribute.
func formValues(form *html.Node) url.Values {
	fields := url.Values{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" {
			if name := attr(n, "name"); name != "" {
				fields.Add(name, attr(n, "value"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	return fields
}

// summary describes an HTML page in one line for a failure message: its
// heading and its alert, if any, instead of the whole markup.
func summary(page []byte) string {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return string(page)
	}
	var parts []string
	if h1 := find(doc, func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == "h1" }); h1 != nil {
		parts = append(parts, text(h1))
	}
	if alert := find(doc, func(n *html.Node) bool { return n.Type == html.ElementNode && attr(n, "role") == "alert" }); alert != nil {
		parts = append(parts, text(alert))
	}
	if len(parts) == 0 {
		s := strings.Join(strings.Fields(text(doc)), " ")
		if len(s) > 300 {
			s = s[:300] + "…"
		}
		return s
	}
	return strings.Join(parts, ": ")
}

// text is the text content of n.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		if n.Type == html.ElementNode && (n.Data == "style" || n.Data == "script") {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

// find returns the first node under n, in document order, that match
// accepts.
func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if m := find(c, match); m != nil {
			return m
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
