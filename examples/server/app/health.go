package app

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/magiclink-go/magiclink/store"
)

// readyTimeout bounds each readiness check, so that a hung backend makes
// /readyz answer 503 rather than hang the probe.
const readyTimeout = 2 * time.Second

// readyCheck is one backend /readyz asks.
type readyCheck struct {
	name string
	ping func(context.Context) error
}

// readyChecks returns the checks for the store and, when the mailer is an
// outbox that can be pinged, the outbox; both capabilities are found by
// type assertion.
func readyChecks(st store.Store, m any) []readyCheck {
	var checks []readyCheck
	if p, ok := st.(store.Pinger); ok {
		checks = append(checks, readyCheck{"store", p.Ping})
	}
	if p, ok := m.(store.Pinger); ok {
		checks = append(checks, readyCheck{"outbox", p.Ping})
	}
	return checks
}

// isHealthPath reports whether path is one of the health endpoints, which
// answer whatever the Host (see hostGuard).
func isHealthPath(path string) bool { return path == "/healthz" || path == "/readyz" }

// healthz answers 200 while the process serves HTTP at all.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeHealth(w, http.StatusOK, healthBody{Status: "ok"})
}

// healthBody is the JSON of both health endpoints.
type healthBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
	Failed []string          `json:"failed,omitempty"`
}

// readyz answers 200 when every backend answers, else 503 naming those
// that did not. Why a check failed goes to the log, not to the caller.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	body := healthBody{Status: "ok", Checks: map[string]string{}}
	for _, c := range s.ready {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		err := c.ping(ctx)
		cancel()
		if err != nil {
			s.log.WarnContext(r.Context(), "example: readiness check failed", "check", c.name, "error", err.Error())
			body.Checks[c.name] = "unavailable"
			body.Failed = append(body.Failed, c.name)
			continue
		}
		body.Checks[c.name] = "ok"
	}
	status := http.StatusOK
	if len(body.Failed) > 0 {
		body.Status, status = "unavailable", http.StatusServiceUnavailable
	}
	writeHealth(w, status, body)
}

func writeHealth(w http.ResponseWriter, status int, body healthBody) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
