package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/features"
	"github.com/cairnml/cairn/tasks/ml/model"
	"github.com/cairnml/cairn/tasks/ml/synthetic"
)

// benchServer serves a logistic regression on 30 numeric features (the
// breast cancer example's shape) and returns bodies of n rows.
func benchServer(b *testing.B, n int) (*serve.Server, [][]byte) { return benchServerWith(b, n, false) }

// benchServerWith is benchServer, its sampled rows also written to the
// store (serve.Options.RowLog) when rows is true.
func benchServerWith(b *testing.B, n int, rows bool) (*serve.Server, [][]byte) {
	f, err := synthetic.Classification{Rows: 2000, Features: 30, Informative: 10, Seed: 1}.Frame()
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.Fit(f, model.Spec{Preprocess: features.NewSpec("label"), Algorithm: model.LogisticRegression})
	if err != nil {
		b.Fatal(err)
	}
	fx := newFixture(b)
	fx.deploy("bc", cairn.StageProduction, fx.put(m))
	o := serve.Options{Registry: fx.st, Artifacts: fx.arts, SampleDir: b.TempDir(), SampleRate: 0.1}
	if rows {
		o.RowLog = fx.st
	}
	s, err := serve.New(o)
	if err != nil {
		b.Fatal(err)
	}
	s.Start(context.Background())
	b.Cleanup(func() { s.Stop(context.Background()) })
	var bodies [][]byte
	for i := 0; i < 16; i++ {
		rows := make([]map[string]float64, n)
		for k := range rows {
			r := (i*n + k) % f.Rows()
			rows[k] = map[string]float64{}
			for _, c := range f.Columns {
				if c.Name != "label" && c.Kind == dataset.Numeric {
					rows[k][c.Name] = c.Num[r]
				}
			}
		}
		body, _ := json.Marshal(map[string]any{"rows": rows})
		bodies = append(bodies, body)
	}
	return s, bodies
}

func benchPredict(b *testing.B, n int) { benchPredictWith(b, n, false) }

func benchPredictWith(b *testing.B, n int, rows bool) {
	s, bodies := benchServerWith(b, n, rows)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	cpu0 := cpuTime()
	for b.Loop() {
		if err := s.Predict(ctx, "bc", 0, "", bytes.NewReader(bodies[i%len(bodies)]), io.Discard); err != nil {
			b.Fatal(err)
		}
		i++
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
	// The machine is shared: CPU time says what the wall clock cannot.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkPredict1 and BenchmarkPredict1000: serving's own part of a
// request (the body read, checked and predicted, the answer written, a
// 10% sample logged), without HTTP.
func BenchmarkPredict1(b *testing.B)    { benchPredict(b, 1) }
func BenchmarkPredict1000(b *testing.B) { benchPredict(b, 1000) }

// BenchmarkPredictRows1 and BenchmarkPredictRows1000: the same, the
// sampled rows also copied for the store (drift_above), written in
// batches by their own goroutine.
func BenchmarkPredictRows1(b *testing.B)    { benchPredictWith(b, 1, true) }
func BenchmarkPredictRows1000(b *testing.B) { benchPredictWith(b, 1000, true) }

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	cpu, _ := usage()
	return cpu
}

// usage is the CPU time this process has used, user and system, and the
// times its threads waited (voluntary context switches: a goroutine
// parked with no other to run, a blocking system call; not the
// preemptions a busy machine adds).
func usage() (cpu time.Duration, switches int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Nvcsw
}
