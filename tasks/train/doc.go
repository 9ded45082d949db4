// Package train is the "train" task type: it fits a model pipeline on the
// training split only and stores it as a model artifact (package
// tasks/ml/model) that predicts on raw rows.
//
// Params:
//
//	model: logistic_regression   required: linear_regression, ridge,
//	                             logistic_regression, decision_tree or
//	                             random_forest (a typo gets a did-you-mean)
//	label: malignant             required: the column to predict
//	hyperparams: {C: 0.5}        the algorithm's hyperparameters (see
//	                             model.Hyperparams), typically
//	                             ${{ tasks.tune.outputs.best_params }};
//	                             missing ones take their defaults
//	exclude: [id]                columns that are not features
//	impute_numeric: mean         mean (default), median, most_frequent or
//	                             {strategy: constant, value: 0}
//	impute_categorical: most_frequent   or {strategy: constant, value: x}
//	impute: {age: median}        per-column strategies
//	standardize: true            scale numeric features (default true)
//	clip_outliers: iqr           none (default), iqr (k 1.5),
//	                             {method: iqr, k: 3} or {method: quantile,
//	                             low: 0.01, high: 0.99}: clip numeric and
//	                             datetime features to bounds learnt from
//	                             the training rows
//	class_weight: balanced       or {"1": 5}; classification only
//	kind: classification         or regression; inferred by default
//	seed: 0                      seeds a forest (and a tree's feature draws)
//
// The pipeline — imputation, outlier clipping, standardization and one-hot
// encoding (unknown categories encode as zeros), then the estimator — is
// learnt from the `train` input alone, so no statistic of the test rows can
// leak into it. Clipping (features.Clip) learns per numeric and datetime
// feature the bounds from the imputed training column (iqr: Q1 - k·IQR,
// Q3 + k·IQR; quantile: the low and high quantiles, interpolated as
// numpy's default), clamps values to them before standardizing, and keeps
// them in the model, so a test row's outliers are clipped to the training
// bounds. The log names the bounds of every feature whose training values
// were clipped, and warns of a feature that clipping leaves constant.
// With a literal model and literal hyperparams, an unknown hyperparameter
// (with the nearest name), a value of the wrong type or out of range (C <=
// 0, max_depth < 1 …) is reported when the workflow is validated; when
// they come through a ${{ }} reference, Run checks them and fails
// permanently. So is a bad clip_outliers (an unknown method, k <= 0,
// quantiles outside [0, 1] or low >= high, a key of the other method).
//
// Outputs:
//
//	model        artifact (application/vnd.cairn.model+json): the whole
//	             pipeline, the input schema and the classes; the same
//	             input bytes, params and seed give the same bytes
//	kind         "classification" or "regression"
//	classes      the class labels in index order, or null
//	features     the preprocessed feature names (category as col=value)
//	hyperparams  the hyperparameters used, defaults included
//	train_score  scores on the training rows: accuracy, f1 (binary) and
//	             log_loss, or r2 and rmse
//
// Metrics: train_rows, features, and train_<score> for each train_score.
//
// Every problem with the params or the data is a permanent error: a
// missing label column (with the nearest name), a label with missing
// values, a value that is not a number in a numeric column (naming its
// data row), NaN or Inf, no rows, a single class, a file that is not CSV
// (naming the line), an unknown model or an invalid hyperparameter. Failing
// to read the input or to store the model is retryable. The fit itself
// does not watch ctx: the context is checked before and after it.
package train
