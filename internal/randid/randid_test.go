package randid

import (
	"regexp"
	"testing"
)

func TestNew(t *testing.T) {
	shape := regexp.MustCompile(`^usr_[A-Za-z0-9_-]{22}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := New("usr_")
		if !shape.MatchString(id) {
			t.Fatalf("New = %q, want usr_ and 22 base64url characters", id)
		}
		if seen[id] {
			t.Fatalf("New repeated %q", id)
		}
		seen[id] = true
	}
}
