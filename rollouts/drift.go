package rollouts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cairnml/cairn"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/drift"
	"github.com/cairnml/cairn/tasks/retrain"
)

// DriftStore is what drift_above alerts need beyond Store (both stores
// have it): the rows serving sampled, and where the drift measured of
// them is kept for /metrics and the models page.
type DriftStore interface {
	ServedRows(ctx context.Context, name string, version int, since time.Time, limit int) ([]cairn.ServedRow, error)
	SetModelDrift(ctx context.Context, d cairn.ModelDrift) error
}

// ServedPruner deletes the served rows past the request log's retention
// (both stores have it).
type ServedPruner interface {
	PruneServedRows(ctx context.Context, before time.Time, limit int) (int64, error)
}

// ReferenceFunc returns a model version's training data, found as
// retrain finds it (retrain.ReadReference); errors wrapping
// cairn.ErrNotFound say it is not known.
type ReferenceFunc func(ctx context.Context, name string, version int) (*retrain.Reference, error)

// Drift defaults.
const (
	// DefaultDriftEvery is how often a model version's drift is measured
	// again for a drift_above alert (Options.DriftEvery).
	DefaultDriftEvery = 10 * time.Second
	// refRetry is how long a training data that could not be read is
	// not read again.
	refRetry = time.Minute
	// maxRefs bounds the training data held in memory.
	maxRefs = 16
)

// DriftResult is a model version's drift from its training data over
// some served rows: the largest PSI of its features (Value) and that
// feature, with its KS or chi-squared p-value.
type DriftResult struct {
	Value     float64
	Feature   string
	PValue    float64
	Rows      int
	Reference int // the training data's rows
}

// MeasureDrift compares served rows (JSON objects of the model's
// columns) with the training data ref, feature by feature as retrain
// does (drift.Compare's PSI: 10 quantile bins of the training data for a
// number, one bin per category), and returns the largest PSI with its
// feature and that feature's test (KS or chi-squared). A feature with no
// value in the served rows is left out. The other features' tests are
// not run: the alert's value is the PSI, and an exact KS of 10,000 rows
// against the training data costs tens of milliseconds a feature. It is
// pure.
func MeasureDrift(ref *retrain.Reference, rows []cairn.ServedRow) (DriftResult, error) {
	var b bytes.Buffer
	for _, r := range rows {
		b.Write(r.Row)
		b.WriteByte('\n')
	}
	kinds := make(map[string]dataset.Kind, len(ref.Features))
	for _, f := range ref.Features {
		if k, ok := ref.Kinds[f]; ok {
			kinds[f] = k
		}
	}
	cur, err := dataset.ReadJSONL(&b, dataset.ReadOptions{Schema: kinds, MaxBytes: -1})
	if err != nil {
		return DriftResult{}, fmt.Errorf("read the served rows: %w", err)
	}
	out := DriftResult{Value: math.NaN(), Rows: cur.Rows(), Reference: ref.Frame.Rows()}
	for _, f := range ref.Features {
		rc, ok := ref.Frame.Col(f)
		if !ok {
			return DriftResult{}, fmt.Errorf("the training data has no column %q: %w", f, drift.ErrSchema)
		}
		cc, ok := cur.Col(f)
		if !ok {
			continue // no served row has it
		}
		var psi float64
		if rc.Kind == dataset.Categorical || rc.Kind == dataset.Boolean {
			rep, err := drift.Compare(ref.Frame, cur, drift.Options{Features: []string{f}})
			if errors.Is(err, drift.ErrEmpty) {
				continue
			}
			if err != nil {
				return DriftResult{}, err
			}
			psi = rep.Features[0].PSI
		} else {
			x, y := finite(rc), finite(cc)
			if len(x) == 0 || len(y) == 0 {
				continue
			}
			r, err := drift.PSI(x, y, drift.DefaultBins, drift.DefaultEpsilon)
			if err != nil {
				return DriftResult{}, fmt.Errorf("feature %s: %w", f, err)
			}
			psi = r.PSI
		}
		if math.IsNaN(out.Value) || psi > out.Value {
			out.Value, out.Feature = psi, f
		}
	}
	if math.IsNaN(out.Value) {
		return DriftResult{}, fmt.Errorf("no feature of the model has a value in both the served rows and the training data: %w", drift.ErrEmpty)
	}
	rep, err := drift.Compare(ref.Frame, cur, drift.Options{Features: []string{out.Feature}})
	if err != nil {
		return DriftResult{}, err
	}
	out.PValue = rep.Features[0].PValue
	return out, nil
}

// finite returns a column's values that are not missing, NaN or
// infinite (what drift.Compare tests).
func finite(c *dataset.Column) []float64 {
	out := make([]float64, 0, c.Len())
	for i, v := range c.Num {
		if !c.IsMissing(i) && !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

// driftKey names a measurement: a model version over a window with a
// minimum of the rows served by version rows (itself, or production for
// a shadow candidate).
type driftKey struct {
	name    string
	version int
	window  time.Duration
	min     int
	rows    int
}

// measured is the last measurement of a driftKey.
type measured struct {
	at    time.Time
	known bool
	res   DriftResult
}

// refEntry is a model version's training data, or why it could not be
// read (at: when).
type refEntry struct {
	ref *retrain.Reference
	err error
	at  time.Time
}

// checkDrift says whether drift_above alert a holds on model name's
// version v now: its served rows of the alert's window (at least its min,
// else DefaultDriftMinRows) measured against its training data at most
// every DriftEvery; known false while the rows are too few or the
// training data cannot be read.
func (c *Controller) checkDrift(ctx context.Context, ds DriftStore, name string, v int, a cairn.ModelAlert, now time.Time) (holds, known bool, value float64, detail string) {
	min := a.Min
	if min <= 0 {
		min = cairn.DefaultDriftMinRows
	}
	w := a.WindowOr(cairn.DefaultAlertWindow)
	k := driftKey{name, v, w, min, v}
	if sh, ok := c.shadowRows[name]; ok && sh[0] == v {
		k.rows = sh[1]
	}
	m, ok := c.drifts[k]
	if !ok || now.Sub(m.at) >= c.o.DriftEvery {
		m = measured{at: now}
		m.res, m.known = c.measure(ctx, ds, k, now)
		if ctx.Err() != nil {
			return false, false, 0, ""
		}
		if len(c.drifts) >= 4*maxRefs {
			clear(c.drifts)
		}
		c.drifts[k] = m
	}
	if !m.known {
		return false, false, 0, ""
	}
	r := m.res
	served := "served rows"
	if k.rows != v {
		served = fmt.Sprintf("rows served by version %d, which it shadows,", k.rows)
	}
	detail = fmt.Sprintf("version %d's drift from its training data is a PSI of %.3g on feature %s (p %.3g), %s the bound %g (%d %s in %s, %d training rows)",
		v, r.Value, r.Feature, r.PValue, map[bool]string{true: "above", false: "within"}[r.Value > a.Bound], a.Bound, r.Rows, served, w, r.Reference)
	return r.Value > a.Bound, true, r.Value, detail
}

// measure reads k's served rows and measures their drift, recording the
// figure (or why there is none) in the store.
func (c *Controller) measure(ctx context.Context, ds DriftStore, k driftKey, now time.Time) (DriftResult, bool) {
	rows, err := ds.ServedRows(ctx, k.name, k.rows, now.Add(-k.window), cairn.DefaultServedRowsKept)
	if err != nil {
		if ctx.Err() == nil {
			c.o.Logger.Warn("rollouts: read a model's served rows for its drift", "model", k.name, "version", k.version, "err", err)
		}
		return DriftResult{}, false
	}
	if len(rows) < k.min {
		return DriftResult{}, false
	}
	ref, err := c.reference(ctx, k.name, k.version, now)
	var res DriftResult
	if err == nil {
		res, err = MeasureDrift(ref, rows)
	}
	d := cairn.ModelDrift{Name: k.name, Version: k.version, At: now, Rows: len(rows)}
	if err != nil {
		if ctx.Err() != nil {
			return DriftResult{}, false
		}
		d.Error = err.Error()
		if c.lastDriftErr[k] != d.Error {
			c.lastDriftErr[k] = d.Error
			c.o.Logger.Warn("rollouts: a model version's drift cannot be measured; its drift_above alert waits", "model", k.name, "version", k.version, "err", err)
		}
	} else {
		delete(c.lastDriftErr, k)
		d.Value, d.Feature = res.Value, res.Feature
	}
	if serr := ds.SetModelDrift(ctx, d); serr != nil && ctx.Err() == nil {
		c.o.Logger.Warn("rollouts: record a model version's drift", "model", k.name, "version", k.version, "err", serr)
	}
	return res, err == nil
}

// reference returns model name's version's training data, read once and
// kept (a failure is tried again after refRetry).
func (c *Controller) reference(ctx context.Context, name string, version int, now time.Time) (*retrain.Reference, error) {
	if c.o.Reference == nil {
		return nil, fmt.Errorf("this server reads no training data (rollouts.Options.Reference): %w", cairn.ErrNotFound)
	}
	key := fmt.Sprintf("%s@%d", name, version)
	if e, ok := c.refs[key]; ok && (e.err == nil || now.Sub(e.at) < refRetry) {
		return e.ref, e.err
	}
	ref, err := c.o.Reference(ctx, name, version)
	if ctx.Err() != nil {
		return nil, err
	}
	if len(c.refs) >= maxRefs {
		for k := range c.refs {
			delete(c.refs, k)
			break
		}
	}
	c.refs[key] = &refEntry{ref: ref, err: err, at: now}
	return ref, err
}
