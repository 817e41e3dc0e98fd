// Package storetest is the conformance suite every magiclink store must pass.
//
// A store package runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clock func() time.Time) storetest.Harness {
//			return storetest.Harness{Store: mystore.New(..., mystore.WithClock(clock))}
//		})
//	}
//
// The suite drives expiry through the clock it hands to the factory, so a
// store must judge expiry by that clock (a backend may also expire records on
// its own, later). Each subtest gets a fresh store from the factory.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/internal/storefixture"
	"github.com/magiclink-go/magiclink/store"
)

// Harness is one store under test.
type Harness struct {
	// Store is the store under test, empty.
	Store store.Store
	// Break, when set, makes the backend unreachable (for example by
	// stopping a server). After it, every call must fail with an error
	// matching store.ErrUnavailable. Nil skips the unavailability test.
	Break func(t *testing.T)
}

// Factory returns a fresh, empty store whose notion of "now" is clock. It
// registers its own cleanup with t.
type Factory func(t *testing.T, clock func() time.Time) Harness

// Clock is a manual clock for tests, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// MaxTries is the code try limit the suite uses.
const MaxTries = 5

// fixture is what one conformance test gets: a fresh, empty store and the
// clock it judges expiry by.
type fixture struct {
	st      store.Store
	clock   *Clock
	harness Harness
}

// suites are the conformance tests, in order. Each runs as a subtest of Run
// with its own store; add a capability's tests by appending here.
var suites = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"TokenRoundTrip", testTokenRoundTrip},
	{"TokenSingleUse", testTokenSingleUse},
	{"TokenUnknown", testTokenUnknown},
	{"TokenDuplicate", testTokenDuplicate},
	{"TokenExpiry", testTokenExpiry},
	{"ConcurrentConsume", testConcurrentConsume},
	{"TokensAt", testTokensAt},
	{"CodeExpiry", testCodeExpiry},
	{"CodeConsumesToken", testCodeConsumesToken},
	{"CodeOutlivesLink", testCodeOutlivesLink},
	{"CodeAfterLinkStillCountsTries", testCodeAfterLinkStillCountsTries},
	{"CodeTriesLimit", testCodeTriesLimit},
	{"ConcurrentWrongCodes", testConcurrentWrongCodes},
	{"NewerCodeReplacesOlder", testNewerCodeReplacesOlder},
	{"LinkAndCodeRace", testLinkAndCodeRace},
	{"CodeUnknownAddress", testCodeUnknownAddress},
	{"PeekToken", testPeekToken},
	{"PeekTokenChangesNothing", testPeekTokenChangesNothing},
	{"PendingRoundTrip", testPendingRoundTrip},
	{"PendingApprove", testPendingApprove},
	{"PendingWrongNumberKills", testPendingWrongNumberKills},
	{"PendingNotFound", testPendingNotFound},
	{"PendingBadInput", testPendingBadInput},
	{"PendingDuplicate", testPendingDuplicate},
	{"PendingExpiry", testPendingExpiry},
	{"PendingUsedElsewhere", testPendingUsedElsewhere},
	{"ConsumeTokenFrom", testConsumeTokenFrom},
	{"ConcurrentApproveAndVerify", testConcurrentApproveAndVerify},
	{"ConcurrentNumbers", testConcurrentNumbers},
	{"ConcurrentPolls", testConcurrentPolls},
	{"PendingUnavailable", testPendingUnavailable},
	{"Users", testUsers},
	{"ConcurrentCreateUser", testConcurrentCreateUser},
	{"FindOrCreateUser", testFindOrCreateUser},
	{"ConcurrentFindOrCreateUser", testConcurrentFindOrCreateUser},
	{"Customers", testCustomers},
	{"CanceledContext", testCanceledContext},
	{"Unavailable", testUnavailable},
	{"SessionRoundTrip", testSessionRoundTrip},
	{"SessionCreateRefusesBadRecords", testSessionCreateRefuses},
	{"SessionNotFound", testSessionNotFound},
	{"SessionTouch", testSessionTouch},
	{"SessionIdleExpiry", testSessionIdleExpiry},
	{"SessionMaxAge", testSessionMaxAge},
	{"RefreshRotation", testRefreshRotation},
	{"RefreshUnknownKeepsSession", testRefreshUnknown},
	{"RefreshHistory", testRefreshHistory},
	{"ConcurrentRefresh", testConcurrentRefresh},
	{"ConcurrentTouch", testConcurrentTouch},
	{"RevokeSession", testRevokeSession},
	{"RevokeAllButOne", testRevokeAllButOne},
	{"ListSessions", testListSessions},
	{"SessionsUnavailable", testSessionsUnavailable},
}

// Run runs the whole conformance suite against stores made by newStore,
// each test with a fresh store.
func Run(t *testing.T, newStore Factory) {
	t.Helper()
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) { s.run(t, newFixture(t, newStore)) })
	}
}

// newFixture makes a store on a manual clock. The clock starts at real wall
// time, so backends that also set their own TTLs from a token's ExpiresAt
// get sensible values.
func newFixture(t *testing.T, newStore Factory) *fixture {
	t.Helper()
	c := NewClock(time.Now().Truncate(time.Millisecond))
	h := newStore(t, c.Now)
	if h.Store == nil {
		t.Fatal("storetest: factory returned a nil Store")
	}
	return &fixture{st: h.Store, clock: c, harness: h}
}

func mustPut(t *testing.T, s store.Store, tok *store.Token) {
	t.Helper()
	if err := s.PutToken(context.Background(), tok); err != nil {
		t.Fatalf("PutToken: %v", err)
	}
}

// newToken is a fresh token created at the suite clock's now, expiring in
// 15 minutes.
func newToken(c *Clock, email string, withCode bool) *store.Token {
	return storefixture.Token(c.Now(), email, withCode, 15*time.Minute)
}

func hexID() string {
	d := storefixture.Digest()
	return fmt.Sprintf("%x", d[:8])
}
