package model

import "github.com/cairnml/cairn/tasks/ml/dataset"

// Missing returns the values read as missing in the data sets a model is
// fitted on (train, tune) and applied to (evaluate): dataset.DefaultMissing
// without "NaN". A NaN in a numeric feature is then an error, the same in
// training and in evaluation, rather than a value imputed in silence; write
// a missing value as an empty field.
func Missing() []string {
	var m []string
	for _, s := range dataset.DefaultMissing() {
		if s != "NaN" {
			m = append(m, s)
		}
	}
	return m
}
