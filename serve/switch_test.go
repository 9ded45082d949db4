package serve_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/serve"
	"github.com/cairnml/cairn/tasks/ml/model"
)

// TestSwitchUnderLoad: requests stream in while the registry promotes
// and rolls back, as another process would (the server learns of it by
// polling) and as this one would (Refresh): no request fails, every
// answer is exactly the one its version gives, and every version is
// served.
func TestSwitchUnderLoad(t *testing.T) {
	fx := newFixture(t)
	const versions = 3
	for i := range versions {
		m := fit(t, "label", model.LogisticRegression, map[string]any{"C": []float64{1, 0.01, 0.0001}[i]}, uint64(i+1))
		fx.deploy("clf", cairn.StageCandidate, fx.put(m))
	}
	fx.promote("clf", 1)
	s := newServer(t, fx, serve.Options{Poll: 5 * time.Millisecond})
	body := `{"rows":[{"num":1,"color":"red","flag":true,"when":"2024-01-02"},{"num":-4,"color":"blue","flag":false,"when":null}]}`
	// Each version's answer, pinned.
	want := map[int]string{}
	for v := 1; v <= versions; v++ {
		var out bytes.Buffer
		if err := s.Predict(context.Background(), "clf", v, "", strings.NewReader(body), &out); err != nil {
			t.Fatal(err)
		}
		want[v] = withoutID(out.String())
	}
	if want[1] == want[2] || want[2] == want[3] {
		t.Fatal("the versions predict alike: the test could not tell them apart")
	}
	for v, w := range want {
		if !strings.Contains(w, fmt.Sprintf(`"version":%d,`, v)) {
			t.Fatalf("version %d's answer: %s", v, w)
		}
	}
	s.Start(context.Background())
	defer s.Stop(context.Background())

	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		failed   atomic.Int64
		answered atomic.Int64
		seenMu   sync.Mutex
		seen     = map[int]int{}
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var out bytes.Buffer
				if err := s.Predict(context.Background(), "clf", 0, "", strings.NewReader(body), &out); err != nil {
					failed.Add(1)
					t.Errorf("request failed: %v", err)
					return
				}
				v := 0
				for c, w := range want {
					if withoutID(out.String()) == w {
						v = c
					}
				}
				if v == 0 {
					failed.Add(1)
					t.Errorf("an answer that is no version's: %s", out.String())
					return
				}
				answered.Add(1)
				seenMu.Lock()
				seen[v]++
				seenMu.Unlock()
			}
		}()
	}
	// Promote 2, 3, roll back to 2, promote 1 …, through the store;
	// every other change also told to the server directly.
	promoted := 1
	for i := range 30 {
		if i%3 == 2 {
			if _, err := fx.st.RollbackModel(context.Background(), "clf", "test", fx.next()); err != nil {
				t.Fatal(err)
			}
		} else {
			promoted = 1 + promoted%versions
			fx.promote("clf", promoted)
		}
		if i%2 == 0 {
			if err := s.Refresh(context.Background(), "clf"); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(15 * time.Millisecond)
	}
	// The last change is seen by polling within a few polls.
	p, err := fx.st.ProductionModel(context.Background(), "clf")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var out bytes.Buffer
		if err := s.Predict(context.Background(), "clf", 0, "", strings.NewReader(body), &out); err != nil {
			t.Fatal(err)
		}
		if withoutID(out.String()) == want[p.Version] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("version %d in production is not served after 5 s: %s", p.Version, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d requests failed", failed.Load())
	}
	if len(seen) != versions {
		t.Fatalf("versions served %v (of %d answers), want all %d", seen, answered.Load(), versions)
	}
	t.Logf("%d answers across the switches: %v", answered.Load(), seen)
}

// TestNoProductionStopsServing: a model whose production version goes
// (archived by hand) is no longer served: 404, until one is promoted.
func TestNoProductionStopsServing(t *testing.T) {
	fx := newFixture(t)
	fx.deploy("clf", cairn.StageProduction, fx.put(fit(t, "label", model.LogisticRegression, nil, 1)))
	s := newServer(t, fx, serve.Options{})
	body := `{"rows":[{"num":1,"color":"red","flag":true,"when":"2024-01-02"}]}`
	if _, err := predict(t, s, "clf", 0, body); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.st.PromoteModel(context.Background(), "clf", 1, cairn.StageArchived, "test", fx.next()); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(context.Background(), "clf"); err != nil {
		t.Fatal(err)
	}
	if _, err := predict(t, s, "clf", 0, body); err == nil || !strings.Contains(err.Error(), "no version in production") {
		t.Fatalf("after archiving: %v", err)
	}
	fx.promote("clf", 1)
	if err := s.Refresh(context.Background(), "clf"); err != nil {
		t.Fatal(err)
	}
	if a, err := predict(t, s, "clf", 0, body); err != nil || a.Version != 1 {
		t.Fatalf("promoted again: %+v %v", a, err)
	}
}

// requestID is the request id in an answer, which differs from request
// to request.
var requestID = regexp.MustCompile(`,"request_id":"[0-9a-f]{32}"`)

// withoutID is an answer without its request id, which must be there.
func withoutID(answer string) string {
	if !requestID.MatchString(answer) {
		return "no request_id in " + answer
	}
	return requestID.ReplaceAllString(answer, "")
}
