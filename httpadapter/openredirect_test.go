package httpadapter_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// originPayloads are callback origins an attacker may send. None of them
// may be accepted through any of the four channels (body callback_origin,
// X-AppHandoff-Callback-Origin, Origin, Referer), except where noted.
var originPayloads = []struct {
	v string
	// bodyOnly payloads are only sent in the JSON body: as header values
	// they are either unsendable or trimmed by every real HTTP server.
	bodyOnly bool
	// refererOK payloads are legitimate as a Referer (a page URL on an
	// allowed origin) and are not sent through that channel.
	refererOK bool
}{
	{v: "https://evil.com"},
	{v: "http://evil.com"},
	{v: "HTTPS://EVIL.COM"},
	{v: "https://\u0430pp.example.com"},             // Cyrillic а
	{v: "https://xn--pp-7kc.example.com"},           // a punycode look-alike
	{v: "https://ａｐｐ.example.com"},                  // fullwidth letters
	{v: "https://app\u3002example\u3002com"},        // ideographic full stops
	{v: "https:／／evil.com"},                         // fullwidth solidus
	{v: "https://app.example.com／evil.com"},         // fullwidth solidus in host
	{v: "https://app.example.com@evil.com"},         // userinfo
	{v: "https://evil.com@app.example.com"},         // userinfo the other way
	{v: "https://app.example.com:443@evil.com"},     // userinfo with port
	{v: "https://app.example.com\\@evil.com"},       // backslash userinfo
	{v: "https://app.example.com\\.evil.com"},       // backslash
	{v: "https:\\\\evil.com"},                       // backslashes as slashes
	{v: "https:/\\evil.com"},                        // mixed
	{v: "https://app.example.com.evil.com"},         // suffix domain
	{v: "https://evil.com?.app.example.com"},        // wildcard abuse: query
	{v: "https://evil.com#.app.example.com"},        // wildcard abuse: fragment
	{v: "https://evil.com/.app.example.com"},        // wildcard abuse: path
	{v: "https://evil.com\\.app.example.com"},       // wildcard abuse: backslash
	{v: "https://evil.com/https://app.example.com"}, // allowed origin in the path
	{v: "https://evil.com/?r=https://app.example.com"},
	{v: "https://app.example.com."},                             // trailing dot
	{v: "https://app.example.com.."},                            // two trailing dots
	{v: "https://app.example.com:8443"},                         // other port
	{v: "https://app.example.com:80"},                           // http's port on https
	{v: "https://app.example.com:0"},                            // port zero
	{v: "https://app.example.com:0443"},                         // leading zero
	{v: "https://app.example.com:65536"},                        // out of range
	{v: "https://app.example.com:443abc"},                       // garbage port
	{v: "https://app.example.com:"},                             // empty port
	{v: "http://app.example.com"},                               // scheme downgrade
	{v: "ftp://app.example.com"},                                // other scheme
	{v: "file:///etc/passwd"},                                   // file
	{v: "javascript:alert(1)"},                                  // script schemes
	{v: "javascript://app.example.com/%0aalert(1)"},             //
	{v: "data:text/html,<script>alert(1)</script>"},             //
	{v: "vbscript:msgbox(1)"},                                   //
	{v: "null"},                                                 // opaque origin
	{v: "NULL"},                                                 //
	{v: "//evil.com"},                                           // protocol-relative
	{v: "/\\/evil.com"},                                         //
	{v: "\\\\evil.com"},                                         //
	{v: "https:evil.com"},                                       // no slashes
	{v: "https:/evil.com"},                                      // one slash
	{v: "https:///evil.com"},                                    // three slashes
	{v: "evil.com"},                                             // no scheme
	{v: "app.example.com"},                                      // no scheme, allowed host
	{v: "https://%61pp.example.com"},                            // percent-encoded host
	{v: "https%3A%2F%2Fapp.example.com"},                        // percent-encoded URL
	{v: "https%253A%252F%252Fapp.example.com"},                  // double-encoded URL
	{v: "https://app%2eexample%2ecom"},                          // encoded dots
	{v: "https://app.example.com%2f@evil.com"},                  // encoded slash before userinfo
	{v: "https://app.example.com%00.evil.com"},                  // encoded NUL
	{v: "https://app.example.com\x00.evil.com", bodyOnly: true}, // raw NUL
	{v: "https://app.\texample.com", bodyOnly: true},            // tab-split
	{v: "https://app.exam\nple.com", bodyOnly: true},            // newline-split
	{v: "https://app.example.com\r\nX-Injected: 1", bodyOnly: true},
	{v: " https://app.example.com", bodyOnly: true},  // leading space
	{v: "https://app.example.com\t", bodyOnly: true}, // trailing tab
	{v: "https://app.example.com\u2028", bodyOnly: true},
	{v: "https://app.example.com/", refererOK: true}, // a path, even "/", is not an origin
	{v: "https://app.example.com/path", refererOK: true},
	{v: "http://2130706433"},              // 127.0.0.1 as one number
	{v: "http://0x7f.1"},                  // hex and short form
	{v: "http://0x7f000001"},              //
	{v: "http://017700000001"},            // octal
	{v: "http://127.1"},                   // short form
	{v: "http://[::ffff:7f00:1]"},         // IPv4-mapped IPv6
	{v: "http://[::ffff:127.0.0.1]"},      //
	{v: "http://127.0.0.1"},               // loopback, not on the list
	{v: "https://[::1]"},                  //
	{v: "https://0.0.0.0"},                //
	{v: "https://localhost"},              //
	{v: "https://*.tenant.example.com"},   // the pattern itself
	{v: "https://*.example.com"},          // a wider pattern
	{v: "https://tenant.example.com"},     // wildcard never matches the bare domain
	{v: "https://eviltenant.example.com"}, // suffix without the dot
	{v: "https://x.tenant.example.com.evil.com"},
	{v: "https://x.tenant.example.com@evil.com"},
	{v: "https://x.tenant.example.com:8443"}, // wildcard with another port
	{v: "http://x.tenant.example.com"},       // wildcard with http
	{v: "https://.tenant.example.com"},       // empty label
	{v: "https://x..tenant.example.com"},     // empty inner label
	{v: "https://-x.tenant.example.com"},     // bad label
	{v: "https://x_y.tenant.example.com"},    // underscore
	{v: "https://app.example.com;.evil.com"}, // other delimiters
	{v: "https://app.example.com,evil.com"},
	{v: strings.Repeat("a", 400)},                                   // long garbage
	{v: "https://" + strings.Repeat("a.", 150) + "app.example.com"}, // overlong host
}

// nextPayloads are callback_next values that must be refused with
// NEXT_NOT_ALLOWED.
var nextPayloads = []string{
	"//evil.com",
	"///evil.com",
	"////evil.com",
	"/\\evil.com",
	"/\\/evil.com",
	"\\\\evil.com",
	"\\/evil.com",
	"/%2F%2Fevil.com",
	"/%2f%2fevil.com",
	"%2F%2Fevil.com",
	"/%5cevil.com",
	"/%5Cevil.com",
	"/%252F%252Fevil.com", // double-encoded
	"/%255cevil.com",
	"/%2e%2e//evil.com",
	"/..//evil.com",
	"/a/..//evil.com",
	"/\t/evil.com",
	"/\n/evil.com",
	"/\r\n/evil.com",
	"\t//evil.com",
	"/%09/evil.com",
	"/%0d%0aSet-Cookie:x=1",
	"/%00",
	"/\x00",
	"/\u2028evil",
	"／／evil.com",
	"/／evil.com",
	"https://evil.com",
	"http://evil.com/",
	"HTTPS://EVIL.COM",
	"https:evil.com",
	"https:/evil.com",
	"https://app.example.com@evil.com",
	"https://app.example.com.evil.com/",
	"https://app.example.com//evil.com",
	"https://app.example.com/\\evil.com",
	"https://x.tenant.example.com/", // another allowed origin is still another origin
	"http://app.example.com/",       // scheme downgrade of our own origin
	"javascript:alert(1)",
	"JavaScript:alert(1)",
	"javascript://%0aalert(1)",
	"data:text/html,<script>alert(1)</script>",
	"vbscript:msgbox(1)",
	"#//evil.com",
	"?//evil.com",
	" /overview",
	"/" + strings.Repeat("a", 2100),
}

// TestOpenRedirectCorpus sends every payload through the real handler and
// requires 400 with ORIGIN_NOT_ALLOWED or NEXT_NOT_ALLOWED and no mail.
// Benign variants must be accepted, and every mailed link must point into
// the allowlist and land on a same-origin path.
func TestOpenRedirectCorpus(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	payloads := map[string]bool{}
	rejected, requests := 0, 0
	n := 0
	send := func(name string, body map[string]any, hdr http.Header, wantCode string) {
		t.Helper()
		n++
		body["email"] = fmt.Sprintf("victim%d@example.com", n)
		req := jsonRequest(sendPath, body)
		for k, vs := range hdr {
			req.Header[k] = vs
		}
		before := r.mail.Len()
		rec := r.do(req)
		requests++
		if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("X-Request-Id") == "" {
			t.Errorf("%s: answer without Cache-Control: no-store or X-Request-Id: %v", name, rec.Header())
		}
		_, e, err := decodePortal(rec.Body.Bytes())
		switch {
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case rec.Code != http.StatusBadRequest || e.Code != wantCode:
			t.Errorf("%s: got %d %s (%s), want 400 %s", name, rec.Code, e.Code, rec.Body.String(), wantCode)
		default:
			rejected++
		}
		if after := r.mail.Len(); after != before {
			t.Errorf("%s: a mail was sent for a refused request", name)
		}
	}
	for _, p := range originPayloads {
		payloads["origin:"+p.v] = true
		send(fmt.Sprintf("callback_origin %q", p.v), map[string]any{"callback_origin": p.v}, nil, "ORIGIN_NOT_ALLOWED")
		if p.bodyOnly {
			continue
		}
		for _, h := range []string{"X-AppHandoff-Callback-Origin", "Origin"} {
			send(fmt.Sprintf("%s %q", h, p.v), map[string]any{}, http.Header{h: {p.v}}, "ORIGIN_NOT_ALLOWED")
		}
		if !p.refererOK {
			send(fmt.Sprintf("Referer %q", p.v), map[string]any{}, http.Header{"Referer": {p.v}}, "ORIGIN_NOT_ALLOWED")
		}
		// A bad first source is not skipped in favour of a good later one.
		send(fmt.Sprintf("Origin %q before a good Referer", p.v), map[string]any{},
			http.Header{"Origin": {p.v}, "Referer": {appOrigin + "/login"}}, "ORIGIN_NOT_ALLOWED")
	}
	for _, p := range nextPayloads {
		payloads["next:"+p] = true
		send(fmt.Sprintf("callback_next %q", p), map[string]any{"callback_origin": appOrigin, "callback_next": p}, nil, "NEXT_NOT_ALLOWED")
		send(fmt.Sprintf("callback_next %q via Origin", p), map[string]any{"callback_next": p},
			http.Header{"Origin": {"https://y.tenant.example.com"}}, "NEXT_NOT_ALLOWED")
	}
	if r.mail.Len() != 0 {
		t.Errorf("%d mails were sent for refused requests", r.mail.Len())
	}
	t.Logf("open-redirect corpus: %d distinct payloads (%d origins, %d next values), %d/%d requests rejected with 400",
		len(payloads), len(originPayloads), len(nextPayloads), rejected, requests)
	if len(payloads) < 60 {
		t.Errorf("corpus has %d payloads, want at least 60", len(payloads))
	}

	// Benign variants: accepted, and the link stays inside the allowlist.
	benign := []struct {
		body map[string]any
		hdr  http.Header
	}{
		{body: map[string]any{"callback_origin": "https://app.example.com"}},
		{body: map[string]any{"callback_origin": "HTTPS://APP.EXAMPLE.COM"}},
		{body: map[string]any{"callback_origin": "https://app.example.com:443"}},
		{body: map[string]any{"callback_origin": "https://a.tenant.example.com"}},
		{body: map[string]any{"callback_origin": "https://a.b-c.tenant.example.com"}},
		{body: map[string]any{}, hdr: http.Header{"X-Apphandoff-Callback-Origin": {"https://z.tenant.example.com"}}},
		{body: map[string]any{}, hdr: http.Header{"Origin": {"https://app.example.com"}}},
		{body: map[string]any{}, hdr: http.Header{"Referer": {"https://app.example.com/login?next=https://evil.com"}}},
		{body: map[string]any{}, hdr: http.Header{"Referer": {"https://q.tenant.example.com/#@evil.com"}}},
		{body: map[string]any{"callback_origin": appOrigin, "callback_next": "example"}},
		{body: map[string]any{"callback_origin": appOrigin, "callback_next": "evil.com"}},
		{body: map[string]any{"callback_origin": appOrigin, "callback_next": "/overview?tab=1#x"}},
		{body: map[string]any{"callback_origin": appOrigin, "callback_next": "/a/../b"}},
		{body: map[string]any{"callback_origin": appOrigin, "callback_next": "/%2e%2e/%2e%2e/x"}},
		{body: map[string]any{"callback_origin": appOrigin, "callback_next": "/?next=//evil.com"}},
		{body: map[string]any{"callback_origin": appOrigin, "callback_next": "/?u=https%3A%2F%2Fevil.com"}},
		{body: map[string]any{"callback_origin": appOrigin, "callback_next": "https://app.example.com/overview"}},
		{body: map[string]any{"callback_origin": appOrigin, "callback_next": "https://app.example.com"}},
		{body: map[string]any{"callback_origin": "https://a.tenant.example.com", "callback_next": "https://a.tenant.example.com/x?y=//z"}},
	}
	r.mail.Reset()
	for i, b := range benign {
		b.body["email"] = fmt.Sprintf("benign%d@example.com", i)
		req := jsonRequest(sendPath, b.body)
		for k, vs := range b.hdr {
			req.Header[k] = vs
		}
		if rec := r.do(req); rec.Code != http.StatusOK {
			t.Errorf("benign %v %v: %d %s, want 200", b.body, b.hdr, rec.Code, rec.Body)
		}
	}
	mails := r.mail.Messages()
	if len(mails) != len(benign) {
		t.Errorf("%d mails for %d accepted requests", len(mails), len(benign))
	}
	for _, m := range mails {
		origin, path, next, err := linkTarget(m.Link)
		switch {
		case err != nil:
			t.Errorf("mailed link %q does not parse: %v", m.Link, err)
		case !inAllowlist(origin):
			t.Errorf("mailed link %q points to %s, outside the allowlist", m.Link, origin)
		case path != verifyPath:
			t.Errorf("mailed link %q has path %q", m.Link, path)
		case !safeLanding(origin, next):
			t.Errorf("mailed link %q lands on %q, which leaves %s", m.Link, next, origin)
		}
		if !strings.Contains(m.Text, m.Link) {
			t.Errorf("the text part to %s does not carry the link", m.To)
		}
	}
	t.Logf("benign variants: %d accepted, every mailed link inside the allowlist with a same-origin next", len(mails))
}
