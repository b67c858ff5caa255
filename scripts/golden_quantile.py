#!/usr/bin/env python3
"""Golden numbers for src/quantile from reference implementations: scikit-learn's
`mean_pinball_loss` and `IsotonicRegression`, and the exact optimum of coarse aggregation
(softmax weights are a point of the simplex, so the best convex combination of the models
under the pinball loss is a linear programme, solved by scipy's HiGHS).

    python3 scripts/golden_quantile.py > tests/golden/quantile.json

scikit-learn 1.9.1, scipy 1.17.1 and numpy 2.4.6 were used.
"""

import json

import numpy as np
from scipy.optimize import linprog
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import mean_pinball_loss

rng = np.random.default_rng(0)
levels = np.array([0.1, 0.3, 0.5, 0.7, 0.9])

# Pinball losses and isotonic fits of crossing rows.
rows = rng.normal(size=(6, len(levels)))
targets = rng.normal(size=6)
pinball = [float(mean_pinball_loss(targets, rows[:, k], alpha=t)) for k, t in enumerate(levels)]
isotonic = [IsotonicRegression().fit_transform(np.arange(len(levels)), r).tolist() for r in rows]

# Coarse aggregation: three models of y ~ N(x, 1): the true quantiles, a shifted copy and
# a too-narrow copy; minimise sum_i sum_t rho_t(y_i - sum_p w_p z_pit) over the simplex.
# LP: variables w (3), u+ and u- (n * Q each); z w + u+ - u- = y; minimise
# sum t u+ + (1 - t) u-.
n, q = 200, len(levels)
x = rng.normal(size=n)
y = x + rng.normal(size=n)
from scipy.stats import norm  # noqa: E402

z_true = x[:, None] + norm.ppf(levels)[None, :]
models = np.stack([z_true, z_true + 0.7, x[:, None] + 0.4 * norm.ppf(levels)[None, :]], axis=1)  # n, M, Q
m = models.shape[1]
count = n * q
c = np.concatenate([np.zeros(m), np.tile(levels, n), np.tile(1 - levels, n)]) / count
a_eq = np.zeros((count + 1, m + 2 * count))
b_eq = np.zeros(count + 1)
for i in range(n):
    for k in range(q):
        r = i * q + k
        a_eq[r, :m] = models[i, :, k]
        a_eq[r, m + r] = 1.0
        a_eq[r, m + count + r] = -1.0
        b_eq[r] = y[i]
a_eq[count, :m] = 1.0
b_eq[count] = 1.0
solution = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=[(0, None)] * (m + 2 * count), method="highs")
assert solution.status == 0

print(json.dumps({
    "levels": levels.tolist(),
    "rows": rows.tolist(),
    "targets": targets.tolist(),
    "pinball_per_level": pinball,
    "isotonic": isotonic,
    "aggregation": {
        "x": x.tolist(),
        "y": y.tolist(),
        "models": models.tolist(),
        "optimal_weights": solution.x[:m].tolist(),
        "optimal_loss": float(solution.fun),
    },
}, indent=1))
