package executor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
)

// blockUntilStopped is a probe's behaviour for tasks whose name starts
// with "block": they run until their context ends, on their first attempt
// only; every other attempt succeeds at once.
func blockUntilStopped(causes chan<- string) func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
	return func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if !strings.HasPrefix(req.TaskID, "block") || req.Attempt > 1 {
			return echo(req)
		}
		<-ctx.Done()
		if causes != nil {
			causes <- context.Cause(ctx).Error()
		}
		return tasks.Result{}, ctx.Err()
	}
}

// detachable drives run id until the test detaches the driver (as a server
// stopping would), leaving the run as it is; detach waits for Drive to
// return.
func (r *rig) detachable(t *testing.T, id string, wf scheduler.Graph) (detach func()) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.driver.Drive(ctx, id, wf)
		done <- err
	}()
	var once sync.Once
	detach = func() {
		once.Do(func() {
			cancel(scheduler.ErrDetached)
			if err := await(t, "Drive to return once detached", done); !errors.Is(err, scheduler.ErrDetached) {
				t.Errorf("Drive = %v, want it detached", err)
			}
		})
	}
	t.Cleanup(detach)
	return detach
}

// beats counts the pool's heartbeat calls and what they cost the store.
type beats struct {
	executor.Leaser
	stats func() (statements, transactions int64)

	mu     sync.Mutex
	calls  []beat
	notify chan struct{}
}

type beat struct {
	leases, renewed         int
	stmtsBefore, stmtsAfter int64
	txsBefore, txsAfter     int64
	at                      time.Time
}

func (b *beats) HeartbeatMany(ctx context.Context, ls []cairn.Lease) ([]cairn.HeartbeatResult, error) {
	s0, t0 := b.stats()
	rs, err := b.Leaser.HeartbeatMany(ctx, ls)
	s1, t1 := b.stats()
	n := 0
	for _, r := range rs {
		if r.Err == nil {
			n++
		}
	}
	b.mu.Lock()
	b.calls = append(b.calls, beat{len(ls), n, s0, s1, t0, t1, time.Now()})
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return rs, err
}

// The pool renews all of its leases in one call, which the store makes one
// statement in one transaction: 200 attempts blocked on a long task cost
// one write statement per heartbeat period (a third of the lease TTL),
// not 200.
func TestHeartbeatIsOneStatementForAllLeases(t *testing.T) {
	const n = 200
	p := newProbe(blockUntilStopped(nil))
	r := newRig(t, p)
	// A short TTL so that a few beats pass quickly: a beat every second.
	const ttl = 3 * time.Second
	r.broker = scheduler.NewBroker(r.st, scheduler.BrokerOptions{LeaseTTL: ttl})
	r.driver = scheduler.NewDriver(r.st, r.broker, scheduler.DriverOptions{Owner: "test:1:" + t.Name()})
	var src strings.Builder
	src.WriteString("name: many\ntasks:\n")
	for i := range n {
		fmt.Fprintf(&src, "  - {id: block%d, type: probe}\n", i)
	}
	wf, id := r.create(t, src.String())
	counter := &beats{Leaser: r.broker, notify: make(chan struct{}, 1), stats: func() (int64, int64) {
		s := r.st.WriteStats()
		return s.Statements, s.Transactions
	}}
	pool := r.startPoolOver(t, counter, n)
	detach := r.detachable(t, id, wf)
	for i := range n {
		p.waitStarted(t, fmt.Sprintf("block%d", i), 1)
	}
	// Nothing writes but the heartbeat now: no planning, no claim
	// renewal, no lease (every slot is busy).
	detach()
	counter.mu.Lock()
	first := len(counter.calls) + 1 // the next beat may have begun before the driver let go
	counter.mu.Unlock()
	const want = 4
	for {
		await(t, "a heartbeat", counter.notify)
		counter.mu.Lock()
		got := len(counter.calls) - first
		counter.mu.Unlock()
		if got >= want {
			break
		}
	}
	pool.hard()

	counter.mu.Lock()
	calls := counter.calls[first : first+want]
	counter.mu.Unlock()
	for i, c := range calls {
		if c.leases != n || c.renewed != n {
			t.Errorf("beat %d renewed %d of %d leases, want all %d in one call", i, c.renewed, c.leases, n)
		}
		if s, x := c.stmtsAfter-c.stmtsBefore, c.txsAfter-c.txsBefore; s != 1 || x != 1 {
			t.Errorf("beat %d cost %d statements in %d transactions, want 1 in 1", i, s, x)
		}
	}
	// Between the first beat measured and the last, nothing else wrote.
	last := calls[len(calls)-1]
	stmts := last.stmtsAfter - calls[0].stmtsBefore
	txs := last.txsAfter - calls[0].txsBefore
	if stmts != want || txs != want {
		t.Errorf("%d beats of %d leases: %d statements in %d transactions, want %d in %d", want, n, stmts, txs, want, want)
	}
	took := last.at.Sub(calls[0].at)
	t.Logf("%d attempts blocked, %d heartbeats: %d write statements in %d transactions over %s: %.2f statements/s "+
		"at a %s lease TTL (at the default 30s: %.2f/s; one Heartbeat per lease was %d statements per beat)",
		n, want, stmts, txs, took.Round(time.Millisecond), float64(want-1)/took.Seconds(), ttl, 3.0/30, n)
}
