#!/usr/bin/python3
"""Write golden.json (and mixed_train.csv, mixed_test.csv): scikit-learn's
predictions of whole pipelines (imputation, standardization, one-hot
encoding, then the estimator) fitted on fixed training rows, for the
end-to-end tests of package model.

Run from this directory with Debian's python3-sklearn (not pip):

    apt-get install -y python3-sklearn
    /usr/bin/python3 gen_golden.py > golden.json

The breast cancer, iris and diabetes sets are read from
../../tree/testdata (see SOURCES.md there), with the train/test rows of
../../tree/testdata/golden.json ("split" names the case there). mixed_*.csv are synthetic (numeric,
categorical and boolean columns with missing values, and a test category
the training rows lack), written by this script from a fixed seed. Floats
are written with repr, which round-trips float64 exactly; two runs give the
same bytes with the same numpy and scikit-learn versions (recorded).
"""
import csv
import json
import platform
import random
import sys

import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

TREE = "../../tree/testdata/"
# newton-cg stops on the gradient alone, so its fit is the converged
# optimum (scipy's lbfgs also stops on a relative change of the objective).
CONVERGED = dict(penalty="l2", solver="newton-cg", tol=1e-8, max_iter=10000)


def floats(a):
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def read(name):
    with open(TREE + name) as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def split_of(name):
    g = json.load(open(TREE + "golden.json"))
    for case in g["classification"] + g["regression"]:
        if case["name"] == name:
            return case["train_idx"], case["test_idx"]
    raise KeyError(name)


def numeric_case(name, file, algorithm, hyperparams, standardize, make):
    header, rows = read(file)
    X = np.array([[float(v) for v in r[:-1]] for r in rows])
    labels = [r[-1] for r in rows]
    train, test = split_of(name)
    steps = [("scale", StandardScaler())] if standardize else []
    est = make()
    pipe = Pipeline(steps + [("est", est)])
    case = {"name": name + "/" + algorithm, "file": TREE + file, "label": header[-1],
            "algorithm": algorithm, "hyperparams": hyperparams, "standardize": standardize,
            "split": name}
    if algorithm == "logistic_regression":
        y = np.array(labels)
        pipe.fit(X[train], y[train])
        case["classes"] = [str(c) for c in est.classes_]
        case["proba"] = [floats(p) for p in pipe.predict_proba(X[test])]
        case["class"] = [int(np.searchsorted(est.classes_, c)) for c in pipe.predict(X[test])]
    else:
        y = np.array([float(v) for v in labels])
        pipe.fit(X[train], y[train])
        case["value"] = floats(pipe.predict(X[test]))
    return case


def write_mixed():
    """Synthetic rows: x1, x2 numeric (some missing), color categorical
    (some missing), member boolean (some missing), y churn/stay (not yes/no, which would read as a boolean)."""
    rng = random.Random(7)
    colors = ["blue", "green", "red"]

    def row(test):
        x1 = rng.gauss(0, 1)
        x2 = rng.gauss(5, 2)
        color = rng.choice(colors + (["purple"] if test else []))
        member = rng.random() < 0.4
        z = 1.2 * x1 - 0.5 * (x2 - 5) + {"blue": 0.8, "green": -0.4, "red": 0.1, "purple": 0}[color] + (0.7 if member else 0)
        y = "churn" if z + rng.gauss(0, 0.8) > 0 else "stay"
        out = [repr(round(x1, 6)), repr(round(x2, 6)), color, "true" if member else "false", y]
        for j in range(4):
            if rng.random() < 0.08:
                out[j] = "NA" if j < 2 else ""
        return out

    header = ["x1", "x2", "color", "member", "y"]
    for name, n, test in (("mixed_train.csv", 160, False), ("mixed_test.csv", 60, True)):
        with open(name, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            for _ in range(n):
                w.writerow(row(test))


def load_mixed(name):
    with open(name) as f:
        rows = list(csv.reader(f))[1:]
    def num(v):
        return np.nan if v in ("", "NA") else float(v)
    x = np.array([[num(r[0]), num(r[1])] for r in rows])
    color = np.array([[r[2] if r[2] != "" else np.nan] for r in rows], dtype=object)
    member = np.array([[np.nan if r[3] == "" else (1.0 if r[3] == "true" else 0.0)] for r in rows])
    y = np.array([r[4] for r in rows])
    return x, color, member, y


def mixed_case(numeric_impute):
    xt, ct, mt, yt = load_mixed("mixed_train.csv")
    xs, cs, ms, _ = load_mixed("mixed_test.csv")
    num = Pipeline([("impute", SimpleImputer(strategy=numeric_impute)), ("scale", StandardScaler())])
    cat = Pipeline([("impute", SimpleImputer(strategy="most_frequent", missing_values=np.nan)),
                    ("onehot", OneHotEncoder(handle_unknown="ignore"))])
    boolean = SimpleImputer(strategy="most_frequent")
    pre = ColumnTransformer([("num", num, [0, 1]), ("cat", cat, [2]), ("bool", boolean, [3])])

    def frame(x, c, m):
        out = np.empty((len(x), 4), dtype=object)
        out[:, 0:2] = x
        out[:, 2:3] = c
        out[:, 3:4] = m
        return out

    est = LogisticRegression(C=0.5, **CONVERGED)
    pipe = Pipeline([("pre", pre), ("est", est)])
    pipe.fit(frame(xt, ct, mt), yt)
    test = frame(xs, cs, ms)
    return {"name": "mixed/logistic_regression/" + numeric_impute, "train_file": "mixed_train.csv",
            "test_file": "mixed_test.csv", "label": "y", "algorithm": "logistic_regression",
            "hyperparams": {"C": 0.5}, "standardize": True, "numeric_impute": numeric_impute,
            "classes": [str(c) for c in est.classes_],
            "proba": [floats(p) for p in pipe.predict_proba(test)],
            "class": [int(np.searchsorted(est.classes_, c)) for c in pipe.predict(test)]}


def main():
    write_mixed()
    cases = [
        numeric_case("breast_cancer", "breast_cancer.csv", "logistic_regression", {"C": 1.0}, True,
                     lambda: LogisticRegression(C=1.0, **CONVERGED)),
        numeric_case("iris", "iris.csv", "logistic_regression", {"C": 0.5}, True,
                     lambda: LogisticRegression(C=0.5, **CONVERGED)),
        numeric_case("diabetes", "diabetes.csv", "ridge", {"alpha": 1.0}, True, lambda: Ridge(alpha=1.0)),
        numeric_case("diabetes", "diabetes.csv", "linear_regression", {}, False, LinearRegression),
        mixed_case("mean"),
        mixed_case("median"),
    ]
    out = {"sklearn_version": sklearn.__version__, "numpy_version": np.__version__,
           "python_version": platform.python_version(), "cases": cases}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


main()
