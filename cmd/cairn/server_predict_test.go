package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// modelReg registers model versions in a home's database from this
// process, as a deploy task's completion does: to the server, another
// process.
type modelReg struct {
	t    *testing.T
	st   database
	arts *artifacts.Dir
	at   time.Time
}

func openModelReg(t *testing.T, home string) *modelReg { return openModelRegDB(t, home, "") }

// openModelRegDB is openModelReg on the PostgreSQL database dsn (the
// home's SQLite file when "").
func openModelRegDB(t *testing.T, home, dsn string) *modelReg {
	t.Helper()
	var st database
	var err error
	if dsn != "" {
		st, err = postgres.Open(context.Background(), dsn)
	} else {
		st, err = sqlite.Open(context.Background(), filepath.Join(home, "cairn.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	arts, err := artifacts.Open(filepath.Join(home, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	return &modelReg{t: t, st: st, arts: arts, at: time.Now().UTC()}
}

func (r *modelReg) next() time.Time { r.at = r.at.Add(time.Millisecond); return r.at }

// fitModel fits a logistic regression of y on x (numeric) and c
// (categorical); C makes versions that predict differently.
func fitModel(t *testing.T, C float64) *model.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	var b strings.Builder
	b.WriteString("x,c,y\n")
	for range 200 {
		x := rng.NormFloat64()
		c := []string{"a", "b"}[rng.IntN(2)]
		y := "no"
		if x+map[string]float64{"a": 0.5, "b": -0.5}[c]+rng.NormFloat64()*0.5 > 0 {
			y = "yes"
		}
		fmt.Fprintf(&b, "%g,%s,%s\n", x, c, y)
	}
	f, err := dataset.ReadCSV(strings.NewReader(b.String()), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Fit(f, model.Spec{Preprocess: features.NewSpec("y"), Algorithm: model.LogisticRegression, Hyperparams: map[string]any{"C": C}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// deploy stores m and registers it as a version of name in stage.
func (r *modelReg) deploy(name string, stage cairn.ModelStage, m *model.Model) int {
	r.t.Helper()
	ref := r.put(m)
	return r.register("deploy", map[string]cairn.ArtifactRef{"model": ref}, name, stage, ref)
}

// put stores m as an artifact.
func (r *modelReg) put(m *model.Model) cairn.ArtifactRef {
	r.t.Helper()
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		r.t.Fatal(err)
	}
	ref, err := r.arts.Put(context.Background(), model.MediaType, &buf)
	if err != nil {
		r.t.Fatal(err)
	}
	return ref
}

// register records one successful attempt of a task of type typ (its id
// too) that read inputs and wrote the model ref, registering it as a
// version of name in stage; it returns the version.
func (r *modelReg) register(typ string, inputs map[string]cairn.ArtifactRef, name string, stage cairn.ModelStage, ref cairn.ArtifactRef) int {
	r.t.Helper()
	ctx := context.Background()
	at := r.next()
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: typ, State: cairn.RunQueued, CreatedAt: at}
	task := &cairn.TaskRun{TaskID: typ, Type: typ, State: cairn.TaskReady, Params: []byte(`{}`), Inputs: inputs}
	if err := r.st.CreateRun(ctx, run, []*cairn.TaskRun{task}); err != nil {
		r.t.Fatal(err)
	}
	items, err := r.st.Lease(ctx, cairn.LeaseRequest{Worker: "test", RunID: run.ID, Max: 1}, at, time.Hour)
	if err != nil || len(items) != 1 {
		r.t.Fatalf("lease: %v %v", items, err)
	}
	tr, err := r.st.Complete(ctx, items[0].Lease, cairn.Completion{State: cairn.TaskSucceeded,
		Outputs: map[string]json.RawMessage{"model": ref.JSON()},
		Effects: []cairn.Effect{{RegisterModel: &cairn.ModelRegistration{Name: name, Stage: stage, Model: ref, VersionOutput: "version"}}}}, at)
	if err != nil {
		r.t.Fatal(err)
	}
	var v int
	if err := json.Unmarshal(tr.Outputs["version"], &v); err != nil {
		r.t.Fatal(err)
	}
	return v
}

// post sends a predict request and returns the status and body.
func post(t *testing.T, c *http.Client, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServerPredicts: cairn server serves a registered model's production
// version to a viewer token, refuses bad rows naming them, switches
// versions promoted and rolled back by another process under a stream of
// requests without failing one, logs a sample readable as a data set,
// and counts it all in /metrics.
func TestServerPredicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.must(0, "tokens", "create", "--role", "viewer") // makes the database
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer").stdout)
	reg := openModelReg(t, e.home)
	v1 := reg.deploy("churn", cairn.StageProduction, fitModel(t, 1))
	v2 := reg.deploy("churn", cairn.StageCandidate, fitModel(t, 0.001))
	srv := e.startServer(nil, "--prediction-sample", "1")
	c := &http.Client{Timeout: 10 * time.Second}
	url := "http://" + srv.addr + "/api/v1/models/churn/predict"
	body := `{"rows":[{"x":0.3,"c":"a"},{"x":-1.2,"c":null}]}`

	if code, out := post(t, c, url, "", body); code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d %s", code, out)
	}
	want := map[int]string{}
	for _, v := range []int{v1, v2} {
		code, out := post(t, c, fmt.Sprintf("%s?version=%d", url, v), token, body)
		if code != http.StatusOK || !strings.Contains(out, fmt.Sprintf(`"version":%d,"classes":["no","yes"],"predictions":[`, v)) {
			t.Fatalf("version %d: %d %s", v, code, out)
		}
		want[v] = noID(out)
	}
	if want[v1] == want[v2] {
		t.Fatal("both versions answer alike: the test cannot tell them apart")
	}
	if code, out := post(t, c, url, token, body); code != http.StatusOK || noID(out) != want[v1] {
		t.Fatalf("production: %d %s", code, out)
	}
	code, out := post(t, c, url, token, `{"rows":[{"x":1,"c":"a"},{"x":"1","c":"a"}]}`)
	var apiErr struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Row     *int   `json:"row"`
		Field   string `json:"field"`
	}
	if err := json.Unmarshal([]byte(out), &apiErr); err != nil || code != http.StatusBadRequest || apiErr.Code != "bad_input" ||
		apiErr.Row == nil || *apiErr.Row != 1 || apiErr.Field != "x" || !strings.Contains(apiErr.Message, "want a JSON number") {
		t.Fatalf("a string for a number: %d %s", code, out)
	}
	if code, out := post(t, c, "http://"+srv.addr+"/api/v1/models/nope/predict", token, body); code != http.StatusNotFound {
		t.Fatalf("no such model: %d %s", code, out)
	}

	// A stream of requests while another process promotes and rolls back.
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg              sync.WaitGroup
		failed, crossed atomic.Int64
		seen            sync.Map
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := c.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch noID(string(b)) {
				case want[v1]:
					seen.Store(v1, true)
				case want[v2]:
					seen.Store(v2, true)
				default:
					if resp.StatusCode == http.StatusOK {
						crossed.Add(1)
					} else {
						failed.Add(1)
						t.Errorf("%d %s", resp.StatusCode, b)
					}
				}
			}
		}()
	}
	for i := range 6 {
		if i%2 == 0 {
			if _, err := reg.st.PromoteModel(context.Background(), "churn", v2, cairn.StageProduction, "cli:test", reg.next()); err != nil {
				t.Fatal(err)
			}
		} else if _, err := reg.st.RollbackModel(context.Background(), "churn", "cli:test", reg.next()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
	}
	// The last change (a rollback to v1) is served within about a second.
	waitFor(t, 5*time.Second, "version 1 served again", func() bool {
		_, out := post(t, c, url, token, body)
		return noID(out) == want[v1]
	})
	cancel()
	wg.Wait()
	if failed.Load() > 0 || crossed.Load() > 0 {
		t.Fatalf("%d requests failed, %d answers were no version's", failed.Load(), crossed.Load())
	}
	for _, v := range []int{v1, v2} {
		if _, ok := seen.Load(v); !ok {
			t.Fatalf("version %d never served during the switches", v)
		}
	}

	code, metricsText := srv.getAuth(t, "/metrics", token)
	if code != http.StatusOK || !strings.Contains(metricsText, `cairn_prediction_requests_total{model="churn",code="bad_input"} 1`) ||
		!strings.Contains(metricsText, `cairn_model_loads_total{model="churn",outcome="ok"} 2`) {
		t.Fatalf("/metrics: %d\n%s", code, metricsText)
	}

	// SIGTERM writes the sample log; it reads as a data set.
	srv.term()
	waitFor(t, 30*time.Second, "the server to stop", srv.exited)
	raw, err := os.ReadFile(filepath.Join(e.home, "predictions", "churn", "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := dataset.ReadJSONL(bytes.NewReader(raw), dataset.ReadOptions{Schema: map[string]dataset.Kind{"x": dataset.Numeric, "c": dataset.Categorical}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Rows() < 100 || strings.Join(f.Names(), ",") != "cairn_time,cairn_version,x,c" {
		t.Fatalf("the sample log: %d rows, columns %v", f.Rows(), f.Names())
	}
}

// getAuth fetches path with a bearer token.
func (s *server) getAuth(t *testing.T, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+s.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDocPredictExampleRuns: docs/api.md's predict example runs as
// written, from the repository's root, after the breast cancer example
// deployed its model, and answers what the page shows.
func TestDocPredictExampleRuns(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s to run docs/api.md's example with", tool)
		}
	}
	e := newEnv(t)
	e.cairnIn("../..", "run", "workflows/examples/breast-cancer.yaml", "--quiet")
	token := strings.TrimSpace(e.must(0, "tokens", "create", "--role", "viewer").stdout)
	srv := e.startServer(nil)
	sec := docSection(t, "../../docs/api.md", "Models: predictions (viewer)")
	blocks := regexp.MustCompile("(?s)```(sh|json)\n(.*?)```").FindAllStringSubmatch(sec, 2)
	if len(blocks) != 2 || blocks[0][1] != "sh" || blocks[1][1] != "json" {
		t.Fatal("docs/api.md's predict example is not a shell block and its answer; the test reads it wrong")
	}
	// The example writes rows.json in the repository's root: here, in
	// the test's own folder.
	script := strings.ReplaceAll(blocks[0][2], "127.0.0.1:8080", srv.addr)
	script = strings.NewReplacer("> rows.json", `> "$ROWS"`, "@rows.json", `@"$ROWS"`).Replace(script)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CAIRN_TOKEN="+token, "ROWS="+filepath.Join(t.TempDir(), "rows.json"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docs/api.md's predict example failed: %v\n%s", err, out)
	}
	// The request id differs from answer to answer: both must have one.
	if got, want := noID(strings.TrimSpace(string(out))+"\n"), noID(strings.TrimSpace(blocks[1][2])+"\n"); got != want {
		t.Fatalf("the example answers\n%s\nthe page shows\n%s", got, want)
	}
}

// answerID is the request id at the end of a predict answer.
var answerID = regexp.MustCompile(`,"request_id":"[0-9a-f]{32}"}\n$`)

// noID is a predict answer without its request id (different in every
// answer), which must be there; other bodies are returned as they are.
func noID(body string) string {
	if !strings.HasPrefix(body, `{"model":`) {
		return body
	}
	if !answerID.MatchString(body) {
		return "no request_id in " + body
	}
	return answerID.ReplaceAllString(body, "}\n")
}
