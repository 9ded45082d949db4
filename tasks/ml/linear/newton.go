package linear

import "gonum.org/v1/gonum/mat"

// maxNewtonWork bounds the cost of one Hessian, n·dim² multiply-adds, for
// the Newton refinement; above it FitLogistic keeps the L-BFGS result.
const maxNewtonWork = 2e9

// maxNewtonDim bounds the parameters of a Newton refinement: its Hessian,
// a damped copy and their Cholesky factor hold 3·dim² floats (24 MB at
// 1000), per fit, and tune fits several at once.
const maxNewtonDim = 1000

// maxNewtonIter bounds the Newton refinement's iterations (within MaxIter
// too). Started where L-BFGS stopped it converges in a handful; the bound
// only stops a fit whose gradient cannot get below tol in floating point.
const maxNewtonIter = 50

// newtonFeasible reports whether the Newton refinement's Hessians are
// cheap enough for n samples and dim parameters.
func newtonFeasible(n, dim int) bool {
	return float64(n)*float64(dim)*float64(dim) <= maxNewtonWork && dim <= maxNewtonDim
}

// refineNewton continues from x (the L-BFGS result) with Newton's method
// on l — the exact Hessian, a Cholesky solve (damped if the Hessian is
// singular, as the multinomial one is along a common intercept shift) and
// a backtracking line search — until max|gradient| <= tol (converged),
// the objective can no longer be lowered (the gradient is at its rounding
// level), or maxIter iterations. It returns the final point, objective,
// gradient norm, the iterations run and whether tol was met.
func refineNewton(l *logLoss, x []float64, tol float64, maxIter int) (xOut []float64, f, gn float64, iters int, converged bool) {
	dim := l.dim
	x = append([]float64(nil), x...)
	g := make([]float64, dim)
	xn := make([]float64, dim)
	gnew := make([]float64, dim)
	f = l.eval(x, g)
	gn = normInf(g)
	h := mat.NewSymDense(dim, nil)
	d := mat.NewVecDense(dim, nil)
	for iters < maxIter && gn > tol {
		iters++
		l.hessian(x, h)
		if !solveNewton(h, g, d) {
			break
		}
		dir := d.RawVector().Data
		gd := vdot(g, dir)
		if !(gd < 0) {
			break
		}
		step, accepted := 1.0, false
		var fnew float64
		for range 40 {
			for j := range xn {
				xn[j] = x[j] + step*dir[j]
			}
			fnew = l.eval(xn, gnew)
			// Sufficient decrease; or, at the rounding level of f, a step
			// that does not raise f and lowers the gradient.
			if fnew <= f+1e-4*step*gd || fnew <= f && normInf(gnew) < gn {
				accepted = true
				break
			}
			step /= 2
		}
		if !accepted || normInf(gnew) >= gn && fnew >= f {
			break // no more progress in floating point
		}
		x, xn = xn, x
		g, gnew = gnew, g
		f, gn = fnew, normInf(g)
	}
	return x, f, gn, iters, gn <= tol
}

// solveNewton solves h·d = -g by Cholesky, adding a small multiple of the
// identity when h is not numerically positive definite.
func solveNewton(h *mat.SymDense, g []float64, d *mat.VecDense) bool {
	dim := len(g)
	rhs := mat.NewVecDense(dim, nil)
	for j, v := range g {
		rhs.SetVec(j, -v)
	}
	scale := 0.0
	for j := range dim {
		scale = max(scale, h.At(j, j))
	}
	var ch mat.Cholesky
	damped := mat.NewSymDense(dim, nil)
	for _, damp := range []float64{0, 1e-12, 1e-10, 1e-8, 1e-6} {
		damped.CopySym(h)
		if damp > 0 {
			for j := range dim {
				damped.SetSym(j, j, h.At(j, j)+damp*scale)
			}
		}
		if ch.Factorize(damped) {
			if err := ch.SolveVecTo(d, rhs); err == nil {
				return true
			}
		}
	}
	return false
}

// hessian writes the Hessian of the objective at x into h (dim×dim):
// Σᵢ swᵢ·(diag(π) - ππᵀ) ⊗ [xᵢ,1][xᵢ,1]ᵀ plus λ on the coefficients'
// diagonal; binomial: Σᵢ swᵢ·π(1-π)·[xᵢ,1][xᵢ,1]ᵀ. Summed in row order, so
// the result does not depend on the number of CPUs.
func (l *logLoss) hessian(x []float64, h *mat.SymDense) {
	p, rows := l.p, l.rows
	raw := h.RawSymmetric()
	data := raw.Data
	clear(data)
	at := func(a, b int) int { // upper triangle, a <= b
		return a*raw.Stride + b
	}
	col := func(r, j int) int { // parameter index of row r, feature j (j == p: intercept)
		if j == p {
			return rows*p + r
		}
		return r*p + j
	}
	z := make([]float64, l.k)
	xt := make([]float64, p+1)
	for i := range l.n {
		row := l.data[i*l.stride : i*l.stride+p]
		copy(xt, row)
		xt[p] = 1
		sw := 1.0
		if l.sw != nil {
			sw = l.sw[l.y[i]]
		}
		if rows == 1 {
			pr := sigmoid(x[p] + dot(row, x[:p]))
			c := sw * pr * (1 - pr)
			for a := range p + 1 {
				ca := c * xt[a]
				if ca == 0 {
					continue
				}
				base := a * raw.Stride
				for b := a; b <= p; b++ {
					data[base+b] += ca * xt[b]
				}
			}
			continue
		}
		for c := range l.k {
			z[c] = x[rows*p+c] + dot(row, x[c*p:(c+1)*p])
		}
		softmax(z)
		for r := range rows {
			for s := r; s < rows; s++ {
				c := -z[r] * z[s]
				if r == s {
					c += z[r]
				}
				c *= sw
				if c == 0 {
					continue
				}
				for a := range p + 1 {
					ca := c * xt[a]
					ia := col(r, a)
					for b := range p + 1 {
						ib := col(s, b)
						if r == s && b < a {
							continue
						}
						lo, hi := ia, ib
						if lo > hi {
							lo, hi = hi, lo
						}
						data[at(lo, hi)] += ca * xt[b]
					}
				}
			}
		}
	}
	for j := range rows * p {
		data[at(j, j)] += l.lambda
	}
}
