package testredis

import (
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink/internal/testproc"
)

// lookPathOf runs lookPath(name) and returns what it skipped or failed
// with.
func lookPathOf(t *testing.T, name string) (skipped, failed string) {
	return testproc.Record(t, func(t testing.TB) { lookPath(t, name) })
}

func TestMissingBinary(t *testing.T) {
	t.Setenv(RequireEnv, "")
	skipped, failed := lookPathOf(t, "redis-server-missing-for-this-test")
	if !strings.Contains(skipped, "not found on PATH") || !strings.Contains(skipped, RequireEnv+"=1") || failed != "" {
		t.Fatalf("without %s a missing binary must skip with a hint; skipped %q, failed %q", RequireEnv, skipped, failed)
	}

	t.Setenv(RequireEnv, "1")
	skipped, failed = lookPathOf(t, "redis-server-missing-for-this-test")
	if !strings.Contains(failed, "not found on PATH") || skipped != "" {
		t.Fatalf("with %s=1 a missing binary must fail; skipped %q, failed %q", RequireEnv, skipped, failed)
	}
}
