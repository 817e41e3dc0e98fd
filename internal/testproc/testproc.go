// Package testproc holds what the test-server helpers (testredis, testpg)
// share about running a real server process on a loopback port: finding a
// free port, and starting a killed server again on the port it had.
package testproc

import (
	"fmt"
	"net"
	"time"
)

// retryEvery is the pause between two attempts of Relaunch.
const retryEvery = 50 * time.Millisecond

// FreePort asks the kernel for a free loopback TCP port. The listener is
// closed before the server binds it, so a caller retries on a lost race.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("unexpected listener address %v", l.Addr())
	}
	return addr.Port, nil
}

// Relaunch calls launch until it succeeds or timeout has passed, and
// returns launch's last error then. It is for starting a killed server on
// the port it had: the old socket may linger for a moment after the
// process exits, so the first attempts can fail to bind.
func Relaunch(timeout time.Duration, launch func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := launch()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(retryEvery)
	}
}
