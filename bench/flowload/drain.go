package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime/metrics"
	"syscall"
	"time"
)

// sendFigures is a send phase measured to the end of its mail: the phase
// itself, then the wait until every mail it had accepted was delivered.
//
// Each send phase starts with an empty mail queue and is judged by
// accepted sends per second of phase plus drain. Counting the phase alone
// would credit whichever phase starts with an empty queue with up to a
// queue's worth (1,024) of mails it never paid to deliver, and charge the
// next phase for delivering them: that alone put storm / calm near 0.83
// with identical per-send cost, when the storm began behind the mail
// send-existing had left queued. When delivery keeps up, the drain is
// short and the two figures agree.
type sendFigures struct {
	res   result
	drain time.Duration
	// cpu is the process's CPU time (user and system, server and client
	// together) over phase and drain.
	cpu time.Duration
	// live is the heap the last collection found live, at the end.
	live uint64
}

// rate is accepted sends per second of phase and drain.
func (f sendFigures) rate() float64 {
	return float64(f.res.status[http.StatusOK]) / (f.res.elapsed + f.drain).Seconds()
}

// phaseRate is accepted sends per second of the phase alone.
func (f sendFigures) phaseRate() float64 {
	return float64(f.res.status[http.StatusOK]) / f.res.elapsed.Seconds()
}

// cpuPerSend is the process's CPU time per accepted send, in µs: on a
// shared machine it varies less than the rates do.
func (f sendFigures) cpuPerSend() float64 {
	return float64(f.cpu.Microseconds()) / float64(max(1, f.res.status[http.StatusOK]))
}

// drained prints the send phase r, which began at cpu0 of process CPU time
// after acceptedBefore mails were accepted, waits (at most 2 minutes) until
// every mail accepted so far was delivered, and prints how long that took.
func drained(ctx context.Context, mails mailbox, name string, r result, acceptedBefore int, cpu0 cpuUse) sendFigures {
	r.print(name)
	want := acceptedBefore + r.status[http.StatusOK]
	queued := want - mails.received()
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	got := mails.waitFor(waitCtx, want)
	end := readCPU()
	f := sendFigures{res: r, drain: time.Since(t0), cpu: end.process - cpu0.process, live: end.live}
	fmt.Printf("%-16s %7d mails still queued, delivered in %5.2fs (%d of %d so far): %7.0f accepted sends/s over phase and drain\n",
		"  drain", queued, f.drain.Seconds(), got, want, f.rate())
	fmt.Printf("%-16s %4.0f CPU-µs per send, %4.0f MiB of heap live at the end\n", "  cost", f.cpuPerSend(), float64(f.live)/(1<<20))
	return f
}

// cpuUse is the CPU time the process used so far, and the heap live
// after the last collection. (runtime/metrics also estimates the
// collector's CPU time, but from wall time: on a loaded machine it counted
// more than getrusage did for the whole process. A CPU profile, -profile-dir,
// gives the collector's real share.)
type cpuUse struct {
	process time.Duration
	live    uint64
}

func readCPU() cpuUse {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	u := cpuUse{process: processCPU()}
	if s[0].Value.Kind() == metrics.KindUint64 {
		u.live = s[0].Value.Uint64()
	}
	return u
}

// processCPU is the CPU time the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
