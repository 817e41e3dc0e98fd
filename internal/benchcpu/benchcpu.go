// Package benchcpu reports the CPU time a benchmark's process spends per
// operation. On a machine shared with other work, wall time per operation
// (ns/op) mostly measures waiting for a core; CPU time measures the cost.
package benchcpu

import "testing"

// Meter measures the process's CPU time from Start.
type Meter struct{ start int64 }

// Start begins measuring. Call it right before the benchmark loop.
func Start() Meter { return Meter{start: processCPU()} }

// Report adds "cpu-ns/op": user plus system time of the whole process
// (garbage collection included) divided by b.N. It reports nothing where
// the platform gives no process CPU time.
func (m Meter) Report(b *testing.B) {
	end := processCPU()
	if end < 0 || m.start < 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(end-m.start)/float64(b.N), "cpu-ns/op")
}
