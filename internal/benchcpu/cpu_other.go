//go:build !unix

package benchcpu

// processCPU is unknown here.
func processCPU() int64 { return -1 }
