// Package evaluate is the "evaluate" task type: it scores a model (the
// train task's artifact, package model) on a test set and says whether a
// gate holds, so that a later task (deploy) runs only for a good model.
//
// Params:
//
//	metrics: [accuracy, f1]     which metrics become the task's metrics and
//	                            its metrics output (default: every one that
//	                            applies and is defined); the report always
//	                            holds all of them
//	gate: {f1: ">= 0.9"}        conditions, metric -> "OP NUMBER" with OP one
//	                            of >=, >, <=, <, ==, !=; parsed when the
//	                            workflow is validated
//	fail_on_gate: false         true: a gate that does not hold fails the
//	                            task (permanently); false: the task succeeds
//	                            with passed = false
//	positive: 1                 binary classification: the positive class
//	                            (default: the model's second class)
//	roc_points: 200             points per curve in the roc output
//
// # Metrics
//
// Classification: accuracy, balanced_accuracy (mean recall over the
// classes present in the test set, as scikit-learn), precision, recall and
// f1 of the positive class (two classes only), their _macro and _weighted
// averages over the model's classes, roc_auc (binary, or one-vs-rest
// macro for more classes) and roc_auc_weighted, log_loss. Regression: mse,
// rmse, mae, r2. The definitions are package metrics' (scikit-learn's);
// testdata/golden.json holds scikit-learn's values of every one of them,
// per-class scores and ROC points on fixed predictions, and the tests
// match them to 1e-9. A metric that does not suit the model (mse of a classifier, f1 of
// three classes) is an error when metrics: or gate: names it; ROC AUC is
// undefined when a class has no row (or every row) in the test set: it is
// then left out, and a gate on it does not hold.
//
// # Outputs
//
//	metrics            {name: value}, the selection above
//	confusion_matrix   {classes, matrix[true][predicted]}; null (regression)
//	roc                [{class, auc, points, fpr, tpr, thresholds}]: the
//	                   positive class's curve, or each class against the
//	                   rest; each downsampled to at most roc_points points
//	                   evenly spaced along the curve (first and last kept);
//	                   points is the full curve's size; the first threshold
//	                   (+Inf) is null; null for a regression
//	report             application/json artifact: kind, algorithm, label,
//	                   the input digests, rows, classes, positive, every
//	                   metric, undefined ones with the reason, per-class
//	                   precision/recall/F1/support, the confusion matrix,
//	                   the full ROC curves (scikit-learn's roc_curve with
//	                   drop_intermediate), each gate condition with its
//	                   value and outcome, passed
//	passed             true when every gate condition holds (true without
//	                   a gate): when: "${{ tasks.evaluate.outputs.passed }}"
//	plot               image/svg+xml artifact (package plot): the roc
//	                   output's curves, or for a regression predicted
//	                   against true values (at most 2,000 test rows,
//	                   evenly spaced) with the line y = x
//
// The same model and test bytes and params give byte-identical outputs:
// the report is encoding/json of fixed structs and sorted maps, computed
// without randomness or clock.
//
// # The test set
//
// The test CSV is read with the model's column kinds (model.SchemaKinds),
// so a value that does not parse as its training kind is an error naming
// its line and column, and a feature column the test set lacks is an error
// naming it. Extra columns are ignored. Empty fields, NA, null and ? are
// missing (the model's pipeline imputes them, as in training); a NaN or
// ±Inf in a numeric feature is an error. A label class the model never saw
// is an error naming it.
//
// # Errors
//
// Permanent: bad params, a model input that is not a model (another media
// type, bad JSON, another format version, an inconsistent model), a test
// set that is not CSV, has no rows or differs from the model's schema,
// NaN/Inf, an unseen class, metrics that do not apply, fail_on_gate with a
// gate that does not hold. Retryable: failing to read an input or to store
// the report.
package evaluate
