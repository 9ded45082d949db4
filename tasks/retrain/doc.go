// Package retrain is the retrain task type (issue #20): it decides whether
// a model in production should be retrained, from fresh data. It finds the
// production version of a registered model and, through lineage, the data
// that version was trained on, measures how far the fresh data has drifted
// from it feature by feature (package drift: two-sample Kolmogorov–Smirnov
// or chi-squared test and population stability index), and, when the fresh
// data carries the label, how the production model scores on it. Its
// should_retrain output gates the train, evaluate and deploy tasks after it
// (`when:`); its production_model output lets an evaluate score the
// champion on the same fresh data as the challenger.
//
//	tasks:
//	  - id: drift
//	    type: retrain
//	    inputs: {data: "${{ tasks.fresh.outputs.data }}"}
//	    with: {model: churn}
//
// # Reads of the store
//
// A task has no access to the store. Retrain reads the registry and lineage
// through the read-only tasks.Env.Models the executor lends it (cairn run
// and cairn server do; a plugin has none): the production version of
// `model`, and the artifact the attempt that wrote that version's model
// read through its input `reference_port` (train's "train"). It reports
// both as artifacts it read (tasks.Result.Inputs: ports production_model
// and reference), so that lineage shows what the decision was made from.
// The registry changes between runs: retrain is never cached, and cairn
// reproduce pins it to its recorded outputs.
//
// # Params
//
//	model           the registered model's name (required)
//	source          where the fresh data comes from: data (default: the
//	                data input) or predictions (the production model's
//	                sampled prediction log, see below)
//	reference_port  the input of the model's producing attempt that holds
//	                its training data (default train)
//	features        the columns compared (default: the model's feature
//	                columns, in its order)
//	alpha           the tests' significance level, in (0, 1] (default 0.05)
//	psi_threshold   the PSI at which a feature has moved materially, > 0
//	                (default 0.2)
//	rule            how a feature's test and PSI make its verdict: both
//	                (default: the test rejects and the PSI reaches the
//	                threshold), either, test or psi
//	min_drifted     how many features must drift for a retrain (default 1)
//	bins            quantile bins of a numeric feature's PSI, ≥ 2 (default 10)
//	label           the fresh data's column of true values (default: the
//	                model's label); when the fresh data has it, the
//	                production model is scored on it. Named explicitly, it
//	                must be there.
//	metric          that score's metric (default accuracy for a classifier,
//	                r2 for a regression; any metric train's tune knows)
//	metric_drop     how far the score may fall below its baseline before a
//	                retrain is due, ≥ 0 (default 0.05, in the metric's
//	                units; lower-is-better metrics count a rise)
//
// The baseline of the score is the metric recorded with the production
// version in the registry (a deploy's metrics: its evaluation on held-out
// data) when it has one, else the model's score on its training data (an
// optimistic baseline: say metric_drop accordingly).
//
// # Inputs
//
//	data   the fresh data set: CSV with (at least) the compared columns;
//	       required with source data, refused with source predictions
//
// # The prediction log
//
// With source: predictions the fresh data is what the model was asked in
// production: the rows cairn server sampled from the prediction requests
// it answered for the model (POST /api/v1/models/NAME/predict,
// --prediction-sample), which Env.Models stores as a JSON Lines artifact
// (tasks.ModelReader.PredictionLog) and the task reads with the model's
// kinds, reporting it as read (port predictions). The log has the
// features only: the production model is not scored.
//
// # Outputs
//
//	should_retrain      true when at least min_drifted features drifted or
//	                    the score fell by more than metric_drop
//	drifted             the names of the drifted features, in order
//	reason              why, in words ("no drift", "2 of 4 features
//	                    drifted: x1, x2", "accuracy fell 0.91 → 0.82")
//	production_model    the production version's model artifact
//	production_version  its version number
//	reference           the model's training data artifact
//	report              application/json: the model, version and digests,
//	                    the drift report (per feature: test, statistic,
//	                    p-value, PSI and its bins, verdict), the score, the
//	                    decision and its reasons
//	plot                image/svg+xml: one bar per feature, its PSI, the
//	                    drifted ones highlighted, the threshold dashed
//	drift               {psi_threshold, features: [{name, test, statistic,
//	                    p_value, psi, drifted}]}: the report's figures
//	                    without the bins (the run page draws them)
//	live_metric         {name, value, baseline, baseline_source, drop} when
//	                    the score was measured, else null
//
// Metrics: drifted_features, max_psi, min_p_value, and live_METRIC when
// measured.
//
// The same fresh data, registry state and params give byte-identical
// outputs: no clock, no randomness.
//
// # Errors
//
// Permanent: bad params; a data input missing (source data) or given
// (source predictions); no prediction log (source predictions); no Env.Models (a plugin's process); a model with
// no version in production (the message names the model and how to deploy
// a first version); no recorded training data for it (a model registered
// from outside a run, or reference_port that its producer lacks); fresh
// data that is not a CSV, has no rows, or lacks a compared column or the
// label named; a metric that does not suit the model. Retryable: failing to
// read the store or the artifacts.
package retrain
