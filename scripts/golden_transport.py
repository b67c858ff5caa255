"""Golden numbers for stoke's entropic optimal transport (tests/transport.rs), from POT.

Writes tests/golden/transport.json: seeded problems (costs, histograms), POT's log-domain
Sinkhorn plan run to a column error (L2) of 1e-14 (reg = 1 / eta), the primal entropic objective
<C, P> + (1/eta) sum P ln P of that plan, and ot.emd's exact (unregularised) optimal cost.

    /tmp/sol-venv/bin/pip install numpy scipy pot
    /tmp/sol-venv/bin/python scripts/golden_transport.py

Versions used for the committed file: numpy 2.4.6, pot 0.9.7.post1.
"""

import json
import os

import numpy as np
import ot


def problem(name, n, m, eta, seed, uniform):
    rng = np.random.default_rng(seed)
    cost = rng.uniform(size=(n, m))
    if uniform:
        a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    else:
        a, b = rng.uniform(0.2, 1.0, size=n), rng.uniform(0.2, 1.0, size=m)
        a, b = a / a.sum(), b / b.sum()
    plan, log = ot.sinkhorn(a, b, cost, 1.0 / eta, method="sinkhorn_log", numItermax=200_000,
                            stopThr=1e-14, log=True, warn=False)
    entropic = float((cost * plan).sum() + (plan * np.log(plan)).sum() / eta)
    exact = float(ot.emd2(a, b, cost, numItermax=1_000_000))
    return dict(name=name, eta=eta, cost=cost.ravel().tolist(), rows=n, cols=m, source=a.tolist(),
                target=b.tolist(), plan=plan.ravel().tolist(), sweeps=int(log["niter"]) + 1,
                entropic_objective=entropic, transport_cost=float((cost * plan).sum()),
                exact_cost=exact)


def main():
    cases = [
        problem("skewed_6x7_eta50", 6, 7, 50.0, 1, False),
        problem("uniform_40_eta60", 40, 40, 60.0, 2, True),
        problem("skewed_30x25_eta400", 30, 25, 400.0, 3, False),
    ]
    # The unregularised limit: exact costs of small problems, checked against the entropic
    # plans' costs at growing eta (the gap is at most ln(n m) / eta).
    limits = []
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        n, m = 8, 9
        cost = rng.uniform(size=(n, m))
        a = rng.uniform(0.2, 1.0, size=n)
        b = rng.uniform(0.2, 1.0, size=m)
        a, b = a / a.sum(), b / b.sum()
        limits.append(dict(cost=cost.ravel().tolist(), rows=n, cols=m, source=a.tolist(),
                           target=b.tolist(), exact_cost=float(ot.emd2(a, b, cost))))
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "golden", "transport.json")
    with open(path, "w") as f:
        json.dump(dict(cases=cases, limits=limits), f)
    for c in cases:
        print(c["name"], "POT sweeps", c["sweeps"], "exact", c["exact_cost"], "entropic",
              c["entropic_objective"])


if __name__ == "__main__":
    main()
