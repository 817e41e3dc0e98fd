package testproc

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"
)

func TestFreePortIsBindable(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d from FreePort is not bindable: %v", port, err)
	}
	l.Close()
}

func TestRelaunchRetriesUntilSuccess(t *testing.T) {
	calls := 0
	err := Relaunch(time.Minute, func() error {
		if calls++; calls < 3 {
			return errors.New("address in use")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Relaunch = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestRelaunchGivesUpWithTheLastError(t *testing.T) {
	last := errors.New("still in use")
	calls := 0
	err := Relaunch(0, func() error { calls++; return last })
	if !errors.Is(err, last) || calls != 1 {
		t.Fatalf("Relaunch = %v after %d calls, want the launch error after 1", err, calls)
	}
}
