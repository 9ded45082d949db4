package linear

import "math"

// lbfgsMemory is the number of correction pairs kept, scipy's maxcor.
const lbfgsMemory = 10

type lbfgsResult struct {
	x          []float64
	f          float64
	gradNorm   float64 // max |gradient| at x
	iterations int
	converged  bool
}

// minimizeLBFGS minimises a smooth, strongly convex function from x = 0
// with L-BFGS and a backtracking line search (sufficient decrease, with
// quadratic interpolation). fg writes the gradient at x into g and returns
// f(x). It stops when max|g| <= tol, when an iteration lowers f by at most
// ftol·max(|f|, 1) (scipy's L-BFGS-B criteria; both count as converged),
// after maxIter iterations, or when the line search can make no progress
// (neither counts as converged).
func minimizeLBFGS(fg func(x, g []float64) float64, dim int, tol, ftol float64, maxIter int) lbfgsResult {
	x := make([]float64, dim)
	g := make([]float64, dim)
	xn := make([]float64, dim)
	gn := make([]float64, dim)
	d := make([]float64, dim)
	alphaBuf := make([]float64, lbfgsMemory)
	var s, y [lbfgsMemory][]float64
	var rho [lbfgsMemory]float64
	for i := range lbfgsMemory {
		s[i] = make([]float64, dim)
		y[i] = make([]float64, dim)
	}
	stored, head := 0, 0 // pairs stored; index of the next slot

	f := fg(x, g)
	res := lbfgsResult{x: x}
	if normInf(g) <= tol {
		res.f, res.gradNorm, res.converged = f, normInf(g), true
		return res
	}
	for iter := 1; iter <= maxIter; iter++ {
		res.iterations = iter
		// Two-loop recursion: d = -H·g.
		for j := range d {
			d[j] = -g[j]
		}
		for m := 0; m < stored; m++ {
			i := (head - 1 - m + lbfgsMemory) % lbfgsMemory
			a := rho[i] * vdot(s[i], d)
			alphaBuf[i] = a
			axpy(-a, y[i], d)
		}
		if stored > 0 {
			i := (head - 1 + lbfgsMemory) % lbfgsMemory
			gamma := vdot(s[i], y[i]) / vdot(y[i], y[i])
			for j := range d {
				d[j] *= gamma
			}
		}
		for m := stored - 1; m >= 0; m-- {
			i := (head - 1 - m + lbfgsMemory) % lbfgsMemory
			b := rho[i] * vdot(y[i], d)
			axpy(alphaBuf[i]-b, s[i], d)
		}
		gd := vdot(g, d)
		if !(gd < 0) { // not a descent direction: restart from -g
			stored = 0
			for j := range d {
				d[j] = -g[j]
			}
			gd = vdot(g, d)
		}
		step := 1.0
		if stored == 0 {
			step = 1 / math.Sqrt(-gd) // 1/‖d‖ with d = -g, like L-BFGS-B
		}

		// Backtracking line search.
		noise := 1e-13 * math.Max(math.Abs(f), 1)
		accepted := false
		var fnew float64
		for range 60 {
			for j := range xn {
				xn[j] = x[j] + step*d[j]
			}
			fnew = fg(xn, gn)
			if fnew <= f+1e-4*step*gd {
				accepted = true
				break
			}
			// Near the minimum f changes by less than its rounding error;
			// accept a step that does not raise f beyond it and flattens
			// the slope along d (the curvature condition).
			if fnew <= f+noise && math.Abs(vdot(gn, d)) <= 0.9*math.Abs(gd) {
				accepted = true
				break
			}
			// Minimiser of the quadratic through f, f'(0) and f(step),
			// kept within [0.1, 0.5]·step.
			q := -gd * step * step / (2 * (fnew - f - gd*step))
			if math.IsNaN(q) || q < 0.1*step {
				q = 0.1 * step
			} else if q > 0.5*step {
				q = 0.5 * step
			}
			step = q
		}
		if !accepted {
			break
		}

		// Store the correction pair if it keeps H positive definite.
		for j := range s[head] {
			s[head][j] = xn[j] - x[j]
			y[head][j] = gn[j] - g[j]
		}
		if sy := vdot(s[head], y[head]); sy > 0 {
			rho[head] = 1 / sy
			head = (head + 1) % lbfgsMemory
			stored = min(stored+1, lbfgsMemory)
		}
		fold := f
		x, xn = xn, x
		g, gn = gn, g
		f = fnew
		if normInf(g) <= tol {
			res.converged = true
			break
		}
		if ftol > 0 && fold-f <= ftol*math.Max(math.Max(math.Abs(fold), math.Abs(f)), 1) {
			res.converged = true
			break
		}
	}
	res.x, res.f, res.gradNorm = x, f, normInf(g)
	return res
}

func vdot(a, b []float64) float64 {
	b = b[:len(a)]
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func normInf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}
