package remote_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/remote"
	"github.com/cairnml/cairn/tasks"
)

// registry is a tasks.ModelReader of one model, "churn", in production.
type registry struct{}

var (
	churnModel = cairn.ArtifactRef{Digest: "sha256:" + fmt.Sprintf("%064d", 1), Size: 10, MediaType: "application/json"}
	churnTrain = cairn.ArtifactRef{Digest: "sha256:" + fmt.Sprintf("%064d", 2), Size: 20, MediaType: "text/csv"}
	churnLog   = cairn.ArtifactRef{Digest: "sha256:" + fmt.Sprintf("%064d", 3), Size: 30, MediaType: tasks.MediaTypeJSONL}
)

func (registry) Production(_ context.Context, name string) (cairn.ModelVersion, error) {
	if name != "churn" {
		return cairn.ModelVersion{}, fmt.Errorf("model %s: %w", name, cairn.ErrNotFound)
	}
	return cairn.ModelVersion{Name: "churn", Version: 3, Model: churnModel, Stage: cairn.StageProduction, Metrics: map[string]float64{"auc": 0.9}}, nil
}

func (registry) TrainingData(_ context.Context, model cairn.ArtifactRef, port string) (cairn.ArtifactRef, error) {
	if model.Digest != churnModel.Digest || port != "train" {
		return cairn.ArtifactRef{}, fmt.Errorf("no producer of %s with input %s: %w", model.Digest, port, cairn.ErrNotFound)
	}
	return churnTrain, nil
}

func (registry) PredictionLog(_ context.Context, name string) (cairn.ArtifactRef, error) {
	if name != "churn" {
		return cairn.ArtifactRef{}, fmt.Errorf("model %s: %w", name, cairn.ErrNotFound)
	}
	return churnLog, nil
}

// TestModelReadsOverHTTP: a worker reads the registry and lineage as the
// server's own pool does (retrain's tasks.ModelReader): the answers come
// back whole, a missing model is cairn.ErrNotFound, and a server that
// lends no registry refuses.
func TestModelReadsOverHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRigWith(t, func(o *remote.ServerOptions) { o.Models = registry{} })
	var m tasks.ModelReader = r.client(t, 1)
	v, err := m.Production(ctx, "churn")
	if err != nil || v.Name != "churn" || v.Version != 3 || v.Model != churnModel || v.Stage != cairn.StageProduction || v.Metrics["auc"] != 0.9 {
		t.Fatalf("Production = %+v, %v", v, err)
	}
	if got, err := m.TrainingData(ctx, churnModel, "train"); err != nil || got != churnTrain {
		t.Fatalf("TrainingData = %+v, %v", got, err)
	}
	if got, err := m.PredictionLog(ctx, "churn"); err != nil || got != churnLog {
		t.Fatalf("PredictionLog = %+v, %v", got, err)
	}
	if _, err := m.Production(ctx, "nope"); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("Production of a missing model: %v, want ErrNotFound", err)
	}
	if _, err := m.TrainingData(ctx, churnModel, "other"); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("TrainingData of a missing port: %v, want ErrNotFound", err)
	}
	if _, err := m.PredictionLog(ctx, "nope/../x"); !errors.Is(err, cairn.ErrNotFound) {
		t.Errorf("PredictionLog of a missing model: %v, want ErrNotFound", err)
	}

	bare := newRig(t).client(t, 1)
	if _, err := bare.Production(ctx, "churn"); err == nil {
		t.Error("a server lending no registry answered")
	}
}

// countingWorkers counts TouchWorker calls, each slowed so that calls
// overlap.
type countingWorkers struct {
	remote.Workers
	mu      sync.Mutex
	touches int
}

func (c *countingWorkers) TouchWorker(ctx context.Context, id, tokenID string, now time.Time, ttl time.Duration) (cairn.Worker, error) {
	c.mu.Lock()
	c.touches++
	c.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	return c.Workers.TouchWorker(ctx, id, tokenID, now, ttl)
}

// TestTouchOncePerWorker: when a worker's touch is due, its calls that
// arrive at once make one write of it between them, not one each queued
// on the worker's row.
func TestTouchOncePerWorker(t *testing.T) {
	t.Parallel()
	var cw *countingWorkers
	r := newRigWith(t, func(o *remote.ServerOptions) { cw = &countingWorkers{Workers: o.Workers}; o.Workers = cw })
	c := r.client(t, 16)
	time.Sleep(400 * time.Millisecond) // past touchEvery (the TTL/10: 300 ms)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- c.Beat(context.Background()) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if cw.touches > 2 {
		t.Errorf("%d touches of one worker for 16 calls at once, want 1", cw.touches)
	}
}
