package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/ml/synthetic"
)

// benchRollout serves bc (30 numeric features) in production and, with
// spec, a rollout of a second version; with log, the request log on the
// fixture's SQLite file. Each request has a key of its own.
func benchRollout(b *testing.B, spec *cairn.RolloutSpec, log bool) {
	f, err := synthetic.Classification{Rows: 2000, Features: 30, Informative: 10, Seed: 1}.Frame()
	if err != nil {
		b.Fatal(err)
	}
	fx := newFixture(b)
	for _, c := range []float64{1, 0.01} {
		m, err := model.Fit(f, model.Spec{Preprocess: features.NewSpec("label"), Algorithm: model.LogisticRegression, Hyperparams: map[string]any{"C": c}})
		if err != nil {
			b.Fatal(err)
		}
		fx.deploy("bc", cairn.StageCandidate, fx.put(m))
	}
	fx.promote("bc", 1)
	if spec != nil {
		if _, err := fx.st.StartRollout(context.Background(), "bc", 2, *spec, "bench", fx.next()); err != nil {
			b.Fatal(err)
		}
	}
	o := serve.Options{Registry: fx.st, Artifacts: fx.arts}
	if log {
		o.RequestLog = fx.st
	}
	s, err := serve.New(o)
	if err != nil {
		b.Fatal(err)
	}
	s.Start(context.Background())
	b.Cleanup(func() { s.Stop(context.Background()) })
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
	ctx := context.Background()
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
	}
	durs := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	i := 0
	cpu0 := cpuTime()
	for b.Loop() {
		t0 := time.Now()
		if err := s.Predict(ctx, "bc", 0, keys[i%len(keys)], bytes.NewReader(bodies[i%len(bodies)]), io.Discard); err != nil {
			b.Fatal(err)
		}
		if len(durs) < cap(durs) {
			durs = append(durs, time.Since(t0))
		}
		i++
	}
	// The shadow workers' and the log writer's CPU counts too: stop them
	// (the queue drained, the log written) before reading the clock.
	s.Stop(context.Background())
	cpu := cpuTime() - cpu0
	slices.Sort(durs)
	if len(durs) > 0 {
		b.ReportMetric(float64(durs[(len(durs)*99)/100].Microseconds()), "p99-µs")
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkRouteDirect, BenchmarkRouteLogged and BenchmarkRouteCanary:
// a one-row predict with no rollout and no request log, with the request
// log, and with a 10% canary and the request log — what routing adds to
// p99 is Canary's p99 minus Logged's (issue #22: under 0.2 ms).
func BenchmarkRouteDirect(b *testing.B) { benchRollout(b, nil, false) }
func BenchmarkRouteLogged(b *testing.B) { benchRollout(b, nil, true) }
func BenchmarkRouteCanary(b *testing.B) {
	benchRollout(b, &cairn.RolloutSpec{Strategy: cairn.StrategyCanary, Steps: []int{10, 100}}, true)
}

// BenchmarkShadow: the same with a shadow rollout: cpu-µs/op counts the
// candidate's scoring off the request's path too, against
// BenchmarkRouteLogged (issue #22: under 10% more CPU per request),
// and p99-µs the request's own path.
func BenchmarkShadow(b *testing.B) {
	benchRollout(b, &cairn.RolloutSpec{Strategy: cairn.StrategyShadow}, true)
}
