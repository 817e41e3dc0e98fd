package app

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/magiclink-go/magiclink"
)

// hostGuard refuses requests whose Host the server does not serve. A web
// page can rebind its own DNS name to 127.0.0.1 and then read this server
// "same-origin" (DNS rebinding), but its requests still carry its own name
// in Host; answering only the names the server is reached by keeps it from
// reading the dev mailbox or anything else.
type hostGuard struct {
	// exact holds the lowercase host:port values served: the loopback
	// names with the bound port, and ADDR's host when it names one.
	exact map[string]bool
	// origins are the allowed origins (and the portal origin): their hosts
	// are served under either scheme, behind a TLS-terminating proxy too.
	origins []*magiclink.Origins
}

// newHostGuard serves the loopback names and ADDR's host on base's port,
// and the hosts of origins.
func newHostGuard(addr, base string, origins ...*magiclink.Origins) (*hostGuard, error) {
	u, err := url.Parse(base)
	if err != nil || u.Port() == "" {
		return nil, fmt.Errorf("base URL %q has no port", base)
	}
	port := u.Port()
	g := &hostGuard{exact: map[string]bool{}, origins: origins}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		g.exact[net.JoinHostPort(h, port)] = true
	}
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			g.exact[strings.ToLower(net.JoinHostPort(host, port))] = true
		}
	}
	return g, nil
}

// serves reports whether host, a request's Host, is served.
func (g *hostGuard) serves(host string) bool {
	if host == "" {
		return false
	}
	if g.exact[strings.ToLower(host)] {
		return true
	}
	for _, o := range g.origins {
		for _, scheme := range [...]string{"https://", "http://"} {
			if _, ok := o.Allow(scheme + host); ok {
				return true
			}
		}
	}
	return false
}

// wrap answers a request for a Host not served with 421 Misdirected Request
// (400 without any Host) and a body that says what to change. The health
// endpoints answer every Host: orchestrators probe them by IP, and they
// show nothing a rebinding page could use.
func (g *hostGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.serves(r.Host) || isHealthPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		if r.Host == "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, "400 Bad Request: the request has no Host header.")
			return
		}
		w.WriteHeader(http.StatusMisdirectedRequest)
		fmt.Fprintf(w, "421 Misdirected Request: this server does not serve the host %.100q. "+
			"If it is reached under that name, add the origin to MAGICLINK_ALLOWED_ORIGINS.\n", r.Host)
	})
}
