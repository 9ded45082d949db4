package dataset

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// checkPartition checks that the parts are sorted, disjoint and cover 0..n-1.
func checkPartition(t *testing.T, n int, parts ...[]int) {
	t.Helper()
	seen := make([]bool, n)
	total := 0
	for p, part := range parts {
		if !slices.IsSorted(part) {
			t.Fatalf("part %d not sorted: %v", p, part)
		}
		for _, i := range part {
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("part %d: row %d out of range or repeated", p, i)
			}
			seen[i] = true
		}
		total += len(part)
	}
	if total != n {
		t.Fatalf("parts cover %d of %d rows", total, n)
	}
}

func TestRandomSplitProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		n := 3 + r.IntN(300)
		testFrac := 0.05 + 0.5*r.Float64()
		valFrac := 0.0
		if r.IntN(2) == 0 {
			valFrac = 0.05 + 0.3*r.Float64()
		}
		seed := r.Uint64()
		train, test, val, err := RandomSplit(n, testFrac, valFrac, seed)
		if errors.Is(err, ErrTooFewRows) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		checkPartition(t, n, train, test, val)
		if len(test) != int(math.Ceil(testFrac*float64(n))) || len(val) != int(math.Ceil(valFrac*float64(n))) {
			t.Fatalf("n=%d test %v val %v: sizes %d %d", n, testFrac, valFrac, len(test), len(val))
		}
		if valFrac == 0 && val != nil {
			t.Fatal("val not nil without validation")
		}
		tr2, te2, va2, _ := RandomSplit(n, testFrac, valFrac, seed)
		if !slices.Equal(train, tr2) || !slices.Equal(test, te2) || !slices.Equal(val, va2) {
			t.Fatal("not deterministic")
		}
		if n >= 20 {
			_, te3, _, _ := RandomSplit(n, testFrac, valFrac, seed+1)
			if slices.Equal(test, te3) {
				t.Fatalf("seeds %d and %d give the same test rows", seed, seed+1)
			}
		}
	}
}

// TestRandomSplitPinned pins one split, so a change of algorithm (or of
// math/rand/v2's PCG) that would change users' splits fails here.
func TestRandomSplitPinned(t *testing.T) {
	train, test, val, err := RandomSplit(12, 0.25, 0.25, 7)
	if err != nil {
		t.Fatal(err)
	}
	got := [][]int{train, test, val}
	want := [][]int{{0, 1, 4, 5, 6, 10}, {2, 8, 9}, {3, 7, 11}}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("RandomSplit(12, .25, .25, 7) = %v, want %v", got, want)
		}
	}
}

func TestStratifiedSplitProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		k := 1 + r.IntN(5)
		n := 0
		var labels []int
		for c := range k {
			m := 3 + r.IntN(60)
			for range m {
				labels = append(labels, c*10)
			}
			n += m
		}
		r.Shuffle(n, func(i, j int) { labels[i], labels[j] = labels[j], labels[i] })
		testFrac := 0.05 + 0.5*r.Float64()
		valFrac := 0.0
		if r.IntN(2) == 0 {
			valFrac = 0.05 + 0.4*r.Float64()*(1-testFrac)
		}
		seed := r.Uint64()
		train, test, val, err := StratifiedSplit(labels, testFrac, valFrac, seed)
		if errors.Is(err, ErrTooFewRows) && strings.Contains(err.Error(), "fewer than the") {
			continue // a part smaller than the number of classes: scikit-learn refuses it too
		}
		if err != nil {
			t.Fatal(err)
		}
		checkPartition(t, n, train, test, val)
		bal, err := ClassBalance(labels, train, test, val)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[int]int{}
		for _, l := range labels {
			counts[l]++
		}
		// scikit-learn's sizes: test and validation ceil(frac·n), train
		// the rest; train per class is its share floored or raised by one,
		// test and validation within two rows of theirs.
		nTest, nVal := int(math.Ceil(testFrac*float64(n))), 0
		if valFrac > 0 {
			nVal = int(math.Ceil(valFrac * float64(n)))
		}
		sizes := []int{n - nTest - nVal, nTest, nVal}
		for p, pb := range bal {
			if pb.Rows != sizes[p] {
				t.Fatalf("n=%d test %v val %v: part %d has %d rows, want %d", n, testFrac, valFrac, p, pb.Rows, sizes[p])
			}
			if p == 2 && valFrac == 0 {
				continue
			}
			for _, cc := range pb.Counts {
				m := float64(counts[cc.Class])
				exp := float64(sizes[p]) * m / float64(n)
				tol := 2.0
				if p == 0 {
					tol = 1
				}
				if math.Abs(float64(cc.Count)-exp) >= tol {
					t.Fatalf("part %d class %d: %d rows, expected %.2f of %d", p, cc.Class, cc.Count, exp, counts[cc.Class])
				}
			}
		}
		tr2, te2, va2, _ := StratifiedSplit(labels, testFrac, valFrac, seed)
		if !slices.Equal(train, tr2) || !slices.Equal(test, te2) || !slices.Equal(val, va2) {
			t.Fatal("not deterministic")
		}
		if n >= 40 {
			_, te3, _, _ := StratifiedSplit(labels, testFrac, valFrac, seed^1)
			if slices.Equal(test, te3) {
				t.Fatal("different seeds give the same test rows")
			}
		}
	}
}

func TestTimeSplit(t *testing.T) {
	times := []float64{5, 1, 3, 3, 9, 0, 3, 7, 2, 8}
	train, test, val, err := TimeSplit(times, 0.2, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	// Rows by (time, row): 5, 1, 8, 2, 3, 6, 0, 7, 9, 4 (times 0 1 2 3 3 3 5 7 8 9).
	// Train is the 5 oldest, validation the next 3, test the 2 newest; the
	// three rows at time 3 are cut by row order (2 and 3 train, 6 validation).
	if want := []int{1, 2, 3, 5, 8}; !slices.Equal(train, want) {
		t.Errorf("train %v, want %v", train, want)
	}
	if want := []int{0, 6, 7}; !slices.Equal(val, want) {
		t.Errorf("val %v, want %v", val, want)
	}
	if want := []int{4, 9}; !slices.Equal(test, want) {
		t.Errorf("test %v, want %v", test, want)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		n := 5 + r.IntN(100)
		ts := make([]float64, n)
		for i := range ts {
			ts[i] = float64(r.IntN(10))
		}
		tr, te, va, err := TimeSplit(ts, 0.2, 0.2)
		if err != nil {
			t.Fatal(err)
		}
		checkPartition(t, n, tr, te, va)
		// every train row is no newer than every val row, and val than test.
		maxOf := func(p []int) float64 {
			m := math.Inf(-1)
			for _, i := range p {
				m = max(m, ts[i])
			}
			return m
		}
		minOf := func(p []int) float64 {
			m := math.Inf(1)
			for _, i := range p {
				m = min(m, ts[i])
			}
			return m
		}
		if maxOf(tr) > minOf(va) || maxOf(va) > minOf(te) {
			t.Fatalf("time order broken: %v / %v / %v", tr, va, te)
		}
	}
}

func TestSplitErrors(t *testing.T) {
	labels := []string{"a", "a", "a", "b", "b", "c"}
	cases := []struct {
		name string
		err  error
		want string
		call func() error
	}{
		{"test 0", ErrParam, "", func() error { _, _, _, err := RandomSplit(10, 0, 0, 1); return err }},
		{"test 1", ErrParam, "", func() error { _, _, _, err := RandomSplit(10, 1, 0, 1); return err }},
		{"test NaN", ErrParam, "", func() error { _, _, _, err := RandomSplit(10, math.NaN(), 0, 1); return err }},
		{"val negative", ErrParam, "", func() error { _, _, _, err := RandomSplit(10, 0.2, -0.1, 1); return err }},
		{"sum 1", ErrParam, "", func() error { _, _, _, err := RandomSplit(10, 0.5, 0.5, 1); return err }},
		{"too few for train after ceil", ErrTooFewRows, "", func() error { _, _, _, err := RandomSplit(2, 0.1, 0.1, 1); return err }},
		{"too few for train", ErrTooFewRows, "", func() error { _, _, _, err := RandomSplit(2, 0.5, 0.45, 1); return err }},
		{"zero rows", ErrTooFewRows, "", func() error { _, _, _, err := RandomSplit(0, 0.2, 0, 1); return err }},
		{"stratified class c", ErrTooFewRows, `class c has 1 row,`, func() error { _, _, _, err := StratifiedSplit(labels, 0.2, 0, 1); return err }},
		{"stratified class b with val", ErrTooFewRows, `class b has 2 rows`, func() error { _, _, _, err := StratifiedSplit(labels[:5], 0.2, 0.2, 1); return err }},
		{"stratified fracs", ErrParam, "", func() error { _, _, _, err := StratifiedSplit(labels, 0.2, 0.9, 1); return err }},
		{"stratified test smaller than classes", ErrTooFewRows, `1 test rows, fewer than the 3 classes`, func() error {
			_, _, _, err := StratifiedSplit([]string{"a", "a", "a", "a", "a", "a", "b", "b", "c", "c"}, 0.1, 0, 1)
			return err
		}},
		{"stratified empty", ErrTooFewRows, "", func() error { _, _, _, err := StratifiedSplit([]int{}, 0.2, 0, 1); return err }},
		{"time NaN", ErrNonFinite, "times[1]", func() error {
			_, _, _, err := TimeSplit([]float64{1, math.NaN(), 3}, 0.3, 0)
			return err
		}},
		{"time too few", ErrTooFewRows, "", func() error { _, _, _, err := TimeSplit([]float64{1}, 0.3, 0); return err }},
		{"balance index", ErrParam, "row 6", func() error { _, err := ClassBalance(labels, []int{0, 6}); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %v containing %q", err, c.err, c.want)
			}
		})
	}
}

func TestClassBalanceZeroCounts(t *testing.T) {
	labels := []string{"b", "a", "b", "c"}
	bal, err := ClassBalance(labels, []int{0, 2}, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, pb := range bal {
		got += strconv.Itoa(pb.Rows) + ":"
		for _, cc := range pb.Counts {
			got += cc.Class + strconv.Itoa(cc.Count)
		}
		got += " "
	}
	if want := "2:a0b2c0 1:a1b0c0 "; got != want {
		t.Fatalf("balance %q, want %q", got, want)
	}
}
