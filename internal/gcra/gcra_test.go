package gcra

import (
	"testing"
	"time"
)

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		limit, burst int
		period       time.Duration
		t, b         int64
		ok           bool
	}{
		{limit: 10, period: time.Second, burst: 5, t: int64(100 * time.Millisecond), b: 5, ok: true},
		{limit: 3, period: 10, burst: 0, t: 3, b: 1, ok: true},                                       // truncated; burst at least 1
		{limit: 1000, period: 10, burst: 1, t: 1, b: 1, ok: true},                                    // at least 1 ns
		{limit: -1, period: time.Second, burst: 1},                                                   // negative limit
		{limit: 1, period: 0, burst: 1},                                                              // no period
		{limit: 1, period: time.Duration(1) << 40, burst: 1 << 30},                                   // B·T beyond 73 years
		{limit: 1, period: time.Duration(1) << 31, burst: 1 << 30, t: 1 << 31, b: 1 << 30, ok: true}, // exactly 2^61
	} {
		gt, gb, err := Params(tc.limit, tc.period, tc.burst)
		if (err == nil) != tc.ok || gt != tc.t || gb != tc.b {
			t.Errorf("Params(%d, %v, %d) = %d, %d, %v; want %d, %d, ok=%v", tc.limit, tc.period, tc.burst, gt, gb, err, tc.t, tc.b, tc.ok)
		}
	}
}
