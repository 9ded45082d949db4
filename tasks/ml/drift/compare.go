package drift

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/ml/plot"
)

// Rule says how a feature's test and its PSI make its verdict.
type Rule string

// The rules.
const (
	// RuleBoth: drifted when the test rejects (p-value < Alpha) and the
	// PSI reaches PSIThreshold — significant and large enough to matter.
	// The default: with large samples a test alone rejects for shifts too
	// small to matter, with small ones the PSI alone is noisy.
	RuleBoth Rule = "both"
	// RuleEither: drifted when the test rejects or the PSI reaches the
	// threshold.
	RuleEither Rule = "either"
	// RuleTest: drifted when the test rejects; the PSI is reported only.
	RuleTest Rule = "test"
	// RulePSI: drifted when the PSI reaches the threshold; the test is
	// reported only.
	RulePSI Rule = "psi"
)

// Defaults of Options.
const (
	DefaultAlpha        = 0.05
	DefaultPSIThreshold = 0.2
	DefaultRule         = RuleBoth
	DefaultMinDrifted   = 1
)

// Options configure Compare. The zero value of each field means its
// default.
type Options struct {
	// Features are the columns compared, in this order. Empty: every
	// numeric, boolean and categorical column of the reference, in its
	// order (datetime columns drift by construction and are compared only
	// when named).
	Features []string
	// Alpha is the significance level of the tests, in (0, 1]; default
	// 0.05.
	Alpha float64
	// PSIThreshold is the PSI at and above which a feature's distribution
	// has moved materially, > 0; default 0.2 (the usual reading: below 0.1
	// stable, 0.1 to 0.2 a moderate shift, above 0.2 a major one).
	PSIThreshold float64
	// Rule combines the two; default RuleBoth.
	Rule Rule
	// MinDrifted is how many features must have drifted for
	// ShouldRetrain; default 1.
	MinDrifted int
	// Bins is the number of quantile bins of a numeric feature's PSI, at
	// least 2; default 10.
	Bins int
	// Epsilon floors each bin's fraction in the PSI, in (0, 1); default
	// 1e-4.
	Epsilon float64
}

// Settings are the options a report was made with, defaults filled in.
type Settings struct {
	Alpha        float64 `json:"alpha"`
	PSIThreshold float64 `json:"psi_threshold"`
	Rule         Rule    `json:"rule"`
	MinDrifted   int     `json:"min_drifted"`
	Bins         int     `json:"bins"`
	Epsilon      float64 `json:"epsilon"`
}

// Report is the drift of a current data set against a reference one.
type Report struct {
	// Version is the report's format, 1.
	Version int `json:"version"`
	// Settings are the thresholds used.
	Settings Settings `json:"settings"`
	// ReferenceRows and CurrentRows are the frames' row counts.
	ReferenceRows int `json:"reference_rows"`
	CurrentRows   int `json:"current_rows"`
	// Features are the compared features, in Options.Features' order (or
	// the reference's column order).
	Features []Feature `json:"features"`
	// Drifted names the features whose verdict is drifted, in the same
	// order; never nil.
	Drifted []string `json:"drifted"`
	// ShouldRetrain is len(Drifted) >= Settings.MinDrifted.
	ShouldRetrain bool `json:"should_retrain"`
}

// Feature is one feature's drift.
type Feature struct {
	Name string       `json:"name"`
	Kind dataset.Kind `json:"kind"`
	// Test is "ks" (numeric and datetime: the two-sample
	// Kolmogorov–Smirnov test, KS) or "chi2" (categorical and boolean:
	// Pearson's chi-squared test on the 2×k table of category counts,
	// ChiSquared).
	Test string `json:"test"`
	// Method is how the p-value was computed: "exact" or "asymptotic"
	// (ks), "pearson" or "pearson-yates" (chi2, Yates' correction with
	// two categories).
	Method    string  `json:"method"`
	Statistic float64 `json:"statistic"`
	PValue    float64 `json:"p_value"`
	// DOF is the chi-squared test's degrees of freedom (0 for ks).
	DOF int     `json:"dof,omitempty"`
	PSI float64 `json:"psi"`
	// Drifted is the verdict under Settings.Rule.
	Drifted bool `json:"drifted"`
	// ReferenceCount and CurrentCount are the values tested; the
	// ...Missing counts are the rows left out (missing, or a number that
	// is NaN or infinite).
	ReferenceCount   int `json:"reference_count"`
	CurrentCount     int `json:"current_count"`
	ReferenceMissing int `json:"reference_missing"`
	CurrentMissing   int `json:"current_missing"`
	// Unseen are the categories of the current sample that the reference
	// lacks, sorted (they count in the test and the PSI).
	Unseen []string `json:"unseen,omitempty"`
	// Bins are the PSI's bins: quantile ranges of the reference for a
	// numeric feature, categories (sorted) otherwise.
	Bins []Bin `json:"bins"`
}

// Bin is one bin of a feature's PSI with its counts.
type Bin struct {
	// Label is the category, or the range "(lo, hi]" of a numeric bin
	// with the edges in Go's shortest float notation ("-inf"/"+inf" at
	// the ends).
	Label     string `json:"label"`
	Reference int    `json:"reference"`
	Current   int    `json:"current"`
}

// Compare measures the drift of each feature of cur against ref and
// decides whether a model trained on ref should be retrained: what the
// retrain task calls with the production model's training data and the
// fresh data.
//
// Per feature it runs KS (numeric and datetime) or ChiSquared over the
// categories seen in either sample (categorical, and boolean as
// "false"/"true"), computes the PSI (PSI's quantile bins for numbers, one
// bin per category otherwise, floored at Epsilon), and gives the verdict
// under opts.Rule. Missing values (and NaN or infinite numbers) are left
// out of both samples and counted.
//
// Errors: a feature absent from either frame or of different kinds in the
// two (ErrSchema), a feature with no value in either frame (ErrEmpty),
// options out of range (ErrOptions). The result depends only on the
// inputs: the same frames and options give the same report and the same
// JSON bytes.
func Compare(ref, cur *dataset.Frame, opts Options) (Report, error) {
	st, err := opts.settings()
	if err != nil {
		return Report{}, err
	}
	if ref == nil || cur == nil {
		return Report{}, fmt.Errorf("drift: compare: a nil frame: %w", ErrOptions)
	}
	if err := ref.Validate(); err != nil {
		return Report{}, fmt.Errorf("drift: compare: reference data: %w", err)
	}
	if err := cur.Validate(); err != nil {
		return Report{}, fmt.Errorf("drift: compare: current data: %w", err)
	}
	names, err := featureNames(ref, opts.Features)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Version: 1, Settings: st, ReferenceRows: ref.Rows(), CurrentRows: cur.Rows(), Drifted: []string{}}
	for _, name := range names {
		rc, _ := ref.Col(name)
		cc, ok := cur.Col(name)
		if !ok {
			return Report{}, fmt.Errorf("drift: compare: the current data has no column %q (the reference has it, %s): %w", name, rc.Kind, ErrSchema)
		}
		if cc.Kind != rc.Kind {
			return Report{}, fmt.Errorf("drift: compare: column %q is %s in the reference and %s in the current data: %w", name, rc.Kind, cc.Kind, ErrSchema)
		}
		var f Feature
		if rc.Kind == dataset.Categorical || rc.Kind == dataset.Boolean {
			f, err = compareCategorical(rc, cc, st)
		} else {
			f, err = compareNumeric(rc, cc, st)
		}
		if err != nil {
			return Report{}, fmt.Errorf("drift: compare: column %q: %w", name, err)
		}
		f.Drifted = st.verdict(f.PValue, f.PSI)
		if f.Drifted {
			rep.Drifted = append(rep.Drifted, name)
		}
		rep.Features = append(rep.Features, f)
	}
	rep.ShouldRetrain = len(rep.Drifted) >= st.MinDrifted
	return rep, nil
}

func (o Options) settings() (Settings, error) {
	s := Settings{Alpha: o.Alpha, PSIThreshold: o.PSIThreshold, Rule: o.Rule, MinDrifted: o.MinDrifted, Bins: o.Bins, Epsilon: o.Epsilon}
	if s.Alpha == 0 {
		s.Alpha = DefaultAlpha
	}
	if s.PSIThreshold == 0 {
		s.PSIThreshold = DefaultPSIThreshold
	}
	if s.Rule == "" {
		s.Rule = DefaultRule
	}
	if s.MinDrifted == 0 {
		s.MinDrifted = DefaultMinDrifted
	}
	if s.Bins == 0 {
		s.Bins = DefaultBins
	}
	if s.Epsilon == 0 {
		s.Epsilon = DefaultEpsilon
	}
	switch {
	case !(s.Alpha > 0 && s.Alpha <= 1):
		return s, fmt.Errorf("drift: alpha %g, want it in (0, 1]: %w", s.Alpha, ErrOptions)
	case !(s.PSIThreshold > 0) || math.IsInf(s.PSIThreshold, 0):
		return s, fmt.Errorf("drift: PSI threshold %g, want a positive number: %w", s.PSIThreshold, ErrOptions)
	case s.MinDrifted < 1:
		return s, fmt.Errorf("drift: min drifted %d, want at least 1: %w", s.MinDrifted, ErrOptions)
	}
	switch s.Rule {
	case RuleBoth, RuleEither, RuleTest, RulePSI:
	default:
		return s, fmt.Errorf("drift: rule %q, want %q, %q, %q or %q: %w", s.Rule, RuleBoth, RuleEither, RuleTest, RulePSI, ErrOptions)
	}
	return s, checkPSIOptions(s.Bins, s.Epsilon)
}

// verdict applies the rule to a feature's p-value and PSI.
func (s Settings) verdict(p, psi float64) bool {
	rejects, moved := p < s.Alpha, psi >= s.PSIThreshold
	switch s.Rule {
	case RuleEither:
		return rejects || moved
	case RuleTest:
		return rejects
	case RulePSI:
		return moved
	}
	return rejects && moved
}

// featureNames returns the features to compare: the named ones (each in
// ref, once) or ref's numeric, boolean and categorical columns.
func featureNames(ref *dataset.Frame, named []string) ([]string, error) {
	if len(named) == 0 {
		var out []string
		for _, c := range ref.Columns {
			if c.Kind != dataset.Datetime {
				out = append(out, c.Name)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("drift: compare: the reference has no numeric, boolean or categorical column: %w", ErrSchema)
		}
		return out, nil
	}
	seen := make(map[string]bool, len(named))
	for _, n := range named {
		if seen[n] {
			return nil, fmt.Errorf("drift: compare: feature %q named twice: %w", n, ErrOptions)
		}
		seen[n] = true
		if _, ok := ref.Col(n); !ok {
			return nil, fmt.Errorf("drift: compare: the reference data has no column %q (it has %v): %w", n, ref.Names(), ErrSchema)
		}
	}
	return named, nil
}

// numbers returns a column's finite values and how many rows it left out.
func numbers(c *dataset.Column) ([]float64, int) {
	out := make([]float64, 0, c.Len())
	for i, v := range c.Num {
		if !c.IsMissing(i) && !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out, c.Len() - len(out)
}

func compareNumeric(rc, cc *dataset.Column, st Settings) (Feature, error) {
	x, xm := numbers(rc)
	y, ym := numbers(cc)
	f := Feature{Name: rc.Name, Kind: rc.Kind, Test: "ks", ReferenceCount: len(x), CurrentCount: len(y), ReferenceMissing: xm, CurrentMissing: ym}
	if err := emptyErr(len(x), len(y)); err != nil {
		return f, err
	}
	ks, err := KS(x, y)
	if err != nil {
		return f, err
	}
	f.Statistic, f.PValue, f.Method = ks.Statistic, ks.PValue, "asymptotic"
	if ks.Exact {
		f.Method = "exact"
	}
	psi, err := PSI(x, y, st.Bins, st.Epsilon)
	if err != nil {
		return f, err
	}
	f.PSI = psi.PSI
	lo := "-inf"
	for i := range psi.RefCounts {
		hi := "+inf"
		if i < len(psi.Edges) {
			hi = strconv.FormatFloat(psi.Edges[i], 'g', -1, 64)
		}
		label := "(" + lo + ", " + hi + "]"
		if i == len(psi.Edges) {
			label = "(" + lo + ", +inf)"
		}
		f.Bins = append(f.Bins, Bin{Label: label, Reference: psi.RefCounts[i], Current: psi.CurCounts[i]})
		lo = hi
	}
	return f, nil
}

func emptyErr(nRef, nCur int) error {
	switch {
	case nRef == 0:
		return fmt.Errorf("no value in the reference data (every row missing): %w", ErrEmpty)
	case nCur == 0:
		return fmt.Errorf("no value in the current data (every row missing): %w", ErrEmpty)
	}
	return nil
}

// categories returns a categorical or boolean column's values (booleans as
// "false"/"true") with their counts, and how many rows were missing.
func categories(c *dataset.Column) (map[string]int, int, int) {
	counts := map[string]int{}
	n, missing := 0, 0
	for i := range c.Len() {
		if c.IsMissing(i) {
			missing++
			continue
		}
		n++
		counts[c.Value(i)]++
	}
	return counts, n, missing
}

func compareCategorical(rc, cc *dataset.Column, st Settings) (Feature, error) {
	rcount, rn, rm := categories(rc)
	ccount, cn, cm := categories(cc)
	f := Feature{Name: rc.Name, Kind: rc.Kind, Test: "chi2", ReferenceCount: rn, CurrentCount: cn, ReferenceMissing: rm, CurrentMissing: cm}
	if err := emptyErr(rn, cn); err != nil {
		return f, err
	}
	var cats []string
	for k := range rcount {
		cats = append(cats, k)
	}
	for k := range ccount {
		if _, ok := rcount[k]; !ok {
			cats = append(cats, k)
			f.Unseen = append(f.Unseen, k)
		}
	}
	slices.Sort(cats)
	slices.Sort(f.Unseen)
	r, c := make([]int, len(cats)), make([]int, len(cats))
	for i, k := range cats {
		r[i], c[i] = rcount[k], ccount[k]
		f.Bins = append(f.Bins, Bin{Label: k, Reference: r[i], Current: c[i]})
	}
	chi, err := ChiSquared(r, c)
	if err != nil {
		return f, err
	}
	f.Statistic, f.PValue, f.DOF, f.Method = chi.Statistic, chi.PValue, chi.DOF, "pearson"
	if chi.DOF == 1 {
		f.Method = "pearson-yates"
	}
	f.PSI = psiCounts(r, c, rn, cn, st.Epsilon)
	return f, nil
}

// JSON returns the report as indented JSON ending in a newline: the drift
// report artifact. The same report gives the same bytes.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("drift: encode report: %w", err)
	}
	return append(b, '\n'), nil
}

// Chart returns the report's picture: one bar per feature, its PSI, in
// the alert colour when the feature drifted, with its test's p-value as a
// note and the PSI threshold as a dashed line.
func (r *Report) Chart() plot.BarChart {
	c := plot.BarChart{
		Title:          fmt.Sprintf("Drift per feature: %d of %d drifted", len(r.Drifted), len(r.Features)),
		ValueLabel:     "population stability index (PSI)",
		Threshold:      r.Settings.PSIThreshold,
		ThresholdLabel: "PSI " + strconv.FormatFloat(r.Settings.PSIThreshold, 'g', -1, 64),
	}
	for _, f := range r.Features {
		c.Bars = append(c.Bars, plot.Bar{
			Label:     f.Name,
			Value:     f.PSI,
			Note:      "p " + strconv.FormatFloat(f.PValue, 'g', 2, 64),
			Highlight: f.Drifted,
		})
	}
	return c
}

// SVG writes the report's chart as a standalone SVG document.
func (r *Report) SVG(w io.Writer) error { return r.Chart().SVG(w) }
