package dataset

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// TestStratifiedSplitGolden checks StratifiedSplit against scikit-learn's
// train_test_split(stratify=y) on the cases of testdata/golden_split.json
// (testdata/gen_golden.py; its "generator" field says whether scikit-learn
// or the transcription of its arithmetic wrote it): the train and test
// sizes always, and the rows of each class in each part unless a random tie
// break decides them (then each class within one row).
func TestStratifiedSplitGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/golden_split.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Generator string
		Cases     []struct {
			Counts      []int   `json:"counts"`
			TestSize    float64 `json:"test_size"`
			NTrain      int     `json:"n_train"`
			NTest       int     `json:"n_test"`
			TrainCounts []int   `json:"train_counts"`
			TestCounts  []int   `json:"test_counts"`
			Tie         bool    `json:"tie"`
		}
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Cases) < 12 {
		t.Fatalf("%d cases in golden_split.json", len(golden.Cases))
	}
	t.Logf("golden written by %s", golden.Generator)
	for _, c := range golden.Cases {
		var labels []int
		for class, m := range c.Counts {
			for range m {
				labels = append(labels, class)
			}
		}
		for seed := range uint64(5) {
			train, test, val, err := StratifiedSplit(labels, c.TestSize, 0, seed)
			if err != nil {
				t.Fatalf("%v test_size %v: %v", c.Counts, c.TestSize, err)
			}
			if len(train) != c.NTrain || len(test) != c.NTest || val != nil {
				t.Fatalf("%v test_size %v seed %d: %d train, %d test rows, scikit-learn gives %d and %d",
					c.Counts, c.TestSize, seed, len(train), len(test), c.NTrain, c.NTest)
			}
			bal, err := ClassBalance(labels, train, test)
			if err != nil {
				t.Fatal(err)
			}
			for p, want := range [][]int{c.TrainCounts, c.TestCounts} {
				for j, cc := range bal[p].Counts {
					d := cc.Count - want[j]
					if d != 0 && (!c.Tie || d > 1 || d < -1) {
						t.Fatalf("%v test_size %v seed %d: part %d class %d has %d rows, scikit-learn gives %d",
							c.Counts, c.TestSize, seed, p, j, cc.Count, want[j])
					}
				}
			}
		}
	}
}

// TestApproximateModeDocExamples: the examples of scikit-learn's
// _approximate_mode docstring that no random tie break decides.
func TestApproximateModeDocExamples(t *testing.T) {
	sh := newShuffler(0, 0)
	for _, c := range []struct {
		counts []int
		draws  int
		want   []int
	}{
		{[]int{4, 2}, 3, []int{2, 1}},
		{[]int{5, 2}, 4, []int{3, 1}},
	} {
		got := approximateMode(c.counts, c.draws, sh)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("_approximate_mode(%v, %d) = %v, scikit-learn gives %v", c.counts, c.draws, got, c.want)
		}
	}
	// [2 2 2 1] with 2 draws: a three-way tie among the first three classes.
	got := approximateMode([]int{2, 2, 2, 1}, 2, sh)
	if got[3] != 0 || got[0]+got[1]+got[2] != 2 || max(got[0], got[1], got[2]) != 1 {
		t.Errorf("_approximate_mode([2 2 2 1], 2) = %v, want two of the first three classes once", got)
	}
}
