#!/usr/bin/python3
"""Write golden.json: fixed inputs and scipy's drift statistics for them.

Run from this directory with Debian's python3-scipy (not pip):

    apt-get install -y python3-scipy
    /usr/bin/python3 gen_golden.py > golden.json

Inputs come from numpy RandomState with fixed seeds (or from arithmetic
grids, for the large samples, so that the file stays small), so the file is
the same on every run with the same numpy and scipy versions (both
recorded). Floats are written with repr, which round-trips float64 exactly;
NaN and infinities, which JSON lacks, are written as the strings "nan",
"inf" and "-inf".

Reference definitions (what package drift must match):

- ks: scipy.stats.ks_2samp(x, y) with its defaults (alternative="two-sided",
  method="auto") on the finite values of each sample: NaN and +-inf are
  dropped first (scipy 1.10's ks_2samp has no nan_policy; package drift
  treats non-finite values as missing).
- kstwo_sf: scipy.stats.kstwo.sf(d, n), the distribution ks_2samp's
  asymptotic mode uses, at points that reach each of its branches.
- chi2: scipy.stats.chi2_contingency(table) with its defaults
  (correction=True: Yates' correction when the table has one degree of
  freedom, i.e. two categories), where table is 2 x k: the counts of each
  category in the reference (row 0) and the current sample (row 1), the
  categories being every value seen in either sample, sorted as strings
  (byte order); missing values ("" in the case's `missing` list) dropped.
- psi: the population stability index written out below (psi_numeric,
  psi_categorical), independent of the Go code.
"""
import json
import math
import platform
import sys

import numpy as np
import scipy
from scipy import stats

BINS = 10
EPS = 1e-4


def fl(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def floats(a):
    return [fl(x) for x in np.asarray(a, dtype=np.float64).ravel()]


def finite(a):
    a = np.asarray(a, dtype=np.float64)
    return a[np.isfinite(a)]


# ---------------------------------------------------------------- KS

def grid(start, step, n):
    """A large sample as arithmetic: start + step*i for i in range(n)."""
    return np.arange(n) * step + start


def sample_json(a, spec):
    if spec is not None:
        return {"grid": {"start": spec[0], "step": spec[1], "n": spec[2]}}
    return {"values": floats(a)}


def short(a):
    """Samples of more than 400 values are rounded to 5 decimals: the file
    stays small (ties are one of the cases anyway)."""
    a = np.asarray(a, dtype=np.float64)
    return np.round(a, 5) if len(a) > 400 else a


def ks_case(name, x, y, xgrid=None, ygrid=None):
    x = np.asarray(x, dtype=np.float64) if xgrid else short(x)
    y = np.asarray(y, dtype=np.float64) if ygrid else short(y)
    fx, fy = finite(x), finite(y)
    r = stats.ks_2samp(fx, fy)
    n1, n2 = len(fx), len(fy)
    method = "exact" if max(n1, n2) <= 10000 else "asymp"
    return {"name": name, "x": sample_json(x, xgrid), "y": sample_json(y, ygrid),
            "method": method, "statistic": float(r.statistic), "pvalue": float(r.pvalue)}


def ks_cases():
    out = []
    rs = np.random.RandomState(20)
    # Equal sizes: the exact two-sided formula for n1 == n2.
    for n in (1, 2, 5, 20, 100, 1000):
        out.append(ks_case(f"equal_n{n}", rs.normal(size=n), rs.normal(size=n)))
    for n in (30, 400):
        out.append(ks_case(f"equal_shift_n{n}", rs.normal(size=n), rs.normal(0.5, 1, size=n)))
    # Unequal sizes: the exact inside method.
    for n1, n2 in ((1, 10), (7, 13), (50, 80), (33, 99), (300, 1000), (1000, 3000), (2500, 2000)):
        out.append(ks_case(f"unequal_{n1}_{n2}", rs.normal(size=n1), rs.normal(size=n2)))
    for n1, n2, shift in ((40, 60, 0.3), (200, 150, 0.25), (500, 700, 0.1), (3000, 2000, 0.05)):
        out.append(ks_case(f"shift_{n1}_{n2}_{shift}", rs.normal(size=n1), rs.normal(shift, 1, size=n2)))
    out.append(ks_case("scale_400_300", rs.normal(size=400), rs.normal(0, 1.5, size=300)))
    out.append(ks_case("exponential_vs_normal", rs.exponential(size=250), rs.normal(1, 1, size=260)))
    # Ties: few distinct values.
    out.append(ks_case("ties_int5_100_120", rs.randint(0, 5, size=100), rs.randint(0, 5, size=120)))
    out.append(ks_case("ties_int3_shift", rs.randint(0, 3, size=80), rs.randint(1, 4, size=90)))
    out.append(ks_case("ties_binary", rs.randint(0, 2, size=500), rs.binomial(1, 0.6, size=400)))
    out.append(ks_case("ties_rounded", np.round(rs.normal(size=600), 1), np.round(rs.normal(0.1, 1, size=650), 1)))
    out.append(ks_case("ties_equal_n_int", rs.randint(0, 10, size=200), rs.randint(0, 10, size=200)))
    # Identical and constant samples.
    a = rs.normal(size=50)
    out.append(ks_case("identical_50", a, a.copy()))
    out.append(ks_case("identical_permuted", a, rs.permutation(a)))
    out.append(ks_case("constant_same", np.full(30, 2.5), np.full(40, 2.5)))
    out.append(ks_case("constant_different", np.full(30, 2.5), np.full(40, 3.0)))
    # Disjoint samples.
    out.append(ks_case("disjoint_10_15", rs.uniform(0, 1, size=10), rs.uniform(2, 3, size=15)))
    out.append(ks_case("disjoint_reversed", rs.uniform(5, 6, size=25), rs.uniform(0, 1, size=25)))
    out.append(ks_case("disjoint_1000_800", rs.uniform(0, 1, size=1000), rs.uniform(1, 2, size=800)))
    out.append(ks_case("interleaved_touching", np.array([1.0, 2.0, 3.0]), np.array([3.0, 4.0, 5.0, 6.0])))
    # Missing values: NaN and infinities are dropped before the test.
    x = rs.normal(size=60)
    x[[3, 17, 40]] = np.nan
    y = rs.normal(0.4, 1, size=70)
    y[[0, 9]] = np.nan
    y[5] = np.inf
    y[6] = -np.inf
    out.append(ks_case("nan_and_inf_dropped", x, y))
    # The largest exact case 'auto' allows.
    out.append(ks_case("exact_max_10000_700", rs.normal(size=10000).round(3), rs.normal(0.05, 1, size=700).round(3)))
    # Asymptotic (max(n1, n2) > 10000): the large sample is a grid.
    g = (-4.0, 8.0 / 12000, 12000)
    out.append(ks_case("asymp_grid12000_vs_30", grid(*g), rs.normal(size=30), xgrid=g))
    out.append(ks_case("asymp_grid12000_vs_20_shift", grid(*g), rs.normal(1.5, 1, size=20), xgrid=g))
    out.append(ks_case("asymp_grid12000_vs_120_tiny", grid(*g), rs.uniform(-4, 4, size=120).round(2), xgrid=g))
    g2 = (0.0, 1.0 / 20000, 20000)
    out.append(ks_case("asymp_grid20000_vs_500_uniform", grid(*g2), rs.uniform(0, 1, size=500).round(4), xgrid=g2))
    out.append(ks_case("asymp_grid20000_vs_400_shift", grid(*g2), rs.uniform(0.05, 1.05, size=400).round(4), xgrid=g2))
    out.append(ks_case("asymp_grid20000_vs_300_far", grid(*g2), rs.uniform(0.6, 1.6, size=300).round(4), xgrid=g2))
    g3 = (0.5 / 15000, 1.0 / 15000, 15000)
    g4 = (0.0, 1.0 / 11000, 11000)
    out.append(ks_case("asymp_grid15000_vs_grid11000", grid(*g3), grid(*g4), xgrid=g3, ygrid=g4))
    g5 = (0.1, 1.0 / 11000, 11000)
    out.append(ks_case("asymp_grid15000_vs_grid11000_shift", grid(*g3), grid(*g5), xgrid=g3, ygrid=g5))
    return out


def kstwo_cases():
    pts = []
    for n in (1, 2, 3, 10, 50, 140):
        for d in (0.0, 0.4 / n, 0.5 / n, 0.7 / n, 1.0 / n, 0.05, 0.1, 0.2, 0.3, 0.45, 0.5, 0.7, 0.95, 1.0):
            pts.append((n, d))
    for n in (20, 100, 140):
        for s in (0.3, 0.6, 0.85, 1.2, 1.9, 2.1, 2.5):  # n*d^2 around 0.754693 and 4
            pts.append((n, math.sqrt(s * s / n)))
    for n in (141, 500, 5000, 50000, 100000, 100001, 400000, 1000000, 1000001, 3000000):
        for z in (0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.48, 1.49, 1.6, 2.0, 3.0, 10.0, 19.3, 19.5):
            pts.append((n, z / math.sqrt(n)))
        pts.append((n, 0.6 / n))
        pts.append((n, 0.6))
    out = []
    for n, d in pts:
        out.append({"n": n, "d": float(d), "sf": float(stats.kstwo.sf(d, n))})
    return out


# ---------------------------------------------------------------- chi-squared

def chi2_case(name, ref, cur):
    ref = [str(v) for v in ref]
    cur = [str(v) for v in cur]
    r = [v for v in ref if v != ""]
    c = [v for v in cur if v != ""]
    cats = sorted(set(r) | set(c), key=lambda s: s.encode("utf-8"))
    table = np.array([[r.count(k) for k in cats], [c.count(k) for k in cats]], dtype=np.float64)
    res = stats.chi2_contingency(table)
    stat, p, dof = float(res[0]), float(res[1]), int(res[2])
    ref_frac = np.maximum(table[0] / table[0].sum(), EPS)
    cur_frac = np.maximum(table[1] / table[1].sum(), EPS)
    return {"name": name, "ref": ref, "cur": cur, "categories": cats,
            "ref_counts": [int(v) for v in table[0]], "cur_counts": [int(v) for v in table[1]],
            "statistic": stat, "pvalue": p, "dof": dof, "psi": psi_from(ref_frac, cur_frac)}


def chi2_cases():
    rs = np.random.RandomState(21)
    out = []
    cats = np.array(["red", "green", "blue", "yellow"])
    out.append(chi2_case("same_dist_4", cats[rs.randint(0, 4, 300)], cats[rs.randint(0, 4, 250)]))
    out.append(chi2_case("shifted_4", cats[rs.choice(4, 400, p=[0.4, 0.3, 0.2, 0.1])],
                         cats[rs.choice(4, 300, p=[0.1, 0.2, 0.3, 0.4])]))
    out.append(chi2_case("slight_shift_4", cats[rs.choice(4, 2000, p=[0.25, 0.25, 0.25, 0.25])],
                         cats[rs.choice(4, 2000, p=[0.27, 0.25, 0.24, 0.24])]))
    two = np.array(["no", "yes"])
    out.append(chi2_case("two_categories_yates", two[rs.randint(0, 2, 100)], two[rs.choice(2, 80, p=[0.3, 0.7])]))
    out.append(chi2_case("two_categories_small", ["a", "a", "b"], ["a", "b", "b", "b"]))
    out.append(chi2_case("two_categories_yates_capped", ["a"] * 10 + ["b"] * 10, ["a"] * 10 + ["b"] * 11))
    out.append(chi2_case("unseen_in_reference", cats[rs.randint(0, 3, 200)], cats[rs.randint(0, 4, 200)]))
    out.append(chi2_case("vanished_in_current", cats[rs.randint(0, 4, 200)], cats[rs.randint(0, 2, 150)]))
    out.append(chi2_case("single_category", ["x"] * 20, ["x"] * 7))
    out.append(chi2_case("disjoint_categories", ["a", "b", "a", "b", "a"], ["c", "d", "c"]))
    many = np.array([f"c{i:02d}" for i in range(30)])
    out.append(chi2_case("many_categories_30", many[rs.randint(0, 30, 3000)], many[rs.randint(0, 28, 2500)]))
    out.append(chi2_case("missing_dropped", ["a", "", "b", "a", "", "c", "b", "a"], ["", "b", "b", "c", "c", "", "a"]))
    out.append(chi2_case("identical", ["p", "q", "q", "r", "r", "r"], ["p", "q", "q", "r", "r", "r"]))
    out.append(chi2_case("utf8_order", ["é", "e", "Z", "z", "é", "e"], ["z", "Z", "é", "é", "é"]))
    return out


# ---------------------------------------------------------------- PSI

def psi_from(p, q):
    return float(np.sum((q - p) * np.log(q / p)))


def psi_numeric(ref, cur, bins=BINS, eps=EPS):
    """PSI with quantile bins of the reference sample.

    Non-finite values are dropped. The inner edges are the reference's
    quantiles at 1/bins, ..., (bins-1)/bins (numpy's default "linear"
    method, Hyndman & Fan type 7), duplicates removed. Bin j holds the
    values v with edges[j-1] < v <= edges[j] (the first bin is open below,
    the last above). Each sample's fraction per bin is floored at eps (no
    renormalisation); PSI = sum (cur - ref) * ln(cur / ref).
    """
    ref, cur = finite(ref), finite(cur)
    edges = np.unique(np.quantile(ref, np.arange(1, bins) / bins))
    k = len(edges) + 1
    rc = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=k)
    cc = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=k)
    p = np.maximum(rc / len(ref), eps)
    q = np.maximum(cc / len(cur), eps)
    return edges, rc, cc, psi_from(p, q)


def psi_case(name, ref, cur, bins=BINS, eps=EPS):
    ref, cur = short(ref), short(cur)
    edges, rc, cc, psi = psi_numeric(ref, cur, bins, eps)
    return {"name": name, "ref": floats(ref), "cur": floats(cur), "bins": bins, "eps": eps,
            "edges": floats(edges), "ref_counts": [int(v) for v in rc], "cur_counts": [int(v) for v in cc],
            "psi": psi}


def psi_cases():
    rs = np.random.RandomState(22)
    out = []
    out.append(psi_case("same_dist_1000", rs.normal(size=1000), rs.normal(size=1000)))
    out.append(psi_case("shift_0.5", rs.normal(size=800), rs.normal(0.5, 1, size=600)))
    out.append(psi_case("shift_2_empty_bins", rs.normal(size=500), rs.normal(3, 1, size=400)))
    out.append(psi_case("scale", rs.normal(size=700), rs.normal(0, 2, size=700)))
    out.append(psi_case("small_7_vs_5", rs.normal(size=7), rs.normal(size=5)))
    out.append(psi_case("ties_int4", rs.randint(0, 4, 300).astype(float), rs.randint(0, 4, 200).astype(float)))
    out.append(psi_case("ties_heavy_zero", np.where(rs.uniform(size=400) < 0.7, 0.0, rs.exponential(size=400)),
                        np.where(rs.uniform(size=300) < 0.5, 0.0, rs.exponential(size=300))))
    out.append(psi_case("constant_reference", np.full(50, 1.0), rs.normal(1, 1, size=40)))
    out.append(psi_case("identical", np.arange(20.0), np.arange(20.0)))
    out.append(psi_case("bins_5", rs.uniform(size=300), rs.uniform(0.1, 1.1, size=300), bins=5))
    out.append(psi_case("bins_20_eps_1e-6", rs.gamma(2, size=2000), rs.gamma(2.3, size=1500), bins=20, eps=1e-6))
    out.append(psi_case("bins_2", rs.normal(size=101), rs.normal(size=99), bins=2))
    x = rs.normal(size=200)
    x[[1, 50]] = np.nan
    y = rs.normal(size=150)
    y[[2]] = np.inf
    y[[3, 4]] = np.nan
    out.append(psi_case("nan_and_inf_dropped", x, y))
    out.append(psi_case("current_on_edges", np.arange(1.0, 11.0), np.array([1.0, 1.9, 2.0, 5.5, 10.0, 10.0, 11.0, 0.0])))
    return out


def main():
    out = {
        "generated_by": "tasks/ml/drift/testdata/gen_golden.py",
        "scipy_version": scipy.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "bins": BINS,
        "eps": EPS,
        "ks": ks_cases(),
        "kstwo_sf": kstwo_cases(),
        "chi2": chi2_cases(),
        "psi": psi_cases(),
    }
    # One case per line: diffs stay readable and the file small.
    w = sys.stdout
    w.write("{\n")
    keys = list(out)
    for i, k in enumerate(keys):
        v = out[k]
        end = ",\n" if i < len(keys) - 1 else "\n"
        if isinstance(v, list):
            w.write(" " + json.dumps(k) + ": [\n")
            for j, c in enumerate(v):
                w.write("  " + json.dumps(c, ensure_ascii=False, allow_nan=False))
                w.write(",\n" if j < len(v) - 1 else "\n")
            w.write(" ]" + end)
        else:
            w.write(" " + json.dumps(k) + ": " + json.dumps(v) + end)
    w.write("}\n")


if __name__ == "__main__":
    main()
