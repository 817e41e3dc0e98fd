//go:build unix

package mailer

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) this process has used,
// client and in-process sink together; ok is false where it is unknown.
func processCPU() (d time.Duration, ok bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
