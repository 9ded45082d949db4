// Package deploy is the deploy task type: it registers a model artifact in
// the model registry under a name and moves it to a stage.
//
//	tasks:
//	  - id: deploy
//	    type: deploy
//	    when: "${{ tasks.evaluate.outputs.passed }}"
//	    inputs:
//	      model: "${{ tasks.train.outputs.model }}"
//	      report: "${{ tasks.evaluate.outputs.report }}"
//	    with: {name: breast-cancer, stage: production}
//
// A task has no access to the store: deploy reads and checks the model (it
// must decode as a model artifact, and a corrupt one fails naming its
// digest), then returns the registration as an effect of its result
// (cairn.ModelRegistration), which the transaction that records the
// success applies. Versions are numbered from 1 per name; the same bytes
// registered again under the same name are the existing version (moved to
// the stage asked, but never from production back to candidate). A run
// made by cairn reproduce applies no effect: it registers nothing.
//
// # Params
//
//	name      the model's name: 1 to 128 letters, digits, '-', '_' and
//	          '.', starting with a letter or digit (required)
//	stage     candidate (default) or production; production archives the
//	          version in production before, in the same transaction
//	metrics   {metric: number} recorded with the version, for example
//	          "${{ tasks.evaluate.outputs.metrics }}"; without it, the
//	          report's metrics when a report is given
//
// # Inputs
//
//	model    the model artifact, as train writes it (required)
//	report   the evaluate task's report artifact of this model: the
//	         models page draws its ROC curve and confusion matrix
//
// # Outputs
//
//	model     the model artifact (the model input)
//	version   the version registered, set by the store when the success
//	          is recorded (null in a reproduced run, which registers
//	          nothing)
//	name      the model's name
//	stage     the stage the version is in once registered, set by the
//	          store: the stage asked, or production for a model's first
//	          version deployed with a rollout (the stage asked in a
//	          reproduced run)
//
// The same inputs and params give the same result: deploy is
// deterministic, so a reproduced run compares it by the digest it would
// register.
//
// # Errors
//
// Validation: a missing model input, a name that is not one, a stage other
// than candidate or production, a metric that is not a number (literal
// values; referenced ones are checked at run time). Permanent: an input
// that is not a model, a model artifact that does not decode, a report
// that is not an evaluate report or evaluates another model. Retryable: a
// failure to read the artifact store, a corrupt artifact (its digest is
// named).
package deploy
