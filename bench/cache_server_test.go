package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/sqlite"
)

// BenchmarkCachedRerunBreastCancerServer is BenchmarkCachedRerunBreastCancer
// on a running `cairn server`, where runs are triggered (cron, the API, the
// UI) rather than started as a process: no process start, no opening of the
// database, in the re-run's time. In one home, with the example's folder as
// the server's --workflows, it triggers the breast cancer workflow by name
// (POST /api/v1/workflows/breast-cancer/runs), alternating a run with
// "no_cache": true and one with nothing changed, CAIRN_BENCH_REPS times each
// (5 by default), and reports each one's time from the trigger's request to
// the run's end as the server recorded it (finished_at: the same machine's
// clock), and the ratio of the medians. The benchmark waits by reading the
// database every 5 ms, read-only: a tighter poll would take a share of the
// two CPUs from the server it measures.
func BenchmarkCachedRerunBreastCancerServer(b *testing.B) {
	dir, err := filepath.Abs("../workflows/examples")
	if err != nil {
		b.Fatal(err)
	}
	n := reps(b)
	for range b.N {
		home := b.TempDir()
		bin := binary(b)
		out, err := exec.Command(bin, "--home", home, "tokens", "create", "--role", "operator").Output()
		if err != nil {
			b.Fatalf("tokens create: %v", err)
		}
		token := strings.TrimSpace(string(out))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		srv := exec.Command(bin, "--home", home, "server", "--addr", addr, "--workflows", dir, "--log-format", "json")
		log := &strings.Builder{}
		srv.Stdout, srv.Stderr = log, log
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		stop := func() { srv.Process.Signal(os.Interrupt); srv.Wait() }
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				stop()
				b.Fatalf("the server was not ready in 30 s\n%s", log)
			}
			time.Sleep(20 * time.Millisecond)
		}
		st, err := sqlite.Open(context.Background(), filepath.Join(home, "cairn.db"), sqlite.ReadOnly())
		if err != nil {
			stop()
			b.Fatal(err)
		}
		run := func(noCache bool) float64 {
			b.Helper()
			body, _ := json.Marshal(map[string]any{"no_cache": noCache})
			req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/workflows/breast-cancer/runs", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatalf("trigger: %v", err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var created struct{ ID string }
			if resp.StatusCode != 201 || json.Unmarshal(msg, &created) != nil {
				b.Fatalf("trigger: %d %s\n%s", resp.StatusCode, msg, log)
			}
			for {
				r, err := st.GetRun(context.Background(), created.ID)
				if err != nil {
					b.Fatal(err)
				}
				if r.State.Terminal() {
					if r.State != cairn.RunSucceeded || r.FinishedAt.IsZero() {
						b.Fatalf("run %s %s: %s\n%s", r.ID, r.State, r.Error, log)
					}
					return ms(r.FinishedAt.Sub(start))
				}
				if time.Since(start) > time.Minute {
					b.Fatalf("run %s not done after a minute\n%s", r.ID, log)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		run(false) // the first run: what the others reuse
		var uncached, cached []float64
		for range n {
			uncached = append(uncached, run(true))
			cached = append(cached, run(false))
		}
		st.Close()
		stop()
		u, c := summarize(uncached), summarize(cached)
		ratio := c.med / u.med
		b.ReportMetric(u.med, "ms-uncached-med")
		b.ReportMetric(c.med, "ms-cached-med")
		b.ReportMetric(100*ratio, "%-of-uncached")
		verdict := "met"
		if ratio >= 0.10 {
			verdict = "not met"
		}
		fmt.Fprintf(os.Stdout, "breast cancer triggered on a cairn server, %d runs each, alternating (load %s):\n"+
			"  uncached (no_cache)  min %.1f  median %.1f  max %.1f ms\n"+
			"  cached (no change)   min %.1f  median %.1f  max %.1f ms\n"+
			"  cached / uncached    %.1f%% of the median (target < 10%%): %s\n",
			n, loadAvg(), u.min, u.med, u.max, c.min, c.med, c.max, 100*ratio, verdict)
	}
}
