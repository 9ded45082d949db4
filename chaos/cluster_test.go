package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn/chaos"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/sqlite"
)

// clusterSpec is what a process scenario runs.
type clusterSpec struct {
	servers     int
	serverSlots int // each server's --workers (0: only remote workers run tasks)
	workers     int // cairn worker processes, spread over the servers
	workerSlots int
	postgres    bool          // --db postgres://… (a database of the test's own); else the home's SQLite
	leaseTTL    time.Duration // the servers' --lease-ttl, where they have it
	serverArgs  []string      // more flags of cairn server
}

// cluster is the servers and workers of one scenario on one database.
type cluster struct {
	t       *testing.T
	spec    clusterSpec
	home    string   // the servers' home: plugins, artifacts, logs, the SQLite database
	db      []string // the global flags naming the database
	dbName  string   // PostgreSQL's
	servers []*proc
	workers []*proc
	addrs   []string // host:port of each server
	token   string   // the workers'
	ttl     time.Duration
}

// hasWorkers and friends say which pieces of issue #21 the binary has: the
// scenarios that need one that has not landed skip, naming it.
func hasWorkers(t *testing.T) bool  { return cairnHelp(t, "worker") != "" }
func hasLeaseTTL(t *testing.T) bool { return strings.Contains(cairnHelp(t, "server"), "--lease-ttl") }
func hasPostgresDB(t *testing.T) bool {
	for _, l := range strings.Split(cairnHelp(t), "\n") {
		if strings.Contains(l, "--db") && strings.Contains(strings.ToLower(l), "postgres") {
			return true
		}
	}
	return false
}

func newCluster(t *testing.T, spec clusterSpec) *cluster {
	t.Helper()
	c := &cluster{t: t, spec: spec, home: t.TempDir(), ttl: 30 * time.Second}
	installProbe(t, c.home)
	c.db = []string{"--home", c.home}
	if spec.postgres {
		if !hasPostgresDB(t) {
			t.Skip("waits for --db postgres:// in the commands (the pgwire piece of issue #21)")
		}
		var dsn string
		dsn, c.dbName = newDatabase(t)
		c.db = append(c.db, "--db", dsn)
	}
	if spec.workers > 0 {
		if !hasWorkers(t) {
			t.Skip("waits for cairn worker (the remote workers of issue #21)")
		}
		c.token = strings.TrimSpace(cairnCmd(t, nil, append(c.db, "tokens", "create", "--role", "worker")...))
	}
	for i := range spec.servers {
		args := append(slices.Clone(c.db), "server", "--addr", "127.0.0.1:0", "--log-format", "json",
			"--workers", fmt.Sprint(spec.serverSlots))
		if spec.leaseTTL > 0 && hasLeaseTTL(t) {
			args = append(args, "--lease-ttl", spec.leaseTTL.String())
			c.ttl = spec.leaseTTL
		}
		args = append(args, spec.serverArgs...)
		p := newProc(t, fmt.Sprintf("server%d", i), nil, args...)
		p.start()
		l := p.logLine(60*time.Second, "cairn server ready")
		addr := strings.TrimPrefix(fmt.Sprint(l["addr"]), "http://")
		// Restarts listen where the first start did, for the workers.
		p.args[slices.Index(p.args, "127.0.0.1:0")] = addr
		c.servers, c.addrs = append(c.servers, p), append(c.addrs, addr)
	}
	for i := range spec.workers {
		home := t.TempDir()
		installProbe(t, home)
		p := newProc(t, fmt.Sprintf("worker%d", i), []string{"CAIRN_WORKER_TOKEN=" + c.token},
			"--home", home, "worker", "--server", "http://"+c.addrs[i%len(c.addrs)], "--log-format", "json",
			"--concurrency", fmt.Sprint(spec.workerSlots))
		p.start()
		p.logLine(60*time.Second, "cairn worker ready")
		c.workers = append(c.workers, p)
	}
	return c
}

// restart starts p again after a kill, and waits for it to be ready.
func (c *cluster) restart(p *proc) {
	c.t.Helper()
	p.start()
	if strings.HasPrefix(p.name, "server") {
		p.logLine(60*time.Second, "cairn server ready")
	}
}

// queue stores count queued runs of the workflow file wf with params.
func (c *cluster) queue(wf string, count int, params ...string) []string {
	c.t.Helper()
	var ids []string
	for range count {
		args := append(slices.Clone(c.db), "run", "--detach", wf)
		for _, p := range params {
			args = append(args, "-p", p)
		}
		ids = append(ids, strings.TrimSpace(cairnCmd(c.t, nil, args...)))
	}
	return ids
}

// store opens the cluster's database for the checker.
func (c *cluster) store() scheduler.Store {
	c.t.Helper()
	ctx := context.Background()
	var st scheduler.Store
	var err error
	if c.spec.postgres {
		st, err = postgres.Open(ctx, c.db[len(c.db)-1])
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(c.home, "cairn.db"), sqlite.ReadOnly())
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		if cl, ok := st.(interface{ Close() error }); ok {
			cl.Close()
		}
	})
	return st
}

// stopAll stops every process with SIGTERM (continued first).
func (c *cluster) stopAll() {
	for _, p := range append(slices.Clone(c.workers), c.servers...) {
		if !p.exited() {
			p.term(60 * time.Second)
		}
	}
}

// kill is one SIGKILL the driver made: of which process, when, and its pid.
type kill struct {
	proc *proc
	pid  int
	at   time.Time
}

// chaosLoop draws an action every pause until kills SIGKILLs were made or
// done reports true: a SIGKILL of a server or worker (restarted after up
// to a second), a SIGSTOP of one (continued after up to maxStop), or on
// PostgreSQL every connection of the database dropped. It returns the
// kills.
func (c *cluster) chaosLoop(rng *rand.Rand, kills int, pause func() time.Duration, maxStop time.Duration, done func() bool) (made []kill, stops, drops int) {
	c.t.Helper()
	procs := append(slices.Clone(c.servers), c.workers...)
	for len(made) < kills && !done() {
		time.Sleep(pause())
		p := procs[rng.IntN(len(procs))]
		// The first action is a kill whatever the draw: a short run's work
		// lasts a few actions, and stops and drops alone (a stop takes up
		// to maxStop) could see it end with no kill made, testing nothing
		// the scenario is for.
		first := len(made) == 0 && stops == 0 && drops == 0
		switch x := rng.Float64(); {
		case !first && x < 0.15 && c.spec.postgres:
			terminateBackends(c.t, c.dbName)
			drops++
		case !first && x < 0.35:
			p.stop()
			time.Sleep(time.Duration(rng.Int64N(int64(maxStop))))
			p.cont()
			stops++
		default:
			pid := p.pid()
			at := p.kill9()
			made = append(made, kill{proc: p, pid: pid, at: at})
			time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
			c.restart(p)
		}
	}
	return made, stops, drops
}

// waitTerminal waits up to d for every run to end; false if some did not.
func waitTerminal(t *testing.T, st scheduler.Store, ids []string, d time.Duration) bool {
	t.Helper()
	end := time.Now().Add(d)
	for !allTerminal(t, st, ids) {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}

// requeues measures, for each attempt a killed process was running (its
// start record names the process, and no done record of it follows), the
// time from the kill to the start of the task's next attempt (its probe's
// start record) and, with leasedAt (the store's lease time of an attempt,
// zero if unknown), to that attempt's lease: the server's part of it.
func requeues(kills []kill, ledger []chaos.Record, leasedAt func(run, task string, attempt int) time.Time) (toStart, toLease []time.Duration) {
	host, _ := os.Hostname()
	type key struct {
		run, task string
	}
	finished := map[string]bool{}
	starts := map[key][]chaos.Record{}
	for _, r := range ledger {
		if r.Event == chaos.EventDone {
			finished[r.Nonce] = true
		} else {
			k := key{r.Run, r.Task}
			starts[k] = append(starts[k], r)
		}
	}
	for _, k := range kills {
		me := fmt.Sprintf("%s:%d", host, k.pid)
		for _, rs := range starts {
			for _, r := range rs {
				if r.Worker != me || finished[r.Nonce] || r.Time().After(k.at) {
					continue
				}
				var next chaos.Record
				for _, s := range rs {
					if s.Attempt > r.Attempt && (next.At == 0 || s.At < next.At) {
						next = s
					}
				}
				if next.At != 0 && next.Time().After(k.at) {
					toStart = append(toStart, next.Time().Sub(k.at))
					if leasedAt != nil {
						if at := leasedAt(next.Run, next.Task, next.Attempt); !at.IsZero() {
							toLease = append(toLease, at.Sub(k.at))
						}
					}
				}
			}
		}
	}
	slices.Sort(toStart)
	slices.Sort(toLease)
	return toStart, toLease
}

// quantile is the q-quantile of sorted ds (nearest rank); 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds))*q+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// timeline writes, to the file CAIRN_CHAOS_TIMELINE names (if set), every
// kill and every attempt of the runs, with the probe's records, as JSON
// lines: what the worker-loss figure is made of.
func timeline(t *testing.T, st scheduler.Store, ids []string, kills []kill, recs []chaos.Record) {
	t.Helper()
	path := os.Getenv("CAIRN_CHAOS_TIMELINE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	host, _ := os.Hostname()
	for _, k := range kills {
		enc.Encode(map[string]any{"kind": "kill", "at": k.at, "worker": fmt.Sprintf("%s:%d", host, k.pid), "proc": k.proc.name})
	}
	for _, r := range recs {
		enc.Encode(map[string]any{"kind": "probe", "event": r.Event, "run": r.Run, "task": r.Task, "attempt": r.Attempt, "worker": r.Worker, "at": r.Time()})
	}
	ctx := context.Background()
	for _, id := range ids {
		trs, err := st.ListTaskRuns(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range trs {
			atts, err := st.ListAttempts(ctx, id, tr.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range atts {
				enc.Encode(map[string]any{"kind": "attempt", "run": id, "task": tr.TaskID, "attempt": a.Number, "state": a.State,
					"worker": a.Worker, "leased": a.StartedAt, "running": a.RunningAt, "finished": a.FinishedAt, "error": a.Error})
			}
		}
	}
}
