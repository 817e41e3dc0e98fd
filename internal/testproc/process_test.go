package testproc

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestWaitReadyReportsAnExitedProcess(t *testing.T) {
	p, err := Start(exec.Command("sh", "-c", "echo bye; exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitReady(time.Minute, func() (bool, error) { return true, errors.New("connection refused") })
	if err == nil || !strings.Contains(err.Error(), "exited before answering") {
		t.Fatalf("WaitReady on a process that exits: %v, want an error saying it exited", err)
	}
	if out := p.Out.String(); out != "bye\n" {
		t.Fatalf("Out = %q, want the process's output", out)
	}
}

func TestWaitReadyStopsAtAFinalAnswer(t *testing.T) {
	p, err := Start(exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Cmd.Process.Kill(); <-p.Exited() }()
	calls := 0
	foreign := errors.New("another process answered")
	err = p.WaitReady(time.Minute, func() (bool, error) {
		if calls++; calls < 3 {
			return true, errors.New("connection refused")
		}
		return false, foreign
	})
	if !errors.Is(err, foreign) || calls != 3 {
		t.Fatalf("WaitReady: %v after %d probes, want the final answer after 3", err, calls)
	}
	if err := p.WaitReady(time.Minute, func() (bool, error) { return true, nil }); err != nil {
		t.Fatalf("WaitReady on a server that answers: %v", err)
	}
}
