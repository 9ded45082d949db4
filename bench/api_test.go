package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/actions"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/executor"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks"
	"github.com/cairnml/cairn/tasks/noop"
	"github.com/cairnml/cairn/ui"
	"github.com/cairnml/cairn/workflows"
	"github.com/cairnml/cairn/workflows/catalog"
)

// BenchmarkAPITrigger1000x10 triggers 1,000 runs of 10 noop tasks through
// the API (POST /api/v1/workflows/ten/runs, 8 clients at once, over HTTP
// to the server's real handler) while the scheduler service with Adopt
// starts and plans them and its pool runs their tasks, all as cairn server
// wires them, in one process; it measures the time from the first trigger
// until every run succeeded (issue #17: at least 2,000 tasks/s), and the
// triggers' own latency.
func BenchmarkAPITrigger1000x10(b *testing.B) {
	const runs, clients = 1000, 8
	for b.Loop() {
		ctx := context.Background()
		dir := b.TempDir()
		folder := filepath.Join(dir, "workflows")
		if err := os.Mkdir(folder, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(folder, "ten.yaml"), []byte(tenNoop()), 0o644); err != nil {
			b.Fatal(err)
		}
		reg, err := tasks.NewRegistry(noop.New())
		if err != nil {
			b.Fatal(err)
		}
		st, err := sqlite.Open(ctx, filepath.Join(dir, "cairn.db"))
		if err != nil {
			b.Fatal(err)
		}
		arts, err := artifacts.Open(filepath.Join(dir, "artifacts"))
		if err != nil {
			b.Fatal(err)
		}
		logs, err := artifacts.OpenLogs(filepath.Join(dir, "logs"))
		if err != nil {
			b.Fatal(err)
		}
		cat, err := catalog.New(folder, catalog.Options{Types: reg})
		if err != nil {
			b.Fatal(err)
		}
		owner := fmt.Sprintf("bench:%d:server", os.Getpid())
		var ended, failed atomic.Int64
		var graphsMu sync.Mutex
		graphs := map[string]*workflows.Workflow{}
		all := make(chan struct{})
		broker := scheduler.NewBroker(st, scheduler.BrokerOptions{Name: owner})
		svc := scheduler.NewService(st, broker, scheduler.ServiceOptions{Owner: owner, Adopt: true,
			Load: func(_ context.Context, r *cairn.Run) (scheduler.Graph, error) {
				// Parsed once per file, as cairn server's graph cache does.
				graphsMu.Lock()
				defer graphsMu.Unlock()
				if g, ok := graphs[r.Digest]; ok {
					return g, nil
				}
				g, err := workflows.Parse(r.SourcePath, r.Source, workflows.Options{Types: reg})
				if err == nil {
					graphs[r.Digest] = g
				}
				return g, err
			},
			Ended: func(_ string, final *cairn.Run, _ error) {
				if final == nil || final.State != cairn.RunSucceeded {
					failed.Add(1)
				}
				if ended.Add(1) == runs {
					close(all)
				}
			}})
		svc.Start(ctx)
		pool := executor.New(broker, executor.Options{Worker: owner, Owner: owner, Slots: 8, Types: reg,
			Artifacts: arts, Logs: logs, ScratchDir: dir})
		pool.Start(ctx)
		acts, err := actions.New(actions.Options{Store: st, Service: svc, Workflows: cat, Types: reg})
		if err != nil {
			b.Fatal(err)
		}
		h, err := ui.New(ui.Options{Store: st, Logs: logs, Actions: acts, Workflows: cat})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(h)

		start := time.Now()
		triggered, perTrigger := triggerAll(b, srv.URL, runs, clients)
		select {
		case <-all:
		case <-time.After(5 * time.Minute):
			b.Fatalf("%d of %d runs ended within 5 minutes", ended.Load(), runs)
		}
		took := time.Since(start)
		if n := failed.Load(); n > 0 {
			b.Fatalf("%d runs did not succeed", n)
		}
		b.ReportMetric(float64(runs*10)/took.Seconds(), "tasks/s")
		b.ReportMetric(float64(took.Milliseconds()), "ms-total")
		b.ReportMetric(float64(triggered.Milliseconds()), "ms-triggering")
		b.ReportMetric(float64(perTrigger.Microseconds())/1000, "ms/trigger")
		srv.Close()
		pool.Stop(ctx)
		svc.Stop(ctx)
		st.Close()
	}
}

// triggerAll triggers n runs of workflow ten at url, clients at once, and
// returns how long it took and the mean latency of a trigger.
func triggerAll(b *testing.B, url string, n, clients int) (took, mean time.Duration) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	var next, total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				resp, err := client.Post(url+"/api/v1/workflows/ten/runs", "application/json", strings.NewReader(`{"params": {}}`))
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("trigger: %d %s", resp.StatusCode, body)
					return
				}
				total.Add(int64(time.Since(t0)))
			}
		}()
	}
	wg.Wait()
	took = time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return took, time.Duration(total.Load() / int64(n))
}

// BenchmarkServerAPITrigger1000x10 is BenchmarkAPITrigger1000x10 with the
// real binary: cairn server --workflows DIR (--insecure-no-auth, on
// loopback) is started and ready, then 1,000 runs of 10 noop tasks are
// triggered through its API, 8 clients at once; it measures the time from
// the first trigger until every run succeeded.
func BenchmarkServerAPITrigger1000x10(b *testing.B) {
	const runs, clients = 1000, 8
	bin := binary(b)
	for b.Loop() {
		ctx := context.Background()
		home := b.TempDir()
		folder := filepath.Join(home, "workflows")
		if err := os.Mkdir(folder, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(folder, "ten.yaml"), []byte(tenNoop()), 0o644); err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, "--home", home, "server", "--addr", addr, "--insecure-no-auth", "--workflows", folder, "--log-format", "json")
		log := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		stop := func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}
		url := "http://" + addr
		for deadline := time.Now().Add(time.Minute); ; {
			resp, err := http.Get(url + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				stop()
				b.Fatalf("the server is not ready after a minute\n%s", log)
			}
			time.Sleep(20 * time.Millisecond)
		}
		st, err := sqlite.Open(ctx, filepath.Join(home, "cairn.db"), sqlite.ReadOnly())
		if err != nil {
			stop()
			b.Fatal(err)
		}
		start := time.Now()
		triggered, perTrigger := triggerAll(b, url, runs, clients)
		for {
			done, err := st.ListRuns(ctx, scheduler.RunFilter{State: cairn.RunSucceeded, Limit: runs})
			if err != nil {
				b.Fatal(err)
			}
			if len(done) == runs {
				break
			}
			if failed, err := st.ListRuns(ctx, scheduler.RunFilter{State: cairn.RunFailed, Limit: 1}); err != nil || len(failed) > 0 {
				b.Fatalf("a run failed (%v): %v\n%s", err, failed, log)
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("%d of %d runs succeeded after 5 minutes\n%s", len(done), runs, log)
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(start)
		b.ReportMetric(float64(runs*10)/took.Seconds(), "tasks/s")
		b.ReportMetric(float64(took.Milliseconds()), "ms-total")
		b.ReportMetric(float64(triggered.Milliseconds()), "ms-triggering")
		b.ReportMetric(float64(perTrigger.Microseconds())/1000, "ms/trigger")
		st.Close()
		stop()
	}
}
