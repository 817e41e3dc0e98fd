// Package conc is the one way this module's tests run work concurrently,
// for the claims that must hold under many goroutines (single use, exact
// limits, no lost writes): Run starts n goroutines and releases them
// together, so that they contend as hard as the machine allows.
package conc

import "sync"

// Run runs f(i) for i in [0,n) on n goroutines released together, and
// returns once every f has returned.
func Run(n int, f func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			f(i)
		})
	}
	start.Done()
	done.Wait()
}
