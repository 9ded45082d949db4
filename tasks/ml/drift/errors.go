package drift

import "errors"

// The sentinels every error of this package wraps.
var (
	// ErrEmpty: a sample has no value to test (every value missing or not
	// finite).
	ErrEmpty = errors.New("empty sample")
	// ErrSchema: the reference and current frames do not hold a feature
	// with the same name and kind, or a feature cannot be tested.
	ErrSchema = errors.New("schema mismatch")
	// ErrOptions: an option is out of range.
	ErrOptions = errors.New("invalid options")
)
