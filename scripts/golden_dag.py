"""Golden numbers for stoke's linear DAG learners (tests/dag_learning.rs).

Runs the official CoLiDE code (github.com/SAMiatto/colide, model.py and utils.py) and PyPI
dagma 1.1.1 (DagmaLinear, the same path-following without a noise scale) on small simulated
linear SEMs and writes tests/golden/dag_learning.json: the data X (shipped, since the
simulator's numpy/networkx streams are not reproduced in Rust), the true weights, and for each
method and schedule the raw estimate W, sigma, every stage attempt (mu, s, lr, success) and the
structure metrics after CoLiDE's to_dag(0.3).

    python3 -m venv /tmp/sol-venv && /tmp/sol-venv/bin/pip install numpy scipy networkx tqdm
    /tmp/sol-venv/bin/pip install --no-deps dagma==1.1.1
    git --git-dir=<colide mirror> archive HEAD model.py utils.py | tar -x -C /tmp/colide_official
    OPENBLAS_NUM_THREADS=1 /tmp/sol-venv/bin/python scripts/golden_dag.py /tmp/colide_official

Versions used for the committed file: numpy 2.4.6, scipy 1.17.1, networkx 3.6.1, dagma 1.1.1,
colide at f369759.
"""

import contextlib
import io
import json
import os
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])
import model as colide  # noqa: E402  (the official module names)
import utils as colide_utils  # noqa: E402
from dagma.linear import DagmaLinear  # noqa: E402

DATASETS = {
    # name: (nodes, edges, samples, graph, variance type, seed)
    "er5_ev": (5, 5, 200, "er", "ev", 3),
    "er5_nv": (5, 8, 200, "er", "nv", 7),
    "sf10_nv": (10, 20, 500, "sf", "nv", 2),
}

BASE = dict(lambda1=0.05, T=4, s=[1.0, 0.9, 0.8, 0.7], lr=3e-4)
SCHEDULES = {
    # The first ten Adam steps of stage one.
    "first_steps": dict(BASE, T=1, s=[1.0], warm_iter=1, max_iter=10, checkpoint=10**9),
    # Four stages without early stopping.
    "short": dict(BASE, warm_iter=2000, max_iter=3000, checkpoint=10**9),
    # The official demo's schedule (early stopping every 1000 iterations).
    "official": dict(BASE, warm_iter=20000, max_iter=70000, checkpoint=1000),
    # A large learning rate: stages leave the domain, retry and back off.
    "retries": dict(BASE, warm_iter=40, max_iter=40, lr=0.5, checkpoint=10**9),
}


def make_data(d, edges, n, graph, var_type, seed):
    np.random.seed(seed)  # the official simulator draws edge weights from the global RNG
    with contextlib.redirect_stdout(io.StringIO()):
        return colide_utils.simulate_sem(
            n_nodes=d, n_samples=n, edges=edges, graph_type=graph, edge_type="weighted",
            var_type=var_type, noise="normal", var=1.0, w_range=((-2.0, -0.5), (0.5, 2.0)),
            seed=seed)


def logged(cls, log, with_sigma):
    """Wraps cls.minimize to record every stage attempt."""
    original = cls.minimize

    def minimize(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        names = ["W", "sigma", "mu", "max_iter", "s", "lr"] if with_sigma else ["W", "mu", "max_iter", "s", "lr"]
        named = dict(zip(names, args))
        named.update(kwargs)
        log.append(dict(mu=named["mu"], s=named["s"], lr=named["lr"], success=bool(out[-1])))
        return out

    return original, minimize


def run(method, X, schedule):
    log = []
    cfg = dict(schedule, s=list(schedule["s"]))
    if method == "dagma":
        original, wrapped = logged(DagmaLinear, log, False)
        DagmaLinear.minimize = wrapped
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                W = DagmaLinear(loss_type="l2").fit(X.copy(), w_threshold=0.0, **cfg)
        finally:
            DagmaLinear.minimize = original
        sigma = []
    else:
        cls = colide.colide_ev if method == "colide-ev" else colide.colide_nv
        original, wrapped = logged(cls, log, True)
        cls.minimize = wrapped
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                W, sigma = cls(seed=0).fit(X.copy(), **cfg)
        finally:
            cls.minimize = original
        sigma = np.atleast_1d(sigma).tolist()
    return W, sigma, log


def main():
    out = {"datasets": {}, "runs": []}
    for name, (d, edges, n, graph, var_type, seed) in DATASETS.items():
        X, W_true, _ = make_data(d, edges, n, graph, var_type, seed)
        out["datasets"][name] = {"x": X.tolist(), "weights": W_true.tolist()}
        for schedule_name, schedule in SCHEDULES.items():
            if schedule_name == "official" and name != "er5_ev":
                continue
            for method in ["dagma", "colide-ev", "colide-nv"]:
                W, sigma, log = run(method, X, schedule)
                dag = colide_utils.to_dag(W, thr=0.3)
                fdr, tpr, fpr, shd, nnz = colide_utils.count_accuracy(W_true != 0, dag != 0)
                out["runs"].append(dict(
                    dataset=name, schedule=schedule_name, settings=schedule, method=method,
                    weights=W.tolist(), sigma=sigma, attempts=log,
                    accuracy=dict(shd=int(shd), tpr=float(tpr), fdr=float(fdr), fpr=float(fpr),
                                  edges=int(nnz))))
                print(name, schedule_name, method, "shd", shd, "attempts", len(log), file=sys.stderr)
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "golden", "dag_learning.json")
    with open(path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
