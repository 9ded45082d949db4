// Package metrics owns the evaluation numbers of Cairn's ML tasks:
// classification (accuracy, precision, recall, F1, confusion matrix, ROC AUC,
// ROC curve, log loss) and regression (MSE, RMSE, MAE, R²).
//
// Every function is pure and deterministic: no I/O, no clock, no randomness,
// no package state. Bad input (length mismatch, empty input, NaN or Inf,
// probabilities outside [0, 1], labels out of range, a single class where
// two are needed) comes back as an error wrapping one of the sentinels in
// errors.go, never as a panic or a NaN.
//
// # Reference
//
// The definitions are scikit-learn's, and testdata/golden.json holds
// scikit-learn's values on fixed inputs (see testdata/README.md); the tests
// match them to 1e-9 (absolute below 1, relative above). Where scikit-learn
// has a choice or a version difference, this package does the following.
//
//   - Labels are class indices 0..k-1 and every function that takes k uses all
//     k classes, like scikit-learn with labels=range(k): a class absent from
//     both y_true and y_pred still counts in macro averages (with precision,
//     recall and F1 0).
//   - Zero division: precision with no predicted sample of the class, recall
//     with no true sample, and F1 when precision + recall = 0 are 0, like
//     scikit-learn's zero_division="warn" default (without the warning).
//     F1 is 2PR/(P+R) of those values.
//   - ROC curve: scikit-learn's roc_curve with drop_intermediate=True. The
//     first point is (0, 0) with threshold +Inf, as in scikit-learn >= 1.3
//     (1.2 used max(score)+1 there). ROC AUC is the trapezoidal area over the
//     distinct thresholds, so tied scores count as half, computed exactly in
//     integers and divided once.
//   - Multi-class ROC AUC is one-vs-rest, macro (mean over classes) or
//     weighted (by prevalence in y_true); like scikit-learn, rows must sum to
//     1 (numpy.allclose) and every class must be present in y_true.
//   - Log loss clips each probability to [eps, 1-eps], eps = 2^-52 (float64's
//     machine epsilon), and then divides each row by its sum: scikit-learn
//     1.2's default (eps="auto").
//     For binary scores p (the positive class), p is clipped first and the row
//     is [1-p, p], as scikit-learn does with a 1-D y_pred.
//   - R² with constant y_true (every value equal): 1 if the predictions are
//     exact, 0 otherwise (scikit-learn's force_finite=True). Constancy is
//     tested on the values, not on a rounded mean, so y_true = [0.1, 0.1, 0.1]
//     is constant here even where numpy's mean is not exactly 0.1.
//
// # Performance
//
// Ranking metrics sort each score column once (an LSD radix sort on the
// float64 bits, positives and negatives apart, so no index permutation is
// needed) and walk it once: O(n log n) at worst, linear in practice. Use
// EvaluateBinary or EvaluateMulticlass to compute every metric with one
// confusion matrix and one sort per class.
package metrics
