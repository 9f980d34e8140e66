package provider

import (
	"context"
	"testing"
	"time"
)

func TestDrainContextOutlivesTheAgentByItsTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	drain := drainContext(ctx, 50*time.Millisecond)
	cancel()
	stopped := time.Now()
	if drain.Err() != nil {
		t.Fatal("the drain ended with the agent's context")
	}
	select {
	case <-drain.Done():
		if d := time.Since(stopped); d < 50*time.Millisecond {
			t.Errorf("the drain ended %s after the stop, want at least 50ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the drain did not end")
	}
}

func TestWaitForDeletionsReturnsWithNoneInProgress(t *testing.T) {
	p := testPods()
	p.drain = context.Background() // never ends: the wait must end by itself
	done := make(chan struct{})
	go func() { p.WaitForDeletions(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WaitForDeletions waited with no deletion in progress")
	}
}
