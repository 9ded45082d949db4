#!/usr/bin/python3
"""Write golden.json: fixed inputs and scikit-learn's metric values for them.

Run from this directory with Debian's python3-sklearn (not pip):

    apt-get install -y python3-sklearn
    /usr/bin/python3 gen_golden.py > golden.json

Inputs come from numpy RandomState with fixed seeds, so the file is the same
on every run with the same numpy and scikit-learn versions (both recorded).
Floats are written with repr, which round-trips float64 exactly.
"""
import json
import platform
import sys
import warnings

import numpy as np
import sklearn
from sklearn import metrics as M

EPS = float(np.finfo(np.float64).eps)  # log loss clipping: eps="auto", the default of scikit-learn >= 1.2


def floats(a):
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def ints(a):
    return [int(x) for x in np.asarray(a).ravel()]


def prf(y, p, k, average):
    kw = {"average": average, "zero_division": "warn"}
    if average == "binary":
        kw["pos_label"] = 1
    else:
        kw["labels"] = list(range(k))
    pr, rc, f1, _ = M.precision_recall_fscore_support(y, p, **kw)
    return {"precision": float(pr), "recall": float(rc), "f1": float(f1)}


def classification_common(y, p, k):
    out = {
        "accuracy": float(M.accuracy_score(y, p)),
        "confusion": M.confusion_matrix(y, p, labels=list(range(k))).tolist(),
        "micro": prf(y, p, k, "micro"),
        "macro": prf(y, p, k, "macro"),
        "weighted": prf(y, p, k, "weighted"),
    }
    if k == 2:
        out["binary"] = prf(y, p, k, "binary")
    return out


def binary_case(name, y, scores, pred, probabilities=True):
    y = np.asarray(y, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.int64)
    case = {"name": name, "y_true": ints(y), "y_pred": ints(pred), "scores": floats(scores)}
    case.update(classification_common(y, pred, 2))
    fpr, tpr, thr = M.roc_curve(y, scores, drop_intermediate=True)
    case["roc_auc"] = float(M.roc_auc_score(y, scores))
    # sklearn < 1.3 puts max(score)+1 first, >= 1.3 puts +inf; JSON has no
    # inf, so the first threshold is written as sklearn gave it and the Go
    # side (which uses +inf) skips it.
    case["roc_curve"] = {"fpr": floats(fpr), "tpr": floats(tpr), "thresholds": floats(thr)}
    case["log_loss"] = None
    case["log_loss_rows"] = None
    if probabilities:
        # 1-D y_pred: clipped, then [1-p, p]; 2-D rows: each column clipped.
        # They differ when p is within eps of 0 or 1.
        case["log_loss"] = float(M.log_loss(y, scores, eps=EPS, labels=[0, 1]))
        rows = np.column_stack([1 - scores, scores])
        case["log_loss_rows"] = float(M.log_loss(y, rows, eps=EPS, labels=[0, 1]))
    return case


def multiclass_case(name, y, probs, pred=None):
    y = np.asarray(y, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    k = probs.shape[1]
    if pred is None:
        pred = probs.argmax(axis=1)
    pred = np.asarray(pred, dtype=np.int64)
    case = {"name": name, "n_classes": k, "y_true": ints(y), "y_pred": ints(pred),
            "probs": [floats(r) for r in probs]}
    case.update(classification_common(y, pred, k))
    for avg in ("macro", "weighted"):
        key = "roc_auc_ovr_" + avg
        try:
            case[key] = float(M.roc_auc_score(y, probs, multi_class="ovr", average=avg,
                                              labels=list(range(k))))
        except ValueError as e:
            case[key] = None
            case["roc_auc_error"] = str(e)
    case["log_loss"] = float(M.log_loss(y, probs, eps=EPS, labels=list(range(k))))
    return case


def regression_case(name, y, p):
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    return {
        "name": name, "y_true": floats(y), "y_pred": floats(p),
        "mse": float(M.mean_squared_error(y, p)),
        "rmse": float(M.mean_squared_error(y, p, squared=False)),
        "mae": float(M.mean_absolute_error(y, p)),
        "r2": float(M.r2_score(y, p)),
    }


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def binary_cases():
    cases = []
    rs = np.random.RandomState(1)
    y = (rs.rand(200) < 0.4).astype(int)
    s = np.clip(0.35 * y + 0.65 * rs.rand(200), 0, 1)
    cases.append(binary_case("random_200", y, s, (s >= 0.5).astype(int)))

    rs = np.random.RandomState(2)
    y = (rs.rand(300) < 0.5).astype(int)
    s = np.round(np.clip(0.2 * y + 0.8 * rs.rand(300), 0, 1), 1)  # heavy ties
    cases.append(binary_case("ties_one_decimal", y, s, (s >= 0.5).astype(int)))

    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    s = np.array([0.0, 0.1, 0.2, 0.8, 0.9, 1.0, 0.3, 1.0])
    cases.append(binary_case("perfect_with_0_and_1", y, s, (s >= 0.5).astype(int)))

    cases.append(binary_case("worst", y, 1 - s, (1 - s >= 0.5).astype(int)))

    rs = np.random.RandomState(3)
    y = (rs.rand(1000) < 0.02).astype(int)
    s = np.clip(0.3 * y + 0.7 * rs.rand(1000) ** 2, 0, 1)
    cases.append(binary_case("imbalanced_2pct", y, s, (s >= 0.5).astype(int)))

    rs = np.random.RandomState(4)
    y = (rs.rand(150) < 0.5).astype(int)
    s = np.round(rs.randn(150) + 0.8 * y, 2)  # decision-function scores, negatives, ties
    s[:3] = [0.0, -0.0, 0.0]
    cases.append(binary_case("decision_scores", y, s, (s > 0).astype(int), probabilities=False))

    y = np.array([1, 0, 1, 0, 0, 1, 0])
    cases.append(binary_case("all_tied", y, np.full(7, 0.5), np.ones(7, dtype=int)))

    rs = np.random.RandomState(5)
    y = (rs.rand(50) < 0.3).astype(int)
    s = 0.45 * rs.rand(50)
    cases.append(binary_case("no_predicted_positive", y, s, np.zeros(50, dtype=int)))

    # equal fps/tps steps, so drop_intermediate removes collinear points
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 0, 1])
    s = np.array([0.9, 0.9, 0.8, 0.8, 0.7, 0.7, 0.6, 0.6, 0.1, 0.05])
    cases.append(binary_case("collinear_steps", y, s, (s >= 0.5).astype(int)))
    return cases


def multiclass_cases():
    cases = []
    rs = np.random.RandomState(10)
    y = rs.randint(0, 3, 300)
    z = rs.randn(300, 3) + 1.5 * np.eye(3)[y]
    cases.append(multiclass_case("three_classes_300", y, softmax(z)))

    rs = np.random.RandomState(11)
    y = rs.randint(0, 5, 500)
    z = rs.randint(0, 4, (500, 5)).astype(float) + 1.0 * np.eye(5)[y]  # repeated rows: ties
    cases.append(multiclass_case("five_classes_ties", y, softmax(z)))

    rs = np.random.RandomState(12)
    y = rs.choice(3, 400, p=[0.8, 0.15, 0.05])
    z = rs.randn(400, 3) + np.array([2.0, 0.0, -3.0]) + 0.5 * np.eye(3)[y]
    cases.append(multiclass_case("three_imbalanced_never_predicts_2", y, softmax(z)))

    rs = np.random.RandomState(13)
    y = rs.randint(0, 3, 60)
    z = rs.randn(60, 4) + 2.0 * np.eye(4)[y]
    z[:, 3] = -50.0  # class 3 neither true nor predicted, probability ~1e-22
    cases.append(multiclass_case("four_classes_one_absent", y, softmax(z)))

    rs = np.random.RandomState(14)
    y = rs.randint(0, 3, 30)
    cases.append(multiclass_case("perfect_one_hot", y, np.eye(3)[y]))
    return cases


def regression_cases():
    cases = []
    rs = np.random.RandomState(20)
    y = rs.randn(100) * 3 + 1
    cases.append(regression_case("linear_noise_100", y, y + 0.5 * rs.randn(100)))
    cases.append(regression_case("constant_true_wrong_pred", np.full(10, 3.0), np.arange(10) * 0.5))
    cases.append(regression_case("constant_true_exact_pred", np.full(10, 2.5), np.full(10, 2.5)))
    y = rs.randn(20)
    cases.append(regression_case("perfect", y, y.copy()))
    y = 1e6 + rs.randn(50) * 1e3
    cases.append(regression_case("large_offset", y, y + rs.randn(50) * 10))
    y = rs.randn(40)
    cases.append(regression_case("negative_r2", y, -2 * y + rs.randn(40)))
    return cases


def main():
    warnings.simplefilter("ignore")  # zero-division and deprecation warnings are expected
    doc = {
        "generated_by": "tasks/ml/metrics/testdata/gen_golden.py",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "log_loss_eps": EPS,
        "binary": binary_cases(),
        "multiclass": multiclass_cases(),
        "regression": regression_cases(),
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
