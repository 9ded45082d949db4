package cluster_test

import (
	"encoding/csv"
	"errors"
	"math"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/cairnml/cairn/tasks/ml/cluster"
)

// iris reads the four measurements of the shipped iris data set.
func iris(t testing.TB) [][]float64 {
	t.Helper()
	f, err := os.Open("../../../workflows/examples/data/iris.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var pts [][]float64
	for _, r := range recs[1:] {
		p := make([]float64, 4)
		for j := range p {
			if p[j], err = strconv.ParseFloat(r[j], 64); err != nil {
				t.Fatal(err)
			}
		}
		pts = append(pts, p)
	}
	return pts
}

// On iris (150 points, 4 features, unscaled) the best 3-means partition
// has inertia 78.851441426146 and sizes 50/62/38 (scikit-learn's KMeans
// finds the same); every seed with restarts reaches it.
func TestIrisReachesTheKnownOptimum(t *testing.T) {
	pts := iris(t)
	if len(pts) != 150 {
		t.Fatalf("%d points", len(pts))
	}
	for _, seed := range []uint64{0, 1, 42} {
		r, err := cluster.KMeans(pts, cluster.Options{K: 3, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.Inertia-78.851441426146) > 1e-6 {
			t.Errorf("seed %d: inertia %.12f", seed, r.Inertia)
		}
		sizes := append([]int(nil), r.Sizes...)
		if !reflect.DeepEqual(sizes, []int{50, 62, 38}) && !reflect.DeepEqual(sizes, []int{50, 38, 62}) {
			t.Errorf("seed %d: sizes %v", seed, r.Sizes)
		}
		// Canonical numbering: centroids ascend on their first coordinate here.
		for c := 1; c < 3; c++ {
			if r.Centroids[c-1][0] > r.Centroids[c][0] {
				t.Errorf("seed %d: centroids not in order: %v", seed, r.Centroids)
			}
		}
		if r.Labels[0] != 0 { // setosa, the smallest sepals
			t.Errorf("seed %d: first point in cluster %d", seed, r.Labels[0])
		}
	}
}

func TestDeterministic(t *testing.T) {
	pts := iris(t)
	a, _ := cluster.KMeans(pts, cluster.Options{K: 5, Seed: 7, Restarts: 3})
	b, _ := cluster.KMeans(pts, cluster.Options{K: 5, Seed: 7, Restarts: 3})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two fits with the same seed differ")
	}
}

func TestSeparatedBlobsAreRecovered(t *testing.T) {
	var pts [][]float64
	centres := [][]float64{{0, 0}, {10, 10}, {-10, 10}}
	for i := 0; i < 90; i++ {
		c := centres[i%3]
		pts = append(pts, []float64{c[0] + float64(i%5)*0.1, c[1] - float64(i%7)*0.1})
	}
	r, err := cluster.KMeans(pts, cluster.Options{K: 3, Seed: 1, Restarts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pts {
		if r.Labels[i] != r.Labels[i%3] {
			t.Fatalf("point %d in cluster %d, its blob's first point in %d", i, r.Labels[i], r.Labels[i%3])
		}
	}
	if !reflect.DeepEqual(r.Sizes, []int{30, 30, 30}) {
		t.Fatalf("sizes %v", r.Sizes)
	}
}

func TestDuplicatePointsAndKEqualsN(t *testing.T) {
	pts := [][]float64{{1, 1}, {1, 1}, {1, 1}, {2, 2}}
	r, err := cluster.KMeans(pts, cluster.Options{K: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, s := range r.Sizes {
		total += s
	}
	if total != 4 || r.Inertia > 1e-12 {
		t.Fatalf("%+v", r)
	}
}

func TestBadInput(t *testing.T) {
	for name, c := range map[string]struct {
		pts [][]float64
		k   int
	}{
		"no points": {nil, 1},
		"k zero":    {[][]float64{{1}}, 0},
		"k > n":     {[][]float64{{1}, {2}}, 3},
		"ragged":    {[][]float64{{1, 2}, {1}}, 1},
		"nan":       {[][]float64{{math.NaN()}}, 1},
		"no dims":   {[][]float64{{}}, 1},
	} {
		if _, err := cluster.KMeans(c.pts, cluster.Options{K: c.k}); !errors.Is(err, cluster.ErrBadInput) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func BenchmarkIrisK3(b *testing.B) {
	pts := iris(b)
	for b.Loop() {
		if _, err := cluster.KMeans(pts, cluster.Options{K: 3, Seed: 42}); err != nil {
			b.Fatal(err)
		}
	}
}
