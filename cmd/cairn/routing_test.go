package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/ui/runjson"
)

// A task that needs gpu=true waits under a server whose pool has no
// labels: cairn show says why, naming the live workers (the server's pool,
// a registered worker); cairn workers lists them, here and through the
// server; the plain task beside it runs.
func TestWorkersAndWhyATaskWaits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.startServer(nil, "--insecure-no-auth", "--workers", "2")
	wf := writeWorkflow(t, "routed.yaml", `name: routed
tasks:
  - {id: plain, type: noop}
  - {id: train, type: noop, labels: {gpu: "true"}}
`)
	id, _ := e.detach(wf)
	pool := fmt.Sprintf("cairn server (pid %d)", s.pid())
	var show runjson.Run
	waitFor(t, 30*time.Second, "plain succeeded and train waiting", func() bool {
		// A fresh value each time: a "waiting": null leaves a string that
		// an earlier read filled (the run queued) as it was.
		show = runjson.Run{}
		if err := json.Unmarshal([]byte(e.must(0, "show", id, "--json").stdout), &show); err != nil {
			t.Fatal(err)
		}
		return show.Tasks[0].State == cairn.TaskSucceeded && show.Tasks[1].State == cairn.TaskReady
	})
	if got, want := show.Tasks[1].Waiting, "waiting: no live worker has gpu=true (1 live worker: "+pool+")"; got != want {
		t.Errorf("train waiting %q, want %q", got, want)
	}
	if show.Tasks[0].Waiting != "" || show.Tasks[1].Labels["gpu"] != "true" || show.Tasks[1].Queue != "default" {
		t.Errorf("tasks: %+v", show.Tasks)
	}

	// A worker registers (as the worker API records it), without gpu.
	st, err := sqlite.Open(context.Background(), filepath.Join(e.home, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.RegisterWorker(context.Background(), cairn.Worker{ID: "w-1", Name: "box", Host: "box.example", TokenID: "tok",
		Protocol: cairn.WorkerProtocol, Concurrency: 1, Labels: map[string]string{"gpu": "false"}}, time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	out := e.must(0, "show", id).stdout
	if want := "waiting: no live worker has gpu=true (2 live workers: " + pool + ", box)"; !strings.Contains(out, want) {
		t.Errorf("show, want %q:\n%s", want, out)
	}
	out = e.must(0, "show", id, "train").stdout
	if want := "waiting   no live worker has gpu=true (2 live workers: " + pool + ", box)"; !strings.Contains(out, want) {
		t.Errorf("show RUN TASK, want %q:\n%s", want, out)
	}

	out = e.must(0, "workers").stdout
	for _, want := range []string{"ID  ", "LAST HEARTBEAT", s.owner, pool, "w-1", "box.example", "gpu=false", "default", "active"} {
		if !strings.Contains(out, want) {
			t.Errorf("cairn workers lacks %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{{"workers", "--json"}, {"workers", "--json", "--server", "http://" + s.addr}} {
		var list runjson.WorkerList
		if err := json.Unmarshal([]byte(e.must(0, args...).stdout), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Workers) != 2 || list.Workers[0].Name != pool || list.Workers[1].ID != "w-1" || !list.Workers[1].Live ||
			list.Workers[1].Labels["gpu"] != "false" || list.Workers[0].Concurrency != 2 {
			t.Errorf("cairn %s = %+v", strings.Join(args, " "), list.Workers)
		}
	}
	if r := e.cairn("workers", "--since", "-1h"); r.code != 2 || !strings.Contains(r.stderr, "--since") {
		t.Errorf("workers --since -1h: %s", r)
	}
	e.must(0, "cancel", id)
}
