#!/usr/bin/python3
"""Write golden.json: scikit-learn's metrics on fixed predictions, for
evaluate's golden test (golden_test.go), which compares Classify and
Regress to them to 1e-9.

Run from this directory with Debian's python3-sklearn (not pip):

    apt-get install -y python3-sklearn
    /usr/bin/python3 gen_golden.py > golden.json

The predictions are drawn here from fixed seeds and written with repr,
which round-trips float64 exactly, so the Go test reads the very values
scikit-learn scored. Scores are rounded to two decimals in the binary
cases so that the ROC curve has ties. scikit-learn 1.2 puts max(score) + 1
as the first ROC threshold where later versions (and package metrics) put
+Inf: the test compares the curve's points and the other thresholds.
"""
import json
import math
import platform
import sys

import numpy as np
import sklearn
from sklearn import metrics as skm


def probs(rng, y, k, boost, decimals=None):
    n = len(y)
    p = rng.random((n, k))
    p[np.arange(n), y] += boost
    if decimals is not None and k == 2:
        p1 = np.round(p[:, 1] / p.sum(axis=1), decimals)
        return np.stack([1 - p1, p1], axis=1)
    return p / p.sum(axis=1, keepdims=True)


def classification(name, rng, n, k, weights, boost, positive=1, decimals=None, absent=None):
    classes = [f"c{i}" for i in range(k)]
    w = np.array(weights, dtype=float)
    w /= w.sum()
    y = rng.choice(k, size=n, p=w)
    p = probs(rng, y, k, boost, decimals)
    pred = p.argmax(axis=1)
    labels = list(range(k))
    out = {}
    out["accuracy"] = skm.accuracy_score(y, pred)
    out["balanced_accuracy"] = skm.balanced_accuracy_score(y, pred)
    for avg in ("macro", "weighted"):
        pr, rc, f1, _ = skm.precision_recall_fscore_support(y, pred, labels=labels, average=avg, zero_division=0)
        out["precision_" + avg], out["recall_" + avg], out["f1_" + avg] = pr, rc, f1
    if k == 2:
        pr, rc, f1, _ = skm.precision_recall_fscore_support(y, pred, labels=labels, average="binary", pos_label=positive, zero_division=0)
        out["precision"], out["recall"], out["f1"] = pr, rc, f1
    out["log_loss"] = skm.log_loss(y, p, labels=labels)
    curves = []
    if len(set(y.tolist())) == k:
        if k == 2:
            auc = skm.roc_auc_score((y == positive).astype(int), p[:, positive])
            out["roc_auc"] = out["roc_auc_weighted"] = auc
            fpr, tpr, th = skm.roc_curve((y == positive).astype(int), p[:, positive])
            curves.append({"class": classes[positive], "fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": th[1:].tolist()})
        else:
            out["roc_auc"] = skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels)
            out["roc_auc_weighted"] = skm.roc_auc_score(y, p, multi_class="ovr", average="weighted", labels=labels)
            for c in range(k):
                fpr, tpr, th = skm.roc_curve((y == c).astype(int), p[:, c])
                curves.append({"class": classes[c], "fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": th[1:].tolist()})
    pr, rc, f1, sup = skm.precision_recall_fscore_support(y, pred, labels=labels, average=None, zero_division=0)
    return {
        "name": name, "kind": "classification", "classes": classes, "positive": positive,
        "y_true": y.tolist(), "y_pred": pred.tolist(), "proba": [[float(v) for v in row] for row in p],
        "metrics": {k2: float(v) for k2, v in out.items()},
        "confusion": skm.confusion_matrix(y, pred, labels=labels).tolist(),
        "per_class": [{"precision": float(a), "recall": float(b), "f1": float(c), "support": int(d)} for a, b, c, d in zip(pr, rc, f1, sup)],
        "roc": curves,
    }


def regression(name, rng, n):
    y = rng.normal(10, 3, n)
    pred = y + rng.normal(0, 1.5, n)
    mse = skm.mean_squared_error(y, pred)
    return {
        "name": name, "kind": "regression", "y_true": y.tolist(), "y_pred": pred.tolist(),
        "metrics": {"mse": mse, "rmse": math.sqrt(mse), "mae": skm.mean_absolute_error(y, pred), "r2": skm.r2_score(y, pred)},
    }


def main():
    rng = np.random.default_rng(20261201)
    cases = [
        classification("binary", rng, 500, 2, [0.7, 0.3], 0.5, decimals=2),
        classification("binary-positive-0", rng, 300, 2, [0.4, 0.6], 0.4, positive=0, decimals=2),
        classification("multiclass", rng, 400, 4, [1, 2, 3, 4], 0.6),
        classification("multiclass-class-absent", rng, 60, 5, [1, 1, 1, 1, 0], 0.3),
        regression("regression", rng, 300),
    ]
    json.dump({
        "generator": "gen_golden.py",
        "sklearn": sklearn.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "cases": cases,
    }, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


main()
