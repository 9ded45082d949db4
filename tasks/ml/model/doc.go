// Package model is the model artifact of Cairn's train, tune and evaluate
// tasks: a fitted pipeline — the preprocessing of package features and one
// estimator of package linear or tree — that predicts on raw rows, and its
// versioned, deterministic JSON form (MediaType).
//
// Fit learns everything from the frame it is given, which is the training
// split only: the imputation, standardization and one-hot encoding, then
// the estimator on the preprocessed rows. Nothing is learnt from the rows a
// model is later scored on, so cross-validation that calls Fit once per
// fold (package tune) refits the preprocessing inside each fold.
//
// # Algorithms and hyperparameters
//
// linear_regression (OLS), ridge, logistic_regression (L2; binary, or
// multinomial for more classes), decision_tree (CART) and random_forest;
// Hyperparams lists each one's hyperparameters with their types, ranges and
// defaults (scikit-learn's names and defaults: alpha, C, max_iter, tol,
// max_depth, min_samples_split, min_samples_leaf, max_features,
// n_estimators, bootstrap, criterion). CheckHyperparam and
// ResolveHyperparams check them, so a task can report a bad value when a
// workflow is validated; Fit checks them again.
//
// Kind (classification or regression) follows from the algorithm, or for a
// tree or forest from the label (see Spec.Kind). Class labels are the
// label's distinct values sorted as package features sorts them (numbers
// numerically, false before true, strings by bytes); Prediction.Class and
// Truth index that list; the positive class of binary metrics is the
// second one (1, true).
//
// # Format
//
// Encode writes encoding/json of Model: fields in declaration order, map
// keys sorted, floats in shortest round-trip form, so identical inputs,
// spec and seed give identical bytes, whatever Spec.Workers (a forest's
// trees are seeded per tree). Decode refuses another Version, unknown
// fields and a model whose parts disagree (estimator shape, classes,
// feature names, tree structure), so a damaged file fails when it is read,
// not with a panic when it predicts.
//
// # Data it predicts on
//
// Predict matches feature columns by name and kind; the label may be
// absent; extra columns are ignored; an unseen category encodes as zeros.
// A missing feature column or one of another kind is an error naming it
// (features.ErrSchema). Read the CSV to predict with
// dataset.ReadOptions{Schema: m.SchemaKinds(...)}, so that the columns get
// the training kinds and a value that does not parse is an error naming its
// line rather than a column of another kind.
//
// # Scores and folds
//
// Score and ScorePredictions compute the metrics tune optimises (Metrics:
// accuracy, f1, roc_auc, log_loss, r2, rmse …, each saying whether higher
// is better) with package metrics. KFold and StratifiedKFold make seeded
// cross-validation folds; Rand is the seeded stream of random search.
//
// Everything is pure and deterministic: no I/O, no clock, no package
// state, randomness only from explicit seeds. Errors wrap the sentinels of
// errors.go or the errors of features, linear, tree and metrics; all are
// about the input, none is worth retrying.
package model
