package cluster

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/floats"
)

// Options configures KMeans.
type Options struct {
	K        int     // number of clusters, 1 ≤ K ≤ number of points
	Seed     uint64  // seeds the k-means++ draws
	MaxIter  int     // Lloyd iterations per restart (default 300)
	Restarts int     // independent initialisations, the best kept (default 10)
	Tol      float64 // stop when no centroid moves more than this (default 1e-9)
}

// Result is a fitted clustering.
type Result struct {
	// Centroids[c] is cluster c's centre; clusters are numbered in
	// ascending lexicographic order of their centroids.
	Centroids [][]float64 `json:"centroids"`
	// Labels[i] is point i's cluster.
	Labels []int `json:"-"`
	// Sizes[c] is how many points cluster c holds.
	Sizes []int `json:"sizes"`
	// Inertia is the sum of squared distances of the points to their
	// centroids.
	Inertia float64 `json:"inertia"`
	// Iterations is the Lloyd iterations of the kept restart.
	Iterations int `json:"iterations"`
}

// ErrBadInput is wrapped by KMeans's errors about its arguments.
var ErrBadInput = errors.New("bad k-means input")

// KMeans clusters points (n rows of d finite values) into o.K clusters.
func KMeans(points [][]float64, o Options) (*Result, error) {
	n := len(points)
	if n == 0 {
		return nil, fmt.Errorf("%w: no points", ErrBadInput)
	}
	d := len(points[0])
	if d == 0 {
		return nil, fmt.Errorf("%w: points have no coordinates", ErrBadInput)
	}
	for i, p := range points {
		if len(p) != d {
			return nil, fmt.Errorf("%w: point %d has %d coordinates, point 0 has %d", ErrBadInput, i, len(p), d)
		}
		for _, v := range p {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: point %d has the non-finite value %v", ErrBadInput, i, v)
			}
		}
	}
	if o.K < 1 || o.K > n {
		return nil, fmt.Errorf("%w: k = %d, want 1 ≤ k ≤ %d (the number of points)", ErrBadInput, o.K, n)
	}
	if o.MaxIter <= 0 {
		o.MaxIter = 300
	}
	if o.Restarts <= 0 {
		o.Restarts = 10
	}
	if o.Tol <= 0 {
		o.Tol = 1e-9
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6b6d65616e73)) // "kmeans"
	var best *Result
	for r := 0; r < o.Restarts; r++ {
		res := lloyd(points, plusPlus(points, o.K, rng), o)
		if best == nil || res.Inertia < best.Inertia {
			best = res
		}
	}
	return canonical(best), nil
}

// plusPlus picks k initial centroids by k-means++: the first uniformly,
// each next one with probability proportional to its squared distance to
// the nearest centroid chosen so far.
func plusPlus(points [][]float64, k int, rng *rand.Rand) [][]float64 {
	n := len(points)
	cents := [][]float64{clone(points[rng.IntN(n)])}
	dist := make([]float64, n)
	for i, p := range points {
		dist[i] = sqDist(p, cents[0])
	}
	for len(cents) < k {
		total := floats.Sum(dist)
		pick := 0
		if total > 0 {
			u := rng.Float64() * total
			acc := 0.0
			pick = n - 1
			for i, w := range dist {
				acc += w
				if u < acc {
					pick = i
					break
				}
			}
		} else {
			pick = rng.IntN(n) // every point coincides with a centroid
		}
		c := clone(points[pick])
		cents = append(cents, c)
		for i, p := range points {
			dist[i] = math.Min(dist[i], sqDist(p, c))
		}
	}
	return cents
}

// lloyd runs Lloyd's iterations from cents.
func lloyd(points [][]float64, cents [][]float64, o Options) *Result {
	n, d, k := len(points), len(points[0]), len(cents)
	labels := make([]int, n)
	sums := make([][]float64, k)
	for c := range sums {
		sums[c] = make([]float64, d)
	}
	counts := make([]int, k)
	iter := 0
	for iter < o.MaxIter {
		iter++
		assign(points, cents, labels)
		for c := range sums {
			floats.Scale(0, sums[c])
			counts[c] = 0
		}
		for i, p := range points {
			floats.Add(sums[labels[i]], p)
			counts[labels[i]]++
		}
		moved := 0.0
		for c := range cents {
			if counts[c] == 0 {
				// Re-seed an empty cluster with the point farthest from
				// its centroid.
				far, farD := 0, -1.0
				for i, p := range points {
					if dd := sqDist(p, cents[labels[i]]); dd > farD {
						far, farD = i, dd
					}
				}
				moved = math.Inf(1)
				copy(cents[c], points[far])
				labels[far] = c
				continue
			}
			next := make([]float64, d)
			floats.ScaleTo(next, 1/float64(counts[c]), sums[c])
			moved = math.Max(moved, math.Sqrt(sqDist(next, cents[c])))
			cents[c] = next
		}
		if moved <= o.Tol {
			break
		}
	}
	assign(points, cents, labels)
	res := &Result{Centroids: cents, Labels: labels, Sizes: make([]int, k)}
	for i, p := range points {
		res.Inertia += sqDist(p, cents[labels[i]])
		res.Sizes[labels[i]]++
	}
	res.Iterations = iter
	return res
}

// assign labels each point with its nearest centroid (the lower index on
// a tie).
func assign(points, cents [][]float64, labels []int) {
	for i, p := range points {
		best, bestD := 0, math.Inf(1)
		for c, m := range cents {
			if dd := sqDist(p, m); dd < bestD {
				best, bestD = c, dd
			}
		}
		labels[i] = best
	}
}

// canonical renumbers clusters in ascending lexicographic order of their
// centroids.
func canonical(r *Result) *Result {
	k := len(r.Centroids)
	order := make([]int, k)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ca, cb := r.Centroids[order[a]], r.Centroids[order[b]]
		for j := range ca {
			if ca[j] != cb[j] {
				return ca[j] < cb[j]
			}
		}
		return false
	})
	newID := make([]int, k)
	out := &Result{Inertia: r.Inertia, Iterations: r.Iterations, Labels: make([]int, len(r.Labels)), Sizes: make([]int, k)}
	for nu, old := range order {
		newID[old] = nu
		out.Centroids = append(out.Centroids, r.Centroids[old])
		out.Sizes[nu] = r.Sizes[old]
	}
	for i, l := range r.Labels {
		out.Labels[i] = newID[l]
	}
	return out
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for j, v := range a {
		t := v - b[j]
		s += t * t
	}
	return s
}

func clone(p []float64) []float64 { return append([]float64(nil), p...) }
