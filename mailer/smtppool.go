package mailer

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// connPool bounds the concurrent sends of an SMTP mailer and keeps the
// connections they leave behind. A send holds one slot for its whole
// duration and at most one connection, so there are never more connections
// than slots.
type connPool struct {
	slots   chan struct{} // one token per send in flight
	closing chan struct{} // closed by shutdown

	mu     sync.Mutex
	idle   []*smtpConn // most recently used last
	closed bool
}

func newConnPool(size int) *connPool {
	return &connPool{slots: make(chan struct{}, size), closing: make(chan struct{})}
}

// acquire waits for a free slot until deadline. It fails with ErrClosed
// after shutdown and with a temporary error when ctx ends or the deadline
// passes first.
func (p *connPool) acquire(ctx context.Context, deadline time.Time) error {
	select {
	case p.slots <- struct{}{}:
	default:
		if err := p.wait(ctx, deadline); err != nil {
			return err
		}
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		<-p.slots
		return Permanent(ErrClosed)
	}
	return nil
}

// wait is the slow path of acquire: every connection is busy.
func (p *connPool) wait(ctx context.Context, deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-p.closing:
		return Permanent(ErrClosed)
	case <-ctx.Done():
		return &SendError{Temporary: true, Err: fmt.Errorf("mailer: waiting for an SMTP connection: %w", ctx.Err())}
	case <-timer.C:
		return &SendError{Temporary: true, Err: fmt.Errorf("mailer: waiting for an SMTP connection: %w", context.DeadlineExceeded)}
	}
}

// release frees the slot acquire took.
func (p *connPool) release() { <-p.slots }

// takeIdle returns the most recently used idle connection, or nil.
func (p *connPool) takeIdle() *smtpConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	c := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return c
}

// putIdle keeps c for the next send.
func (p *connPool) putIdle(c *smtpConn) {
	c.idleSince = time.Now()
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// shutdown refuses new sends, waits until every send in flight has
// returned its connection, and hands the idle connections to the caller to
// close. Later calls return none.
func (p *connPool) shutdown() []*smtpConn {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
	}
	p.mu.Unlock()
	// Taking every slot waits for the sends in flight (each bounded by its
	// timeout); waiting sends see closing and give up.
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
	defer func() {
		for range cap(p.slots) {
			<-p.slots
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	idle := p.idle
	p.idle = nil
	return idle
}
