package dataset

import (
	"strings"
	"testing"
)

// An infinite cell's error says what a user can do, not a Go option no
// task exposes (found by the trial: "set AllowInf to accept it").
func TestInfiniteCellMessage(t *testing.T) {
	_, err := ReadCSV(strings.NewReader("x,y\n1,2\ninf,3\n"), ReadOptions{})
	if err == nil || strings.Contains(err.Error(), "AllowInf") || !strings.Contains(err.Error(), `"inf" is infinite: replace it`) {
		t.Fatalf("ReadCSV of an inf cell: %v", err)
	}
}
