package evaluate

import "testing"

// A numeric positive class is spelled as the model's classes are (the
// plain notation of dataset.FormatNumber): 1000000 was "1e+06", a class no
// model has.
func TestNumericPositiveSpelledAsClasses(t *testing.T) {
	for v, want := range map[any]string{1000000: "1000000", 1e20: "100000000000000000000", 1e21: "1e+21", 0: "0", "yes": "yes", true: "true"} {
		p, errs := parseParams(map[string]any{"positive": v}, false)
		if len(errs) > 0 || p.Positive == nil || *p.Positive != want {
			t.Errorf("positive %v: %v %v, want %q", v, p.Positive, errs, want)
		}
	}
}
