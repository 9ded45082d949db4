package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/remote"
)

const workerHelp = `Run tasks for a cairn server from this machine: the worker registers with the
server (--server, over HTTPS when the server has --tls-cert), leases ready tasks by
long-poll — as many at once as --concurrency —, runs them here, streams their logs to
the server as they run and sends its outputs back, and says how each ended. It needs
a worker token: 'cairn tokens create --role worker' on the server's machine, given in
CAIRN_WORKER_TOKEN (or --token, which other users of this machine may see in ps).

Task types are this binary's built-ins and the plugins of this worker's own home
(--home: HOME/plugins, pinned by HOME/plugins.lock, as 'cairn plugins' keeps them);
inputs are fetched from the server by their sha256 digest into HOME/cache, checked
against it, and kept there for the next task that reads them: up to --cache-max
bytes (10GiB by default; 0 for no bound), past which the least recently used go,
never one a task is reading or writing.

--labels says what this machine offers (gpu=true,zone=eu) and --queues which queues
it takes tasks from (none: the default queue): a task that requires labels or a
queue goes only to a worker that has them.

A worker that stops calling the server (killed, cut off) for longer than the lease
TTL (30 s by default) is marked lost: its tasks run again elsewhere, and what it
sends afterwards is refused. SIGTERM or Ctrl-C drains: no new task is leased,
running ones get --drain-timeout to finish, then are stopped and handed back to the
server, which runs them again at once elsewhere (no retry used); then the worker
deregisters and exits.`

// workerFlags are cairn worker's flags.
type workerFlags struct {
	server      string
	token       string
	labels      string
	queues      string
	concurrency int
	name        string
	ca          string
	drain       time.Duration
	stopGrace   time.Duration
	logFormat   string
	cacheMax    int64
}

// defaultCacheMax is cairn worker's --cache-max.
const defaultCacheMax = 10 << 30

func cmdWorker(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("worker", "--server URL [--labels k=v,...] [--queues q,...] [--concurrency N] [flags]", workerHelp)
	var f workerFlags
	fs.StringVar(&f.server, "server", "", "the cairn server's URL, such as https://cairn.example.com:8080 (required)")
	fs.StringVar(&f.token, "token", "", "the worker token (default $CAIRN_WORKER_TOKEN; prefer it: a flag shows in ps)")
	fs.StringVar(&f.labels, "labels", "", "what this machine offers, key=value pairs separated by commas, such as gpu=true,zone=eu")
	fs.StringVar(&f.queues, "queues", "", "the queues to take tasks from, separated by commas (default: the default queue only)")
	fs.IntVar(&f.concurrency, "concurrency", max(1, runtime.NumCPU()), "attempts run at once by this worker")
	fs.StringVar(&f.name, "name", "", "the name the server shows for this worker (default: this machine's host name)")
	fs.StringVar(&f.ca, "ca", "", "a PEM file of the certificate authorities to trust for an https --server (default: the system's)")
	fs.DurationVar(&f.drain, "drain-timeout", 30*time.Second, "on SIGTERM, how long running tasks may take to finish before they are stopped and handed back")
	fs.DurationVar(&f.stopGrace, "stop-grace", executor.DefaultStopGrace, "how long a task told to stop (timeout, cancel, drain) may take before it is abandoned")
	fs.StringVar(&f.logFormat, "log-format", "text", "the worker's own log lines on stderr: text or json")
	f.cacheMax = defaultCacheMax
	fs.Var(sizeFlag{&f.cacheMax}, "cache-max", "the most bytes of artifacts kept in HOME/cache, least recently used out past it, never one in use (0 for no bound)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if f.token == "" {
		f.token = os.Getenv("CAIRN_WORKER_TOKEN")
	}
	labels, err := cairn.ParseLabels(f.labels)
	if err != nil {
		return usageError{"--labels: " + err.Error()}
	}
	queues, err := cairn.ParseQueues(f.queues)
	if err != nil {
		return usageError{"--queues: " + err.Error()}
	}
	switch {
	case f.server == "":
		return usageError{"--server is required: the URL of the cairn server to work for, such as https://cairn.example.com:8080"}
	case !strings.HasPrefix(f.server, "http://") && !strings.HasPrefix(f.server, "https://"):
		return usageError{fmt.Sprintf("--server %q: want a URL starting with https:// (or http:// on a trusted network)", f.server)}
	case f.token == "":
		return usageError{"no worker token: set CAIRN_WORKER_TOKEN (or give --token); make one on the server's machine with 'cairn tokens create --role worker'"}
	case f.concurrency < 1:
		return usageError{fmt.Sprintf("--concurrency %d: want at least 1", f.concurrency)}
	case f.drain < 0:
		return usageError{fmt.Sprintf("--drain-timeout %s: want 0 or more", f.drain)}
	case f.stopGrace <= 0:
		return usageError{fmt.Sprintf("--stop-grace %s: want a positive duration such as 10s", f.stopGrace)}
	case f.logFormat != "text" && f.logFormat != "json":
		return usageError{fmt.Sprintf("--log-format %q: want text or json", f.logFormat)}
	case f.ca != "" && !strings.HasPrefix(f.server, "https://"):
		return usageError{"--ca applies to an https:// --server"}
	}
	var handler slog.Handler = slog.NewTextHandler(a.stderr, nil)
	if f.logFormat == "json" {
		handler = slog.NewJSONHandler(a.stderr, nil)
	}
	log := slog.New(handler)

	tr := http.DefaultTransport.(*http.Transport).Clone()
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca %s: no PEM certificate in it", f.ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	home, err := a.homeDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("worker home %s: %w", home, err)
	}
	cache, err := artifacts.Open(filepath.Join(home, "cache"))
	if err != nil {
		return err
	}
	reg, err := a.taskTypes(ctx)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	if f.name == "" {
		f.name = host
	}
	awaitSignals()
	c, err := registerWorker(ctx, remote.ClientOptions{Server: f.server, Token: f.token, HTTP: remote.NewHTTPClient(tr, f.concurrency),
		Name: f.name, Host: host, Version: implVersion(), Labels: labels, Queues: queues, Types: reg.Names(), Concurrency: f.concurrency,
		Protocol: testWorkerProtocol(), Cache: cache, CacheMax: f.cacheMax, Logger: log}, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it could register
		}
		return err
	}
	removeStale(filepath.Join(home, "work"))
	pool := executor.New(c, executor.Options{Worker: c.ID(), Slots: f.concurrency, Types: reg, Artifacts: c.Artifacts(),
		Logs: c.Logs(), Version: implVersion(), Cache: c, Models: c, StopGrace: f.stopGrace, IdleWait: c.MaxWait(), Logger: log, Redact: c.Redact,
		ScratchDir: filepath.Join(home, "work"), HandBack: true, SpaceDirs: []string{filepath.Join(home, "work"), filepath.Join(home, "cache")}})
	if err := os.MkdirAll(filepath.Join(home, "work"), 0o700); err != nil {
		return fmt.Errorf("worker home %s: %w", home, err)
	}
	poolCtx, stopPool := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPool()
	pool.Start(poolCtx)
	beats := keepAlive(poolCtx, c, log)
	log.Info("cairn worker ready", "worker", c.ID(), "name", f.name, "server", f.server, "server_version", c.ServerVersion(),
		"concurrency", f.concurrency, "labels", f.labels, "queues", f.queues, "lease_ttl", c.LeaseTTL().String(),
		"lease_ahead", c.LeasesAhead())

	var haltErr error
	select {
	case <-ctx.Done():
	case <-pool.Halted():
		haltErr = pool.Err()
		log.Error("the worker cannot go on (a full disk): it stops, handing its tasks back", "err", haltErr)
	}
	// Drain: lease nothing more, let running attempts finish within
	// --drain-timeout, then stop them: the pool reports them interrupted
	// (Requeue) and the server runs them again at once.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	if err := c.Drain(dctx); err != nil {
		log.Warn("could not tell the server this worker drains", "err", err)
	}
	cancel()
	log.Info("draining", "timeout", f.drain.String())
	dctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), f.drain)
	pool.Stop(dctx)
	if dctx.Err() != nil {
		log.Warn("drain timeout passed: the tasks still running were stopped and handed back to the server, which runs them again elsewhere")
	}
	cancel()
	stopPool()
	<-beats
	dctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.Deregister(dctx); err != nil {
		log.Warn("could not deregister; the server marks this worker lost after the lease TTL", "err", err)
	} else {
		log.Info("stopped", "worker", c.ID())
	}
	if haltErr != nil {
		return fmt.Errorf("%w\nthe worker stopped: free space in %s, then start it again", haltErr, home)
	}
	return nil
}

// registerWorker registers with the server, trying again while it cannot
// be reached (a worker started before its server); a refusal (a bad
// token, another protocol) is returned at once.
func registerWorker(ctx context.Context, o remote.ClientOptions, log *slog.Logger) (*remote.Client, error) {
	delay := time.Second
	for {
		c, err := remote.Register(ctx, o)
		if err == nil {
			return c, nil
		}
		var (
			re      *remote.Error
			unknown x509.UnknownAuthorityError
			invalid x509.CertificateInvalidError
			host    x509.HostnameError
		)
		if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) {
			return nil, fmt.Errorf("%w\nthe server's certificate is not trusted: give the certificate authority that signed it with --ca FILE (PEM)", err)
		}
		if errors.As(err, &re) && re.Status != http.StatusServiceUnavailable && re.Status != http.StatusBadGateway && re.Status != http.StatusGatewayTimeout {
			return nil, workerRefusal(err, o)
		}
		if ctx.Err() != nil {
			return nil, err
		}
		log.Warn("cannot reach the server; trying again", "server", o.Server, "in", delay.String(), "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// workerRefusal says what to do about a server's refusal to register.
func workerRefusal(err error, o remote.ClientOptions) error {
	switch {
	case errors.Is(err, remote.ErrProtocol):
		return fmt.Errorf("%w (this worker: cairn %s, worker protocol %d)", err, implVersion(), o.Protocol)
	case errors.Is(err, remote.ErrUnauthorized):
		return fmt.Errorf("%w\nthe server refused the token: check CAIRN_WORKER_TOKEN, or make a worker token on the server's machine: cairn tokens create --role worker", err)
	}
	return err
}

// keepAlive tells the server the worker is alive whenever nothing else
// has for a third of the lease TTL (the pool heartbeats only the leases
// it holds; an idle worker's lease requests wait at most half the TTL).
// The returned channel is closed once it stopped with ctx.
func keepAlive(ctx context.Context, c *remote.Client, log *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	every := c.LeaseTTL() / 3
	go func() {
		defer close(done)
		t := time.NewTicker(every / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if time.Since(c.LastCall()) < every {
				continue
			}
			if err := c.Beat(ctx); err != nil && ctx.Err() == nil {
				log.Warn("heartbeat failed; trying again", "err", err)
			}
		}
	}()
	return done
}

// testWorkerProtocol is the worker protocol this worker speaks:
// cairn.WorkerProtocol, or in tests of a mismatch
// CAIRN_TEST_WORKER_PROTOCOL.
func testWorkerProtocol() int {
	if v := os.Getenv("CAIRN_TEST_WORKER_PROTOCOL"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	return cairn.WorkerProtocol
}
