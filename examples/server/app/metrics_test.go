package app

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var metricsLine = regexp.MustCompile(`metrics on (http://\S+/metrics)`)

// scrape fetches the Prometheus text of the metrics listener.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", resp.StatusCode, body)
	}
	return string(body)
}

// TestMetricsAfterSignIn signs in once by link, fails a code once, and
// reads the counters on METRICS_ADDR: they match, the public port does not
// serve /metrics, and no address appears in the exposition.
func TestMetricsAfterSignIn(t *testing.T) {
	t.Parallel()
	ts := start(t, map[string]string{"METRICS_ADDR": "127.0.0.1:0"})
	m := metricsLine.FindStringSubmatch(ts.stdout.String())
	if m == nil {
		t.Fatalf("no metrics address in stdout %q", ts.stdout.String())
	}
	b := newBrowser(t, ts.base)
	const email = "metrics.ada@example.com"
	mail := b.requestMail(email)
	resp, body := b.confirm(mail.Link)
	b.signedIn(resp, body, email, "link")
	b.do(http.MethodPost, "/auth/verify", map[string][]string{"email": {email}, "code": {"000000"}})

	text := scrape(t, m[1])
	for _, want := range []string{
		`magiclink_sends_total{otel_scope_name="github.com/magiclink-go/magiclink"`,
		`result="ok"} 1`,
		`magiclink_verifies_total{method="link",otel_scope_name="github.com/magiclink-go/magiclink"`,
		`http_server_request_duration_seconds_count{http_response_status_code="303",http_route="/auth/verify"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, grepMagiclink(text))
		}
	}
	if !regexp.MustCompile(`magiclink_verifies_total\{method="code",[^}]*result="CODE_INVALID"\} 1`).MatchString(text) {
		t.Errorf("no failed code verify counted:\n%s", grepMagiclink(text))
	}
	if strings.Contains(text, "metrics.ada") || strings.Contains(text, mail.Code) {
		t.Error("the exposition holds the address or the code")
	}
	pub, err := http.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	pub.Body.Close()
	if pub.StatusCode == http.StatusOK {
		t.Error("the public port serves /metrics")
	}
}

func grepMagiclink(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "magiclink_") || strings.Contains(l, "http_server") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestMetricsAddrInvalid(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig(env(map[string]string{"METRICS_ADDR": "nonsense"}))
	if err == nil || !strings.HasPrefix(err.Error(), "METRICS_ADDR ") {
		t.Fatalf("err = %v, want one naming METRICS_ADDR", err)
	}
}
