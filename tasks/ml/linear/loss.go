package linear

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/mat"
)

// chunkRows is the number of samples per unit of parallel work. The loss
// and gradient are summed per chunk and the chunk sums are added in chunk
// order, so the result is the same bits whatever the number of goroutines.
const chunkRows = 4096

// logLoss evaluates the penalised logistic objective
//
//	f(W, b) = Σᵢ swᵢ·logloss(xᵢ, yᵢ) + ½λ‖W‖²
//
// and its gradient. Parameters are laid out as W row-major (rows×p) then
// b (rows entries); rows is 1 for the binomial model and k for the
// multinomial one.
type logLoss struct {
	data   []float64 // X's backing array
	stride int
	n, p   int
	k      int       // classes
	rows   int       // 1 (binomial) or k (multinomial)
	dim    int       // rows*(p+1)
	y      []int     // class of each sample
	sw     []float64 // weight of each class, nil for all ones
	lambda float64   // 1/C

	chunks  int
	partial []float64 // chunks × (dim+1): gradient, then loss
}

func newLogLoss(X *mat.Dense, y []int, k int, classWeight []float64, lambda float64) *logLoss {
	raw := X.RawMatrix()
	rows := k
	if k == 2 {
		rows = 1
	}
	l := &logLoss{
		data: raw.Data, stride: raw.Stride, n: raw.Rows, p: raw.Cols,
		k: k, rows: rows, dim: rows * (raw.Cols + 1),
		y: y, sw: classWeight, lambda: lambda,
	}
	l.chunks = (l.n + chunkRows - 1) / chunkRows
	l.partial = make([]float64, l.chunks*(l.dim+1))
	return l
}

// eval writes the gradient at x into g and returns the objective.
func (l *logLoss) eval(x, g []float64) float64 {
	work := func(c int) {
		out := l.partial[c*(l.dim+1) : (c+1)*(l.dim+1)]
		lo, hi := c*chunkRows, min((c+1)*chunkRows, l.n)
		if l.rows == 1 {
			l.binomialChunk(x, lo, hi, out)
		} else {
			l.multinomialChunk(x, lo, hi, out)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), l.chunks)
	if workers <= 1 {
		for c := range l.chunks {
			work(c)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					c := int(next.Add(1)) - 1
					if c >= l.chunks {
						return
					}
					work(c)
				}
			})
		}
		wg.Wait()
	}

	clear(g)
	f := 0.0
	for c := range l.chunks {
		out := l.partial[c*(l.dim+1) : (c+1)*(l.dim+1)]
		for j, v := range out[:l.dim] {
			g[j] += v
		}
		f += out[l.dim]
	}
	pen := 0.0
	nw := l.rows * l.p
	for j, w := range x[:nw] {
		pen += w * w
		g[j] += l.lambda * w
	}
	return f + 0.5*l.lambda*pen
}

// binomialChunk: P(y=1) = σ(z), z = x·w + b, logloss = log(1+eᶻ) - y·z,
// gradient (σ(z) - y)·[x, 1].
func (l *logLoss) binomialChunk(x []float64, lo, hi int, out []float64) {
	p := l.p
	w, b := x[:p], x[p]
	clear(out)
	gw := out[:p]
	gb, loss := 0.0, 0.0
	for i := lo; i < hi; i++ {
		row := l.data[i*l.stride : i*l.stride+p]
		z := b + dot(row, w)
		yi := float64(l.y[i])
		// One exp for both log(1+eᶻ) and σ(z).
		e := math.Exp(-math.Abs(z))
		var li, prob float64
		if z > 0 {
			li = z + math.Log1p(e)
			prob = 1 / (1 + e)
		} else {
			li = math.Log1p(e)
			prob = e / (1 + e)
		}
		li -= yi * z
		r := prob - yi
		if l.sw != nil {
			sw := l.sw[l.y[i]]
			li *= sw
			r *= sw
		}
		loss += li
		gb += r
		axpy(r, row, gw)
	}
	out[p] = gb
	out[p+1] = loss
}

// multinomialChunk: P(y=c) = softmax(z)[c], z = W·x + b,
// logloss = logΣeᶻ - z_y, gradient (softmax(z) - onehot(y)) ⊗ [x, 1].
func (l *logLoss) multinomialChunk(x []float64, lo, hi int, out []float64) {
	p, k := l.p, l.k
	clear(out)
	z := make([]float64, k)
	gb := out[k*p : k*p+k]
	loss := 0.0
	for i := lo; i < hi; i++ {
		row := l.data[i*l.stride : i*l.stride+p]
		for c := range k {
			z[c] = x[k*p+c] + dot(row, x[c*p:(c+1)*p])
		}
		yi := l.y[i]
		zy := z[yi]
		lse := softmax(z) // z now holds the probabilities
		z[yi] -= 1
		sw := 1.0
		if l.sw != nil {
			sw = l.sw[yi]
		}
		loss += sw * (lse - zy)
		for c, r := range z {
			r *= sw
			gb[c] += r
			axpy(r, row, out[c*p:(c+1)*p])
		}
	}
	out[l.dim] = loss
}

// axpy adds a·x to y.
func axpy(a float64, x, y []float64) {
	y = y[:len(x)]
	for j, v := range x {
		y[j] += a * v
	}
}
