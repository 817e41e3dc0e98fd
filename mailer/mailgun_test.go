package mailer

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testMailgunKey = "key-0123456789abcdef"

func newTestMailgun(t *testing.T, h http.HandlerFunc) *Mailgun {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	g, err := NewMailgun(MailgunConfig{
		Domain: "mg.acme.example", APIKey: testMailgunKey, From: "Acme <no-reply@mg.acme.example>",
		BaseURL: srv.URL, HTTPClient: srv.Client(),
	})
	require.NoError(t, err)
	return g
}

func TestMailgunSend(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got *http.Request
	var form map[string][]string
	g := newTestMailgun(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = r
		require.NoError(t, r.ParseMultipartForm(1<<20))
		form = r.MultipartForm.Value
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"<x@mg.acme.example>","message":"Queued. Thank you."}`))
	})
	m := testMessage(t)
	require.NoError(t, g.Send(t.Context(), m))

	mu.Lock()
	defer mu.Unlock()
	require.NotNil(t, got)
	assert.Equal(t, http.MethodPost, got.Method)
	assert.Equal(t, "/v3/mg.acme.example/messages", got.URL.Path)
	user, pass, ok := got.BasicAuth()
	require.True(t, ok, "basic auth")
	assert.Equal(t, "api", user)
	assert.Equal(t, testMailgunKey, pass)
	assert.True(t, strings.HasPrefix(got.Header.Get("Content-Type"), "multipart/form-data"))
	assert.Equal(t, []string{"Acme <no-reply@mg.acme.example>"}, form["from"])
	assert.Equal(t, []string{"jane@example.com"}, form["to"])
	assert.Equal(t, []string{m.Subject}, form["subject"])
	assert.Equal(t, []string{m.Text}, form["text"])
	assert.Equal(t, []string{m.HTML}, form["html"])
}

func TestMailgunErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 2000)
	cases := []struct {
		status    int
		body      string
		temporary bool
	}{
		{http.StatusBadRequest, `{"message":"to parameter is not a valid address"}`, false},
		{http.StatusUnauthorized, "Forbidden " + testMailgunKey, false},
		{http.StatusNotFound, `{"message":"Domain not found"}`, false},
		{http.StatusRequestTimeout, "timeout", true},
		{http.StatusTooManyRequests, "slow down", true},
		{http.StatusInternalServerError, long, true},
		{http.StatusBadGateway, "bad gateway", true},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			g := newTestMailgun(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			err := g.Send(t.Context(), testMessage(t))
			require.Error(t, err)
			var se *SendError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.status, se.Code)
			assert.Equal(t, tc.temporary, errors.Is(err, ErrTemporary))
			assert.Equal(t, !tc.temporary, errors.Is(err, ErrPermanent))
			assert.NotContains(t, err.Error(), testMailgunKey, "API key leaked")
			assert.Less(t, len(err.Error()), 700, "body not truncated")
			if len(tc.body) < 100 && !strings.Contains(tc.body, testMailgunKey) {
				assert.Contains(t, err.Error(), tc.body, "body surfaced")
			}
		})
	}
}

func TestMailgunNetworkErrorIsTemporary(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	g, err := NewMailgun(MailgunConfig{Domain: "mg.acme.example", APIKey: testMailgunKey, From: "a@acme.example", BaseURL: url})
	require.NoError(t, err)
	err = g.Send(t.Context(), testMessage(t))
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrTemporary)
	assert.NotContains(t, err.Error(), testMailgunKey)
}

func TestNewMailgunValidation(t *testing.T) {
	t.Parallel()
	ok := MailgunConfig{Domain: "mg.acme.example", APIKey: "k", From: "a@acme.example"}
	g, err := NewMailgun(ok)
	require.NoError(t, err)
	assert.Equal(t, MailgunUS+"/v3/mg.acme.example/messages", g.endpoint)
	eu := ok
	eu.BaseURL = MailgunEU
	g, err = NewMailgun(eu)
	require.NoError(t, err)
	assert.Equal(t, "https://api.eu.mailgun.net/v3/mg.acme.example/messages", g.endpoint)

	for name, mutate := range map[string]func(*MailgunConfig){
		"no domain":       func(c *MailgunConfig) { c.Domain = "" },
		"domain path":     func(c *MailgunConfig) { c.Domain = "a/../b" },
		"no key":          func(c *MailgunConfig) { c.APIKey = "" },
		"no from":         func(c *MailgunConfig) { c.From = "" },
		"bad from":        func(c *MailgunConfig) { c.From = "nope" },
		"http remote":     func(c *MailgunConfig) { c.BaseURL = "http://api.mailgun.net" },
		"ftp":             func(c *MailgunConfig) { c.BaseURL = "ftp://api.mailgun.net" },
		"userinfo in url": func(c *MailgunConfig) { c.BaseURL = "https://u:p@api.mailgun.net" },
	} {
		c := ok
		mutate(&c)
		_, err := NewMailgun(c)
		assert.Error(t, err, name)
	}
}

// TestMailgunReusesConnections: 16 concurrent senders share at most 16
// keep-alive connections over 320 mails (net/http's default of 2 idle
// connections per host would reopen most of them), every mail carries the
// automatic-mail headers, and Close ends the idle connections.
func TestMailgunReusesConnections(t *testing.T) {
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.FormValue("h:Auto-Submitted") != "auto-generated" || r.FormValue("h:X-Auto-Response-Suppress") != "All" {
			http.Error(w, "automatic-mail headers missing", http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(`{"message":"Queued. Thank you."}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	g, err := NewMailgun(MailgunConfig{Domain: "mg.acme.example", APIKey: testMailgunKey,
		From: "no-reply@mg.acme.example", BaseURL: srv.URL})
	require.NoError(t, err)

	const senders, each = 16, 20
	m := testMessage(t)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for range each {
				assert.NoError(t, g.Send(t.Context(), m))
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, opened.Load(), int64(senders), "connections opened for %d mails", senders*each)
	require.NoError(t, g.Close())
	// Close left no connection idle: the next send has to open one.
	before := opened.Load()
	require.NoError(t, g.Send(t.Context(), m))
	assert.Equal(t, before+1, opened.Load(), "a connection survived Close")
}
