#!/usr/bin/python3
"""Time scikit-learn's LogisticRegression(solver="lbfgs") on the data of
BenchmarkLogisticFit200kx20 (bench_test.go) and print seconds per fit.

    /usr/bin/python3 bench_sklearn.py [repeats]

Same recipe as benchBinary in Go (numpy's generator instead of Go's PCG, so
the same distribution rather than the same bytes): 200,000 x 20 standard
normal features, beta_j = ((j mod 7) - 3)/4, intercept -0.5,
y ~ Bernoulli(sigmoid(x.beta - 0.5)). Default hyperparameters (C=1,
tol=1e-4, max_iter=100), like DefaultLogisticOptions.
"""
import sys
import time

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression


def data(seed=1, n=200_000, p=20):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, p))
    beta = (np.arange(p) % 7 - 3) / 4
    z = X @ beta - 0.5
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return X, y


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    X, y = data()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m = LogisticRegression(solver="lbfgs").fit(X, y)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}: "
          f"LogisticRegression(solver='lbfgs').fit on {X.shape[0]}x{X.shape[1]}, "
          f"n_iter {int(m.n_iter_[0])}, {repeats} runs")
    print(f"min {times[0]:.4f} s, median {times[len(times) // 2]:.4f} s")


if __name__ == "__main__":
    main()
