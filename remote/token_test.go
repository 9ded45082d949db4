package remote_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/auth"
	"github.com/cairnml/cairn/remote"
)

// countedTokens counts the token reads of the worker API.
type countedTokens struct {
	remote.Tokens
	reads atomic.Int64
}

func (c *countedTokens) AuthenticateToken(ctx context.Context, text string) (auth.Token, error) {
	c.reads.Add(1)
	return c.Tokens.AuthenticateToken(ctx, text)
}

// A worker token is read once per TokenTTL, not on every request, and a
// token revoked meanwhile is refused once TokenTTL has passed since the
// revocation, whatever the server remembered; with TokenTTL negative, at
// once.
func TestTokenReadOncePerTTL(t *testing.T) {
	const ttl = 400 * time.Millisecond
	var counted *countedTokens
	r := newRigWith(t, func(o *remote.ServerOptions) {
		counted = &countedTokens{Tokens: o.Tokens}
		o.Tokens, o.TokenTTL = counted, ttl
	})
	ctx := context.Background()
	c := r.client(t, 1)
	counted.reads.Store(0)
	start := time.Now()
	calls := 0
	for time.Since(start) < 5*ttl/2 {
		if err := c.Beat(ctx); err != nil {
			t.Fatal(err)
		}
		calls++
		time.Sleep(10 * time.Millisecond)
	}
	// Calls over 2.5 TokenTTLs: read again once it passed (at least
	// twice), and at most once per TokenTTL begun.
	if n, most := counted.reads.Load(), int64(time.Since(start)/ttl)+1; n < 2 || n > most {
		t.Fatalf("%d calls read the token %d times in %v: want 2 to %d", calls, n, time.Since(start), most)
	}
	if _, err := r.st.RevokeToken(ctx, r.tokID, "test"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl)
	for i := 0; i < 3; i++ {
		if err := c.Beat(ctx); !errors.Is(err, remote.ErrUnauthorized) {
			t.Fatalf("a call %v after the token was revoked: %v, want refused (401)", ttl, err)
		}
	}
}

func TestTokenReadEveryCall(t *testing.T) {
	var counted *countedTokens
	r := newRigWith(t, func(o *remote.ServerOptions) {
		counted = &countedTokens{Tokens: o.Tokens}
		o.Tokens, o.TokenTTL = counted, -1
	})
	ctx := context.Background()
	c := r.client(t, 1)
	counted.reads.Store(0)
	for i := 0; i < 5; i++ {
		if err := c.Beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := counted.reads.Load(); n != 5 {
		t.Fatalf("5 calls read the token %d times, want 5 (TokenTTL < 0)", n)
	}
	if _, err := r.st.RevokeToken(ctx, r.tokID, "test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Beat(ctx); !errors.Is(err, remote.ErrUnauthorized) {
		t.Fatalf("the call after the token was revoked: %v, want refused (401)", err)
	}
}

// A token revoked while its lease call waits for work gets no task when
// work comes (nor its params): the call is refused (401) and the task is
// given back to be leased again, not left held until the lease's TTL
// (trial finding 20).
func TestTokenRevokedDuringLeaseWait(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	c := r.client(t, 1)
	type answer struct {
		n   int
		err error
	}
	done := make(chan answer, 1)
	go func() {
		items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1, Wait: 5 * time.Second})
		done <- answer{len(items), err}
	}()
	time.Sleep(300 * time.Millisecond) // the call waits for work
	if _, err := r.st.RevokeToken(ctx, r.tokID, "test"); err != nil {
		t.Fatal(err)
	}
	run := r.readyRun(t, 1, "echo")
	a := <-done
	if a.n != 0 || !errors.Is(a.err, remote.ErrUnauthorized) {
		t.Fatalf("the waiting lease of a revoked token: %d items, %v; want refused (401)", a.n, a.err)
	}
	tr, err := r.st.GetTaskRun(ctx, run, "t0")
	if err != nil {
		t.Fatal(err)
	}
	if tr.LeaseToken != "" || tr.State == cairn.TaskLeased || tr.State == cairn.TaskRunning {
		t.Fatalf("the task is still held: %s, lease %q of %q", tr.State, tr.LeaseToken, tr.LeaseWorker)
	}
}
