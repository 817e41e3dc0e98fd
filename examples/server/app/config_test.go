package app

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink/store"
)

// env turns pairs into a getenv function.
func env(pairs map[string]string) func(string) string {
	return func(k string) string { return pairs[k] }
}

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(env(nil))
	if err != nil {
		t.Fatalf("empty environment: %v", err)
	}
	want := &Config{Addr: DefaultAddr, MailFrom: DefaultMailFrom, DevMailbox: true}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults = %+v, want %+v", c, want)
	}
}

func TestParseConfigGood(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"ADDR", map[string]string{"ADDR": "127.0.0.1:0"}, func(t *testing.T, c *Config) {
			if c.Addr != "127.0.0.1:0" {
				t.Errorf("Addr = %q", c.Addr)
			}
		}},
		{"ADDR all interfaces", map[string]string{"ADDR": ":9090", "MAGICLINK_DEV_MAILBOX": "true"}, func(t *testing.T, c *Config) {
			if c.Addr != ":9090" || !c.DevMailbox {
				t.Errorf("Addr = %q, DevMailbox = %v", c.Addr, c.DevMailbox)
			}
		}},
		{"ADDR all interfaces with SMTP", map[string]string{"ADDR": ":9090", "SMTP_URL": "smtp://mail.example.com:587"}, func(t *testing.T, c *Config) {
			if c.DevMailbox {
				t.Errorf("DevMailbox on with SMTP_URL")
			}
		}},
		{"ADDR all interfaces without mailbox", map[string]string{"ADDR": "0.0.0.0:9090", "MAGICLINK_DEV_MAILBOX": "false"}, func(t *testing.T, c *Config) {
			if c.DevMailbox || c.SMTPURL != "" {
				t.Errorf("DevMailbox = %v, SMTPURL = %q", c.DevMailbox, c.SMTPURL)
			}
		}},
		{"ADDR loopback names", map[string]string{"ADDR": "localhost:0"}, func(t *testing.T, c *Config) {
			if !c.DevMailbox {
				t.Errorf("DevMailbox off on localhost")
			}
		}},
		{"ADDR loopback range", map[string]string{"ADDR": "127.8.9.10:0"}, func(t *testing.T, c *Config) {
			if !c.DevMailbox {
				t.Errorf("DevMailbox off on 127.8.9.10")
			}
		}},
		{"MAGICLINK_DEV_MAILBOX off on loopback", map[string]string{"MAGICLINK_DEV_MAILBOX": "0"}, func(t *testing.T, c *Config) {
			if c.DevMailbox {
				t.Errorf("DevMailbox on despite MAGICLINK_DEV_MAILBOX=0")
			}
		}},
		{"ADDR IPv6", map[string]string{"ADDR": "[::1]:8080"}, func(t *testing.T, c *Config) {
			if c.Addr != "[::1]:8080" || !c.DevMailbox {
				t.Errorf("Addr = %q, DevMailbox = %v", c.Addr, c.DevMailbox)
			}
		}},
		{"MAGICLINK_ALLOWED_ORIGINS", map[string]string{"MAGICLINK_ALLOWED_ORIGINS": " https://app.example.com , https://*.example.org,http://localhost:3000 "}, func(t *testing.T, c *Config) {
			want := []string{"https://app.example.com", "https://*.example.org", "http://localhost:3000"}
			if !reflect.DeepEqual(c.AllowedOrigins, want) {
				t.Errorf("AllowedOrigins = %q, want %q", c.AllowedOrigins, want)
			}
		}},
		{"MAGICLINK_ALLOW_INSECURE_HTTP", map[string]string{"MAGICLINK_ALLOW_INSECURE_HTTP": "true", "MAGICLINK_ALLOWED_ORIGINS": "http://10.0.0.5:8080"}, func(t *testing.T, c *Config) {
			if !c.AllowInsecureHTTP || c.AllowedOrigins[0] != "http://10.0.0.5:8080" {
				t.Errorf("AllowInsecureHTTP = %v, origins %q", c.AllowInsecureHTTP, c.AllowedOrigins)
			}
		}},
		{"MAGICLINK_SECRET", map[string]string{"MAGICLINK_SECRET": secret}, func(t *testing.T, c *Config) {
			if string(c.Secret) != secret {
				t.Errorf("Secret not used as given")
			}
		}},
		{"MAGICLINK_API_KEY", map[string]string{"MAGICLINK_API_KEY": "dev-key-0123456789"}, func(t *testing.T, c *Config) {
			if c.APIKey != "dev-key-0123456789" {
				t.Errorf("APIKey = %q", c.APIKey)
			}
		}},
		{"admin JWT", map[string]string{"MAGICLINK_ADMIN_JWT_SECRET": secret, "MAGICLINK_ADMIN_JWT_ISSUER": "https://issuer.example",
			"MAGICLINK_ADMIN_JWT_AUDIENCE": "magiclink", "MAGICLINK_ADMIN_SCOPE": "magic_link:create"}, func(t *testing.T, c *Config) {
			if string(c.AdminJWTSecret) != secret || c.AdminJWTIssuer != "https://issuer.example" ||
				c.AdminJWTAudience != "magiclink" || c.AdminScope != "magic_link:create" {
				t.Errorf("admin config = %q %q %q", c.AdminJWTIssuer, c.AdminJWTAudience, c.AdminScope)
			}
		}},
		{"MAGICLINK_CUSTOMERS", map[string]string{"MAGICLINK_CUSTOMERS": "cus_1=a@example.com, cus_2 = B@Example.com,"}, func(t *testing.T, c *Config) {
			want := []store.Customer{{ID: "cus_1", Email: "a@example.com"}, {ID: "cus_2", Email: "b@example.com"}}
			if !reflect.DeepEqual(c.Customers, want) {
				t.Errorf("Customers = %+v, want %+v", c.Customers, want)
			}
		}},
		{"MAGICLINK_TRUSTED_PROXIES", map[string]string{"MAGICLINK_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1,fd00::/8"}, func(t *testing.T, c *Config) {
			want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32"), netip.MustParsePrefix("fd00::/8")}
			if !reflect.DeepEqual(c.TrustedProxies, want) {
				t.Errorf("TrustedProxies = %v, want %v", c.TrustedProxies, want)
			}
		}},
		{"MAGICLINK_PORTAL_ORIGIN", map[string]string{"MAGICLINK_ALLOWED_ORIGINS": "https://*.example.com", "MAGICLINK_PORTAL_ORIGIN": "https://Portal.Example.com:443"}, func(t *testing.T, c *Config) {
			if c.PortalOrigin != "https://portal.example.com" {
				t.Errorf("PortalOrigin = %q, want the canonical origin", c.PortalOrigin)
			}
		}},
		{"MAGICLINK_PORTAL_ORIGIN without allowlist", map[string]string{"MAGICLINK_PORTAL_ORIGIN": "http://127.0.0.1:8080"}, func(t *testing.T, c *Config) {
			if c.PortalOrigin != "http://127.0.0.1:8080" {
				t.Errorf("PortalOrigin = %q", c.PortalOrigin)
			}
		}},
		{"REDIS_URL", map[string]string{"REDIS_URL": "redis://:pw@127.0.0.1:6380/2"}, func(t *testing.T, c *Config) {
			if c.Redis == nil || c.Redis.Addr != "127.0.0.1:6380" || c.Redis.DB != 2 || c.Redis.Password != "pw" {
				t.Errorf("Redis = %+v", c.Redis)
			}
		}},
		{"SMTP_URL", map[string]string{"SMTP_URL": "smtp://user:pass@mail.example.com:587?tls=starttls", "MAGICLINK_MAIL_FROM": "Acme <no-reply@acme.example>"}, func(t *testing.T, c *Config) {
			if c.SMTPURL != "smtp://user:pass@mail.example.com:587?tls=starttls" || c.MailFrom != "Acme <no-reply@acme.example>" {
				t.Errorf("SMTPURL = %q, MailFrom = %q", c.SMTPURL, c.MailFrom)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig(env(tt.env))
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseConfigBad(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name string
		env  map[string]string
		want string // the whole message
		hide string // must not appear in the message
	}{
		{"ADDR without port", map[string]string{"ADDR": "localhost"}, `ADDR must be host:port, such as 127.0.0.1:8080 (got "localhost")`, ""},
		{"ADDR bad port", map[string]string{"ADDR": "127.0.0.1:http"}, `ADDR has an invalid port (got "127.0.0.1:http")`, ""},
		{"ADDR port too large", map[string]string{"ADDR": "127.0.0.1:70000"}, `ADDR has an invalid port (got "127.0.0.1:70000")`, ""},
		{"MAGICLINK_ALLOWED_ORIGINS only commas", map[string]string{"MAGICLINK_ALLOWED_ORIGINS": " , ,"}, "MAGICLINK_ALLOWED_ORIGINS lists no origin", ""},
		{"MAGICLINK_ALLOWED_ORIGINS path", map[string]string{"MAGICLINK_ALLOWED_ORIGINS": "https://app.example.com/login"}, "MAGICLINK_ALLOWED_ORIGINS: ", ""},
		{"MAGICLINK_ALLOWED_ORIGINS plain http", map[string]string{"MAGICLINK_ALLOWED_ORIGINS": "http://app.example.com"}, "MAGICLINK_ALLOWED_ORIGINS: ", ""},
		{"MAGICLINK_ALLOWED_ORIGINS public suffix wildcard", map[string]string{"MAGICLINK_ALLOWED_ORIGINS": "https://*.co.uk"}, "MAGICLINK_ALLOWED_ORIGINS: ", ""},
		{"MAGICLINK_ALLOW_INSECURE_HTTP", map[string]string{"MAGICLINK_ALLOW_INSECURE_HTTP": "maybe"}, `MAGICLINK_ALLOW_INSECURE_HTTP must be true or false (got "maybe")`, ""},
		{"MAGICLINK_SECRET short", map[string]string{"MAGICLINK_SECRET": "hunter"}, "MAGICLINK_SECRET must be at least 32 bytes (got 6)", "hunter"},
		{"MAGICLINK_API_KEY short", map[string]string{"MAGICLINK_API_KEY": "k3y"}, "MAGICLINK_API_KEY must be at least 16 bytes (got 3)", "k3y"},
		{"MAGICLINK_API_KEY space", map[string]string{"MAGICLINK_API_KEY": "secret key with spaces"}, "MAGICLINK_API_KEY must not contain spaces or control characters", "secret"},
		{"MAGICLINK_ADMIN_JWT_SECRET short", map[string]string{"MAGICLINK_ADMIN_JWT_SECRET": "adm1n"}, "MAGICLINK_ADMIN_JWT_SECRET must be at least 32 bytes for HS256 (got 5)", "adm1n"},
		{"MAGICLINK_ADMIN_JWT_ISSUER alone", map[string]string{"MAGICLINK_ADMIN_JWT_ISSUER": "iss"}, "MAGICLINK_ADMIN_JWT_ISSUER needs MAGICLINK_ADMIN_JWT_SECRET", ""},
		{"MAGICLINK_ADMIN_JWT_AUDIENCE alone", map[string]string{"MAGICLINK_ADMIN_JWT_AUDIENCE": "aud"}, "MAGICLINK_ADMIN_JWT_AUDIENCE needs MAGICLINK_ADMIN_JWT_SECRET", ""},
		{"MAGICLINK_ADMIN_SCOPE two scopes", map[string]string{"MAGICLINK_ADMIN_JWT_SECRET": secret, "MAGICLINK_ADMIN_SCOPE": "a b"}, `MAGICLINK_ADMIN_SCOPE must not contain spaces or control characters (got "a b")`, ""},
		{"MAGICLINK_CUSTOMERS no email", map[string]string{"MAGICLINK_CUSTOMERS": "cus_1"}, `MAGICLINK_CUSTOMERS: want id=email pairs separated by commas (got "cus_1")`, ""},
		{"MAGICLINK_CUSTOMERS empty id", map[string]string{"MAGICLINK_CUSTOMERS": "=a@example.com"}, `MAGICLINK_CUSTOMERS: want id=email pairs separated by commas (got "=a@example.com")`, ""},
		{"MAGICLINK_CUSTOMERS bad email", map[string]string{"MAGICLINK_CUSTOMERS": "cus_1=not-an-address"}, `MAGICLINK_CUSTOMERS: customer "cus_1" has an invalid e-mail address "not-an-address"`, ""},
		{"MAGICLINK_CUSTOMERS duplicate", map[string]string{"MAGICLINK_CUSTOMERS": "cus_1=a@example.com,cus_1=b@example.com"}, `MAGICLINK_CUSTOMERS: customer ID "cus_1" appears twice`, ""},
		{"MAGICLINK_TRUSTED_PROXIES", map[string]string{"MAGICLINK_TRUSTED_PROXIES": "10.0.0.0/33"}, "MAGICLINK_TRUSTED_PROXIES: invalid CIDR", ""},
		{"MAGICLINK_TRUSTED_PROXIES not an address", map[string]string{"MAGICLINK_TRUSTED_PROXIES": "proxy.internal"}, "MAGICLINK_TRUSTED_PROXIES: invalid address", ""},
		{"MAGICLINK_PORTAL_ORIGIN pattern", map[string]string{"MAGICLINK_PORTAL_ORIGIN": "https://*.example.com"}, `MAGICLINK_PORTAL_ORIGIN must be one origin, not a pattern (got "https://*.example.com")`, ""},
		{"MAGICLINK_PORTAL_ORIGIN not allowed", map[string]string{"MAGICLINK_ALLOWED_ORIGINS": "https://app.example.com", "MAGICLINK_PORTAL_ORIGIN": "https://portal.example.com"}, `MAGICLINK_PORTAL_ORIGIN "https://portal.example.com" is not in MAGICLINK_ALLOWED_ORIGINS`, ""},
		{"MAGICLINK_PORTAL_ORIGIN not an origin", map[string]string{"MAGICLINK_PORTAL_ORIGIN": "portal"}, "MAGICLINK_PORTAL_ORIGIN: ", ""},
		{"REDIS_URL scheme", map[string]string{"REDIS_URL": "http://:s3cr3t@127.0.0.1:6379"}, "REDIS_URL is invalid: invalid URL scheme: http", "s3cr3t"},
		{"REDIS_URL unparsable", map[string]string{"REDIS_URL": "redis://:s3cr3t@127.0.0.1:port"}, "REDIS_URL is invalid: ", "s3cr3t"},
		{"dev mailbox on all interfaces", map[string]string{"ADDR": ":8080"}, "ADDR :8080 is not a loopback address, so the dev mailbox would show live sign-in links to the network: set SMTP_URL, or MAGICLINK_DEV_MAILBOX=true to serve it anyway (false to turn it off)", ""},
		{"dev mailbox on a LAN address", map[string]string{"ADDR": "192.168.1.5:8080"}, "ADDR 192.168.1.5:8080 is not a loopback address", ""},
		{"dev mailbox on IPv6 any", map[string]string{"ADDR": "[::]:8080"}, "ADDR [::]:8080 is not a loopback address", ""},
		{"dev mailbox on a host name", map[string]string{"ADDR": "dev.example.com:8080"}, "ADDR dev.example.com:8080 is not a loopback address", ""},
		{"MAGICLINK_DEV_MAILBOX not a bool", map[string]string{"MAGICLINK_DEV_MAILBOX": "yes please"}, `MAGICLINK_DEV_MAILBOX must be true or false (got "yes please")`, ""},
		{"MAGICLINK_DEV_MAILBOX with SMTP", map[string]string{"MAGICLINK_DEV_MAILBOX": "1", "SMTP_URL": "smtp://mail.example.com:587"}, "MAGICLINK_DEV_MAILBOX=true needs the memory mailer: unset SMTP_URL", ""},
		{"MAGICLINK_MAIL_FROM no domain", map[string]string{"SMTP_URL": "smtp://mail.example.com:587", "MAGICLINK_MAIL_FROM": "no-reply"}, `MAGICLINK_MAIL_FROM must be an address such as "Acme <no-reply@acme.example>" (got "no-reply")`, ""},
		{"MAGICLINK_MAIL_FROM not an address", map[string]string{"MAGICLINK_MAIL_FROM": "Acme <"}, `MAGICLINK_MAIL_FROM must be an address such as "Acme <no-reply@acme.example>" (got "Acme <")`, ""},
		{"MAGICLINK_MAIL_FROM header injection", map[string]string{"MAGICLINK_MAIL_FROM": "a@acme.example\x00Bcc: b@evil.example"}, "MAGICLINK_MAIL_FROM must be an address", ""},
		{"REDIS_URL database", map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/x"}, `REDIS_URL is invalid: invalid database number: "x"`, ""},
		{"DATABASE_URL scheme", map[string]string{"DATABASE_URL": "mysql://u:s3cr3t@127.0.0.1/app"}, "DATABASE_URL must be a postgres://", "s3cr3t"},
		{"DATABASE_URL no host", map[string]string{"DATABASE_URL": "postgres:///app"}, "DATABASE_URL must be a postgres://", ""},
		{"DATABASE_URL unparsable", map[string]string{"DATABASE_URL": "postgres://u:s3cr3t@127.0.0.1:port/app"}, "DATABASE_URL ", "s3cr3t"},
		{"DATABASE_URL option", map[string]string{"DATABASE_URL": "postgres://u:s3cr3t@127.0.0.1/app?pool_max_conns=many"}, "DATABASE_URL is invalid: ", "s3cr3t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig(env(tt.env))
			if err == nil {
				t.Fatalf("ParseConfig accepted %v: %+v", tt.env, c)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.want) {
				t.Errorf("error = %q, want it to start with %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q spans several lines", msg)
			}
			if tt.hide != "" && strings.Contains(msg, tt.hide) {
				t.Errorf("error %q reveals the secret %q", msg, tt.hide)
			}
		})
	}
}
