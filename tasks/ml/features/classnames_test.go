package features

import (
	"slices"
	"testing"
)

// A numeric class label is named as dataset writes it: classes of a million
// were fitted as "1e+06" and then not found by ClassLabels, which looks up
// Column.Value's plain "1000000".
func TestLargeIntegerClassesNamedAsWritten(t *testing.T) {
	train := frame(num("x", 1, 2, 3), num("y", 2000000, 1000000, 2000000))
	tr := mustFit(t, train, NewSpec("y"))
	y, classes, err := tr.ClassLabels(train)
	if err != nil || !slices.Equal(classes, []string{"1000000", "2000000"}) || !slices.Equal(y, []int{1, 0, 1}) {
		t.Fatalf("ClassLabels %v %v %v", y, classes, err)
	}
}
