package magiclink

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/magiclink-go/magiclink/ratelimit"
)

// Limits are the rate limits a Service applies. A ratelimit.Rate with Limit 0
// disables that one limit; the zero Limits means DefaultLimits().
type Limits struct {
	// SendPerIP limits SendLink per client IP (IPv6 per /64).
	SendPerIP ratelimit.Rate
	// SendPerEmail limits SendLink per address.
	SendPerEmail ratelimit.Rate
	// VerifyPerIP limits Verify and VerifyCode per client IP.
	VerifyPerIP ratelimit.Rate
	// CreatePerAPIKey limits link creation per API key (HTTP adapter).
	CreatePerAPIKey ratelimit.Rate
	// AdminPerSubject limits admin link creation per token subject.
	AdminPerSubject ratelimit.Rate

	off bool
}

// DefaultLimits returns the default rate limits: 30 sends per 10 minutes per
// IP (bursts of 10), 5 per hour per address (bursts of 2), 30 verifications
// per minute per IP, 600 links per minute per API key and per admin subject.
func DefaultLimits() Limits {
	return Limits{
		SendPerIP:       ratelimit.Rate{Limit: 30, Period: 10 * time.Minute, Burst: 10},
		SendPerEmail:    ratelimit.Rate{Limit: 5, Period: time.Hour, Burst: 2},
		VerifyPerIP:     ratelimit.Rate{Limit: 30, Period: time.Minute, Burst: 10},
		CreatePerAPIKey: ratelimit.Rate{Limit: 600, Period: time.Minute, Burst: 100},
		AdminPerSubject: ratelimit.Rate{Limit: 600, Period: time.Minute, Burst: 100},
	}
}

// check reports every invalid rate of l, naming its field.
func (l Limits) check() error {
	var errs []error
	for _, f := range []struct {
		name string
		r    ratelimit.Rate
	}{{"SendPerIP", l.SendPerIP}, {"SendPerEmail", l.SendPerEmail}, {"VerifyPerIP", l.VerifyPerIP},
		{"CreatePerAPIKey", l.CreatePerAPIKey}, {"AdminPerSubject", l.AdminPerSubject}} {
		if r := f.r; r.Limit < 0 || (r.Limit > 0 && r.Period <= 0) || r.Burst < 0 {
			errs = append(errs, configError("Limits."+f.name, fmt.Sprintf("%+v is not a valid rate", r)))
		}
	}
	return errors.Join(errs...)
}

// NoLimits returns Limits that disable every rate limit. Use it in tests or
// behind a gateway that already limits.
func NoLimits() Limits { return Limits{off: true} }

func (s *Service) verifyLimit(ctx context.Context, opts []VerifyOption) error {
	var ip netip.Addr
	for _, o := range opts {
		if o.ip.IsValid() {
			ip = o.ip
		}
	}
	if !ip.IsValid() {
		return nil
	}
	return s.limit(ctx, "verify-ip", s.limits.VerifyPerIP, ipKey(ip))
}

// limitSend applies the per-IP and per-address limits of a send: in one
// round trip when the limiter is a BatchLimiter, else one after the other.
// Batched, a request the IP limit denies still counts against the address;
// that gives an attacker nothing new, since a single IP's own burst (10)
// already exceeds an address's (2).
func (s *Service) limitSend(ctx context.Context, ip netip.Addr, email string) error {
	if s.limits.off {
		return nil
	}
	var reqs [2]ratelimit.Request
	n := 0
	if ip.IsValid() && s.limits.SendPerIP.Limit != 0 {
		reqs[n] = ratelimit.Request{Key: "send-ip:" + ipKey(ip), Rate: s.limits.SendPerIP}
		n++
	}
	if s.limits.SendPerEmail.Limit != 0 {
		reqs[n] = ratelimit.Request{Key: "send-email:" + email, Rate: s.limits.SendPerEmail}
		n++
	}
	if bl, ok := s.limiter.(ratelimit.BatchLimiter); ok && n > 1 {
		ds, err := bl.AllowBatch(ctx, reqs[:n])
		if err != nil {
			return s.storeError(err)
		}
		if len(ds) != n {
			return newError(kindStoreUnavailable, "", "", fmt.Errorf("limiter returned %d decisions for %d keys", len(ds), n))
		}
		for _, d := range ds {
			if !d.Allowed {
				return rateLimited(d)
			}
		}
		return nil
	}
	for _, r := range reqs[:n] {
		d, err := s.limiter.Allow(ctx, r.Key, r.Rate)
		if err != nil {
			return s.storeError(err)
		}
		if !d.Allowed {
			return rateLimited(d)
		}
	}
	return nil
}

// limit counts one event for key under rate r in the named scope and returns
// an ErrRateLimited error (with RetryAfter in whole seconds, at least 1) when
// it is denied. The HTTP adapter uses it for per-API-key and per-subject
// limits.
func (s *Service) limit(ctx context.Context, scope string, r ratelimit.Rate, key string) error {
	if s.limits.off || r.Limit == 0 {
		return nil
	}
	d, err := s.limiter.Allow(ctx, scope+":"+key, r)
	if err != nil {
		return s.storeError(err)
	}
	if d.Allowed {
		return nil
	}
	return rateLimited(d)
}

// rateLimited is the ErrRateLimited of a denial, with RetryAfter in whole
// seconds, rounded up, at least 1.
func rateLimited(d ratelimit.Decision) error {
	retry := (d.RetryAfter + time.Second - 1).Truncate(time.Second)
	if retry < time.Second {
		retry = time.Second
	}
	e := newError(kindRateLimited, "", fmt.Sprintf("too many requests; retry in %d seconds", int(retry/time.Second)), nil)
	e.RetryAfter = retry
	return e
}

// ipKey returns the rate-limit key of a client address: the address itself
// for IPv4, its /64 for IPv6 (one subscriber usually holds a whole /64).
func ipKey(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}
