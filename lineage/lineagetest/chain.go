// Package lineagetest writes lineage for tests and benchmarks through a
// real store's completion path: runs of collect → split → train →
// evaluate → deploy tasks, each run's collect reading the previous run's
// training set, each deploy registering a version of one model.
package lineagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/artifacts"
)

// Store is what Write and Run write through: a store's completion path
// (store/sqlite's, store/postgres's).
type Store interface {
	CreateRun(ctx context.Context, run *cairn.Run, tasks []*cairn.TaskRun) error
	Lease(ctx context.Context, r cairn.LeaseRequest, now time.Time, ttl time.Duration) ([]cairn.WorkItem, error)
	Complete(ctx context.Context, l cairn.Lease, c cairn.Completion, now time.Time) (*cairn.TaskRun, error)
}

// Chain is what Write made.
type Chain struct {
	Model string   // the model's name
	Runs  []string // run ids, oldest first
	// Refs are the artifacts by "RUN/TASK/PORT".
	Refs map[string]cairn.ArtifactRef
}

// Ref returns the artifact output port of task of run i (0-based).
func (c *Chain) Ref(i int, task, port string) cairn.ArtifactRef {
	return c.Refs[c.Runs[i]+"/"+task+"/"+port]
}

// Tasks are the tasks of every run, in order.
var Tasks = []string{"collect", "split", "train", "evaluate", "deploy"}

// Write writes n runs of model name, starting at t0, one second apart
// per task. With arts, each artifact's bytes are stored there (CSV data
// sets with a header and rows, a JSON model); without, only their
// digests exist.
func Write(ctx context.Context, s Store, arts *artifacts.Dir, name string, n int, t0 time.Time) (*Chain, error) {
	c := &Chain{Model: name, Refs: map[string]cairn.ArtifactRef{}}
	at := t0
	var prev *cairn.ArtifactRef
	for i := 0; i < n; i++ {
		run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: "churn", Digest: "sha256:" + fmt.Sprintf("%064x", 1), State: cairn.RunQueued, CreatedAt: at}
		put := func(task, port, media string, content []byte) (cairn.ArtifactRef, error) {
			var ref cairn.ArtifactRef
			if arts != nil {
				r, err := arts.Put(ctx, media, bytes.NewReader(content))
				if err != nil {
					return ref, err
				}
				ref = r
			} else {
				h := sha256.Sum256(content)
				ref = cairn.ArtifactRef{Digest: "sha256:" + hex.EncodeToString(h[:]), Size: int64(len(content)), MediaType: media}
			}
			c.Refs[run.ID+"/"+task+"/"+port] = ref
			return ref, nil
		}
		csv := func(rows int) []byte {
			var b bytes.Buffer
			b.WriteString("age,income,churned\n")
			for r := 0; r < rows; r++ {
				fmt.Fprintf(&b, "%d,%d.5,%v\n", 20+(r*7+i)%50, 1000+r*37+i, (r+i)%3 == 0)
			}
			return b.Bytes()
		}
		steps := []struct {
			task, typ string
			in        map[string]cairn.ArtifactRef
			out       func() (map[string]json.RawMessage, []cairn.Effect, error)
		}{
			{"collect", "collect", nil, func() (map[string]json.RawMessage, []cairn.Effect, error) {
				d, err := put("collect", "data", "text/csv", csv(40+i))
				return map[string]json.RawMessage{"data": d.JSON(), "rows": json.RawMessage(fmt.Sprint(40 + i))}, nil, err
			}},
			{"split", "split", nil, func() (map[string]json.RawMessage, []cairn.Effect, error) {
				tr, err := put("split", "train", "text/csv", csv(30+i))
				if err != nil {
					return nil, nil, err
				}
				te, err := put("split", "test", "text/csv", csv(10 + i)[:60])
				return map[string]json.RawMessage{"train": tr.JSON(), "test": te.JSON()}, nil, err
			}},
			{"train", "train", nil, func() (map[string]json.RawMessage, []cairn.Effect, error) {
				m, err := put("train", "model", "application/vnd.cairn.model+json", []byte(fmt.Sprintf(`{"format":"cairn-model","run":%d}`, i)))
				return map[string]json.RawMessage{"model": m.JSON()}, nil, err
			}},
			{"evaluate", "evaluate", nil, func() (map[string]json.RawMessage, []cairn.Effect, error) {
				r, err := put("evaluate", "report", "application/json", []byte(fmt.Sprintf(`{"auc":0.9%d}`, i)))
				return map[string]json.RawMessage{"report": r.JSON(), "passed": json.RawMessage("true")}, nil, err
			}},
			{"deploy", "deploy", nil, func() (map[string]json.RawMessage, []cairn.Effect, error) {
				m := c.Refs[run.ID+"/train/model"]
				return map[string]json.RawMessage{}, []cairn.Effect{{RegisterModel: &cairn.ModelRegistration{Name: name, Stage: cairn.StageProduction,
					Model: m, Metrics: map[string]float64{"auc": 0.9}, VersionOutput: "version"}}}, nil
			}},
		}
		type done struct {
			outs    map[string]json.RawMessage
			effects []cairn.Effect
		}
		var (
			trs   []*cairn.TaskRun
			ended []done
		)
		for _, st := range steps {
			outs, effects, err := st.out()
			if err != nil {
				return nil, fmt.Errorf("run %d %s: %w", i, st.task, err)
			}
			ended = append(ended, done{outs, effects})
			in := map[string]cairn.ArtifactRef{}
			switch st.task {
			case "collect":
				if prev != nil {
					in["previous"] = *prev
				}
			case "split":
				in["data"] = c.Refs[run.ID+"/collect/data"]
			case "train":
				in["train"] = c.Refs[run.ID+"/split/train"]
			case "evaluate":
				in["model"] = c.Refs[run.ID+"/train/model"]
				in["test"] = c.Refs[run.ID+"/split/test"]
			case "deploy":
				in["model"] = c.Refs[run.ID+"/train/model"]
				in["report"] = c.Refs[run.ID+"/evaluate/report"]
			}
			if len(in) == 0 {
				in = nil
			}
			trs = append(trs, &cairn.TaskRun{TaskID: st.task, Type: st.typ, State: cairn.TaskReady, Params: []byte(`{"seed":7}`), Inputs: in})
		}
		if err := s.CreateRun(ctx, run, trs); err != nil {
			return nil, fmt.Errorf("create run %d: %w", i, err)
		}
		c.Runs = append(c.Runs, run.ID)
		items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: len(trs)}, at, time.Hour)
		if err != nil || len(items) != len(trs) {
			return nil, fmt.Errorf("lease run %d: %d items, %v", i, len(items), err)
		}
		leases := map[string]cairn.Lease{}
		for _, it := range items {
			leases[it.Lease.TaskID] = it.Lease
		}
		for k, st := range steps {
			at = at.Add(time.Second)
			comp := cairn.Completion{State: cairn.TaskSucceeded, Outputs: ended[k].outs, Effects: ended[k].effects, Version: "cairn test"}
			if _, err := s.Complete(ctx, leases[st.task], comp, at); err != nil {
				return nil, fmt.Errorf("run %d: complete %s: %w", i, st.task, err)
			}
		}
		tr := c.Refs[run.ID+"/split/train"]
		prev = &tr
	}
	return c, nil
}

// Step is one task of a run that Run writes: it reads In and its one
// attempt ends with End.
type Step struct {
	Task, Type string
	In         map[string]cairn.ArtifactRef
	End        cairn.Completion
	// Params are the task's resolved params ({} when nil).
	Params []byte
}

// Run writes a run of workflow with steps, each leased at at and ended a
// second after the one before, in order, and returns the run's id.
func Run(ctx context.Context, s Store, workflow string, at time.Time, steps ...Step) (string, error) {
	run := &cairn.Run{ID: cairn.NewRunID(at), Workflow: workflow, State: cairn.RunQueued, CreatedAt: at}
	trs := make([]*cairn.TaskRun, len(steps))
	for i, st := range steps {
		in := st.In
		if len(in) == 0 {
			in = nil
		}
		params := st.Params
		if params == nil {
			params = []byte(`{}`)
		}
		trs[i] = &cairn.TaskRun{TaskID: st.Task, Type: st.Type, State: cairn.TaskReady, Params: params, Inputs: in}
	}
	if err := s.CreateRun(ctx, run, trs); err != nil {
		return "", fmt.Errorf("create run: %w", err)
	}
	items, err := s.Lease(ctx, cairn.LeaseRequest{Worker: "w", RunID: run.ID, Max: len(trs)}, at, time.Hour)
	if err != nil || len(items) != len(trs) {
		return "", fmt.Errorf("lease: %d items, %v", len(items), err)
	}
	leases := map[string]cairn.Lease{}
	for _, it := range items {
		leases[it.Lease.TaskID] = it.Lease
	}
	for _, st := range steps {
		at = at.Add(time.Second)
		if _, err := s.Complete(ctx, leases[st.Task], st.End, at); err != nil {
			return "", fmt.Errorf("complete %s: %w", st.Task, err)
		}
	}
	return run.ID, nil
}
