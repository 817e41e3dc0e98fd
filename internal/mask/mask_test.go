package mask

import "testing"

func TestAddress(t *testing.T) {
	for in, want := range map[string]string{
		"jane@example.com":   "j***@example.com",
		"j@example.com":      "j***@example.com",
		"élise@example.com":  "***@example.com",
		"@example.com":       "***",
		"jane@":              "***",
		"no-at-sign":         "***",
		"":                   "***",
		"a\r\nb@example.com": "***",
	} {
		if got := Address(in); got != want {
			t.Errorf("Address(%q) = %q, want %q", in, got, want)
		}
	}
}
