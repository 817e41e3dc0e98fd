package deadline

import (
	"context"
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	t.Parallel()
	bg := context.Background()

	for _, d := range []time.Duration{0, -time.Second} {
		ctx, cancel := Default(bg, d)
		cancel()
		if ctx != bg {
			t.Errorf("Default(ctx, %v) made a new context; want ctx itself", d)
		}
	}

	later := time.Now().Add(time.Hour)
	own, stop := context.WithDeadline(bg, later)
	defer stop()
	ctx, cancel := Default(own, time.Second)
	cancel()
	if ctx != own || ctx.Err() != nil {
		t.Errorf("Default kept not the caller's context (%v), or its cancel ended it (%v)", ctx == own, ctx.Err())
	}

	before := time.Now()
	ctx, cancel = Default(bg, time.Minute)
	dl, ok := ctx.Deadline()
	if !ok || dl.Before(before.Add(time.Minute)) || dl.After(time.Now().Add(time.Minute)) {
		t.Errorf("Default(background, 1m): deadline %v (set %v); want a minute from the call", dl, ok)
	}
	cancel()
	if ctx.Err() != context.Canceled {
		t.Errorf("after cancel: %v, want context.Canceled", ctx.Err())
	}
}
