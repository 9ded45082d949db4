#!/usr/bin/python3
"""Write golden.json: fixed train/test splits of the shipped data sets and
scikit-learn's test scores for a decision tree and a random forest on them.

Run from this directory with Debian's scikit-learn (not pip):

    apt-get install -y python3-sklearn
    /usr/bin/python3 gen_golden.py > golden.json

Every random choice has a fixed seed, so two runs with the same numpy and
scikit-learn versions (both recorded) give the same bytes. The Go tests read
the split's row indices from golden.json, so Go and scikit-learn train and
test on exactly the same rows.
"""
import csv
import json
import platform

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

SPLIT_SEED = 42  # train_test_split random_state
MODEL_SEED = 0  # random_state of every estimator
# random_state values of the seed sweep: a 30-row test set (iris) moves 3.3
# points per row, and scikit-learn's own accuracy moves by a row or two with
# random_state (feature-order tie-breaking, bootstrap draws), so the Go tests
# compare means over these seeds as well as the random_state=0 figures.
SWEEP = list(range(10))
TEST_SIZE = 0.2


def load(path):
    """Numeric features; the label is the last column, as written."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    X = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float64)
    y = [r[-1] for r in rows]
    return header, X, y


def classification(name, path):
    header, X, labels = load(path)
    # Classes are the sorted distinct label strings (LabelEncoder's order);
    # the Go test maps them the same way.
    classes = sorted(set(labels))
    y = np.array([classes.index(v) for v in labels])
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y)
    tr, te = np.sort(tr), np.sort(te)
    dt = DecisionTreeClassifier(random_state=MODEL_SEED).fit(X[tr], y[tr])
    rf = RandomForestClassifier(n_estimators=100, random_state=MODEL_SEED).fit(X[tr], y[tr])
    dt_sweep = [accuracy_score(y[te], DecisionTreeClassifier(random_state=s).fit(X[tr], y[tr]).predict(X[te])) for s in SWEEP]
    rf_sweep = [
        accuracy_score(y[te], RandomForestClassifier(n_estimators=100, random_state=s).fit(X[tr], y[tr]).predict(X[te]))
        for s in SWEEP
    ]
    return {
        "name": name,
        "file": path,
        "label": header[-1],
        "classes": classes,
        "train_idx": [int(i) for i in tr],
        "test_idx": [int(i) for i in te],
        "tree_accuracy": float(accuracy_score(y[te], dt.predict(X[te]))),
        "tree_depth": int(dt.get_depth()),
        "tree_leaves": int(dt.get_n_leaves()),
        "forest_accuracy": float(accuracy_score(y[te], rf.predict(X[te]))),
        "tree_accuracy_sweep": [float(a) for a in dt_sweep],
        "forest_accuracy_sweep": [float(a) for a in rf_sweep],
    }


def regression(name, path):
    header, X, labels = load(path)
    y = np.array([float(v) for v in labels])
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=TEST_SIZE, random_state=SPLIT_SEED)
    tr, te = np.sort(tr), np.sort(te)
    dt = DecisionTreeRegressor(max_depth=4, random_state=MODEL_SEED).fit(X[tr], y[tr])
    rf = RandomForestRegressor(n_estimators=100, random_state=MODEL_SEED).fit(X[tr], y[tr])
    return {
        "name": name,
        "file": path,
        "label": header[-1],
        "train_idx": [int(i) for i in tr],
        "test_idx": [int(i) for i in te],
        "tree_max_depth": 4,
        "tree_r2": float(r2_score(y[te], dt.predict(X[te]))),
        "forest_r2": float(r2_score(y[te], rf.predict(X[te]))),
    }


def main():
    out = {
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "split_seed": SPLIT_SEED,
        "model_seed": MODEL_SEED,
        "sweep_seeds": SWEEP,
        "test_size": TEST_SIZE,
        "classification": [
            classification("iris", "iris.csv"),
            classification("wine", "wine.csv"),
            classification("breast_cancer", "breast_cancer.csv"),
        ],
        "regression": [regression("diabetes", "diabetes.csv")],
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
