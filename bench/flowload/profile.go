package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// phaseProfiler writes, when dir is set, a CPU profile of each phase on its
// own (dir/<phase>.cpu.pprof) and the mutex, block and heap profiles as
// they stand at the end of each phase (dir/<phase>.mutex.pprof,
// .block.pprof, .heap.pprof); those are cumulative (the heap's inuse
// figures are what is live then), so one phase's share is its file with
// the previous phase's as pprof -base.
type phaseProfiler struct {
	dir string
	cpu *os.File
}

func newPhaseProfiler(dir string) (*phaseProfiler, error) {
	if dir == "" {
		return &phaseProfiler{}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(10_000) // one event per 10 µs blocked
	return &phaseProfiler{dir: dir}, nil
}

// start begins the CPU profile of the phase name.
func (p *phaseProfiler) start(name string) error {
	if p.dir == "" {
		return nil
	}
	f, err := os.Create(filepath.Join(p.dir, name+".cpu.pprof"))
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	p.cpu = f
	return nil
}

// stop ends the phase's CPU profile and writes the mutex and block
// profiles as they stand.
func (p *phaseProfiler) stop(name string) error {
	if p.dir == "" {
		return nil
	}
	pprof.StopCPUProfile()
	if err := p.cpu.Close(); err != nil {
		return err
	}
	for _, kind := range []string{"mutex", "block", "heap"} {
		f, err := os.Create(filepath.Join(p.dir, name+"."+kind+".pprof"))
		if err != nil {
			return err
		}
		werr := pprof.Lookup(kind).WriteTo(f, 0)
		if err := f.Close(); werr == nil {
			werr = err
		}
		if werr != nil {
			return fmt.Errorf("%s profile: %w", kind, werr)
		}
	}
	return nil
}
