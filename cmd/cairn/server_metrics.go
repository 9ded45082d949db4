package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/metrics"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/sqlite"
)

// serverMetrics is cairn server's Prometheus collector over its store:
// the broker's and the service's events feed it (ObserveTask,
// ObserveService), and each scrape reads the database's counts.
func serverMetrics(st database, owner string, started time.Time, log *slog.Logger, leader func() (bool, int64)) *metrics.Collector {
	bi, ok := debug.ReadBuildInfo()
	ver, rev, goVersion := buildVersion(version, commit, bi, ok)
	counts, writes := storeCounts(st, owner)
	return metrics.New(metrics.Options{
		Counts: counts,
		Writes: writes,
		Leader: leader,
		Build:  metrics.BuildInfo{Version: ver, Commit: rev, GoVersion: goVersion},
		Start:  started,
		Logger: log,
		Live:   liveMetrics(st),
		Drift:  modelDrift(st),
	})
}

// storeCounts is what a scrape reads of the store: the runs and tasks by
// state (one statement), and the writes so far, which each store counts
// in a type of its own.
func storeCounts(st database, owner string) (counts func(context.Context) (metrics.Counts, error), writes func() (int64, int64)) {
	counts = func(ctx context.Context) (metrics.Counts, error) {
		c, err := st.StateCounts(ctx, owner)
		return metrics.Counts{Runs: c.Runs, Tasks: c.Tasks, Ready: c.Ready, Owned: c.Owned}, err
	}
	switch s := st.(type) {
	case *sqlite.Store:
		writes = func() (int64, int64) {
			w := s.WriteStats()
			return w.Statements, w.Transactions
		}
	case *postgres.Store:
		writes = func() (int64, int64) {
			w := s.WriteStats()
			return w.Statements, w.Transactions
		}
	default:
		writes = func() (int64, int64) { return 0, 0 }
	}
	return counts, writes
}

// observeServing feeds the collector with the model server's events.
func observeServing(mx *metrics.Collector) func(serve.Event) {
	return func(e serve.Event) {
		switch e.Kind {
		case serve.EventPredict:
			mx.ObservePrediction(e.Model, e.Code, e.Rows, e.Duration)
			mx.ObserveVersion(versionPrediction(e))
		case serve.EventShadow:
			mx.ObserveVersion(versionPrediction(e))
		case serve.EventLoad:
			mx.ObserveModelLoad(e.Model, e.Outcome)
		case serve.EventSamplesDropped:
			mx.ObserveSamplesDropped(e.Model, e.Rows)
		case serve.EventShadowDropped:
			mx.ObserveShadowDropped(e.Model)
		case serve.EventRequestsDropped:
			mx.ObserveLogDropped(e.Model, e.Rows)
		}
	}
}

// checkMetricsAddr accepts --metrics-addr only on a loopback address:
// what it serves needs no token.
func checkMetricsAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{fmt.Sprintf("--metrics-addr %q: want host:port, such as 127.0.0.1:9464", addr)}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageError{fmt.Sprintf("--metrics-addr %q: /metrics there needs no token, so it must be a loopback address "+
			"such as 127.0.0.1:9464; a Prometheus on another machine scrapes /metrics on --addr with a viewer token", addr)}
	}
	return nil
}

// listenMetrics listens on --metrics-addr (checked by checkMetricsAddr);
// nil when it is not given.
func listenMetrics(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --metrics-addr %s: %w (pick another port, or 0 for any free one)", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("--metrics-addr %s listens on %s, which is not a loopback address: give a loopback IP such as 127.0.0.1",
			addr, ln.Addr())
	}
	return ln, nil
}

// serveMetrics serves h at /metrics, without a token, on ln (nil: does
// nothing) until stop is called.
func serveMetrics(ln net.Listener, h http.Handler, base context.Context, log *slog.Logger) (stop func(context.Context)) {
	if ln == nil {
		return func(context.Context) {}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := newHTTPServer(mux, base, log, idleTimeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve /metrics on --metrics-addr; /metrics on --addr still serves", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("serving /metrics without a token on a loopback address", "metrics", "http://"+ln.Addr().String()+"/metrics")
	return func(ctx context.Context) {
		_ = srv.Shutdown(ctx)
		<-done
	}
}

// versionPrediction is a serving event as the per-version metrics count
// it.
func versionPrediction(e serve.Event) metrics.VersionPrediction {
	p := metrics.VersionPrediction{Model: e.Model, Version: e.Version, Arm: e.Arm, Code: e.Code, Duration: e.Duration}
	if e.Predictions != nil {
		if e.ModelKind == "classification" {
			p.Classes, p.Class = e.Classes, e.Predictions.Class
		} else {
			p.Values = e.Predictions.Value
		}
	}
	return p
}

// liveMetrics reads, for a scrape, the live metric of both versions of
// every active rollout over the last hour (from the feedback of their
// requests of the hour), and of every other model's production version
// (from the feedback that arrived in the hour: the minutes of the models
// page, a few rows a version, never a sum over the request log, which a
// scrape of many models would pay for each).
func liveMetrics(st database) func(ctx context.Context) ([]metrics.LiveMetric, error) {
	return func(ctx context.Context) ([]metrics.LiveMetric, error) {
		rs, err := st.ActiveRollouts(ctx)
		if err != nil {
			return nil, err
		}
		var out []metrics.LiveMetric
		since := time.Now().Add(-time.Hour)
		inRollout := map[string]bool{}
		for _, r := range rs {
			inRollout[r.Name] = true
			stats, err := st.RequestStats(ctx, r.Name, since)
			if err != nil {
				return nil, err
			}
			for _, v := range []int{r.Baseline, r.Candidate} {
				if name, val, ok := stats[v].LiveMetric(); ok {
					out = append(out, metrics.LiveMetric{Model: r.Name, Version: strconv.Itoa(v), Metric: name, Value: val, Labeled: stats[v].Labeled})
				}
			}
		}
		ms, err := st.Models(ctx)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.Stage != cairn.StageProduction || inRollout[m.Name] {
				continue
			}
			minutes, err := st.ModelMinutes(ctx, m.Name, since)
			if err != nil {
				return nil, err
			}
			var sum cairn.RequestStats
			for _, mm := range minutes {
				if mm.Version == m.Version {
					sum.Labeled += mm.Labeled
					sum.Score += mm.Score
					if sum.Kind == "" {
						sum.Kind = mm.Kind
					}
				}
			}
			if name, val, ok := sum.LiveMetric(); ok {
				out = append(out, metrics.LiveMetric{Model: m.Name, Version: strconv.Itoa(m.Version), Metric: name, Value: val, Labeled: sum.Labeled})
			}
		}
		return out, nil
	}
}

// modelDrift reads the drift the leader measured of each model version
// (for its drift_above alerts) in the last hour: a version no longer
// watched leaves the series.
func modelDrift(st database) func(ctx context.Context) ([]metrics.Drift, error) {
	return func(ctx context.Context) ([]metrics.Drift, error) {
		ds, err := st.ModelDrifts(ctx, "")
		if err != nil {
			return nil, err
		}
		var out []metrics.Drift
		since := time.Now().Add(-time.Hour)
		for _, d := range ds {
			if d.Error == "" && d.At.After(since) {
				out = append(out, metrics.Drift{Model: d.Name, Version: strconv.Itoa(d.Version), Value: d.Value, Rows: d.Rows})
			}
		}
		return out, nil
	}
}
