// Package synthetic owns Cairn's seeded data generators: classification
// and regression tables for demos, tests and benchmarks (the collect task's
// `synthetic` source), with class imbalance, informative and noise
// features, label noise, missing values and a distribution drift of the
// features.
//
// A generator is a plain struct; Frame returns its table as a
// dataset.Frame, features x0, x1, ... (numeric) then the label column. The
// same struct (seed included) gives the same frame, value for value: the
// random stream is a PCG (math/rand/v2) seeded from the seed alone, and the
// uniform and normal draws (53-bit floats, Box–Muller) are computed here,
// not by library methods that could change between Go releases. Values are
// rounded to 4 decimals, so written out with dataset.WriteCSV the bytes are
// short and the same for a seed on every run and machine of one
// architecture (an architecture that fuses multiply-adds may differ in a
// last digit).
//
// # Classification
//
// Like scikit-learn's make_classification with one cluster per class and
// no feature mixing: each class gets a distinct vertex of the hypercube
// {-ClassSep, +ClassSep}^Informative as its centroid; a row of class c has
// informative features centroid(c) + N(0, 1) and noise features N(0, 1).
// The class counts are exact: Weights (normalised) times Rows, rounded by
// largest remainder, at least one row per class; rows come in a shuffled
// order. FlipY then replaces that fraction of labels (in expectation) with
// a uniformly drawn class. Labels are the class indices 0 .. Classes-1.
//
// # Regression
//
// Features N(0, 1); the target is the sum over the informative features of
// coefficient × feature plus Noise × N(0, 1), each coefficient drawn from
// ±[1, 10).
//
// # Samples
//
// Sample, when not 0, draws the rows (the class order, the features, the
// noise, the missing values) from a stream of its own, after the
// structure — centroids, coefficients — was drawn from the seed as usual:
// another sample of the same distribution, such as fresh data for a model
// trained on Sample 0. Sample 0 is the seed's own rows.
//
// # Drift, then missing values
//
// Drift moves the features after the labels or targets are drawn: x' =
// x × Scale + Shift on the first Drift.Features features (all when 0). So
// a model fitted on undrifted data sees inputs from another distribution,
// and its metrics degrade: the demo case for retraining. MissingRate then
// blanks each feature value with that probability; labels are never
// missing.
package synthetic
