package collect_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnml/cairn/tasks/collect"
	"github.com/cairnml/cairn/tasks/ml/dataset"
	"github.com/cairnml/cairn/tasks/tasktest"
)

// Issue 15 item 5: collect stored 007,1.50,0012345678901234567 as
// 7,1.5,1.2345678901234568e+16, and a 20-digit id in exponent form.
func TestCollectKeepsNumbersAsWritten(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ids.csv")
	in := "zip,price,account,order,qty\n" +
		"007,1.50,0012345678901234567,12345678901234567890,2500000\n" +
		"10,2.25,12345678901234567,98765432109876543210,3\n"
	if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	tasktest.Run(t, collect.New(collect.Options{}), tasktest.Case{
		Name: "ids", Params: map[string]any{"source": "file://" + p}, Want: tasktest.Succeeds,
		Check: func(t *testing.T, a tasktest.Attempt) {
			want := "zip,price,account,order,qty\n" +
				"007,1.5,0012345678901234567,12345678901234567890,2500000\n" +
				"10,2.25,12345678901234567,98765432109876543210,3\n"
			if got := string(data(t, a)); got != want {
				t.Errorf("data:\n%s\nwant:\n%s", got, want)
			}
			kinds := []dataset.Kind{dataset.Categorical, dataset.Numeric, dataset.Categorical, dataset.Categorical, dataset.Numeric}
			for j, c := range schema(t, a).Columns {
				if c.Kind != kinds[j] {
					t.Errorf("column %s is %s, want %s", c.Name, c.Kind, kinds[j])
				}
			}
		},
	})
}
