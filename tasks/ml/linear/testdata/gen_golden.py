#!/usr/bin/python3
"""Write golden.json: fixed inputs and scikit-learn's fitted linear models.

Run from this directory with Debian's python3-sklearn (not pip):

    apt-get install -y python3-sklearn
    /usr/bin/python3 gen_golden.py > golden.json

Synthetic inputs come from numpy RandomState with fixed seeds; the "real"
slices come from the data sets bundled with scikit-learn (diabetes, breast
cancer, iris, wine), so nothing is downloaded. The inputs are written into
golden.json, so the Go tests need neither Python nor data files. Floats are
written with repr, which round-trips float64 exactly; running the script
twice gives the same bytes with the same numpy and scikit-learn versions
(both recorded).
"""
import json
import platform
import sys
import warnings

import numpy as np
import scipy
import sklearn
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

RIDGE_ALPHAS = [0.01, 1.0, 10.0, 100.0]
HEAD = 40  # predictions and probabilities are recorded for the first HEAD rows
LOGISTIC = dict(penalty="l2", solver="lbfgs", tol=1e-10, max_iter=10000)
# scipy's L-BFGS-B also stops when f falls by less than ftol = 2.2e-9
# relative, which scikit-learn does not expose: with tol=1e-10 the lbfgs
# fits still stop up to ~4e-4 (relative) away from the optimum. newton-cg
# stops on the gradient alone, so its fit is the converged reference.
CONVERGED = dict(penalty="l2", solver="newton-cg", tol=1e-8, max_iter=10000)


def floats(a):
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def matrix(a):
    return [floats(row) for row in np.asarray(a, dtype=np.float64)]


def standardize(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


def regression_case(name, X, y):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ols = LinearRegression().fit(X, y)
    case = {
        "name": name,
        "x": matrix(X),
        "y": floats(y),
        "ols": {"coef": floats(ols.coef_), "intercept": float(ols.intercept_), "rank": int(ols.rank_),
                "predict": floats(ols.predict(X[:HEAD]))},
        "ridge": [],
    }
    for alpha in RIDGE_ALPHAS:
        r = Ridge(alpha=alpha).fit(X, y)  # solver="auto": cholesky on dense X
        case["ridge"].append({"alpha": alpha, "coef": floats(r.coef_), "intercept": float(r.intercept_),
                              "predict": floats(r.predict(X[:HEAD]))})
    return case


def logistic_case(name, X, y, Cs):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    case = {"name": name, "x": matrix(X), "y": [int(v) for v in y], "fits": []}
    for C in Cs:
        for cw in (None, "balanced"):
            with warnings.catch_warnings():
                warnings.simplefilter("error", ConvergenceWarning)  # fails the script
                m = LogisticRegression(C=C, class_weight=cw, **LOGISTIC).fit(X, y)
            case["fits"].append({
                "c": C,
                "balanced": cw == "balanced",
                "coef": matrix(m.coef_),
                "intercept": floats(m.intercept_),
                "n_iter": int(m.n_iter_[0]),
                "proba": matrix(m.predict_proba(X[:HEAD])),
                "predict": [int(v) for v in m.predict(X[:HEAD])],
            })
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scipy's LineSearchWarning near the optimum
                warnings.simplefilter("error", ConvergenceWarning)
                ref = LogisticRegression(C=C, class_weight=cw, **CONVERGED).fit(X, y)
            case["fits"][-1]["converged"] = {
                "coef": matrix(ref.coef_),
                "intercept": floats(ref.intercept_),
                "n_iter": int(ref.n_iter_[0]),
                "proba": matrix(ref.predict_proba(X[:HEAD])),
            }
    return case


def regression_cases():
    out = []
    rng = np.random.RandomState(0)
    n, p = 60, 5
    X = rng.normal(size=(n, p)) @ (np.eye(p) + 0.3 * rng.normal(size=(p, p))) + 2.0
    beta = np.array([1.5, -2.0, 0.0, 0.7, 3.0])
    y = X @ beta + 3.0 + 0.5 * rng.normal(size=n)
    out.append(regression_case("synthetic 60x5", X, y))

    d = datasets.load_diabetes()
    out.append(regression_case("diabetes rows 0-119", d.data[:120], d.target[:120]))

    # Rank deficient: column 3 duplicates column 0, column 4 = col 1 - 2 col 2.
    rng = np.random.RandomState(1)
    base = rng.normal(size=(40, 3))
    X = np.column_stack([base, base[:, 0], base[:, 1] - 2 * base[:, 2]])
    y = base @ np.array([1.0, -1.0, 0.5]) + 0.1 * rng.normal(size=40) - 1.0
    out.append(regression_case("rank deficient 40x5 (rank 3)", X, y))

    # Fewer samples than features.
    rng = np.random.RandomState(2)
    X = rng.normal(size=(8, 12))
    y = X[:, 0] - X[:, 5] + 0.1 * rng.normal(size=8)
    out.append(regression_case("wide 8x12", X, y))

    # One training row: scikit-learn fits it (coef 0, intercept y[0], rank 0).
    rng = np.random.RandomState(0)
    n, p = 60, 5
    X = rng.normal(size=(n, p)) @ (np.eye(p) + 0.3 * rng.normal(size=(p, p))) + 2.0
    beta = np.array([1.5, -2.0, 0.0, 0.7, 3.0])
    y = X @ beta + 3.0 + 0.5 * rng.normal(size=n)
    out.append(regression_case("single row (synthetic 60x5 row 0)", X[:1], y[:1]))
    return out


def logistic_cases():
    out = []
    rng = np.random.RandomState(3)
    n, p = 200, 4
    X = rng.normal(size=(n, p))
    z = X @ np.array([1.0, -2.0, 0.5, 0.0]) - 1.2
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    out.append(logistic_case("binary synthetic 200x4", X, y, [1.0, 0.1]))

    bc = datasets.load_breast_cancer()
    X = standardize(bc.data[:150, :10])
    out.append(logistic_case("breast cancer rows 0-149, features 0-9, standardized", X, bc.target[:150], [1.0, 0.05]))

    iris = datasets.load_iris()
    keep = np.r_[0:50, 50:80, 100:150]  # 50 / 30 / 50: imbalanced
    out.append(logistic_case("iris 3 classes 50/30/50", iris.data[keep], iris.target[keep], [1.0, 0.1]))

    wine = datasets.load_wine()
    keep = np.r_[0:30, 59:120, 130:148]  # 30 / 61 / 18
    out.append(logistic_case("wine 3 classes 30/61/18, standardized", standardize(wine.data[keep]),
                             wine.target[keep], [1.0]))

    rng = np.random.RandomState(4)
    n = 180
    y = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    centers = np.array([[0.0, 0.0, 0.0], [1.5, 0.5, -1.0], [-0.5, 2.0, 1.0]])
    X = centers[y] + rng.normal(size=(n, 3))
    out.append(logistic_case("multinomial synthetic 180x3", X, y, [0.5, 10.0]))
    return out


def main():
    doc = {
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "python_version": platform.python_version(),
        "logistic_params": LOGISTIC,
        "logistic_converged_params": CONVERGED,
        "head": HEAD,
        "regression": regression_cases(),
        "logistic": logistic_cases(),
    }
    json.dump(doc, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
