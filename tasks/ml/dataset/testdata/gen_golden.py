#!/usr/bin/python3
"""Write golden_split.json: scikit-learn's stratified split sizes.

For each case (rows per class, test_size) it records what
train_test_split(..., test_size=test_size, stratify=y) gives: the test
size n_test = ceil(test_size * n), the train size n - n_test, and the rows
of each class in train and in test (StratifiedShuffleSplit._iter_indices:
_approximate_mode(class_counts, n_train) for train, then
_approximate_mode(class_counts - train, n_test) for test).

Run from this directory. With scikit-learn 1.2 (Debian's python3-sklearn):

    /usr/bin/python3 gen_golden.py > golden_split.json

the counts are read off real train_test_split calls (random_state 0). Without
scikit-learn it falls back to a transcription of the same arithmetic
(sklearn.model_selection._split._validate_shuffle_split and
sklearn.utils._approximate_mode, scikit-learn 1.2) in plain Python floats,
which numpy's float64 operations match; the "generator" field says which
one wrote the file. Where two classes tie on the fractional remainder that
decides who gets a leftover row, scikit-learn chooses at random: such a case
has "tie": true and the Go test checks its sizes, not its per-class counts.
"""
import json
import math
import sys

CASES = [
    ([50, 50, 50], 0.2),     # iris
    ([50, 50, 50], 0.33),
    ([212, 357], 0.25),      # breast cancer
    ([59, 71, 48], 0.3),     # wine
    ([98, 2], 0.1),
    ([7, 5, 3], 0.2),
    ([10, 10], 0.15),
    ([33, 33, 34], 0.1),
    ([100, 3], 0.3),
    ([13, 29, 8], 0.35),
    ([60, 40], 0.07),        # 0.07 * 100 = 7.000000000000001 in float64: ceil gives 8
    ([29, 71], 0.57),        # 0.57 * 100 = 56.99999999999999: ceil gives 57
]


def approximate_mode(class_counts, n_draws):
    """sklearn.utils._approximate_mode without the random tie break; returns
    the counts and whether a tie among equal remainders decided them."""
    total = sum(class_counts)
    continuous = [c / total * n_draws for c in class_counts]
    floored = [math.floor(c) for c in continuous]
    need = int(n_draws - sum(floored))
    tie = False
    if need > 0:
        remainder = [c - f for c, f in zip(continuous, floored)]
        for value in sorted(set(remainder), reverse=True):
            inds = [i for i, r in enumerate(remainder) if r == value]
            if len(inds) > need:
                tie = True
                inds = inds[:need]  # scikit-learn: rng.choice(inds, need)
            for i in inds:
                floored[i] += 1
            need -= len(inds)
            if need == 0:
                break
    return floored, tie


def arithmetic(counts, test_size):
    n = sum(counts)
    n_test = math.ceil(test_size * n)
    n_train = n - n_test
    train, tie1 = approximate_mode(counts, n_train)
    test, tie2 = approximate_mode([c - t for c, t in zip(counts, train)], n_test)
    return n_train, n_test, train, test, tie1 or tie2


def main():
    try:
        import numpy as np
        import sklearn
        from sklearn.model_selection import train_test_split
        generator = "scikit-learn %s train_test_split" % sklearn.__version__
    except ImportError:
        train_test_split = None
        generator = "transcription of scikit-learn 1.2's arithmetic (no scikit-learn installed)"
    out = []
    for counts, test_size in CASES:
        n_train, n_test, train, test, tie = arithmetic(counts, test_size)
        if train_test_split is not None:
            y = np.repeat(np.arange(len(counts)), counts)
            y_train, y_test = train_test_split(y, test_size=test_size, stratify=y, random_state=0)
            got_train = [int(v) for v in np.bincount(y_train, minlength=len(counts))]
            got_test = [int(v) for v in np.bincount(y_test, minlength=len(counts))]
            if not tie:
                assert (got_train, got_test) == (train, test), (counts, test_size, got_train, got_test)
            train, test = got_train, got_test
            n_train, n_test = len(y_train), len(y_test)
        out.append({"counts": counts, "test_size": test_size, "n_train": n_train, "n_test": n_test,
                    "train_counts": train, "test_counts": test, "tie": tie})
    json.dump({"generator": generator, "cases": out}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
