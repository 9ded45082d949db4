// Package rollouts drives model rollouts (issue #22): the leader's
// maintenance of every active rollout — a canary's steps, its promotion
// at the last step, its rollback when the candidate's live metric or
// error rate does not hold — and the request log's retention.
//
// # Judgement
//
// Judge is a pure function of a rollout and its versions' request stats
// since the current step began (the step's window): no I/O, no clock
// read. For a canary:
//
//   - the candidate's error rate (requests the model failed, not bad
//     requests) above MaxErrorRate, once it has MinRequests: rollback;
//   - with Judge "live", once both versions have MinSamples labeled rows
//     in the window: the candidate's live metric (accuracy; for a
//     regressor the mean absolute error) worse than production's by more
//     than Tolerance, relative: rollback;
//   - the step's Interval over and everything holding: the next step, or
//     at the last one (100%) promotion. Without enough feedback the step
//     holds (Judge "errors" needs none).
//
// Shadow and A-B rollouts are not stepped: they end when someone
// promotes the candidate or rolls it back (cairn models rollout NAME
// promote, abort); their stats are shown the same way. A rollout paused
// by hand (cairn models rollout NAME pause) holds: Judge neither steps
// nor promotes it, and still rolls back a candidate that fails; resume
// starts the step's window again.
//
// # Who acts
//
// Controller runs on every server and acts only while its scheduler
// leads (the leader lease): each change is a compare-and-set on the
// rollout's step, fenced by the leader's term in its own transaction, so
// that replicas agree and a deposed leader changes nothing. Serving on
// every replica follows the rollout through the registry's change
// counter.
//
// Per-model alerts are checked on each pass (Check): a model's own
// alerts (cairn.ModelAlerts: a deploy's alerts: with any strategy, or
// cairn models alerts) on its production version, with or without a
// rollout, and on an active rollout's candidate, each over its window
// back from now (ModelAlertStore.WatchedModels); alerts kept in a
// rollout's spec (rollouts started before they were kept with the model)
// on its candidate and production version over the step's window. A
// finding that
// changes whether an alert holds is recorded by the store
// (AlertStore.RecordModelAlert), which writes the outbox's alert when the
// condition starts to hold. The controller remembers its last findings
// only to spare the store a write per pass, and forgets them when it
// stops leading: the store's state decides.
//
// # Drift
//
// A drift_above alert is checked on the rows serving sampled from the
// requests a version answered (DriftStore.ServedRows: every replica
// writes its own, in batches), over the alert's window once it has the
// alert's min of them, against the version's training data
// (Options.Reference, read once per version and kept): MeasureDrift, a
// pure function, gives the largest PSI of the model's features and that
// feature, as retrain's drift.Compare computes them. A version is
// measured again at most every DriftEvery; each figure, or why there is
// none, is kept in the store (SetModelDrift) for /metrics and the models
// page. A shadow candidate, which answers no request, is measured on the
// rows production served.
package rollouts
