package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What the remote benchmark counts besides time, which does not depend
// on the machine's load: the server's statements by kind and the worker
// API's requests by route (cairn server's CAIRN_DEBUG_ADDR), and the CPU
// time of the server and of the workers (/proc).

// serverCounts is a reading of the server's /debug/counts.
type serverCounts struct {
	Statements []struct {
		Kind  string `json:"kind"`
		Count int64  `json:"count"`
	} `json:"statements"`
	WorkerCalls map[string]int64 `json:"worker_calls"`
}

// counts reads the server's counts; nil from a binary without
// CAIRN_DEBUG_ADDR (an older one, CAIRN_BENCH_BIN), which is said once.
func (r *remoteRig) counts() *serverCounts {
	r.b.Helper()
	resp, err := http.Get("http://" + r.debug + "/debug/counts")
	if err != nil {
		r.b.Logf("no counts from the server (a binary without CAIRN_DEBUG_ADDR?): %v", err)
		return nil
	}
	defer resp.Body.Close()
	var c serverCounts
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		r.b.Fatal(err)
	}
	return &c
}

// cpu is the CPU time (user and system) of the server (procs[0]) and of
// the other processes (the workers) so far; zero where /proc cannot be
// read.
func (r *remoteRig) cpu() (server, workers time.Duration) {
	for i, p := range r.procs {
		d := procCPU(p.Process.Pid)
		if i == 0 {
			server = d
		} else {
			workers += d
		}
	}
	return server, workers
}

// procCPU reads a process's utime + stime from /proc/PID/stat (in clock
// ticks of 10 ms, Linux's USER_HZ).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after the command's name
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// reportCounts reports what the server did for tasks tasks between two
// readings: statements (and transactions: BEGIN) and worker API calls per
// task, and logs the statements and calls by kind.
func reportCounts(b *testing.B, before, after *serverCounts, tasks int) {
	b.Helper()
	if before == nil || after == nil {
		return
	}
	var stmts, begins int64
	delta := map[string]int64{}
	for _, s := range after.Statements {
		delta[s.Kind] += s.Count
	}
	for _, s := range before.Statements {
		delta[s.Kind] -= s.Count
	}
	kinds := make([]string, 0, len(delta))
	for k, n := range delta {
		if n == 0 {
			continue
		}
		kinds = append(kinds, k)
		stmts += n
		if k == "BEGIN" {
			begins = n
		}
	}
	sort.Slice(kinds, func(i, j int) bool { return delta[kinds[i]] > delta[kinds[j]] })
	var sb strings.Builder
	if len(kinds) > 0 {
		b.ReportMetric(float64(stmts)/float64(tasks), "stmts/task")
		b.ReportMetric(float64(begins)/float64(tasks), "txs/task")
		fmt.Fprintf(&sb, "statements per task, by kind (%d tasks):\n", tasks)
		for _, k := range kinds {
			fmt.Fprintf(&sb, "  %7.3f  %s\n", float64(delta[k])/float64(tasks), k)
		}
	}
	var calls int64
	routes := make([]string, 0, len(after.WorkerCalls))
	for route, n := range after.WorkerCalls {
		if n -= before.WorkerCalls[route]; n > 0 {
			routes = append(routes, route)
			calls += n
		}
	}
	sort.Strings(routes)
	b.ReportMetric(float64(calls)/float64(tasks), "calls/task")
	fmt.Fprintf(&sb, "worker API calls per task:\n")
	for _, route := range routes {
		fmt.Fprintf(&sb, "  %7.3f  %s\n", float64(after.WorkerCalls[route]-before.WorkerCalls[route])/float64(tasks), route)
	}
	b.Log(sb.String())
}
