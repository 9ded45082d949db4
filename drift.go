package cairn

import "time"

// ServedRow is one sampled row of a served prediction request (issue
// #22): the row's input columns as the request sent them, a JSON object
// ({"age": 41, "plan": "pro"}), and the model version that answered it.
// Each serving replica writes the rows it sampled to the store in
// batches; the leader measures a version's drift from its training data
// over them (a drift_above alert).
type ServedRow struct {
	Name    string
	Version int
	At      time.Time
	Row     []byte
}

// DefaultServedRowsKept is how many sampled rows the store keeps per
// model version when the writer asks for no other bound: a write that
// takes a version past it deletes its oldest rows, in the same
// transaction.
const DefaultServedRowsKept = 10000

// MaxServedRowBytes bounds one sampled row (its JSON object): a longer
// one is not kept (counted as dropped).
const MaxServedRowBytes = 16 << 10

// ModelDrift is the drift a leader last measured of a model version's
// served rows from its training data: the largest PSI of its features
// (Value) and the feature (Feature), over Rows rows of the alert's
// window.
type ModelDrift struct {
	Name    string    `json:"name"`
	Version int       `json:"version"`
	Value   float64   `json:"value"`
	Feature string    `json:"feature"`
	Rows    int       `json:"rows"`
	At      time.Time `json:"at"`
	// Error says why no figure could be measured (the training data is
	// not known …), "" when Value is one.
	Error string `json:"error,omitempty"`
}
