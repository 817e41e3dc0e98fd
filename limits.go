package magiclink

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/magiclink-go/magiclink/ratelimit"
)

// Limits are the rate limits a Service applies. A ratelimit.Rate with Limit 0
// disables that one limit; the zero Limits means DefaultLimits().
//
// The per-address limits are keyed on the canonical mailbox of an address:
// normalized (NormalizeEmail) and with its sub-address tag (from the first
// "+" of the local part) dropped, for every domain, so "ada+1@example.com"
// and "ada+2@example.com" share one budget; dots are kept. Users and mails
// keep the address as given. The per-IP limits are keyed on the address,
// an IPv6 address on its /64.
type Limits struct {
	// SendPerIP limits SendLink per client IP (IPv6 per /64).
	SendPerIP ratelimit.Rate
	// SendPerEmail limits SendLink per mailbox.
	SendPerEmail ratelimit.Rate
	// VerifyPerIP limits Verify and VerifyCode per client IP.
	VerifyPerIP ratelimit.Rate
	// CodeTriesPerEmail limits VerifyCode per mailbox, across all the codes
	// it is sent: it bounds how many guesses an attacker gets at an
	// address's codes however many IPs it uses. Every well-formed try
	// counts (whether a try is right is known only after it is counted);
	// a right one ends the need for more.
	CodeTriesPerEmail ratelimit.Rate
	// CreatePerAPIKey limits link creation per API key (HTTP adapter).
	CreatePerAPIKey ratelimit.Rate
	// AdminPerSubject limits admin link creation per token subject.
	AdminPerSubject ratelimit.Rate

	off bool
}

// DefaultLimits returns the default rate limits: 30 sends per 10 minutes per
// IP (bursts of 10), 5 per hour per mailbox (bursts of 2), 30 verifications
// per minute per IP, 10 code tries per hour per mailbox (bursts of 10), 600
// links per minute per API key and per admin subject.
func DefaultLimits() Limits {
	return Limits{
		SendPerIP:         ratelimit.Rate{Limit: 30, Period: 10 * time.Minute, Burst: 10},
		SendPerEmail:      ratelimit.Rate{Limit: 5, Period: time.Hour, Burst: 2},
		VerifyPerIP:       ratelimit.Rate{Limit: 30, Period: time.Minute, Burst: 10},
		CodeTriesPerEmail: ratelimit.Rate{Limit: 10, Period: time.Hour, Burst: 10},
		CreatePerAPIKey:   ratelimit.Rate{Limit: 600, Period: time.Minute, Burst: 100},
		AdminPerSubject:   ratelimit.Rate{Limit: 600, Period: time.Minute, Burst: 100},
	}
}

// check reports every invalid rate of l, naming its field.
func (l Limits) check() error {
	var errs []error
	for _, f := range []struct {
		name string
		r    ratelimit.Rate
	}{{"SendPerIP", l.SendPerIP}, {"SendPerEmail", l.SendPerEmail}, {"VerifyPerIP", l.VerifyPerIP},
		{"CodeTriesPerEmail", l.CodeTriesPerEmail}, {"CreatePerAPIKey", l.CreatePerAPIKey},
		{"AdminPerSubject", l.AdminPerSubject}} {
		if r := f.r; r.Limit < 0 || (r.Limit > 0 && r.Period <= 0) || r.Burst < 0 {
			errs = append(errs, configError("Limits."+f.name, fmt.Sprintf("%+v is not a valid rate", r)))
		}
	}
	return errors.Join(errs...)
}

// NoLimits returns Limits that disable every rate limit. Use it in tests or
// behind a gateway that already limits.
func NoLimits() Limits { return Limits{off: true} }

// Limit scopes: the closed set of names a refusal is counted under
// (telemetry) and each limiter key's namespace.
const (
	scopeSendIP       = "send_ip"
	scopeSendEmail    = "send_email"
	scopeVerifyIP     = "verify_ip"
	scopeCodeEmail    = "code_email"
	scopeAPIKey       = "api_key"
	scopeAdminSubject = "admin_subject"
)

// limitReq is one limit a request is subject to.
type limitReq struct {
	scope string
	key   string
	rate  ratelimit.Rate
}

// maxLimitsPerRequest is the most limits one request is subject to.
const maxLimitsPerRequest = 2

// limitSend applies the per-IP and per-mailbox limits of a send, all or
// nothing.
func (s *Service) limitSend(ctx context.Context, ip netip.Addr, email string) error {
	if s.limits.off {
		return nil // and no key to build
	}
	reqs := [maxLimitsPerRequest]limitReq{{scope: scopeSendEmail, key: mailbox(email), rate: s.limits.SendPerEmail}}
	n := 1
	if ip.IsValid() {
		reqs[0], reqs[1] = limitReq{scope: scopeSendIP, key: ipKey(ip), rate: s.limits.SendPerIP}, reqs[0]
		n = 2
	}
	return s.limitAll(ctx, reqs[:n])
}

// limitVerify applies the per-IP verify limit of opts and, for a code
// (email != ""), the per-mailbox code-try limit, all or nothing.
func (s *Service) limitVerify(ctx context.Context, opts []VerifyOption, email string) error {
	if s.limits.off {
		return nil // and no key to build
	}
	var reqs [maxLimitsPerRequest]limitReq
	n := 0
	for _, o := range opts {
		if o.ip.IsValid() {
			reqs[0] = limitReq{scope: scopeVerifyIP, key: ipKey(o.ip), rate: s.limits.VerifyPerIP}
			n = 1
		}
	}
	if email != "" {
		reqs[n] = limitReq{scope: scopeCodeEmail, key: mailbox(email), rate: s.limits.CodeTriesPerEmail}
		n++
	}
	return s.limitAll(ctx, reqs[:n])
}

// limitAll decides the limits of one request together: in one batch, all
// or nothing, when the limiter is a BatchLimiter, so that a request one
// key refuses never spends another key's budget (an IP that floods sends
// for many addresses must not lock those addresses out). A plain Limiter
// decides them one after the other, in order, and stops at the first
// refusal: the per-IP limit comes first, so a flood the IP limit refuses
// still spends no address's budget; a send the address refuses does spend
// the requester's own IP budget.
func (s *Service) limitAll(ctx context.Context, reqs []limitReq) error {
	if s.limits.off {
		return nil
	}
	n := 0
	for _, r := range reqs {
		if r.rate.Limit != 0 {
			reqs[n] = r
			n++
		}
	}
	reqs = reqs[:n]
	bl, batched := s.limiter.(ratelimit.BatchLimiter)
	if !batched || n < 2 {
		for _, r := range reqs {
			if err := s.limit(ctx, r.scope, r.rate, r.key); err != nil {
				return err
			}
		}
		return nil
	}
	var batch [maxLimitsPerRequest]ratelimit.Request
	for i, r := range reqs {
		batch[i] = ratelimit.Request{Key: r.scope + ":" + r.key, Rate: r.rate}
	}
	ds, err := bl.AllowBatch(ctx, batch[:n])
	if err != nil {
		return s.storeError(err)
	}
	if len(ds) != n {
		return newError(kindStoreUnavailable, "", "", fmt.Errorf("limiter returned %d decisions for %d keys", len(ds), n))
	}
	refused := -1
	for i, d := range ds {
		if !d.Allowed && (refused < 0 || d.RetryAfter > ds[refused].RetryAfter) {
			refused = i
		}
	}
	if refused < 0 {
		return nil
	}
	s.tel.LimitDenied(ctx, reqs[refused].scope)
	return rateLimited(ds[refused])
}

// limit counts one event for key under rate r in the named scope (one of
// the scope constants) and returns an ErrRateLimited error (with RetryAfter
// in whole seconds, at least 1) when it is denied. The HTTP adapter uses it
// for per-API-key and per-subject limits.
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
	s.tel.LimitDenied(ctx, scope)
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

// mailbox returns the canonical mailbox of an address NormalizeEmail
// accepted: the key of the per-address limits. It drops the sub-address
// tag — everything from the first "+" of the local part to the "@" — for
// every domain, since many providers deliver "name+tag@" to "name@" and a
// tag is free to vary; "+tag@example.com" (nothing before the "+") is kept
// whole. Dots are left alone: only some providers ignore them, and
// dropping them elsewhere would merge distinct people's budgets. Users and
// mails keep the address as given; only limits use the mailbox.
func mailbox(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return email
	}
	if plus := strings.IndexByte(email[:at], '+'); plus > 0 {
		return email[:plus] + email[at:]
	}
	return email
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
