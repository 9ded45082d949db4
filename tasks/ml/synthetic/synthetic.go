package synthetic

import (
	"errors"
	"fmt"
	"github.com/cairnml/cairn/tasks/ml/rng"
	"math"
	"strconv"

	"github.com/cairnml/cairn/tasks/ml/dataset"
)

// Limits on a generated table, so a typo cannot exhaust memory.
const (
	MaxRows     = 10_000_000
	MaxFeatures = 10_000
	MaxValues   = 50_000_000 // rows × features
	MaxClasses  = 1_000
)

// ErrParam is wrapped by every error about a generator's settings.
var ErrParam = errors.New("invalid synthetic generator setting")

// Drift shifts and scales features: x' = x × Scale + Shift.
type Drift struct {
	// Shift is added to every drifted feature.
	Shift float64
	// Scale multiplies every drifted feature; 0 means 1 (no scaling).
	Scale float64
	// Features is how many features drift, counted from x0; 0 means all.
	Features int
}

func (d Drift) scale() float64 {
	if d.Scale == 0 {
		return 1
	}
	return d.Scale
}

func (d Drift) check(features int) error {
	switch {
	case !finite(d.Shift):
		return fmt.Errorf("drift shift %v is not a finite number: %w", d.Shift, ErrParam)
	case !finite(d.Scale) || d.Scale < 0:
		return fmt.Errorf("drift scale %v: want a positive number (1 or 0 for none): %w", d.Scale, ErrParam)
	case d.Features < 0 || d.Features > features:
		return fmt.Errorf("drift features %d: want 0 (all) .. %d: %w", d.Features, features, ErrParam)
	}
	return nil
}

func (d Drift) active() bool { return d.Shift != 0 || d.scale() != 1 }

// Classification generates a labelled table for classification.
type Classification struct {
	Rows        int
	Features    int // total number of features
	Informative int // features that depend on the class (the first ones); 0 means min(Features, 5)
	Classes     int // 0 means 2
	// Weights are the class proportions (normalised; nil: balanced).
	Weights []float64
	// ClassSep is the half side of the hypercube of centroids; 0 means 1.
	ClassSep float64
	// FlipY is the fraction of labels replaced by a random class, in [0, 1).
	FlipY float64
	// MissingRate is the probability that a feature value is missing, in [0, 1).
	MissingRate float64
	Drift       Drift
	// Label names the label column; "" means "label".
	Label string
	Seed  uint64
	// Sample, when not 0, draws the rows from another random stream than
	// the seed's own, with the same centroids: another sample of the same
	// distribution (fresh data for a model trained on Sample 0).
	Sample uint64
}

func (c *Classification) defaults() {
	if c.Informative == 0 {
		c.Informative = min(c.Features, 5)
	}
	if c.Classes == 0 {
		c.Classes = 2
	}
	if c.ClassSep == 0 {
		c.ClassSep = 1
	}
	if c.Label == "" {
		c.Label = "label"
	}
}

func checkShape(rows, features, informative int, label string, missing float64) error {
	switch {
	case rows < 1 || rows > MaxRows:
		return fmt.Errorf("rows %d: want 1 .. %d: %w", rows, MaxRows, ErrParam)
	case features < 1 || features > MaxFeatures:
		return fmt.Errorf("features %d: want 1 .. %d: %w", features, MaxFeatures, ErrParam)
	case rows*features > MaxValues:
		return fmt.Errorf("rows × features = %d: want at most %d values: %w", rows*features, MaxValues, ErrParam)
	case informative < 1 || informative > features:
		return fmt.Errorf("informative %d: want 1 .. features (%d): %w", informative, features, ErrParam)
	case !(missing >= 0 && missing < 1):
		return fmt.Errorf("missing rate %v: want a fraction in [0, 1): %w", missing, ErrParam)
	}
	for j := range features {
		if label == featureName(j) {
			return fmt.Errorf("label %q is also the name of a feature: %w", label, ErrParam)
		}
	}
	return nil
}

// Check reports the first invalid setting (after defaults), wrapping ErrParam.
func (c Classification) Check() error {
	c.defaults()
	if err := checkShape(c.Rows, c.Features, c.Informative, c.Label, c.MissingRate); err != nil {
		return err
	}
	switch {
	case c.Classes < 2 || c.Classes > MaxClasses:
		return fmt.Errorf("classes %d: want 2 .. %d: %w", c.Classes, MaxClasses, ErrParam)
	case c.Informative < 63 && 1<<c.Informative < c.Classes:
		return fmt.Errorf("%d classes need at least %d informative features (2^informative >= classes): %w",
			c.Classes, bitsFor(c.Classes), ErrParam)
	case c.Rows < c.Classes:
		return fmt.Errorf("rows %d: want at least one per class (%d): %w", c.Rows, c.Classes, ErrParam)
	case !finite(c.ClassSep) || c.ClassSep < 0:
		return fmt.Errorf("class separation %v: want a positive number: %w", c.ClassSep, ErrParam)
	case !(c.FlipY >= 0 && c.FlipY < 1):
		return fmt.Errorf("label noise %v: want a fraction in [0, 1): %w", c.FlipY, ErrParam)
	}
	if c.Weights != nil {
		if len(c.Weights) != c.Classes {
			return fmt.Errorf("%d weights for %d classes: give one per class: %w", len(c.Weights), c.Classes, ErrParam)
		}
		sum := 0.0
		for i, w := range c.Weights {
			if !finite(w) || w < 0 {
				return fmt.Errorf("weight %d is %v: want a non-negative number: %w", i, w, ErrParam)
			}
			sum += w
		}
		if sum <= 0 {
			return fmt.Errorf("weights sum to 0: %w", ErrParam)
		}
	}
	return c.Drift.check(c.Features)
}

// Counts returns the exact number of rows of each class.
func (c Classification) Counts() ([]int, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	c.defaults()
	return classCounts(c.Rows, c.Classes, c.Weights), nil
}

// classCounts splits n rows by weights with the largest remainder method
// (ties to the lower class), then moves rows from the largest class to any
// class left empty.
func classCounts(n, k int, weights []float64) []int {
	w := make([]float64, k)
	sum := 0.0
	for i := range w {
		w[i] = 1
		if weights != nil {
			w[i] = weights[i]
		}
		sum += w[i]
	}
	counts := make([]int, k)
	rem := make([]float64, k)
	total := 0
	for i := range w {
		exact := float64(n) * w[i] / sum
		counts[i] = int(math.Floor(exact))
		rem[i] = exact - float64(counts[i])
		total += counts[i]
	}
	for ; total < n; total++ {
		best := 0
		for i := 1; i < k; i++ {
			if rem[i] > rem[best] {
				best = i
			}
		}
		counts[best]++
		rem[best] = -1
	}
	for i := range counts {
		if counts[i] > 0 {
			continue
		}
		big := 0
		for j := range counts {
			if counts[j] > counts[big] {
				big = j
			}
		}
		counts[big]--
		counts[i]++
	}
	return counts
}

// Frame generates the table; its errors wrap ErrParam.
func (c Classification) Frame() (*dataset.Frame, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	c.defaults()
	g := newGen(c.Seed)
	n, k, d := c.Rows, c.Classes, c.Informative

	labels := make([]int, 0, n)
	for class, m := range classCounts(n, k, c.Weights) {
		for range m {
			labels = append(labels, class)
		}
	}
	g.Shuffle(labels)

	// distinct hypercube vertices as centroids
	centroids := make([][]float64, k)
	seen := map[uint64]bool{}
	for class := range centroids {
		var v uint64
		for {
			v = g.Bits(d)
			if d >= 63 || !seen[v] {
				break
			}
		}
		seen[v] = true
		cen := make([]float64, d)
		for j := range cen {
			bit := uint64(0)
			if j < 64 {
				bit = v >> uint(j) & 1
			} else {
				bit = g.Uint64() & 1
			}
			cen[j] = c.ClassSep
			if bit == 0 {
				cen[j] = -c.ClassSep
			}
		}
		centroids[class] = cen
	}
	if c.Sample != 0 {
		g = newGen(sampleSeed(c.Seed, c.Sample))
		g.Shuffle(labels)
	}

	feats := makeFeatures(n, c.Features)
	for i := range n {
		cen := centroids[labels[i]]
		for j, col := range feats {
			v := g.Normal()
			if j < d {
				v += cen[j]
			}
			col.Num[i] = v
		}
	}
	if c.FlipY > 0 {
		for i := range labels {
			if g.Float64() < c.FlipY {
				labels[i] = int(g.Below(uint64(k)))
			}
		}
	}
	finish(g, feats, c.Drift, c.MissingRate)
	label := &dataset.Column{Name: c.Label, Kind: dataset.Numeric, Num: make([]float64, n)}
	for i, l := range labels {
		label.Num[i] = float64(l)
	}
	return &dataset.Frame{Columns: append(feats, label)}, nil
}

// Regression generates a table with a numeric target.
type Regression struct {
	Rows        int
	Features    int
	Informative int     // features the target depends on (the first ones); 0 means min(Features, 5)
	Noise       float64 // standard deviation of the target's noise
	MissingRate float64
	Drift       Drift
	// Label names the target column; "" means "target".
	Label string
	Seed  uint64
	// Sample, when not 0, draws the rows from another random stream than
	// the seed's own, with the same coefficients: another sample of the
	// same distribution.
	Sample uint64
}

func (r *Regression) defaults() {
	if r.Informative == 0 {
		r.Informative = min(r.Features, 5)
	}
	if r.Label == "" {
		r.Label = "target"
	}
}

// Check reports the first invalid setting (after defaults), wrapping ErrParam.
func (r Regression) Check() error {
	r.defaults()
	if err := checkShape(r.Rows, r.Features, r.Informative, r.Label, r.MissingRate); err != nil {
		return err
	}
	if !finite(r.Noise) || r.Noise < 0 {
		return fmt.Errorf("noise %v: want a non-negative number: %w", r.Noise, ErrParam)
	}
	return r.Drift.check(r.Features)
}

// Frame generates the table; its errors wrap ErrParam.
func (r Regression) Frame() (*dataset.Frame, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	r.defaults()
	g := newGen(r.Seed)
	coef := make([]float64, r.Informative)
	for j := range coef {
		coef[j] = 1 + 9*g.Float64()
		if g.Uint64()&1 == 1 {
			coef[j] = -coef[j]
		}
	}
	if r.Sample != 0 {
		g = newGen(sampleSeed(r.Seed, r.Sample))
	}
	n := r.Rows
	feats := makeFeatures(n, r.Features)
	target := &dataset.Column{Name: r.Label, Kind: dataset.Numeric, Num: make([]float64, n)}
	for i := range n {
		y := 0.0
		for j, col := range feats {
			v := round4(g.Normal())
			col.Num[i] = v
			if j < len(coef) {
				y += coef[j] * v
			}
		}
		if r.Noise > 0 {
			y += r.Noise * g.Normal()
		}
		target.Num[i] = round4(y)
	}
	finish(g, feats, r.Drift, r.MissingRate)
	return &dataset.Frame{Columns: append(feats, target)}, nil
}

func featureName(j int) string { return "x" + strconv.Itoa(j) }

func makeFeatures(n, f int) []*dataset.Column {
	cols := make([]*dataset.Column, f)
	for j := range cols {
		cols[j] = &dataset.Column{Name: featureName(j), Kind: dataset.Numeric, Num: make([]float64, n)}
	}
	return cols
}

// finish drifts, rounds and blanks the feature values.
func finish(g *rng.Source, feats []*dataset.Column, d Drift, missing float64) {
	nd := d.Features
	if nd == 0 {
		nd = len(feats)
	}
	scale := d.scale()
	for j, col := range feats {
		drift := d.active() && j < nd
		for i, v := range col.Num {
			if drift {
				v = v*scale + d.Shift
			}
			col.Num[i] = round4(v)
		}
	}
	if missing == 0 {
		return
	}
	n := len(feats[0].Num)
	for _, col := range feats {
		col.Missing = make([]bool, n)
	}
	blank := make([]bool, len(feats))
	for i := range n {
		for j, col := range feats {
			if g.Float64() < missing {
				col.Missing[i], col.Num[i] = true, 0
				blank[j] = true
			}
		}
	}
	for j, col := range feats {
		if !blank[j] {
			col.Missing = nil
		}
	}
}

func round4(v float64) float64 {
	r := math.Round(v*1e4) / 1e4
	if r == 0 {
		return 0 // no -0 in the output
	}
	return r
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func bitsFor(k int) int {
	b := 0
	for 1<<b < k {
		b++
	}
	return b
}

// sampleSeed is the seed of the rows of sample of seed's generator.
func sampleSeed(seed, sample uint64) uint64 {
	return rng.SplitMix64(seed ^ rng.SplitMix64(sample^0x5a3b_1e00_5a3b_1e00))
}

// newGen returns the package's random stream: PCG seeded from the seed
// through SplitMix64 (package rng).
func newGen(seed uint64) *rng.Source {
	return rng.New(rng.SplitMix64(seed), rng.SplitMix64(seed^0x5eed_5eed_5eed_5eed))
}
