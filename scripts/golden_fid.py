#!/usr/bin/env python3
"""Record golden Fréchet distances for src/quality/fid.rs.

Each case is two seeded random feature sets (rows = samples). For each the script records:

* ``pytorch_fid``: the value of pytorch-fid's own ``calculate_frechet_distance`` (imported
  unmodified from the ``pytorch-fid`` package; it uses ``scipy.linalg.sqrtm``) applied to
  ``np.mean(rows, axis=0)`` and ``np.cov(rows, rowvar=False)``, exactly as
  ``calculate_activation_statistics`` computes them;
* ``reference``: the exact value to about 40 significant digits: mean, covariance and the
  formula evaluated with mpmath from the rows, Tr sqrtm(S_a S_b) taken as the sum of the square
  roots of the eigenvalues of sqrt(S_a) S_b sqrt(S_a). This is what stoke should reproduce to
  rounding. float64 statistics of fewer rows than dimensions have tiny noise eigenvalues in
  place of zeros, and the square root magnifies them (1e-16 -> 1e-8): pytorch-fid's value is
  1e-8 relative off in the rank-deficient case (stoke drops such noise eigenvalues);
  ``pytorch_fid_minus_reference`` records how much scipy's ``sqrtm`` is off.

Features are rounded to 5 significant digits before anything is computed, so the JSON holds
exactly the inputs both sides use. Requirements: numpy, scipy, mpmath, ``pip install --no-deps
pytorch-fid``. From the repository root:

    python3 scripts/golden_fid.py --out tests/golden/fid.json
"""

import argparse
import json

import mpmath
import numpy as np
from pytorch_fid.fid_score import calculate_frechet_distance

mpmath.mp.dps = 40


def rounded(rows):
    """Rounds to 5 significant digits: the JSON then holds exactly what both sides use."""
    return np.array([[float("%.5g" % v) for v in row] for row in rows])


def mixing(rng, dim, scale):
    return rng.normal(size=(dim, dim)) * scale / np.sqrt(dim)


def sample(rng, n, mix, shift):
    """Correlated Gaussian rows: z @ mix + shift."""
    return rounded(rng.normal(size=(n, mix.shape[0])) @ mix + shift)


def stats(rows):
    return np.mean(rows, axis=0), np.cov(rows, rowvar=False)


def mp_stats(rows):
    """Mean and unbiased covariance at 40 digits: exact rank, no float64 noise eigenvalues."""
    rows = [[mpmath.mpf(float(v)) for v in row] for row in rows]
    n, dim = len(rows), len(rows[0])
    mean = [sum(row[j] for row in rows) / n for j in range(dim)]
    centred = [[row[j] - mean[j] for j in range(dim)] for row in rows]
    cov = mpmath.matrix(dim, dim)
    for i in range(dim):
        for j in range(i, dim):
            cov[i, j] = cov[j, i] = sum(x[i] * x[j] for x in centred) / (n - 1)
    return mean, cov


def reference_fid(rows_a, rows_b):
    """The Fréchet distance of the exact statistics of the rows (the value stoke targets)."""
    mu_a, a = mp_stats(rows_a)
    mu_b, b = mp_stats(rows_b)
    evals, evecs = mpmath.eigsy(a)
    dim = a.rows
    # sqrt(S_a) = V diag(sqrt(max(l, 0))) V^T
    root = mpmath.matrix(dim, dim)
    for k in range(dim):
        root[k, k] = mpmath.sqrt(max(evals[k], 0))
    sqrt_a = evecs * root * evecs.T
    inner = sqrt_a * b * sqrt_a
    inner = (inner + inner.T) / 2
    tr_covmean = sum(mpmath.sqrt(max(l, 0)) for l in mpmath.eigsy(inner, eigvals_only=True))
    trace = sum(a[k, k] + b[k, k] for k in range(dim))
    return float(sum((x - y) ** 2 for x, y in zip(mu_a, mu_b)) + trace - 2 * tr_covmean)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rng = np.random.default_rng(20240611)
    # (name, dim, n_a, n_b, scale_b, shift_b): set a has scale 1 and shift 0.
    specs = [
        ("dim4", 4, 50, 60, 1.5, 0.3),
        ("dim16", 16, 120, 150, 0.7, -0.2),
        ("dim16_same_distribution", 16, 100, 100, None, None),
        ("dim64", 64, 120, 140, 1.2, 0.1),
        ("rank_deficient_dim48_n30_n40", 48, 30, 40, 0.9, 0.5),
    ]
    cases = []
    for name, dim, n_a, n_b, scale_b, shift_b in specs:
        mix_a = mixing(rng, dim, 1.0)
        # scale_b None: both sets from one distribution (a small distance, mostly cancellation).
        mix_b = mix_a if scale_b is None else mixing(rng, dim, scale_b)
        rows_a = sample(rng, n_a, mix_a, 0.0)
        rows_b = sample(rng, n_b, mix_b, shift_b or 0.0)
        mu_a, cov_a = stats(rows_a)
        mu_b, cov_b = stats(rows_b)
        fid = float(calculate_frechet_distance(mu_a, cov_a, mu_b, cov_b))
        ref = reference_fid(rows_a, rows_b)
        print(f"{name}: pytorch-fid {fid!r} reference {ref!r} diff {fid - ref:.3e}")
        cases.append(
            {
                "name": name,
                "dim": dim,
                "a": rows_a.tolist(),
                "b": rows_b.tolist(),
                "pytorch_fid": fid,
                "reference": ref,
                "pytorch_fid_minus_reference": fid - ref,
            }
        )
    with open(args.out, "w") as f:
        json.dump({"generator": "scripts/golden_fid.py", "cases": cases}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
