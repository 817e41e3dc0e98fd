package main

import (
	"testing"

	"github.com/magiclink-go/magiclink/examples/internal/mounttest"
)

// TestMountedApp drives the application in-process: its own routes still
// work, the protected route refuses strangers, and a sign-in through
// magiclink's endpoints opens it.
func TestMountedApp(t *testing.T) {
	t.Parallel()
	mounttest.Run(t, newApp, "stdmux example")
}
