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
// the browser sets itself. reason says what failed, for the error page.
func (s *Server) sameOriginPost(r *http.Request) (ok bool, reason string) {
	site := r.Header.Get("Sec-Fetch-Site")
	if site == "cross-site" {
		return false, "The form was sent from another site."
	}
	from := r.Header.Get("Origin")
	switch from {
	case "null":
		if site == "same-origin" {
			return true, ""
		}
		return false, "The form was sent from a page whose origin is hidden."
	case "":
		ref := r.Header.Get("Referer")
		if ref == "" {
			return false, "The browser sent neither Origin nor Referer, so the form's origin cannot be checked."
		}
		o, ok := magiclink.OriginOf(ref)
		if !ok {
			return false, "The form's Referer is not a valid http(s) address."
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
	return false, "The form was sent from a page this server does not serve."
}
