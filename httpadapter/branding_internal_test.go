package httpadapter

import (
	"fmt"
	"testing"
)

// Whatever the accent colour, the button text reaches 4.5:1 against it.
func TestTextOnEveryAccentReadsAtAA(t *testing.T) {
	t.Parallel()
	for r := range 16 {
		for g := range 16 {
			for b := range 16 {
				bg := fmt.Sprintf("#%x%x%x", r, g, b)
				on, ratio := textOn(bg)
				if ratio < minContrast || contrast(bg, on) != ratio {
					t.Fatalf("%s: text %s at %.2f:1", bg, on, ratio)
				}
			}
		}
	}
}

func TestContrastKnownValues(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		want float64
	}{
		{"#ffffff", "#000000", 21},
		{"#fff", "#fff", 1},
		{"#1a56db", "#ffffff", 6.18},
		{"#777777", "#ffffff", 4.48},
	} {
		if got := contrast(tt.a, tt.b); got < tt.want-0.05 || got > tt.want+0.05 {
			t.Errorf("contrast(%s, %s) = %.2f, want %.2f", tt.a, tt.b, got, tt.want)
		}
	}
}
