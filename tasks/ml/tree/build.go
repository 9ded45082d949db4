package tree

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// data is a validated training set, features stored column by column.
type data struct {
	n, p, k int
	cols    []float64 // cols[f*n+i] = X[i][f]
	yc      []int     // classification labels, or nil
	yr      []float64 // regression targets, or nil
}

func newData(what string, X [][]float64, classify bool, yc []int, yr []float64) (*data, error) {
	p, err := checkX(what, X, -1)
	if err != nil {
		return nil, err
	}
	d := &data{n: len(X), p: p, yc: yc, yr: yr}
	if classify {
		if d.k, err = checkClasses(what, yc, d.n); err != nil {
			return nil, err
		}
	} else if err := checkTargets(what, yr, d.n); err != nil {
		return nil, err
	}
	d.cols = make([]float64, d.n*p)
	for i, row := range X {
		for f, v := range row {
			d.cols[f*d.n+i] = v
		}
	}
	return d, nil
}

type pair struct {
	x float64
	i int32
}

type split struct {
	feature   int
	threshold float64
	nLeft     int // samples going left
	proxy     float64
}

// builder grows one tree. It is not safe for concurrent use; a forest uses
// one per tree.
type builder struct {
	d     *data
	r     resolved
	rng   *rand.Rand
	w     []float64 // per-row sample weight; rows with 0 are not in the tree
	nodes []Node
	feats []int // feature visiting order (shuffled in place when sampling)
	buf   []pair
	tmp   []int32
	cl    []float64 // left class weights
	ct    []float64 // node class weights
}

func newBuilder(d *data, r resolved, rng *rand.Rand) *builder {
	b := &builder{d: d, r: r, rng: rng, feats: make([]int, d.p)}
	for f := range b.feats {
		b.feats[f] = f
	}
	b.cl = make([]float64, d.k)
	b.ct = make([]float64, d.k)
	return b
}

// fit grows the tree on samples (distinct rows with weight > 0).
func (b *builder) fit(samples []int32, w []float64) *Tree {
	b.w = w
	b.buf = make([]pair, len(samples))
	b.tmp = make([]int32, len(samples))
	b.build(samples, 0)
	t := &Tree{Task: Regression, NFeatures: b.d.p, Nodes: b.nodes}
	if b.d.yc != nil {
		t.Task, t.NClasses = Classification, b.d.k
	}
	return t
}

// build appends the node of samples (and its subtree) and returns its index.
func (b *builder) build(samples []int32, depth int) int {
	node, pure := b.stats(samples)
	idx := len(b.nodes)
	b.nodes = append(b.nodes, node)
	m := len(samples)
	if pure || depth >= b.r.maxDepth || m < b.r.minSplit || m < 2*b.r.minLeaf {
		return idx
	}
	s, ok := b.bestSplit(samples)
	if !ok {
		return idx
	}
	// Stable partition: x <= threshold first, both sides in their old order.
	col := b.d.cols[s.feature*b.d.n : (s.feature+1)*b.d.n]
	l, r := 0, 0
	for _, i := range samples {
		if col[i] <= s.threshold {
			samples[l] = i
			l++
		} else {
			b.tmp[r] = i
			r++
		}
	}
	copy(samples[l:], b.tmp[:r])
	b.nodes[idx].Feature = s.feature
	b.nodes[idx].Threshold = s.threshold
	left := b.build(samples[:l], depth+1)
	right := b.build(samples[l:], depth+1)
	b.nodes[idx].Left, b.nodes[idx].Right = left, right
	return idx
}

// stats returns the leaf form of the node of samples and whether the node is
// pure (one class, or one target value), which makes it a leaf.
func (b *builder) stats(samples []int32) (Node, bool) {
	n := Node{Feature: -1, Left: -1, Right: -1, Samples: len(samples)}
	if b.d.yc != nil {
		v := make([]float64, b.d.k)
		for _, i := range samples {
			v[b.d.yc[i]] += b.w[i]
			n.Weight += b.w[i]
		}
		classes := 0
		for c := range v {
			if v[c] > 0 {
				classes++
			}
			v[c] /= n.Weight
		}
		n.Value = v
		n.Impurity = impurity(b.r.crit, v)
		return n, classes <= 1
	}
	sum := 0.0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, i := range samples {
		y := b.d.yr[i]
		sum += b.w[i] * y
		n.Weight += b.w[i]
		lo, hi = min(lo, y), max(hi, y)
	}
	mean := sum / n.Weight
	ss := 0.0
	for _, i := range samples {
		e := b.d.yr[i] - mean
		ss += b.w[i] * e * e
	}
	n.Value = []float64{mean}
	n.Impurity = ss / n.Weight
	return n, lo == hi
}

// impurity of class fractions v.
func impurity(c Criterion, v []float64) float64 {
	s := 0.0
	if c == Entropy {
		for _, p := range v {
			if p > 0 {
				s -= p * math.Log2(p)
			}
		}
		return s
	}
	for _, p := range v {
		s += p * p
	}
	return 1 - s
}

// bestSplit searches the features in b.feats order (index order when every
// feature is used; a fresh partial Fisher–Yates shuffle per node otherwise)
// until maxFeatures non-constant features have been seen. The best split
// maximises the impurity-decrease proxy; ties keep the first found, that is
// the earliest feature in visiting order and then the smallest threshold.
func (b *builder) bestSplit(samples []int32) (split, bool) {
	best := split{proxy: math.Inf(-1), feature: -1}
	p, seen := b.d.p, 0
	sample := b.r.maxFeatures < p
	for j := 0; j < p && seen < b.r.maxFeatures; j++ {
		if sample {
			k := j + b.rng.IntN(p-j)
			b.feats[j], b.feats[k] = b.feats[k], b.feats[j]
		}
		f := b.feats[j]
		buf := b.buf[:len(samples)]
		col := b.d.cols[f*b.d.n : (f+1)*b.d.n]
		for t, i := range samples {
			buf[t] = pair{col[i], i}
		}
		slices.SortFunc(buf, func(a, c pair) int {
			if a.x != c.x {
				return cmp.Compare(a.x, c.x)
			}
			return cmp.Compare(a.i, c.i)
		})
		if buf[0].x == buf[len(buf)-1].x {
			continue // constant in this node: does not count
		}
		seen++
		if b.d.yc != nil {
			b.scanClass(f, buf, &best)
		} else {
			b.scanReg(f, buf, &best)
		}
	}
	return best, best.feature >= 0
}

// threshold returns the midpoint of a < c as scikit-learn computes it,
// falling back to a when rounding reaches c.
func threshold(a, c float64) float64 {
	t := a/2 + c/2
	if t < a || t >= c || math.IsInf(t, 0) {
		t = a
	}
	return t
}

func (b *builder) scanClass(f int, buf []pair, best *split) {
	cl, ct := b.cl, b.ct
	clear(cl)
	clear(ct)
	wt := 0.0
	for _, s := range buf {
		ct[b.d.yc[s.i]] += b.w[s.i]
		wt += b.w[s.i]
	}
	m, minLeaf, wl := len(buf), b.r.minLeaf, 0.0
	entropy := b.r.crit == Entropy
	for pos := 0; pos < m-1; pos++ {
		s := buf[pos]
		cl[b.d.yc[s.i]] += b.w[s.i]
		wl += b.w[s.i]
		nl := pos + 1
		if m-nl < minLeaf {
			break
		}
		if nl < minLeaf || buf[pos+1].x == s.x {
			continue
		}
		wr := wt - wl
		proxy := 0.0
		if entropy {
			for c, l := range cl {
				if l > 0 {
					proxy += l * math.Log(l/wl)
				}
				if r := ct[c] - l; r > 0 {
					proxy += r * math.Log(r/wr)
				}
			}
		} else {
			sl, sr := 0.0, 0.0
			for c, l := range cl {
				r := ct[c] - l
				sl += l * l
				sr += r * r
			}
			proxy = sl/wl + sr/wr
		}
		if proxy > best.proxy {
			*best = split{feature: f, threshold: threshold(s.x, buf[pos+1].x), nLeft: nl, proxy: proxy}
		}
	}
}

func (b *builder) scanReg(f int, buf []pair, best *split) {
	st, wt := 0.0, 0.0
	for _, s := range buf {
		st += b.w[s.i] * b.d.yr[s.i]
		wt += b.w[s.i]
	}
	m, minLeaf, sl, wl := len(buf), b.r.minLeaf, 0.0, 0.0
	for pos := 0; pos < m-1; pos++ {
		s := buf[pos]
		sl += b.w[s.i] * b.d.yr[s.i]
		wl += b.w[s.i]
		nl := pos + 1
		if m-nl < minLeaf {
			break
		}
		if nl < minLeaf || buf[pos+1].x == s.x {
			continue
		}
		sr, wr := st-sl, wt-wl
		proxy := sl*sl/wl + sr*sr/wr
		if proxy > best.proxy {
			*best = split{feature: f, threshold: threshold(s.x, buf[pos+1].x), nLeft: nl, proxy: proxy}
		}
	}
}
