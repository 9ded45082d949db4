package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/ui/core"
	"github.com/cairnml/cairn/ui/runjson"
)

// workersFixture is a fixture whose server lists the store's workers and
// has a pool of its own (no labels, the default queue), two registered
// workers (gpu=true, and a stopped one), and a run with a ready task that
// needs gpu=a100 (nobody has it) and a ready task that needs gpu=true.
func workersFixture(t *testing.T) (*fixture, *cairn.Run) {
	t.Helper()
	pool := &cairn.Worker{ID: "server:1:x", Name: "cairn server (pid 1)", State: cairn.WorkerActive, Concurrency: 4}
	f := newFixture(t, func(o *Options) { o.Workers, o.Pool = o.Store.(core.WorkerLister), pool })
	ctx := context.Background()
	now := time.Now()
	for _, w := range []cairn.Worker{
		{ID: "w-gpu", Name: "gpu-box", Host: "gpu1.example", Labels: map[string]string{"gpu": "true"}, Queues: []string{"", "train"}},
		{ID: "w-old", Name: "old-box", Host: "old.example"},
	} {
		w.TokenID, w.Protocol, w.Concurrency, w.Version = "tok", cairn.WorkerProtocol, 2, "test"
		if _, err := f.st.RegisterWorker(ctx, w, now, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.st.SetWorkerState(ctx, "w-old", "tok", cairn.WorkerStopped, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	run := &cairn.Run{ID: cairn.NewRunID(now), Workflow: "routed", Digest: "sha256:00", Source: []byte("name: routed\n"),
		State: cairn.RunRunning, CreatedAt: now, StartedAt: now}
	trs := []*cairn.TaskRun{
		{TaskID: "a100", Type: "noop", State: cairn.TaskReady, Labels: map[string]string{"gpu": "a100"}, Params: []byte(`{}`)},
		{TaskID: "gpu", Type: "noop", State: cairn.TaskReady, Labels: map[string]string{"gpu": "true"}, Queue: "train", Params: []byte(`{}`)},
		{TaskID: "plain", Type: "noop", State: cairn.TaskReady, Params: []byte(`{}`)},
	}
	if err := f.st.CreateRun(ctx, run, trs); err != nil {
		t.Fatal(err)
	}
	return f, run
}

func getJSON(t *testing.T, url string, want int, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %s, want %d", url, resp.Status, want)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// GET /api/v1/workers lists the server's pool, then the live workers,
// then those seen within ?since; a run's ready task that no live worker
// may take says why.
func TestWorkersAPI(t *testing.T) {
	f, run := workersFixture(t)
	var list runjson.WorkerList
	getJSON(t, f.srv.URL+core.APIPrefix+"/workers", http.StatusOK, &list)
	var names []string
	for _, w := range list.Workers {
		names = append(names, w.Name)
	}
	if strings.Join(names, ",") != "cairn server (pid 1),gpu-box,old-box" {
		t.Fatalf("workers = %v", names)
	}
	gpu, old := list.Workers[1], list.Workers[2]
	if !gpu.Live || gpu.Labels["gpu"] != "true" || strings.Join(gpu.Queues, ",") != "default,train" || gpu.Host != "gpu1.example" {
		t.Errorf("gpu-box = %+v", gpu)
	}
	if old.Live || old.State != cairn.WorkerStopped {
		t.Errorf("old-box = %+v", old)
	}
	getJSON(t, f.srv.URL+core.APIPrefix+"/workers?since=0s", http.StatusOK, &list)
	if len(list.Workers) != 2 {
		t.Errorf("?since=0s lists %d workers, want the pool and gpu-box", len(list.Workers))
	}
	getJSON(t, f.srv.URL+core.APIPrefix+"/workers?since=yesterday", http.StatusBadRequest, nil)
	getJSON(t, f.srv.URL+core.APIPrefix+"/workers?sinse=1h", http.StatusBadRequest, nil)

	var r runjson.Run
	getJSON(t, f.srv.URL+core.APIPrefix+"/runs/"+run.ID, http.StatusOK, &r)
	want := map[string]string{
		"a100":  "waiting: no live worker has gpu=a100 (2 live workers: cairn server (pid 1), gpu-box)",
		"gpu":   "",
		"plain": "",
	}
	for _, tk := range r.Tasks {
		if tk.Waiting != want[tk.ID] {
			t.Errorf("task %s waiting %q, want %q", tk.ID, tk.Waiting, want[tk.ID])
		}
	}
	if r.Tasks[1].Queue != "train" || r.Tasks[1].Labels["gpu"] != "true" || r.Tasks[2].Queue != cairn.DefaultQueue {
		t.Errorf("tasks' routing = %+v", r.Tasks)
	}
}

// The Workers page, reached from the nav, lists the workers; the run page
// says why a task waits.
func TestBrowserWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	b := newBrowser(t)
	f, run := workersFixture(t)
	b.do(t, "open the runs page", chromedp.Navigate(f.srv.URL+"/runs"), chromedp.WaitVisible(chromedp.CSS("#nav-workers")))
	b.do(t, "follow the nav to Workers", chromedp.Click(chromedp.CSS("#nav-workers")), chromedp.WaitVisible(chromedp.CSS("table.workers")))
	b.shot(t, "workers")
	if n := eval[int](t, b, `document.querySelectorAll("table.workers tbody tr").length`); n != 3 {
		t.Errorf("the workers page shows %d workers, want 3", n)
	}
	if got := eval[string](t, b, `document.querySelector('tr[data-worker="w-gpu"] .worker-labels').textContent`); got != "gpu=true" {
		t.Errorf("gpu-box's labels: %q", got)
	}
	if got := eval[string](t, b, `document.querySelector('tr[data-worker="w-gpu"] .worker-queues').textContent`); got != "default,train" {
		t.Errorf("gpu-box's queues: %q", got)
	}
	if got := eval[string](t, b, `document.querySelector('tr[data-worker="w-old"]').dataset.state`); got != "stopped" {
		t.Errorf("old-box's state: %q", got)
	}
	b.do(t, "open the run", chromedp.Navigate(f.srv.URL+"/runs/"+run.ID), chromedp.WaitVisible(chromedp.CSS("table.tasks")))
	b.shot(t, "run-waiting")
	if got := eval[string](t, b, `document.querySelector('tr[data-task="a100"] .waiting').textContent`); !strings.HasPrefix(got, "waiting: no live worker has gpu=a100") {
		t.Errorf("the run page says of a100: %q", got)
	}
	if n := eval[int](t, b, `document.querySelectorAll('tr[data-task="gpu"] .waiting, tr[data-task="plain"] .waiting').length`); n != 0 {
		t.Errorf("%d waiting notes for tasks a worker may take", n)
	}
	if bad := b.blocked(); len(bad) > 0 {
		t.Errorf("the pages' console reports refusals or errors:\n%s", strings.Join(bad, "\n"))
	}
}

// TestTaskPageWaiting: a ready task no live worker may take says why on
// its own page too; one a worker may take says nothing.
func TestTaskPageWaiting(t *testing.T) {
	f, run := workersFixture(t)
	_, body := f.get(t, "/runs/"+run.ID+"/tasks/a100")
	if !strings.Contains(body, `id="task-waiting">waiting: no live worker has gpu=a100 (2 live workers: cairn server (pid 1), gpu-box)<`) {
		t.Errorf("the task page of a100 does not say why it waits")
	}
	if _, body := f.get(t, "/runs/"+run.ID+"/tasks/plain"); strings.Contains(body, "task-waiting") {
		t.Errorf("the task page of plain says it waits")
	}
}
