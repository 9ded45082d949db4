"""Writes quantiles.json: numpy's quantiles (default method "linear") and
IQR clipping bounds of a few fixed columns, which quantile_test.go compares
bit for bit with the package's own.

    /usr/bin/python3 gen_quantiles.py > quantiles.json

Needs numpy (Debian's python3-numpy). Two runs give the same bytes.
"""

import json
import random
import sys

import numpy as np

rng = random.Random(3)
columns = {
    # The column of TestClipBounds: -20 2 3 4 5 6 7 8 100 and a missing
    # value imputed by the median, 5.
    "hand": [-20, 2, 3, 4, 5, 6, 7, 8, 5, 100],
    "gauss_outliers": [rng.gauss(10, 3) for _ in range(37)] + [250.5, -180.25],
    "ties": [0, 0, 0, 0, 0, 0, 0, 1, 1, 7],
    "one": [4.5],
    "two": [-1, 3],
    "unix_seconds": [1.7e9 + rng.random() * 86400 * 30 for _ in range(23)],
    "tiny": [rng.random() * 1e-300 for _ in range(11)],
}
qs = [0, 0.01, 0.05, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 0.95, 0.99, 1]
ks = [0.5, 1.5, 3]

out = {"numpy": np.__version__, "python": sys.version.split()[0], "cases": []}
for name, col in columns.items():
    v = np.array(col, dtype=np.float64)
    q1, q3 = (float(x) for x in np.quantile(v, [0.25, 0.75]))
    iqr = []
    for k in ks:
        w = k * (q3 - q1)
        iqr.append({"k": k, "low": q1 - w, "high": q3 + w})
    out["cases"].append({
        "name": name,
        "values": [float(x) for x in v],
        "quantiles": [{"q": q, "value": float(np.quantile(v, q))} for q in qs],
        "iqr": iqr,
    })
json.dump(out, sys.stdout, indent=1)
sys.stdout.write("\n")
