package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/remote"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/jackc/pgx/v5"
)

// Remote workers (issue #21): cairn server --workers 0 and cairn worker
// processes over loopback, on SQLite.

// remoteRig is a server that runs no task itself, on home.
type remoteRig struct {
	b     *testing.B
	bin   string
	home  string
	dsn   string // a PostgreSQL database of its own ("": the home's SQLite)
	addr  string
	debug string // the server's CAIRN_DEBUG_ADDR
	token string
	procs []*exec.Cmd
	logs  []*syncLog
}

type syncLog struct {
	mu sync.Mutex
	sb strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.String()
}

// newRemoteRig makes a home with a worker token; the server is started by
// serve.
func newRemoteRig(b *testing.B, dsn string) *remoteRig {
	b.Helper()
	r := &remoteRig{b: b, bin: binary(b), home: b.TempDir(), dsn: dsn}
	out, err := exec.Command(r.bin, append(r.db(), "tokens", "create", "--role", "worker")...).Output()
	if err != nil {
		b.Fatalf("tokens create: %v", err)
	}
	r.token = strings.TrimSpace(string(out))
	b.Cleanup(r.stop)
	return r
}

// db is the global flags naming the rig's database.
func (r *remoteRig) db() []string {
	if r.dsn == "" {
		return []string{"--home", r.home}
	}
	return []string{"--home", r.home, "--db", r.dsn}
}

func (r *remoteRig) start(env []string, args ...string) *syncLog {
	r.b.Helper()
	cmd := exec.Command(r.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	log := &syncLog{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		r.b.Fatal(err)
	}
	r.procs, r.logs = append(r.procs, cmd), append(r.logs, log)
	return log
}

// serve starts cairn server --workers 0 and waits until it listens; its
// CAIRN_DEBUG_ADDR (profiles, statement and call counts) is r.debug.
func (r *remoteRig) serve() {
	r.b.Helper()
	r.addr, r.debug = freeAddr(r.b), freeAddr(r.b)
	log := r.start([]string{"CAIRN_DEBUG_ADDR=" + r.debug}, append(r.db(), "server", "--addr", r.addr, "--workers", "0", "--log-format", "json")...)
	r.wait(log, "cairn server ready")
}

// freeAddr is a loopback address with a port free now: the next free one
// of CAIRN_BENCH_PORTS (FIRST-LAST, for a machine whose users each keep
// to a block of ports) when it is set, else one the system picks.
func freeAddr(b *testing.B) string {
	b.Helper()
	if r := os.Getenv("CAIRN_BENCH_PORTS"); r != "" {
		var first, last int
		if _, err := fmt.Sscanf(r, "%d-%d", &first, &last); err != nil || first < 1 || last < first || last > 65535 {
			b.Fatalf("CAIRN_BENCH_PORTS=%q: want FIRST-LAST, such as 18300-18399", r)
		}
		portsMu.Lock()
		defer portsMu.Unlock()
		for range last - first + 1 {
			p := first + nextPort%(last-first+1)
			nextPort++
			if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
				ln.Close()
				return ln.Addr().String()
			}
		}
		b.Fatalf("CAIRN_BENCH_PORTS=%s: no port free", r)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// nextPort is the next of CAIRN_BENCH_PORTS that freeAddr tries (one
// handed out is not handed out again until the block has gone round).
var (
	portsMu  sync.Mutex
	nextPort int
)

// worker starts one cairn worker of concurrency n and waits until it is
// ready.
func (r *remoteRig) worker(n int) {
	r.b.Helper()
	log := r.start([]string{"CAIRN_WORKER_TOKEN=" + r.token}, "--home", r.b.TempDir(), "worker", "--server", "http://"+r.addr,
		"--concurrency", fmt.Sprint(n), "--log-format", "json")
	r.wait(log, "cairn worker ready")
}

func (r *remoteRig) wait(log *syncLog, line string) {
	r.b.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(log.String(), line) {
		if time.Now().After(deadline) {
			r.b.Fatalf("no %q within a minute:\n%s", line, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *remoteRig) stop() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		r.procs[i].Process.Signal(os.Interrupt)
		r.procs[i].Wait()
	}
	r.procs = nil
}

// waitRuns waits until n runs succeeded and returns when the last did.
func (r *remoteRig) waitRuns(n int) time.Time {
	r.b.Helper()
	ctx := context.Background()
	var st interface {
		ListRuns(context.Context, scheduler.RunFilter) ([]*cairn.Run, error)
		Close() error
	}
	var err error
	if r.dsn != "" {
		st, err = postgres.Open(ctx, r.dsn, postgres.ReadOnly())
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(r.home, "cairn.db"), sqlite.ReadOnly())
	}
	if err != nil {
		r.b.Fatal(err)
	}
	defer st.Close()
	// On PostgreSQL the poll counts the runs ended, in one row: reading
	// them whole (their workflows' source) every 20 ms was, at a few
	// thousand tasks a second, some 5 µs of the database's CPU a task,
	// counted as the server's (db-cpu-us/task).
	var count func() (succeeded, failed int64)
	if r.dsn != "" {
		c, err := pgx.Connect(ctx, r.dsn)
		if err != nil {
			r.b.Fatal(err)
		}
		defer c.Close(ctx)
		count = func() (succeeded, failed int64) {
			if err := c.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'succeeded'), count(*) FILTER (WHERE state = 'failed')
FROM runs`).Scan(&succeeded, &failed); err != nil {
				r.b.Fatal(err)
			}
			return succeeded, failed
		}
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if count != nil {
			if succeeded, failed := count(); succeeded < int64(n) && failed == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				continue
			}
		}
		runs, err := st.ListRuns(ctx, scheduler.RunFilter{State: cairn.RunSucceeded, Limit: n})
		if err != nil {
			r.b.Fatal(err)
		}
		if len(runs) == n {
			var last time.Time
			for _, run := range runs {
				if run.FinishedAt.After(last) {
					last = run.FinishedAt
				}
			}
			return last
		}
		if failed, _ := st.ListRuns(ctx, scheduler.RunFilter{State: cairn.RunFailed, Limit: 1}); len(failed) > 0 {
			r.b.Fatalf("run %s failed: %s", failed[0].ID, failed[0].Error)
		}
		if time.Now().After(deadline) {
			r.b.Fatalf("%d of %d runs succeeded after 10 minutes", len(runs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// detach queues file n times.
func (r *remoteRig) detach(file string, n int) time.Time {
	r.b.Helper()
	start := time.Now()
	for i := 0; i < n; i++ {
		if out, err := exec.Command(r.bin, append(r.db(), "run", "--detach", file)...).CombinedOutput(); err != nil {
			r.b.Fatalf("run --detach: %v\n%s", err, out)
		}
	}
	return start
}

// BenchmarkRemoteWorkers20k: 4 cairn worker processes (concurrency 16
// each) run 20,000 noop tasks — 20 queued runs of 1,000 independent tasks —
// for a cairn server --workers 0 over loopback, on SQLite (db=sqlite) and
// on PostgreSQL (db=postgres: a database of its own on CAIRN_TEST_POSTGRES's
// server; skipped without it). tasks/s counts from the moment the workers
// are ready and the runs queued to the last run's end. Then a worker of
// this process measures the lease round trip (a lease of one ready task,
// started) and the completion's, over 2,000 tasks: p50 and p99 (issue #21:
// 10,000 tasks/s on PostgreSQL). On PostgreSQL it also reports the
// database's commits and the statements the server ran per task
// (pg_stat_database, and pg_stat_statements when the server has it), which
// do not depend on the machine's load.
func BenchmarkRemoteWorkers20k(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run("db="+db, func(b *testing.B) {
			remoteWorkers20k(b, db == "postgres")
		})
	}
}

func remoteWorkers20k(b *testing.B, pg bool) {
	const runs, per = 20, 1000
	file := fan(b, per, "    type: noop\n")
	for b.Loop() {
		dsn := ""
		if pg {
			dsn = pgDatabase(b)
		}
		r := newRemoteRig(b, dsn)
		r.detach(file, runs) // queued before the server starts: the runs wait
		r.serve()
		for i := 0; i < 4; i++ {
			r.worker(16)
		}
		var before pgCounts
		if pg {
			before = readPGCounts(b, dsn)
		}
		countsBefore := r.counts()
		serverCPU, workersCPU := r.cpu()
		start := time.Now()
		last := r.waitRuns(runs)
		took := last.Sub(start)
		if took <= 0 {
			took = time.Since(start)
		}
		b.ReportMetric(runs*per/took.Seconds(), "tasks/s")
		serverCPU2, workersCPU2 := r.cpu()
		reportCounts(b, countsBefore, r.counts(), runs*per)
		b.ReportMetric(float64((serverCPU2-serverCPU).Microseconds())/(runs*per), "server-cpu-us/task")
		b.ReportMetric(float64((workersCPU2-workersCPU).Microseconds())/(runs*per), "workers-cpu-us/task")
		if pg {
			time.Sleep(1500 * time.Millisecond) // backends report their counts within a second
			after := readPGCounts(b, dsn)
			b.ReportMetric(float64(after.commits-before.commits)/(runs*per), "commits/task")
			var dbCPU time.Duration
			for pid, d := range after.cpu {
				dbCPU += d - before.cpu[pid] // a backend begun since counts whole
			}
			b.ReportMetric(float64(dbCPU.Microseconds())/(runs*per), "db-cpu-us/task")
			if after.statements >= 0 && before.statements >= 0 {
				b.ReportMetric(float64(after.statements-before.statements)/(runs*per), "statements/task")
			}
			reportPGStatements(b, before, after, runs*per)
		}
		r.stop()

		// The lease round trip, alone on a server.
		dsn2 := ""
		if pg {
			dsn2 = pgDatabase(b)
		}
		r2 := newRemoteRig(b, dsn2)
		r2.detach(fan(b, 2000, "    type: noop\n"), 1)
		r2.serve()
		lease, complete := roundTrips(b, r2, 2000)
		b.ReportMetric(float64(pct(lease, 50).Microseconds())/1000, "lease-p50-ms")
		b.ReportMetric(float64(pct(lease, 99).Microseconds())/1000, "lease-p99-ms")
		b.ReportMetric(float64(pct(complete, 50).Microseconds())/1000, "complete-p50-ms")
		b.ReportMetric(float64(pct(complete, 99).Microseconds())/1000, "complete-p99-ms")
		r2.stop()
	}
}

// pgCounts are a database's commits so far and, with pg_stat_statements,
// the statements run on it (-1 without).
type pgCounts struct {
	commits, statements int64
	// cpu is the CPU time of the database's backends now (those alive
	// at both readings are compared: pgx keeps its connections).
	cpu map[int]time.Duration
	// byQuery is pg_stat_statements' figures of each statement (nil
	// without the extension).
	byQuery map[int64]pgStatement
	// wal is the WAL the database's server wrote so far (pg_stat_wal:
	// every database's, so a figure of a server of one's own).
	walBytes, walRecords int64
	// walSyncs and walSyncMs are its WAL flushes and their time
	// (pg_stat_wal; the time with track_wal_io_timing on, else 0).
	walSyncs  int64
	walSyncMs float64
}

// pgStatement is what pg_stat_statements counted of one statement.
type pgStatement struct {
	query                       string
	calls, rows, blks, walBytes int64
	execMs, planMs              float64
}

func readPGCounts(b *testing.B, dsn string) pgCounts {
	b.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	var n pgCounts
	if err := c.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n.commits); err != nil {
		b.Fatal(err)
	}
	n.cpu = map[int]time.Duration{}
	rows, err := c.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid != pg_backend_pid()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	for _, pid := range pids {
		n.cpu[int(pid)] = procCPU(int(pid))
	}
	if err := c.QueryRow(ctx, `SELECT wal_bytes::bigint, wal_records, wal_sync, wal_sync_time FROM pg_stat_wal`).Scan(&n.walBytes,
		&n.walRecords, &n.walSyncs, &n.walSyncMs); err != nil {
		n.walBytes = -1
	}
	n.statements = -1 // unless the extension is there
	rows, err = c.Query(ctx, `SELECT s.queryid, s.query, s.calls, s.rows, s.shared_blks_hit + s.shared_blks_read, s.wal_bytes::bigint,
	s.total_exec_time, s.total_plan_time
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%'`)
	if err != nil {
		return n
	}
	defer rows.Close()
	n.byQuery = map[int64]pgStatement{}
	for rows.Next() {
		var (
			id int64
			st pgStatement
		)
		if err := rows.Scan(&id, &st.query, &st.calls, &st.rows, &st.blks, &st.walBytes, &st.execMs, &st.planMs); err != nil {
			return n
		}
		n.byQuery[id] = st
		n.statements = max(n.statements, 0) + st.calls
	}
	if rows.Err() != nil {
		n.byQuery, n.statements = nil, -1
	}
	return n
}

// reportPGStatements logs what the database did per task between two
// readings, statement by statement (pg_stat_statements: its execution
// and planning time, rows, buffers and WAL), and reports the WAL per
// task (pg_stat_wal: the whole server's).
func reportPGStatements(b *testing.B, before, after pgCounts, tasks int) {
	b.Helper()
	n := float64(tasks)
	if before.walBytes >= 0 && after.walBytes >= 0 {
		b.ReportMetric(float64(after.walBytes-before.walBytes)/n, "wal-bytes/task")
		if syncs := after.walSyncs - before.walSyncs; syncs > 0 {
			b.ReportMetric(float64(syncs)/n, "wal-syncs/task")
			if ms := after.walSyncMs - before.walSyncMs; ms > 0 {
				b.ReportMetric(ms/float64(syncs), "wal-sync-ms")
			}
		}
	}
	if after.byQuery == nil {
		return
	}
	type line struct {
		d  pgStatement
		us float64
	}
	var lines []line
	var total pgStatement
	for id, a := range after.byQuery {
		p := before.byQuery[id]
		d := pgStatement{query: a.query, calls: a.calls - p.calls, rows: a.rows - p.rows, blks: a.blks - p.blks,
			walBytes: a.walBytes - p.walBytes, execMs: a.execMs - p.execMs, planMs: a.planMs - p.planMs}
		if d.calls == 0 {
			continue
		}
		lines = append(lines, line{d, (d.execMs + d.planMs) * 1000 / n})
		total.calls += d.calls
		total.execMs += d.execMs
		total.planMs += d.planMs
		total.walBytes += d.walBytes
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].us > lines[j].us })
	b.ReportMetric((total.execMs+total.planMs)*1000/n, "db-exec-us/task")
	var sb strings.Builder
	fmt.Fprintf(&sb, "pg_stat_statements per task (%d tasks): calls, exec+plan us, rows, buffers, WAL bytes; then per call: exec us, rows\n", tasks)
	for i, l := range lines {
		if i == 16 {
			break
		}
		q := strings.Join(strings.Fields(l.d.query), " ")
		if len(q) > 110 {
			q = q[:110]
		}
		fmt.Fprintf(&sb, "  %6.3f %7.2f %7.3f %7.2f %7.1f | %7.1f %6.1f  %s\n", float64(l.d.calls)/n, l.us, float64(l.d.rows)/n,
			float64(l.d.blks)/n, float64(l.d.walBytes)/n, l.d.execMs*1000/float64(l.d.calls), float64(l.d.rows)/float64(l.d.calls), q)
	}
	fmt.Fprintf(&sb, "  all: %.3f calls, %.2f us exec + %.2f us plan, %.1f WAL bytes per task\n", float64(total.calls)/n,
		total.execMs*1000/n, total.planMs*1000/n, float64(total.walBytes)/n)
	b.Log(sb.String())
}

// roundTrips registers a worker of this process with r's server and
// times n leases of one task (started) and their completions.
func roundTrips(b *testing.B, r *remoteRig, n int) (lease, complete []time.Duration) {
	b.Helper()
	ctx := context.Background()
	cache, err := artifacts.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	c, err := remote.Register(ctx, remote.ClientOptions{Server: "http://" + r.addr, Token: r.token, Name: "bench",
		Concurrency: 1, Cache: cache})
	if err != nil {
		b.Fatal(err)
	}
	for len(lease) < n {
		t0 := time.Now()
		items, err := c.Lease(ctx, cairn.LeaseRequest{Max: 1, Start: true, Wait: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		if len(items) == 0 {
			continue // the run not started yet
		}
		t1 := time.Now()
		if _, err := c.CompleteAndLease(ctx, items[0].Lease, cairn.Completion{}, cairn.LeaseRequest{}); err != nil {
			b.Fatal(err)
		}
		lease, complete = append(lease, t1.Sub(t0)), append(complete, time.Since(t1))
	}
	return lease, complete
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)]
}

// BenchmarkRemoteChain1000: a chain of 1,000 shell tasks (/bin/true) on
// one remote worker, per hop, beside the same chain run in process by
// cairn run (issue #21: at most 1 ms per hop more than in process).
func BenchmarkRemoteChain1000(b *testing.B) {
	const n = 1000
	file := chain(b, n, "    type: shell\n    with: {argv: [/bin/true]}\n")
	for b.Loop() {
		local, _ := runCairn(b, file)
		r := newRemoteRig(b, "")
		r.serve()
		r.worker(1)
		start := r.detach(file, 1)
		last := r.waitRuns(1)
		remoteTook := last.Sub(start)
		r.stop()
		b.ReportMetric(float64(local.Microseconds())/n/1000, "inproc-ms/hop")
		b.ReportMetric(float64(remoteTook.Microseconds())/n/1000, "remote-ms/hop")
		b.ReportMetric(float64((remoteTook-local).Microseconds())/n/1000, "extra-ms/hop")
	}
}
