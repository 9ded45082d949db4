package rollouts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/alerts"
	"github.com/cairnml/cairn/rollouts"
	"github.com/cairnml/cairn/scheduler"
	"github.com/cairnml/cairn/store/postgres"
	"github.com/cairnml/cairn/store/postgres/pgtest"
	"github.com/cairnml/cairn/store/sqlite"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/drift"
	"github.com/cairnml/cairn/tasks/retrain"
)

// driftStore is what the drift test needs of a store, both kinds.
type driftStore interface {
	rollouts.Store
	rollouts.DriftStore
	alerts.Store
	CreateRun(ctx context.Context, r *cairn.Run, tasks []*cairn.TaskRun) error
	LogServedRows(ctx context.Context, rows []cairn.ServedRow, keep int) error
	ModelDrifts(ctx context.Context, name string) ([]cairn.ModelDrift, error)
	SetModelAlerts(ctx context.Context, name string, alerts []cairn.ModelAlert, actor string, now time.Time) (cairn.ModelAlerts, error)
}

// rowsOf returns n rows of x (normal, mean shift) and c (a or b; the
// share of b), as JSON objects and as CSV.
func rowsOf(seed uint64, n int, shift, shareB float64) (objs []string, csv string) {
	r := rand.New(rand.NewPCG(seed, 3))
	var b strings.Builder
	b.WriteString("x,c,y\n")
	for range n {
		x := r.NormFloat64() + shift
		c := "a"
		if r.Float64() < shareB {
			c = "b"
		}
		objs = append(objs, fmt.Sprintf(`{"x":%g,"c":%q}`, x, c))
		fmt.Fprintf(&b, "%g,%s,yes\n", x, c)
	}
	return objs, b.String()
}

// TestDriftAboveAlert: a model's drift_above alert is watched by the
// leader on its production version's sampled served rows against its
// training data (read once): rows like the training data measure a PSI
// within the bound and alert nothing; too few rows tell nothing; rows
// shifted on one feature alert once, however many passes, naming the
// feature, and the figure is kept for /metrics; past the request log's
// retention the rows are pruned. On SQLite and, when
// CAIRN_TEST_POSTGRES is set, PostgreSQL.
func TestDriftAboveAlert(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cairn.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		testDriftAbove(t, s, func(at time.Time, reg cairn.ModelRegistration) int { return deployReg(t, s, at, "v1", reg) })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		s, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		testDriftAbove(t, s, func(at time.Time, reg cairn.ModelRegistration) int { return deployReg(t, s, at, "v1", reg) })
	})
}

func testDriftAbove(t *testing.T, s driftStore, deploy func(time.Time, cairn.ModelRegistration) int) {
	ctx := context.Background()
	var (
		mu     sync.Mutex
		bodies []map[string]any
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("body: %v", err)
		}
		m["key"] = r.Header.Get("Idempotency-Key")
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
	}))
	defer recv.Close()
	got := func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]any(nil), bodies...)
	}

	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return at }
	alert := cairn.ModelAlert{On: cairn.AlertDriftAbove, Bound: 0.2, Webhook: recv.URL + "/drift", Window: cairn.Duration(time.Minute), Min: 150}
	v1 := deploy(at, cairn.ModelRegistration{Name: "churn", Stage: cairn.StageProduction, Alerts: []cairn.ModelAlert{alert}})
	_, train := rowsOf(1, 1000, 0, 0.5)
	ref, err := dataset.ReadCSV(strings.NewReader(train), dataset.ReadOptions{Schema: map[string]dataset.Kind{"x": dataset.Numeric, "c": dataset.Categorical}})
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	reference := func(_ context.Context, name string, version int) (*retrain.Reference, error) {
		reads++
		if name != "churn" || version != v1 {
			return nil, fmt.Errorf("no training data of %s@%d: %w", name, version, cairn.ErrNotFound)
		}
		return &retrain.Reference{Frame: ref, Features: []string{"x", "c"}, Kinds: map[string]dataset.Kind{"x": dataset.Numeric, "c": dataset.Categorical}}, nil
	}
	sender, err := alerts.New(alerts.Options{Store: s, Owner: "test", PublicURL: "https://cairn.example.com", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := rollouts.New(rollouts.Options{Store: s, Now: now, Reference: reference, DriftEvery: time.Nanosecond,
		Leader: func() (scheduler.Fence, bool) { return scheduler.Fence{}, true }})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(seed uint64, n int, shift, shareB float64) {
		t.Helper()
		objs, _ := rowsOf(seed, n, shift, shareB)
		rows := make([]cairn.ServedRow, len(objs))
		for i, o := range objs {
			rows[i] = cairn.ServedRow{Name: "churn", Version: v1, At: at, Row: []byte(o)}
		}
		if err := s.LogServedRows(ctx, rows, 0); err != nil {
			t.Fatal(err)
		}
	}
	pass := func(times int) {
		t.Helper()
		for range times {
			at = at.Add(time.Second)
			ctl.Tick(ctx)
			if _, err := sender.Deliver(ctx, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	drift := func() cairn.ModelDrift {
		t.Helper()
		ds, err := s.ModelDrifts(ctx, "churn")
		if err != nil || len(ds) != 1 {
			t.Fatalf("drift of churn: %+v %v", ds, err)
		}
		return ds[0]
	}

	// Fewer rows than min: nothing measured, nothing sent.
	serve(2, 100, 0, 0.5)
	pass(2)
	if ds, err := s.ModelDrifts(ctx, "churn"); err != nil || len(ds) != 0 || len(got()) != 0 {
		t.Fatalf("below min: drift %+v, alerts %v, %v", ds, got(), err)
	}
	// Rows like the training data: a small PSI, within the bound.
	serve(3, 300, 0, 0.5)
	pass(3)
	d := drift()
	if d.Error != "" || d.Rows != 400 || d.Value <= 0 || d.Value > alert.Bound || d.Version != v1 {
		t.Fatalf("unshifted rows: drift %+v, want a PSI within the bound %g over 400 rows", d, alert.Bound)
	}
	if len(got()) != 0 {
		t.Fatalf("unshifted rows alerted: %v", got())
	}
	// The window moves past them; rows shifted on x: one alert, naming x.
	at = at.Add(2 * time.Minute)
	serve(4, 300, 1.5, 0.5)
	pass(5)
	d = drift()
	if d.Feature != "x" || d.Value <= alert.Bound || d.Rows != 300 {
		t.Fatalf("shifted rows: drift %+v, want x's PSI above %g over the window's 300 rows", d, alert.Bound)
	}
	b := got()
	if len(b) != 1 {
		t.Fatalf("shifted rows: %d alerts, want 1: %v", len(b), b)
	}
	if b[0]["key"] != fmt.Sprintf("model/churn/v%d/drift_above/100/1", v1) || b[0]["event"] != "drift_above" || b[0]["bound"] != 0.2 ||
		b[0]["value"].(float64) <= 0.2 || !strings.Contains(fmt.Sprint(b[0]["detail"]), "on feature x") {
		t.Fatalf("alert body %v", b[0])
	}
	// Still shifted: nothing more. Back to the training data's shape
	// (the window past the shifted rows): it clears, silently.
	serve(5, 200, 1.5, 0.5)
	pass(3)
	at = at.Add(2 * time.Minute)
	serve(6, 300, 0, 0.5)
	pass(3)
	if d := drift(); d.Value > alert.Bound {
		t.Fatalf("unshifted again: drift %+v", d)
	}
	// Shifted on c this time: a second alert (it cleared), naming c.
	at = at.Add(2 * time.Minute)
	serve(7, 300, 0, 0.95)
	pass(3)
	b = got()
	if len(b) != 2 || b[1]["key"] != fmt.Sprintf("model/churn/v%d/drift_above/100/2", v1) || !strings.Contains(fmt.Sprint(b[1]["detail"]), "on feature c") {
		t.Fatalf("alerts after it cleared and c shifted: %v", b)
	}
	if reads != 1 {
		t.Fatalf("the training data was read %d times, want once", reads)
	}
	// Past the request log's retention (7 days) the rows are pruned with it.
	at = at.Add(rollouts.DefaultRetention + time.Hour)
	ctl.Tick(ctx)
	if rows, err := s.ServedRows(ctx, "churn", v1, time.Time{}, 10000); err != nil || len(rows) != 0 {
		t.Fatalf("after 7 days: %d served rows left, %v", len(rows), err)
	}
}

// TestMeasureDriftAsCompare: MeasureDrift's value, feature and p-value
// are drift.Compare's over every feature (the largest PSI), as retrain
// reports them, with missing values in both, for shifts of a number, of
// a category, and of none.
func TestMeasureDriftAsCompare(t *testing.T) {
	kinds := map[string]dataset.Kind{"x": dataset.Numeric, "c": dataset.Categorical}
	_, train := rowsOf(1, 800, 0, 0.5)
	train = missingX(train, 2, 9, 40) // a few missing x
	ref, err := dataset.ReadCSV(strings.NewReader(train), dataset.ReadOptions{Schema: kinds})
	if err != nil {
		t.Fatal(err)
	}
	r := &retrain.Reference{Frame: ref, Features: []string{"x", "c"}, Kinds: kinds}
	for _, tc := range []struct {
		shift, shareB float64
		feature       string
	}{{0, 0.5, ""}, {1, 0.5, "x"}, {0, 0.9, "c"}} {
		objs, csv := rowsOf(9, 300, tc.shift, tc.shareB)
		csv = missingX(csv, 4) // the fourth row's x, in both
		objs[3] = fmt.Sprintf(`{"x":null,"c":%q}`, strings.Split(strings.Split(csv, "\n")[4], ",")[1])
		cur, err := dataset.ReadCSV(strings.NewReader(csv), dataset.ReadOptions{Schema: kinds})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := drift.Compare(ref, cur, drift.Options{Features: []string{"x", "c"}})
		if err != nil {
			t.Fatal(err)
		}
		want := rep.Features[0]
		if rep.Features[1].PSI > want.PSI {
			want = rep.Features[1]
		}
		rows := make([]cairn.ServedRow, len(objs))
		for i, o := range objs {
			rows[i] = cairn.ServedRow{Row: []byte(o)}
		}
		got, err := rollouts.MeasureDrift(r, rows)
		if err != nil {
			t.Fatal(err)
		}
		if got.Value != want.PSI || got.Feature != want.Name || got.PValue != want.PValue || got.Rows != 300 || got.Reference != 800 {
			t.Errorf("shift %g, b %g: MeasureDrift %+v, Compare's largest PSI %s %v (p %v)", tc.shift, tc.shareB, got, want.Name, want.PSI, want.PValue)
		}
		if tc.feature != "" && (got.Feature != tc.feature || got.Value <= 0.2) {
			t.Errorf("shift %g, b %g: %s's PSI %v, want %s above 0.2", tc.shift, tc.shareB, got.Feature, got.Value, tc.feature)
		}
	}
}

// missingX leaves x missing on the CSV's data lines named.
func missingX(csv string, lines ...int) string {
	ls := strings.Split(csv, "\n")
	for _, i := range lines {
		_, rest, _ := strings.Cut(ls[i], ",")
		ls[i] = "," + rest
	}
	return strings.Join(ls, "\n")
}

// TestDriftAboveShadowCandidate: a shadow rollout's candidate answers no
// request, so its drift_above is measured on the rows production served
// (the same inputs) against the candidate's own training data: trained on
// other data than production's, it alerts, production does not.
func TestDriftAboveShadowCandidate(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	alert := cairn.ModelAlert{On: cairn.AlertDriftAbove, Bound: 0.2, Webhook: "https://hooks.example.com/d", Min: 100}
	v1 := deployReg(t, s, at, "v1", cairn.ModelRegistration{Name: "churn", Stage: cairn.StageProduction, Alerts: []cairn.ModelAlert{alert}})
	v2 := deployReg(t, s, at, "v2", cairn.ModelRegistration{Name: "churn", Stage: cairn.StageCandidate, Rollout: &cairn.RolloutSpec{Strategy: cairn.StrategyShadow}})
	kinds := map[string]dataset.Kind{"x": dataset.Numeric, "c": dataset.Categorical}
	frames := map[int]*dataset.Frame{}
	for v, shift := range map[int]float64{v1: 0, v2: 2} {
		_, csv := rowsOf(uint64(v), 800, shift, 0.5)
		if frames[v], err = dataset.ReadCSV(strings.NewReader(csv), dataset.ReadOptions{Schema: kinds}); err != nil {
			t.Fatal(err)
		}
	}
	ctl, err := rollouts.New(rollouts.Options{Store: s, Now: func() time.Time { return at }, DriftEvery: time.Nanosecond,
		Leader: func() (scheduler.Fence, bool) { return scheduler.Fence{}, true },
		Reference: func(_ context.Context, _ string, v int) (*retrain.Reference, error) {
			return &retrain.Reference{Frame: frames[v], Features: []string{"x", "c"}, Kinds: kinds}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := rowsOf(5, 300, 0, 0.5)
	rows := make([]cairn.ServedRow, len(objs))
	for i, o := range objs {
		rows[i] = cairn.ServedRow{Name: "churn", Version: v1, At: at, Row: []byte(o)}
	}
	if err := s.LogServedRows(ctx, rows, 0); err != nil {
		t.Fatal(err)
	}
	at = at.Add(time.Second)
	ctl.Tick(ctx)
	list, err := s.ListAlerts(ctx, cairn.AlertFilter{Model: "churn"})
	if err != nil || len(list) != 1 {
		t.Fatalf("alerts %+v %v, want the candidate's one", list, err)
	}
	if a := list[0]; a.Version != v2 || a.Event != cairn.AlertDriftAbove || !strings.Contains(a.Detail, fmt.Sprintf("300 rows served by version %d, which it shadows,", v1)) {
		t.Fatalf("alert %+v", a)
	}
	ds, err := s.ModelDrifts(ctx, "churn")
	if err != nil || len(ds) != 2 || ds[0].Value > 0.2 || ds[1].Value <= 0.2 || ds[1].Rows != 300 {
		t.Fatalf("drift %+v %v: want production's within the bound, the candidate's above", ds, err)
	}
}
