package tasks

import "testing"

func TestNearest(t *testing.T) {
	names := []string{"sepal_length_cm", "species", "label", "retries"}
	for s, want := range map[string]string{
		"specie":       "species",         // one deletion
		"Label":        "label",           // case does not count
		"retires":      "retries",         // an adjacent transposition is one edit
		"sepal_len_cm": "sepal_length_cm", // three edits in a long name
		"colour":       "",                // nothing close
		"lbl":          "",                // two edits are too many for three letters
	} {
		if got := Nearest(s, names); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", s, got, want)
		}
	}
	if got := Nearest("species", names); got != "" {
		t.Errorf("Nearest of an exact name = %q, want none", got)
	}
}
