package testproc

import (
	"fmt"
	"os/exec"
	"time"

	"github.com/magiclink-go/magiclink/internal/syncbuf"
)

// Process is one run of a server: its command, its combined output and
// whether it has exited.
type Process struct {
	// Cmd is the started command.
	Cmd *exec.Cmd
	// Out holds what the process wrote to stdout and stderr.
	Out *syncbuf.Buffer

	exited chan struct{}
	err    error
}

// Start starts cmd with its output collected in Out and waits for it in
// the background, so that Exited tells when it ends.
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{Cmd: cmd, Out: &syncbuf.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// WaitReady calls probe with a growing backoff until it answers, the
// process exits or timeout passes. probe reports an error and whether it
// is worth trying again; an error with retry false ends the wait at once
// (another process answered on the port, say).
func (p *Process) WaitReady(timeout time.Duration, probe func() (retry bool, err error)) error {
	deadline := time.Now().Add(timeout)
	backoff := 2 * time.Millisecond
	for {
		retry, err := probe()
		if err == nil || !retry {
			return err
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited before answering: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %v: %w", timeout, err)
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}
