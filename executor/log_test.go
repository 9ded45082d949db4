package executor_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/tasks"
)

// records is a slog.Handler keeping every record, its attributes as text.
type records struct {
	mu   sync.Mutex
	recs []record
}

type record struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *records) WithGroup(string) slog.Handler            { return h }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	rec := record{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}

// find returns the first record whose message starts with msg.
func (h *records) find(msg string) (record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if strings.HasPrefix(r.msg, msg) {
			return r, true
		}
	}
	return record{}, false
}

// troubled is a leaser over the broker whose first lease fails, whose
// heartbeats report task "lost"'s lease lost, and whose first completion
// of task "retried" fails.
type troubled struct {
	executor.Leaser

	mu                   sync.Mutex
	leaseFailed, retried bool
}

func (l *troubled) Lease(ctx context.Context, r cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	l.mu.Lock()
	fail := !l.leaseFailed
	l.leaseFailed = true
	l.mu.Unlock()
	if fail {
		return nil, errors.New("lease for w: database is busy")
	}
	return l.Leaser.Lease(ctx, r)
}

func (l *troubled) HeartbeatMany(ctx context.Context, ls []cairn.Lease) ([]cairn.HeartbeatResult, error) {
	rs, err := l.Leaser.HeartbeatMany(ctx, ls)
	for i := range rs {
		if ls[i].TaskID == "lost" {
			rs[i] = cairn.HeartbeatResult{Err: cairn.ErrLeaseLost}
		}
	}
	return rs, err
}

func (l *troubled) CompleteAndLease(ctx context.Context, ls cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	l.mu.Lock()
	fail := ls.TaskID == "retried" && !l.retried
	l.retried = l.retried || fail
	l.mu.Unlock()
	if fail {
		return nil, errors.New("complete: database is busy")
	}
	return l.Leaser.CompleteAndLease(ctx, ls, c, next)
}

// What the pool cannot report to the leaser it logs at Warn, naming the
// worker and the attempt: a failed lease (it asks again), a lost lease
// (the attempt is stopped), a failed completion (tried again).
func TestPoolLogsLeaseHeartbeatAndCompletionErrors(t *testing.T) {
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		if req.TaskID == "lost" {
			<-ctx.Done()
			return tasks.Result{}, ctx.Err()
		}
		return echo(req)
	})
	r := newRig(t, p)
	r.broker = scheduler.NewBroker(r.st, scheduler.BrokerOptions{LeaseTTL: 1500 * time.Millisecond})
	r.driver = scheduler.NewDriver(r.st, r.broker, scheduler.DriverOptions{Owner: "test:1:" + t.Name()})
	wf, id := r.create(t, `
name: logs
tasks:
  - {id: lost, type: probe}
  - {id: retried, type: probe}
`)
	h := &records{}
	r.startPoolOver(t, &troubled{Leaser: r.broker}, 2, func(o *executor.Options) {
		o.Worker = "w"
		o.Logger = slog.New(h)
	})
	wantRun(t, r.drive(t, id, wf), cairn.RunFailed)
	if as := r.attempts(t, id, "lost"); len(as) != 1 || !strings.Contains(as[0].Error, "lease was lost") {
		t.Errorf("lost's attempts = %+v, want one stopped for its lost lease", as)
	}
	if tr := r.taskRuns(t, id)["retried"]; tr.State != cairn.TaskSucceeded {
		t.Errorf("retried is %s, want succeeded: its completion is tried again", tr.State)
	}

	for _, c := range []struct {
		msg   string
		attrs map[string]string
	}{
		{"lease failed", map[string]string{"worker": "w", "run": "", "err": "lease for w: database is busy"}},
		{"lease lost", map[string]string{"worker": "w", "run": id, "task": "lost", "attempt": "1", "err": cairn.ErrLeaseLost.Error()}},
		{"completion failed", map[string]string{"worker": "w", "run": id, "task": "retried", "attempt": "1", "try": "1",
			"err": "complete: database is busy"}},
	} {
		rec, ok := h.find(c.msg)
		if !ok {
			t.Errorf("no %q record logged", c.msg)
			continue
		}
		if rec.level != slog.LevelWarn {
			t.Errorf("%q logged at %s, want WARN", c.msg, rec.level)
		}
		if c.msg == "lease failed" {
			// Said once, and again when it works.
			if again, ok := h.find("lease works again"); !ok || again.level != slog.LevelInfo || again.attrs["failures"] == "" {
				t.Errorf("no INFO record of the lease working again after it failed: %+v", again)
			}
		}
		for k, v := range c.attrs {
			if rec.attrs[k] != v {
				t.Errorf("%q record's %s = %q, want %q (all: %v)", c.msg, k, rec.attrs[k], v, rec.attrs)
			}
		}
	}
}

// racing is a leaser over the broker whose heartbeat of task "done"
// reaches the store only once that task's completion is committed: the
// heartbeat, begun while the attempt ran, then finds its lease ended.
type racing struct {
	executor.Leaser
	beat      chan struct{} // closed when a heartbeat of done began
	committed chan struct{} // closed when done's completion is committed
	once      sync.Once
}

func (l *racing) HeartbeatMany(ctx context.Context, ls []cairn.Lease) ([]cairn.HeartbeatResult, error) {
	for _, le := range ls {
		if le.TaskID == "done" {
			l.once.Do(func() { close(l.beat) })
			select {
			case <-l.committed:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return l.Leaser.HeartbeatMany(ctx, ls)
}

func (l *racing) CompleteAndLease(ctx context.Context, ls cairn.Lease, c cairn.Completion, next cairn.LeaseRequest) ([]cairn.WorkItem, error) {
	items, err := l.Leaser.CompleteAndLease(ctx, ls, c, next)
	if ls.TaskID == "done" && err == nil {
		close(l.committed)
	}
	return items, err
}

// A heartbeat that meets an attempt's own completion — begun while the
// attempt ran, answered after its report ended the lease — says nothing:
// the attempt succeeded, and "lease lost; stopping the attempt" (the
// server logged 16-28 of these a big run, each for a task that succeeded)
// would be false.
func TestHeartbeatAfterTheReportSaysNothing(t *testing.T) {
	l := &racing{beat: make(chan struct{}), committed: make(chan struct{})}
	p := newProbe(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		select { // a beat has the attempt's lease in it before it ends
		case <-l.beat:
		case <-ctx.Done():
			return tasks.Result{}, ctx.Err()
		}
		return echo(req)
	})
	r := newRig(t, p)
	r.broker = scheduler.NewBroker(r.st, scheduler.BrokerOptions{LeaseTTL: 600 * time.Millisecond})
	r.driver = scheduler.NewDriver(r.st, r.broker, scheduler.DriverOptions{Owner: "test:1:" + t.Name()})
	wf, id := r.create(t, `
name: beat
tasks:
  - {id: done, type: probe}
`)
	l.Leaser = r.broker
	h := &records{}
	r.startPoolOver(t, l, 1, func(o *executor.Options) {
		o.Worker = "w"
		o.Logger = slog.New(h)
	})
	wantRun(t, r.drive(t, id, wf), cairn.RunSucceeded)
	// The pool reads the beat's answer after the run ended: wait for the
	// next beat, which no longer holds the attempt.
	time.Sleep(400 * time.Millisecond)
	for _, msg := range []string{"lease lost", "heartbeat failed"} {
		if rec, ok := h.find(msg); ok {
			t.Errorf("logged %q for an attempt that succeeded: %+v", rec.msg, rec.attrs)
		}
	}
	if as := r.attempts(t, id, "done"); len(as) != 1 || as[0].State != cairn.TaskSucceeded {
		t.Errorf("done's attempts = %+v, want one that succeeded", as)
	}
}
