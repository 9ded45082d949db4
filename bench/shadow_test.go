package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/ml/synthetic"
	"github.com/cairnml/cairn/ui"
)

// shadowServer is a real cairn server (a process of its own, on a home
// of its own) serving model bc: version 1 in production and version 2,
// with shadow, in a shadow rollout against it.
type shadowServer struct {
	b          *testing.B
	home       string
	url, token string
	debug      string // its CAIRN_DEBUG_ADDR
	cmd        *exec.Cmd
	log        *syncLog
	db         *sql.DB // its SQLite file, read only: the request log's rows
	st         *sqlite.Store
	sent       int // requests answered so far, warm-ups included
	unscored   int // of their rows, those without the shadow's answer
}

// startShadowServer fits bc's two versions (the serve package's
// BenchmarkShadow's: a logistic regression on 30 numeric features, C 1
// and 0.01), registers them in a new home, starts a shadow rollout of
// version 2 when shadow, and starts cairn server on it.
func startShadowServer(b *testing.B, shadow bool) *shadowServer {
	b.Helper()
	bin := binary(b)
	s := &shadowServer{b: b, home: b.TempDir()}
	out, err := exec.Command(bin, "--home", s.home, "tokens", "create", "--role", "viewer").Output()
	if err != nil {
		b.Fatalf("tokens create: %v", err)
	}
	s.token = strings.TrimSpace(string(out))
	f := shadowFrame(b)
	for i, c := range []float64{1, 0.01} {
		m, err := model.Fit(f, model.Spec{Preprocess: features.NewSpec("label"), Algorithm: model.LogisticRegression, Hyperparams: map[string]any{"C": c}})
		if err != nil {
			b.Fatal(err)
		}
		stage := cairn.StageProduction
		if i > 0 {
			stage = cairn.StageCandidate
		}
		registerModelAt(b, s.home, "bc", stage, m)
	}
	ctx := context.Background()
	dbPath := filepath.Join(s.home, "cairn.db")
	if s.st, err = sqlite.Open(ctx, dbPath); err != nil {
		b.Fatal(err)
	}
	if shadow {
		if _, err := s.st.StartRollout(ctx, "bc", 2, cairn.RolloutSpec{Strategy: cairn.StrategyShadow}, "bench", time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	if s.db, err = sql.Open("sqlite3", "file:"+dbPath+"?mode=ro&_busy_timeout=10000"); err != nil {
		b.Fatal(err)
	}
	addr := freeAddr(b)
	s.debug = freeAddr(b)
	s.cmd = exec.Command(bin, "--home", s.home, "server", "--addr", addr, "--workers", "0", "--log-format", "json")
	s.cmd.Env = append(os.Environ(), "CAIRN_DEBUG_ADDR="+s.debug)
	s.log = &syncLog{}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s.url = "http://" + addr + "/api/v1/models/bc/predict"
	return s
}

// shadowFrame is the rows bc is fitted on and predicts.
func shadowFrame(b *testing.B) *dataset.Frame {
	f, err := synthetic.Classification{Rows: 2000, Features: 30, Informative: 10, Seed: 1}.Frame()
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// ready waits until the server answers a predict request with arm
// (Cairn-Rollout-Arm: "production" while the shadow rollout is served,
// "" without one).
func (s *shadowServer) ready(c *http.Client, body []byte, arm string) {
	s.b.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := s.post(c, body, "warm")
		if err == nil && got == arm {
			return
		}
		if time.Now().After(deadline) {
			s.stop()
			s.b.Fatalf("cairn server does not answer with arm %q after a minute (got %q, %v):\n%s", arm, got, err, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// post sends one predict request and returns the arm that answered it.
func (s *shadowServer) post(c *http.Client, body []byte, key string) (string, error) {
	req, err := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set(ui.RouteKeyHeader, key)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("predict: %s", resp.Status)
	}
	if err == nil {
		s.sent++
	}
	return resp.Header.Get(serve.HeaderArm), err
}

// cpu is the CPU time the server's threads have run so far: the sum of
// the first field of /proc/PID/task/*/schedstat, in nanoseconds (the
// scheduler's own clock; /proc/PID/stat counts in ticks of 10 ms, more
// than a block's overhead). Go's runtime keeps the threads it starts, so
// none of the time is lost with a thread.
func (s *shadowServer) cpu() time.Duration {
	s.b.Helper()
	dir := fmt.Sprintf("/proc/%d/task", s.cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		s.b.Fatalf("read the server's threads: %v", err)
	}
	var ns int64
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // a thread that just ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			s.b.Fatalf("%s/%s/schedstat: %q", dir, t.Name(), b)
		}
		ns += v
	}
	return time.Duration(ns)
}

// drained waits until every request answered so far has its row in the
// request log and, on a shadow server, its shadow's answer in it (the
// shadow workers and the log writer are done with them), or until 10 s
// pass; it returns the rows since the last call without the shadow's
// answer (a shadow dropped, or too late for its row).
func (s *shadowServer) drained(shadow bool) int {
	s.b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rows, scored int
		if err := s.db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE shadow_version != 0) FROM model_requests`).Scan(&rows, &scored); err != nil {
			s.b.Fatalf("count the request log's rows: %v", err)
		}
		if !shadow {
			scored = rows
		}
		if rows > s.sent {
			s.b.Fatalf("the request log has %d rows for %d requests: a shadow's answer in a row of its own?", rows, s.sent)
		}
		if rows == s.sent && (scored+s.unscored == rows || time.Now().After(deadline)) {
			u := rows - scored - s.unscored
			s.unscored += u
			return u
		}
		if time.Now().After(deadline.Add(20 * time.Second)) {
			s.b.Fatalf("the request log has %d rows for %d requests after 30 s", rows, s.sent)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// empty deletes the request log's rows (between rounds, so that each
// round starts as the first).
func (s *shadowServer) empty() {
	s.b.Helper()
	n, err := s.st.PruneRequests(context.Background(), time.Now().Add(time.Hour), 1<<30)
	if err != nil {
		s.b.Fatal(err)
	}
	s.sent -= int(n)
	s.unscored = 0
}

// evaluate has the server's shadow candidate do its own work on n of
// bodies in turn (CAIRN_DEBUG_ADDR's /debug/shadow-eval).
func (s *shadowServer) evaluate(c *http.Client, bodies []byte, n int) {
	s.b.Helper()
	resp, err := c.Post(fmt.Sprintf("http://%s/debug/shadow-eval?model=bc&n=%d", s.debug, n), "application/json", bytes.NewReader(bodies))
	if err != nil {
		s.b.Fatalf("shadow-eval: %v", err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.b.Fatalf("shadow-eval (a cairn binary without it? CAIRN_BENCH_BIN): %s: %s", resp.Status, msg)
	}
}

// profile writes the server's CPU profile of the next secs seconds to
// path.
func (s *shadowServer) profile(path string, secs int) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.debug, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (s *shadowServer) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
	}
	s.db.Close()
	s.st.Close()
}

// BenchmarkShadowHTTP: what shadow scoring adds to a request as a user
// sees it (issue #22: "shadow scoring adds under 10% CPU per request"),
// where serve's BenchmarkShadow calls the model server in the
// benchmark's process: two real cairn server processes, each on a home
// of its own, serving model bc (the same two versions), one with a shadow
// rollout of version 2 and one without (production alone, "direct"; both
// keep their request log as cairn server always does, and its 10% sample
// log), sent one-row predict requests over loopback HTTP with a viewer
// token, one at a time on a kept-alive connection; and the candidate's
// own evaluation of the same bodies in the shadow server's process
// (CAIRN_DEBUG_ADDR's /debug/shadow-eval: the rows decoded and predicted,
// as a shadow worker does). Each is the server process's CPU time (its
// threads', /proc/PID/task/*/schedstat), a block of requests read from
// before the first is sent to after the last has its row in the request
// log with, on the shadow server, the candidate's answer in it: what the
// whole request cost the server, the web stack, authentication,
// routing, the answer, the logs and the background work that runs
// meanwhile alike. Per request:
//
//	cpu-µs/op         the shadowed request
//	logged-cpu-µs/op  a request of production alone
//	model-cpu-µs/op   the candidate's own evaluation
//	added-%           (cpu − logged) / logged: all that shadow scoring adds
//	overhead-%        (cpu − logged − model) / logged: what it adds beside
//	                  the candidate's own work
//
// As in BenchmarkShadow the three are interleaved in blocks of 2,000 (the
// order reversed every other block), a round is CAIRN_SHADOW_REQUESTS
// (10,000) of each, the request logs emptied after it, and the figures
// are the medians over CAIRN_SHADOW_ROUNDS (7) rounds, each round logged;
// unscored counts the shadowed requests whose row has no answer of the
// candidate (dropped or late): it must be 0. The benchmark's own loop
// (b.N) only repeats the rounds. The servers listen on ports the system
// picks, or CAIRN_BENCH_PORTS's.
func BenchmarkShadowHTTP(b *testing.B) {
	rounds, n := envInt(b, "CAIRN_SHADOW_ROUNDS", 7), envInt(b, "CAIRN_SHADOW_REQUESTS", 10000)
	const blockSize = 2000
	sh, lo := startShadowServer(b, true), startShadowServer(b, false)
	defer sh.stop()
	defer lo.stop()
	f := shadowFrame(b)
	var bodies [][]byte
	for i := range 16 {
		row := map[string]float64{}
		for _, c := range f.Columns {
			if c.Name != "label" && c.Kind == dataset.Numeric {
				row[c.Name] = c.Num[i]
			}
		}
		body, _ := json.Marshal(map[string]any{"rows": []any{row}})
		bodies = append(bodies, body)
	}
	all := append([]byte("["), bytes.Join(bodies, []byte(","))...)
	all = append(all, ']')
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
	}
	c := keepAlive(1)
	sh.ready(c, bodies[0], "production")
	lo.ready(c, bodies[0], "")
	// Both servers have loaded what they serve and answered; the
	// candidate's evaluation warmed too.
	sh.evaluate(c, all, 100)
	sh.drained(true)
	lo.drained(false)

	// block measures requests [i0, i1) of one phase, adding its CPU to
	// *d; the shadowed requests left unscored to *unscored.
	var unscored int
	block := func(phase string, i0, i1 int, d *time.Duration) {
		switch phase {
		case "model":
			t0 := sh.cpu()
			sh.evaluate(c, all, i1-i0)
			*d += sh.cpu() - t0
		default:
			s := sh
			if phase == "logged" {
				s = lo
			}
			t0 := s.cpu()
			for i := i0; i < i1; i++ {
				if _, err := s.post(c, bodies[i%len(bodies)], keys[i%len(keys)]); err != nil {
					b.Fatalf("%s request %d: %v\n%s", phase, i, err, s.log)
				}
			}
			u := s.drained(phase == "shadow")
			*d += s.cpu() - t0
			unscored += u
		}
	}
	if dir := os.Getenv("CAIRN_SHADOW_PROFILE"); dir != "" {
		// Both servers' CPU profiles over the first CAIRN_SHADOW_PROFILE_SECONDS
		// (30) of the rounds, to compare where their time goes.
		secs := envInt(b, "CAIRN_SHADOW_PROFILE_SECONDS", 30)
		done := make(chan struct{}, 2)
		for _, s := range []*shadowServer{sh, lo} {
			go func() {
				defer func() { done <- struct{}{} }()
				name := map[bool]string{true: "shadow", false: "logged"}[s == sh]
				if err := s.profile(filepath.Join(dir, name+".pprof"), secs); err != nil {
					b.Errorf("profile the %s server: %v", name, err)
				}
			}()
		}
		defer func() { <-done; <-done }()
	}
	var shadowCPU, loggedCPU, modelCPU, over, overPct, added, addedPct []float64
	k := 0
	for b.Loop() {
		for r := range rounds {
			var dsh, dlo, dmo time.Duration
			for i0 := 0; i0 < n; i0 += blockSize {
				i1 := min(i0+blockSize, n)
				if k++; k%2 == 1 {
					block("shadow", i0, i1, &dsh)
					block("logged", i0, i1, &dlo)
					block("model", i0, i1, &dmo)
				} else {
					block("model", i0, i1, &dmo)
					block("logged", i0, i1, &dlo)
					block("shadow", i0, i1, &dsh)
				}
			}
			sh.empty()
			lo.empty()
			us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }
			s, l, m := us(dsh), us(dlo), us(dmo)
			shadowCPU, loggedCPU, modelCPU = append(shadowCPU, s), append(loggedCPU, l), append(modelCPU, m)
			over, overPct = append(over, s-l-m), append(overPct, 100*(s-l-m)/l)
			added, addedPct = append(added, s-l), append(addedPct, 100*(s-l)/l)
			b.Logf("round %d of %d, %d requests each (load %s): server CPU shadowed %.2f, logged %.2f, candidate's evaluation %.2f µs/op: added %.2f µs (%.1f %%), overhead beside the evaluation %.2f µs (%.1f %%); unscored so far %d",
				r+1, rounds, n, loadAvg(), s, l, m, s-l, 100*(s-l)/l, s-l-m, 100*(s-l-m)/l, unscored)
		}
	}
	b.ReportMetric(summarize(shadowCPU).med, "cpu-µs/op")
	b.ReportMetric(summarize(loggedCPU).med, "logged-cpu-µs/op")
	b.ReportMetric(summarize(modelCPU).med, "model-cpu-µs/op")
	b.ReportMetric(summarize(added).med, "added-cpu-µs/op")
	ap, op := summarize(addedPct), summarize(overPct)
	b.ReportMetric(ap.med, "added-%")
	b.ReportMetric(ap.min, "added-%-min")
	b.ReportMetric(ap.max, "added-%-max")
	b.ReportMetric(summarize(over).med, "overhead-cpu-µs/op")
	b.ReportMetric(op.med, "overhead-%")
	b.ReportMetric(op.min, "overhead-%-min")
	b.ReportMetric(op.max, "overhead-%-max")
	b.ReportMetric(float64(unscored), "unscored")
}
