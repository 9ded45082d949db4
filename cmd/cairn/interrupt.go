package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// announceCancel tells the user, once ctx is ended by a signal (main), that
// the run is being cancelled, how long that may take, and how to force it.
// The returned function stops watching.
func announceCancel(ctx context.Context, prog *progress, grace time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		var in interrupted
		if errors.As(context.Cause(ctx), &in) {
			prog.say(fmt.Sprintf("cancelling: waiting up to %s for tasks to stop; %s again to force", grace, signalName(in.sig)))
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// say prints a line of its own, whatever the display (a bar is redrawn
// below it).
func (p *progress) say(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintln(p.w, line)
	p.flush()
	if p.barShown {
		p.draw()
	}
}
