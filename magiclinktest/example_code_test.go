package magiclinktest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/magiclinktest"
)

// testCodeExpires signs in with the 6-digit code and shows expiry on the
// fake clock. (In your package, name it TestCodeExpires.)
func testCodeExpires(t *testing.T) {
	h := magiclinktest.New(t)

	h.SendLink("grace@example.com")
	if _, err := h.Service.VerifyCode(t.Context(), "grace@example.com", h.LastCode("grace@example.com")); err != nil {
		t.Fatalf("fresh code: %v", err)
	}

	h.SendLink("grace@example.com")
	code := h.LastCode("grace@example.com")
	h.Advance(16 * time.Minute) // links and codes live 15 minutes
	if _, err := h.Service.VerifyCode(t.Context(), "grace@example.com", code); !errors.Is(err, magiclink.ErrInvalidCode) {
		t.Errorf("expired code: %v, want ErrInvalidCode", err)
	}
}

// The code of the newest mail, and the fake clock; testCodeExpires above is
// run by TestExampleHarnessLastCode.
func ExampleHarness_LastCode() {
	_ = testCodeExpires
}
