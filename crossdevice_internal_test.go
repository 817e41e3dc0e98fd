package magiclink

import (
	"fmt"
	"testing"
)

// Every number is equally likely: of the 200 accepted byte values each
// number comes from exactly two.
func TestMatchFromUniform(t *testing.T) {
	t.Parallel()
	var seen [100]int
	for b := range 200 {
		seen[matchFrom(byte(b))]++
	}
	for n, c := range seen {
		if c != 2 {
			t.Fatalf("number %d comes from %d byte values, want 2", n, c)
		}
	}
	for b := 200; b < 256; b++ {
		if n := matchFrom(byte(b)); n > 99 {
			t.Fatalf("a rejected byte %d gave %d", b, n)
		}
	}
}

func TestParseMatch(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint8{"0": 0, "00": 0, "7": 7, "07": 7, "42": 42, "99": 99} {
		if got, ok := parseMatch(in); !ok || got != want {
			t.Fatalf("parseMatch(%q) = %d, %v; want %d", in, got, ok, want)
		}
		if in == matchText(want) || len(in) == 1 {
			continue
		}
		t.Fatalf("matchText(%d) = %q, want %q", want, matchText(want), in)
	}
	for _, bad := range []string{"", "100", "1a", "a", " 1", "1 ", "+1", "\x00"} {
		if _, ok := parseMatch(bad); ok {
			t.Fatalf("parseMatch(%q) accepted", bad)
		}
	}
}

func TestMatchTextEveryNumber(t *testing.T) {
	t.Parallel()
	for n := range 100 {
		if got, want := matchText(uint8(n)), fmt.Sprintf("%02d", n); got != want {
			t.Fatalf("matchText(%d) = %q, want %q", n, got, want)
		}
	}
}
