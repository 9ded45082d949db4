// Package predict is the predict task type: batch scoring. It applies a
// model artifact (as train writes it) to the raw rows of a CSV data set and
// stores the rows with the model's predictions appended.
//
//	tasks:
//	  - id: score
//	    type: predict
//	    inputs:
//	      model: "${{ tasks.train.outputs.model }}"
//	      data: "${{ tasks.collect_new.outputs.data }}"
//	    with: {keep: [id], probabilities: true}
//
// The data set needs the model's feature columns, each of the kind it had
// in training (a value that does not parse names its line and column);
// the label column may be absent, and other columns are carried through.
// The model's own pipeline imputes missing values, one-hot encodes
// categories (an unseen category encodes as all zeros) and standardizes,
// exactly as at training: the rows need no preparation.
//
// # Params
//
//	keep            columns of the input to copy into the output, in
//	                input order (default: every column)
//	column          name of the prediction column (default "prediction")
//	probabilities   classification: also a column "proba_<class>" per
//	                class (default true)
//
// # Outputs
//
//	predictions   text/csv artifact: the kept columns, then the prediction
//	              (the class label, or the predicted value of a
//	              regression), then the probabilities
//	rows          the number of rows scored
//	counts        classification: {class: rows predicted as it}, every
//	              class listed; null for a regression
//
// Metrics: rows, and for a regression the mean predicted value.
//
// The same model, data and params give byte-identical predictions.
//
// # Errors
//
// Permanent: a model input that is not a model, a data set without a
// model column or with a value of another kind, NaN or ±Inf in a feature,
// a malformed CSV, no rows, unknown params, a kept column the data lacks,
// an output column name that collides with a kept one. Retryable: a
// failure to read or write the artifact store.
package predict
