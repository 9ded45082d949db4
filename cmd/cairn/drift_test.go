package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// driftRows returns n rows of x (normal, shifted by shift) and c (a or
// b), with the label y, as CSV and as a predict body's rows.
func driftRows(seed uint64, n int, shift float64) (csv string, rows []map[string]any) {
	rng := rand.New(rand.NewPCG(seed, 11))
	var b strings.Builder
	b.WriteString("x,c,y\n")
	for range n {
		x := rng.NormFloat64() + shift
		c := []string{"a", "b"}[rng.IntN(2)]
		y := "no"
		if x+map[string]float64{"a": 0.5, "b": -0.5}[c]+rng.NormFloat64()*0.5 > 0 {
			y = "yes"
		}
		fmt.Fprintf(&b, "%g,%s,%s\n", x, c, y)
		rows = append(rows, map[string]any{"x": x, "c": c})
	}
	return b.String(), rows
}

// trainDeploy stores the training data csv, fits a model on it, and
// records one attempt of a train task that read the data as its input
// "train" and wrote the model, registering it in production (lineage:
// what retrain, and the leader's drift, find as its training data).
func (r *modelReg) trainDeploy(name, csv string) int {
	r.t.Helper()
	ctx := context.Background()
	data, err := r.arts.Put(ctx, "text/csv", strings.NewReader(csv))
	if err != nil {
		r.t.Fatal(err)
	}
	f, err := dataset.ReadCSV(strings.NewReader(csv), dataset.ReadOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	m, err := model.Fit(f, model.Spec{Preprocess: features.NewSpec("y"), Algorithm: model.LogisticRegression})
	if err != nil {
		r.t.Fatal(err)
	}
	return r.register("train", map[string]cairn.ArtifactRef{"train": data}, name, cairn.StageProduction, r.put(m))
}

// TestDriftAboveServed: a real server serves a model whose drift_above
// alert (set with cairn models alerts) is watched by its leader on the
// rows it samples (--prediction-sample 1), written to the database in
// batches, against the training data lineage names. Rows like the
// training data give a drift figure within the bound on /metrics and no
// alert; rows shifted on x, once the window has passed the others, send
// one alert to a loopback receiver, naming x. The server killed (-9) and
// started again: the rows it had committed are all there, the alert is
// not sent again while the drift holds, and the models page shows the
// alert, the one sent and the figure. On SQLite and, when
// CAIRN_TEST_POSTGRES is set, PostgreSQL.
func TestDriftAboveServed(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) { testDriftAboveServed(t, newEnv(t)) })
	t.Run("postgres", func(t *testing.T) { testDriftAboveServed(t, pgEnv(t)) })
}

func testDriftAboveServed(t *testing.T, e *env) {
	e.must(0, "tokens", "create", "--role", "viewer") // makes the database
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "operator", "--name", "ci").stdout)
	hooks := newHookReceiver(t, nil)
	reg := openModelRegDB(t, e.home, e.db)
	train, _ := driftRows(1, 600, 0)
	v := reg.trainDeploy("churn", train)
	e.must(0, "models", "alerts", "churn", "set", "on=drift_above,bound=0.2,webhook="+hooks.srv.URL+"/drift,window=10s,min=150")

	env := []string{envTestDriftEvery + "=300ms"}
	srv := e.startServer(env, "--prediction-sample", "1")
	c := &http.Client{Timeout: 10 * time.Second}
	url := "http://" + srv.addr + "/api/v1/models/churn/predict"
	send := func(seed uint64, n int, shift float64) {
		t.Helper()
		_, rows := driftRows(seed, n, shift)
		for i := 0; i < len(rows); i += 25 {
			body, _ := json.Marshal(map[string]any{"rows": rows[i:min(i+25, len(rows))]})
			if code, out := post(t, c, url, token, string(body)); code != http.StatusOK {
				t.Fatalf("predict: %d %s", code, out)
			}
		}
	}
	gauge := regexp.MustCompile(`cairn_model_drift\{model="churn",version="` + strconv.Itoa(v) + `"\} (\S+)`)
	drift := func() (float64, bool) {
		code, text := srv.getAuth(t, "/metrics", token)
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d", code)
		}
		m := gauge.FindStringSubmatch(text)
		if m == nil {
			return 0, false
		}
		f, err := strconv.ParseFloat(m[1], 64)
		return f, err == nil
	}
	served := func() int {
		t.Helper()
		rows, err := reg.st.ServedRows(context.Background(), "churn", v, time.Time{}, 100000)
		if err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}

	// Like the training data: a figure within the bound, no alert.
	send(2, 300, 0)
	var before float64
	waitFor(t, 20*time.Second, "a drift figure on /metrics", func() bool {
		f, ok := drift()
		before = f
		return ok
	})
	if before <= 0 || before > 0.2 {
		t.Fatalf("rows like the training data: drift %g, want a PSI within the bound 0.2", before)
	}
	time.Sleep(time.Second)
	if n := len(hooks.calls("/drift")); n != 0 {
		t.Fatalf("rows like the training data sent %d alerts", n)
	}
	// The window (10s) passes them by; shifted rows alert once.
	time.Sleep(11 * time.Second)
	send(3, 300, 2)
	waitFor(t, 20*time.Second, "the drift_above alert", func() bool { return len(hooks.calls("/drift")) > 0 })
	calls := hooks.calls("/drift")
	var body map[string]any
	if err := json.Unmarshal(calls[0].body, &body); err != nil {
		t.Fatal(err)
	}
	if body["event"] != "drift_above" || body["model"] != "churn" || body["bound"] != 0.2 || body["value"].(float64) <= 0.2 ||
		!strings.Contains(fmt.Sprint(body["detail"]), "on feature x") || calls[0].key != fmt.Sprintf("model/churn/v%d/drift_above/100/1", v) {
		t.Fatalf("alert %s (key %s)", calls[0].body, calls[0].key)
	}
	if f, _ := drift(); f <= 0.2 {
		t.Fatalf("/metrics after the shift: drift %g, want above 0.2", f)
	}

	// Killed and started again: every row committed is kept; still
	// drifted, no second alert.
	waitFor(t, 10*time.Second, "the shifted rows committed", func() bool { return served() == 600 })
	srv.kill9()
	srv = e.startServer(env, "--prediction-sample", "1")
	url = "http://" + srv.addr + "/api/v1/models/churn/predict"
	if n := served(); n != 600 {
		t.Fatalf("%d rows after a restart, want the 600 committed", n)
	}
	send(4, 200, 2)
	waitFor(t, 10*time.Second, "the new rows committed", func() bool { return served() == 800 })
	time.Sleep(2 * time.Second)
	if n := len(hooks.calls("/drift")); n != 1 {
		t.Fatalf("%d alerts after the restart, want still 1", n)
	}
	list := e.must(0, "models", "alerts", "churn").stdout
	if !strings.Contains(list, "drift_above  0.2") || !regexp.MustCompile(fmt.Sprintf(`version %d: \S+ on feature x, \d+ served rows`, v)).MatchString(list) {
		t.Fatalf("cairn models alerts:\n%s", list)
	}
	code, page := srv.getAuth(t, "/models/churn", token)
	if code != http.StatusOK || !strings.Contains(page, `id="model-alerts"`) || !strings.Contains(page, "drift_above") ||
		!strings.Contains(page, `id="model-drift"`) || !strings.Contains(page, "on feature x") {
		t.Fatalf("the model page: %d\n%s", code, page)
	}
}
