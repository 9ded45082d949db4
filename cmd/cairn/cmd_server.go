//go:build !lean

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/actions"
	"github.com/cairnml/cairn/alerts"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/remote"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/ui"
	"github.com/cairnml/cairn/workflows/catalog"
)

func cmdServer(ctx context.Context, a *app, args []string) error {
	started := time.Now()
	fs, f := a.serverFlagSet()
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if f.publicURL == "" {
		f.publicURL = os.Getenv(envPublicURL)
	}
	if f.publicURL != "" {
		if err := cairn.CheckWebhook(f.publicURL); err != nil {
			return usageError{"--public-url: " + strings.Replace(err.Error(), "webhook", "URL", 1)}
		}
	}
	switch {
	case f.slots < 0:
		return usageError{fmt.Sprintf("--workers %d: want 0 (remote workers only) or more", f.slots)}
	case f.dbConns < 0:
		return usageError{fmt.Sprintf("--db-max-conns %d: want 0 (sized to --workers and the CPUs) or more", f.dbConns)}
	case f.maxActiveRuns < 0:
		return usageError{fmt.Sprintf("--max-active-runs %d: want 0 (no limit) or more", f.maxActiveRuns)}
	case f.drain < 0:
		return usageError{fmt.Sprintf("--drain-timeout %s: want 0 or more", f.drain)}
	case f.leaseTTL < time.Second || f.leaseTTL > time.Hour:
		return usageError{fmt.Sprintf("--lease-ttl %s: want 1s to 1h (30s by default)", f.leaseTTL)}
	case f.stopGrace <= 0:
		return usageError{fmt.Sprintf("--stop-grace %s: want a positive duration such as 10s", f.stopGrace)}
	case f.logFormat != "text" && f.logFormat != "json":
		return usageError{fmt.Sprintf("--log-format %q: want text or json", f.logFormat)}
	case !(f.sample >= 0 && f.sample <= 1):
		return usageError{fmt.Sprintf("--prediction-sample %v: want a share from 0 (log no row) to 1 (log every row), such as 0.1", f.sample)}
	case f.maxRows < 1:
		return usageError{fmt.Sprintf("--predict-max-rows %d: want at least 1", f.maxRows)}
	case f.maxPredict < 1:
		return usageError{"--predict-max-body: want a size of at least 1 byte, such as 32MiB"}
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return usageError{"--tls-cert and --tls-key go together: give both to serve HTTPS, or neither"}
	case f.noAuth && !loopbackAddr(f.addr):
		return usageError{fmt.Sprintf("--insecure-no-auth lets anyone in, so it binds only to a loopback address (127.0.0.1, [::1], localhost), and --addr %s is not one: "+
			"use --addr 127.0.0.1:PORT, or drop --insecure-no-auth and sign in with a token (cairn tokens create --role admin)", f.addr)}
	}
	var tlsConfig *tls.Config
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert %s, --tls-key %s: %w (both PEM files: the certificate, then the chain; the key that matches it)", f.tlsCert, f.tlsKey, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if f.metricsAddr != "" {
		if err := checkMetricsAddr(f.metricsAddr); err != nil {
			return err
		}
	}
	var handler slog.Handler = slog.NewTextHandler(a.stderr, nil)
	if f.logFormat == "json" {
		handler = slog.NewJSONHandler(a.stderr, nil)
	}
	log := slog.New(handler)

	// Secret values are read once and taken out of the environment, so
	// that no task inherits them.
	book := newSecretBook(takeSecretEnv())
	a.serving = true
	a.dbConns = dbConns(f.dbConns, f.slots)
	dln, err := listenDebug()
	if err != nil {
		return err
	}
	if dln != nil {
		defer dln.Close()
		a.countStatements = true
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	// Always: a pool an earlier server declared and this one does not is
	// given back to the workflows.
	if err := st.SetPools(ctx, f.pools, time.Now()); err != nil {
		return fmt.Errorf("--pool: %w", err)
	}
	reg, err := a.taskTypes(ctx)
	if err != nil {
		return err
	}
	arts, logs, err := a.stores()
	if err != nil {
		return err
	}
	logs = logs.WithLimit(f.logLimit)
	registryReads, err := a.models(st, arts)
	if err != nil {
		return err
	}
	// The workflows folder: read now (a folder that cannot be read stops
	// the server before it listens), then watched.
	wfs, err := catalog.New(f.workflows, catalog.Options{Types: reg, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s: %w (another server there? pick another address with --addr, or port 0 for any free one)", f.addr, err)
	}
	if err != nil {
		return fmt.Errorf("listen on --addr %s: %w", f.addr, err)
	}
	mln, err := listenMetrics(f.metricsAddr)
	if err != nil {
		ln.Close()
		return err
	}
	scheme := "http"
	if tlsConfig != nil {
		ln, scheme = tls.NewListener(ln, tlsConfig), "https"
	}
	owner := ownerName()
	// Prometheus metrics (server_metrics.go): fed by the broker's and the
	// service's events, served at /metrics.
	var svc *scheduler.Service // made below; /metrics says whether it leads
	mx := serverMetrics(st, owner, started, log, func() (bool, int64) {
		if svc == nil {
			return false, 0
		}
		l, ok := svc.Leader()
		return ok, l.Epoch
	})
	broker := scheduler.NewBroker(st, scheduler.BrokerOptions{LeaseTTL: f.leaseTTL, Abandoned: reapOrphans(reg), Name: owner, Logger: log,
		Observe: mx.ObserveTask, ReadyPoll: readyPoll(st), OverlapCommits: overlapCommits(st)})
	var pool *executor.Pool // nil with --workers 0
	if f.slots > 0 {
		removeStale("")
		pool = executor.New(secretLeaser{Leaser: broker, sets: book.get}, executor.Options{
			// The pool runs only the tasks of the runs this server plans: a
			// foreground cairn run beside it runs its own.
			// Like a remote worker, it takes only the tasks its --labels
			// and --queues allow.
			Worker: owner, Owner: owner, Slots: f.slots, Labels: f.labels, Queues: f.queues, Types: reg, Artifacts: arts, Logs: secretLogs{Logs: logs, sets: book.get}, Version: implVersion(), Cache: st,
			StopGrace: f.stopGrace, Redact: book.redact, Logger: log, Models: registryReads,
		})
		// A cached task handed to the pool by a completion is reused in
		// that completion's write: a chain of cache hits is one commit.
		broker.SetReuser(pool)
	}
	// The worker API (cairn worker), on --addr beside the UI: remote
	// workers lease any run's tasks through the same broker, with secret
	// params filled in and redacted as for the pool.
	workerAPI := remote.NewServer(remote.ServerOptions{Leaser: secretLeaser{Leaser: broker, sets: book.get}, Loser: broker,
		Workers: st, Tokens: st, Tasks: st, Logs: secretLogs{Logs: logs, sets: book.get}, Blobs: arts, Cache: st, Models: registryReads,
		Version: implVersion(), Logger: log, CompleteLanes: completeLanes(st), Secrets: func(runID string) map[string]string { return book.get(runID).Values() }})
	graphs := newGraphCache(reg, st)
	var acts *actions.Actions // made below, before the service starts
	fireClock, err := testClock()
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	svc = scheduler.NewService(st, broker, scheduler.ServiceOptions{
		Owner: owner, OwnerGone: ownerGone, Adopt: true, MaxActiveRuns: f.maxActiveRuns, Logger: log,
		Observe: mx.ObserveService,
		Fire: func(ctx context.Context, now time.Time, fence scheduler.Fence) (time.Time, error) {
			if fireClock == nil {
				return acts.Fire(ctx, now, &fence)
			}
			fake := fireClock()
			next, err := acts.Fire(ctx, fake, &fence)
			if next.IsZero() {
				return next, err
			}
			return now.Add(next.Sub(fake)), err
		},
		Load: func(ctx context.Context, run *cairn.Run) (scheduler.Graph, error) {
			wf, err := graphs.get(ctx, run)
			if err != nil {
				return nil, err
			}
			set, err := book.forRun(run, wf)
			if err != nil {
				return nil, err
			}
			book.put(run.ID, set)
			return wf, nil
		},
		Claimed: func(run *cairn.Run) {
			log.Info("run started", "run", run.ID, "workflow", run.Workflow, "state", run.State)
		},
		Ended: func(id string, final *cairn.Run, err error) { book.drop(id) },
	})

	acts, err = actions.New(actions.Options{Store: st, Service: svc, Artifacts: arts, Workflows: wfs, Types: reg, OwnerGone: ownerGone,
		HasSecret: book.has, Logger: log, InSlotTx: testKillInSlotTx(), Now: fireClock})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	// The service starts before the pool leases: the pool runs only the
	// tasks of runs the service holds.
	poolCtx, stopPool := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPool()
	svc.Start(context.WithoutCancel(ctx))
	if pool != nil {
		pool.Start(poolCtx)
	}
	workerAPI.Start(context.WithoutCancel(ctx))
	defer workerAPI.Stop()
	var draining atomic.Bool
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	watched := make(chan struct{})
	go func() { defer close(watched); wfs.Watch(watchCtx) }()
	defer func() { stopWatch(); <-watched }()
	// The registry's production models, served on /api/v1/models/NAME/predict.
	home, err := a.homeDir()
	if err != nil {
		return err
	}
	models, err := serve.New(serve.Options{Registry: st, Artifacts: arts, MaxRows: f.maxRows, MaxBodyBytes: f.maxPredict,
		SampleDir: filepath.Join(home, "predictions"), SampleRate: f.sample, Logger: log, Observe: observeServing(mx),
		RequestLog: st, RowLog: st})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	models.Start(context.WithoutCancel(ctx))
	defer models.Stop(context.WithoutCancel(ctx))
	// Rollouts: the leader steps, promotes and rolls back every active
	// rollout (fenced by its term); serving everywhere follows the store.
	driftEvery, err := testDriftEvery()
	if err != nil {
		return err
	}
	ctl, err := rollouts.New(rollouts.Options{Store: st, Logger: log, DriftEvery: driftEvery,
		Leader: func() (scheduler.Fence, bool) {
			l, ok := svc.Leader()
			return l.Fence(), ok
		},
		Changed:   func(name string) { _ = models.Refresh(context.WithoutCancel(ctx), name) },
		Reference: trainingData(st, arts),
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	ctl.Start(context.WithoutCancel(ctx))
	defer ctl.Stop()
	// The outbox of notify:: every run's alerts that no foreground run
	// delivered (or that wait for a retry), until the server stops.
	ao, err := alertOptions(alerts.Options{Store: st, Owner: owner, PublicURL: f.publicURL, Logger: log})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	sender, err := alerts.New(ao)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	sender.Start(context.WithoutCancel(ctx))
	defer sender.Stop()
	info := serverInfo{PID: os.Getpid(), Owner: owner, Addr: ln.Addr().String(), Started: time.Now().UTC(),
		Workers: f.slots, Labels: f.labels, Queues: f.queues}
	uiOpts := serverUIOptions(st, logs, *f, log, mx)
	uiOpts.Actions, uiOpts.Workflows, uiOpts.Schedules = acts, wfs, acts
	uiOpts.Lineage, uiOpts.Artifacts, uiOpts.LineageNamespace = st, arts, serverNamespace(ln.Addr().String())
	uiOpts.Models, uiOpts.PredictMaxBodyBytes = models, f.maxPredict
	uiOpts.Server = func(ctx context.Context) (ui.ServerInfo, error) {
		return serverLeader(ctx, st, svc, owner, started)
	}
	// The workers page and why a task waits: the registered workers, and
	// this server's own pool.
	uiOpts.Workers = st
	// Each task's cache story (the task page, the API): why caching was
	// off told with this server's task types.
	uiOpts.Cache = st
	uiOpts.CacheOff = func(ctx context.Context, r *cairn.Run, taskID string) string { return a.cacheOff(ctx, st, r, taskID) }
	if p, ok := info.pool(time.Now()); ok {
		uiOpts.Pool = &p
	}
	uiOpts.PoolOwner = owner
	web, err := ui.New(uiOpts)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	// The server's own context ends streams (followed logs) when it drains.
	baseCtx, endStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer endStreams()
	mux := healthMux(st, &draining, log)
	mux.Handle(remote.Prefix, workerAPI)
	mux.Handle("/", web)
	srv := newHTTPServer(mux, baseCtx, log, idleTimeout)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stopMetrics := serveMetrics(mln, mx, baseCtx, log)
	stopDebug := serveDebug(dln, func() debugCounts {
		return debugCounts{Statements: statementCounts(st), WorkerCalls: workerAPI.Calls(), Writes: writeStats(st)}
	}, models, baseCtx, log)
	infoPath := a.serverInfoPath()
	if other, ok := liveServer(infoPath); ok && other.Owner != owner {
		log.Info("another cairn server runs on this database: both schedule its runs, each running the tasks of the runs it holds",
			"pid", other.PID, "addr", other.Addr, "owner", other.Owner)
	}
	stopAdvertising := advertise(infoPath, info, log)
	defer removeServerInfo(infoPath, owner)
	if f.noAuth {
		log.Warn("no authentication: --insecure-no-auth lets anyone who can reach this address read and change every run; it serves on loopback only",
			"addr", scheme+"://"+ln.Addr().String())
	} else if scheme == "http" && !loopbackAddr(f.addr) {
		log.Warn("plain HTTP on a non-loopback address: tokens and session cookies travel in clear text; serve HTTPS with --tls-cert and --tls-key, or put a TLS proxy in front",
			"addr", scheme+"://"+ln.Addr().String())
	}
	if n, err := st.CountValidTokens(ctx); err == nil && n == 0 && !f.noAuth {
		log.Warn("no valid token yet: every page and API route answers 401 until one exists; create the first on this machine: cairn tokens create --role admin")
	}
	log.Info("cairn server ready", "addr", scheme+"://"+ln.Addr().String(), "db", a.databaseName(), "workers", f.slots,
		"labels", cairn.FormatLabels(f.labels), "queues", cairn.FormatQueues(f.queues), "pools", formatPools(f.pools), "max_active_runs", f.maxActiveRuns, "owner", owner, "db_max_conns", poolSize(st))

	var serveErr, haltErr error
	var halted <-chan struct{} // never closed without a pool
	if pool != nil {
		halted = pool.Halted()
	}
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	case <-halted:
		// The disk is full: the pool leases no more, and a server that
		// went on would start runs it never runs and hold them from
		// every other scheduler. It stops as on SIGTERM, and says so.
		haltErr = pool.Err()
		log.Error("the worker pool stopped: the server stops, leaving its runs to resume; free space, then start it again",
			"err", book.redact(haltErr.Error()))
	}
	// Drain: stop leasing; running attempts have --drain-timeout, then
	// they are stopped and recorded as interrupted (resumable); then the
	// service lets go of its runs.
	draining.Store(true)
	// No run is started or taken over from now on: a run queued meanwhile
	// waits, queued, for the next server; and 'cairn run --detach' no
	// longer says that this one starts it.
	svc.StopAdopting()
	stopAdvertising()
	removeServerInfo(infoPath, owner)
	held := len(svc.Runs())
	log.Info("draining", "runs", held, "timeout", f.drain.String())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.drain)
	if pool != nil {
		pool.Stop(dctx)
	}
	if pool != nil && dctx.Err() != nil {
		log.Warn("drain timeout passed: the tasks still running were stopped and recorded interrupted; they run again, without using a retry, when their runs resume",
			"timeout", f.drain.String())
	}
	cancel()
	left := svc.Runs()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	svc.Stop(sctx)
	endStreams()
	_ = srv.Shutdown(sctx)
	models.Stop(sctx) // the sampled rows still buffered are written
	stopMetrics(sctx)
	stopDebug(sctx)
	cancel()
	if len(left) > 0 {
		log.Info("stopped; runs left to resume (the next cairn server resumes them)", "runs", len(left), "ids", strings.Join(left, " "))
	} else {
		log.Info("stopped")
	}
	if haltErr != nil {
		return fmt.Errorf("%s\nthe server stopped, its runs left unfinished: free space, then start 'cairn server' again; it resumes them (the attempt is retried, without using a retry)",
			book.redact(haltErr.Error()))
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve the UI, the API and health on %s: %w", info.Addr, serveErr)
	}
	return nil
}

func serverUIOptions(st database, logs *artifacts.Logs, f serverFlags, log *slog.Logger, mx http.Handler) ui.Options {
	o := ui.Options{Store: st, Logs: logs, OwnerGone: ownerGone, Logger: log, Audit: st, Metrics: mx, Registry: st, Experiments: st, Alerts: st, Rollouts: st, Pools: st}
	if !f.noAuth {
		o.Tokens = st
	}
	return o
}

func serverLeader(ctx context.Context, st scheduler.LeaderStore, svc *scheduler.Service, owner string, started time.Time) (ui.ServerInfo, error) {
	_, leading := svc.Leader()
	info := ui.ServerInfo{Owner: owner, Version: implVersion(), Started: started.UTC(), Leading: leading}
	l, err := st.Leader(ctx, scheduler.LeaderScheduler, time.Now())
	switch {
	case errors.Is(err, cairn.ErrNotFound):
	case err != nil:
		return info, fmt.Errorf("read the leader lease: %w", err)
	default:
		info.Leader = &ui.LeaderInfo{Holder: l.Holder, Epoch: l.Epoch, ExpiresAt: l.ExpiresAt.UTC(), Live: l.Live}
	}
	return info, nil
}
