// Package drift measures how far a current data set has moved from a
// reference one, feature by feature, and decides whether a model trained on
// the reference should be retrained: the statistics of the retrain task
// (issue #20), which calls Compare with the production model's training
// data and the fresh data and stores Report.JSON and Report.SVG.
//
// Every function is pure and deterministic: no I/O beyond the writer given
// to SVG, no clock, no randomness; the same inputs give the same report and
// the same bytes.
//
// # Tests
//
//   - KS, the two-sample Kolmogorov–Smirnov test for numeric (and named
//     datetime) features: scipy.stats.ks_2samp with its defaults
//     (two-sided, method "auto": exact p-value when both samples have at
//     most 10,000 values, asymptotic otherwise), ties as scipy counts them.
//   - ChiSquared, Pearson's test on the 2×k table of category counts for
//     categorical and boolean features: scipy.stats.chi2_contingency with
//     its defaults, so Yates' correction applies when there are exactly two
//     categories (one degree of freedom) and not otherwise. The categories
//     are every value seen in either sample, so a category the reference
//     never saw counts (and is listed in Feature.Unseen).
//   - PSI, the population stability index: quantile bins of the reference
//     (10 by default) for numbers, one bin per category otherwise, each
//     fraction floored at epsilon (1e-4 by default). See PSI for the exact
//     definition.
//
// # Missing values
//
// A missing value, and a number that is NaN or ±Inf, is left out of both
// samples before any statistic and counted in Feature's ...Missing fields.
// A feature with no value left in either sample is an error (ErrEmpty).
//
// # Verdict
//
// A feature has drifted, under the default RuleBoth, when its test rejects
// at Alpha (0.05) and its PSI reaches PSIThreshold (0.2); RuleEither,
// RuleTest and RulePSI are the alternatives. The report says ShouldRetrain
// when at least MinDrifted (1) features drifted. Features are reported in
// Options.Features' order, or the reference's column order.
//
// # Reference
//
// testdata/golden.json holds scipy's values (and a PSI written out in numpy)
// on fixed inputs; the tests match them to 1e-9 (absolute below 1, relative
// above). See testdata/README.md.
package drift
