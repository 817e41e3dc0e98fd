package app

import (
	"net/http"

	"github.com/magiclink-go/magiclink"
)

// sameOriginPost is the CSRF check of the sign-in form, the same rule as
// the adapter's verify and sign-out: without it any page on the web could
// make its visitors' browsers ask this server for sign-in mails.
//
// A browser that sends Sec-Fetch-Site must not say cross-site. The post
// must name where it comes from: Origin (which every current browser sends
// with a form post), else Referer, must be this server's own origin or an
// allowed one. "Origin: null" (a sandboxed frame, a data: URL, or a page
// under no-referrer) passes only with Sec-Fetch-Site: same-origin, which
// the browser sets itself. reason is the text key of what failed, for the
// error page.
func (s *Server) sameOriginPost(r *http.Request) (ok bool, reason string) {
	site := r.Header.Get("Sec-Fetch-Site")
	if site == "cross-site" {
		return false, "error.cross_site"
	}
	from := r.Header.Get("Origin")
	switch from {
	case "null":
		if site == "same-origin" {
			return true, ""
		}
		return false, "error.hidden_origin"
	case "":
		ref := r.Header.Get("Referer")
		if ref == "" {
			return false, "error.no_origin"
		}
		o, ok := magiclink.OriginOf(ref)
		if !ok {
			return false, "error.bad_referer"
		}
		from = o
	}
	if _, ok := s.origins.Allow(from); ok {
		return true, ""
	}
	if self, ok := magiclink.OriginOf(requestOrigin(r)); ok {
		if canon, ok := magiclink.OriginOf(from); ok && canon == self {
			return true, ""
		}
	}
	return false, "error.foreign_origin"
}
