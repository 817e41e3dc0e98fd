package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	var b Buffer
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = b.Write([]byte("x\n"))
			_ = b.String()
		}()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "x\n"); n != 50 {
		t.Fatalf("%d of 50 writes kept", n)
	}
}
