// Package tune is the "tune" task type: a hyperparameter search by k-fold
// cross-validation on the training split only, whose best_params output
// train consumes by reference.
//
// Params: the pipeline params of train (model, label, exclude,
// impute_numeric, impute_categorical, impute, standardize, clip_outliers,
// class_weight, kind, seed — the same pipeline is cross-validated), and:
//
//	metric: f1            what is optimised (model.Metrics: accuracy,
//	                      balanced_accuracy, f1, f1_macro, f1_weighted,
//	                      precision, recall, …, roc_auc, log_loss; r2,
//	                      rmse, mse, mae). log_loss and the errors are
//	                      lower-is-better, the rest higher. Default
//	                      accuracy, or r2 for a regression
//	cv_folds: 5           k of k-fold (stratified for a classification)
//	search: grid          grid, or random
//	space: {C: [0.1, 1]}  hyperparameter -> values; for random also
//	                      {min, max, log: true} ranges
//	hyperparams: {...}    fixed for every trial, included in best_params
//	trials: 10            random only: candidates drawn
//	parallelism: 2        fits at once (default GOMAXPROCS)
//
// # Method
//
// The folds come from the seed: model.StratifiedKFold for a
// classification (each class shuffled and dealt to the folds, so every
// class is in every fold; each needs at least cv_folds rows), model.KFold
// for a regression. For every candidate and fold, model.Fit refits the
// whole pipeline — imputation, outlier clipping bounds, standardization,
// one-hot encoding and the estimator — on the other folds and scores the
// held-out one: no statistic of a validation fold reaches its model. The score of a candidate is the
// mean over folds, with the population standard deviation; the best is the
// highest mean (lowest for lower-is-better metrics), the earliest
// candidate on a tie.
//
// A grid tries every combination of the space's values, the last name in
// sorted order varying fastest. Random search draws from one seeded
// stream (model.Rand): while the space is only lists, distinct grid points
// (the whole grid when trials covers it), else each hyperparameter in
// sorted order per trial, uniformly from a list or a range (log-uniform
// with log: true; integers for an integer hyperparameter).
//
// The fits run on a bounded pool of `parallelism` goroutines, each writing
// its score into its own slot; a forest's trees are built on its fit's
// goroutine, so parallelism bounds the CPUs the search uses.
// Every fit is deterministic, so the outputs are byte-identical whatever
// the parallelism and the scheduling.
//
// # Outputs
//
//	best_params   JSON object: the best candidate's hyperparameters and the
//	              fixed ones, in model.CheckHyperparam's canonical form
//	best_score    its mean score
//	metric        {"name": "f1", "higher_is_better": true}
//	trials        artifact (application/x-ndjson): per candidate, in search
//	              order, {trial, params, fold_scores, mean, std, rank}
//
// Metrics: best_score, best_std, trials, folds. The log has the trial
// table (the first 200 rows) and the best candidate.
//
// Bad params (an unknown hyperparameter or value for the model, a metric
// that does not suit it, a range with search grid, a grid of more than
// MaxCandidates) are reported at validation when literal, and as
// permanent errors at run time; so are the data errors of train and a
// class with fewer rows than folds. A cancelled context stops the search
// between fits.
package tune
