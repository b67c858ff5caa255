"""Reference traces for stoke's greedy block coordinate descent (tests/golden/bcd.json).

Runs the official code of Nutini, Laradji and Schmidt (IssamLaradji/BlockCoordinateDescent,
commit 322066b) unmodified: its loss objects, partition, selection and update rules, in the
loop of its trainval.train, on small generated problems, and records the loss and the
selected block of every iteration for the deterministic rules.

Setup (numpy, scipy and cvxopt from PyPI; numba, matplotlib and pandas are stubbed):
    python3 -m venv /tmp/bcd-venv && /tmp/bcd-venv/bin/pip install numpy scipy cvxopt
    mkdir -p /tmp/bcd_official && git --git-dir=<mirror of the repository> archive HEAD \
        src | tar -x -C /tmp/bcd_official
    /tmp/bcd-venv/bin/python scripts/golden_bcd.py /tmp/bcd_official tests/golden/bcd.json
"""

import copy
import json
import sys
import types

import numpy as np
import scipy.sparse.linalg

official, out_path = sys.argv[1], sys.argv[2]
sys.path.insert(0, official)
# The official modules import helpers this script does not need.
numba = types.ModuleType("numba")
numba.jit = lambda f: f
sys.modules["numba"] = numba
sys.modules["scipy.sparse.linalg.eigen.arpack"] = scipy.sparse.linalg
utils = types.ModuleType("src.utils")
sys.modules["src.utils"] = utils

from src import losses  # noqa: E402
from src.datasets import tree_datasets  # noqa: E402
from src.partition_rules import partition_rules  # noqa: E402
from src.selection_rules import FB_selection_rules, VB_selection_rules  # noqa: E402
from src.update_rules import update_rules  # noqa: E402

ITERATIONS = 25

# numpy's default argsort is not stable, so the order of equal scores (the many zero
# gradients at x = 0 on the lattice) is arbitrary; the selection modules get a stable one.
class _StableNumpy(types.ModuleType):
    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def argsort(a, axis=-1, kind=None, order=None):
        return np.argsort(a, axis=axis, kind="stable", order=order)


VB_selection_rules.np = _StableNumpy("numpy_stable")
FB_selection_rules.np = VB_selection_rules.np
partition_rules.np = VB_selection_rules.np


def design(rows, cols, rs):
    """The official data set A/B recipe (datasets.py) at a small size."""
    a = rs.randn(rows, cols) + 1.0
    a = a.dot(np.diag(10.0 * rs.randn(cols)))
    a = a * (rs.rand(rows, cols) < 10.0 * np.log(rows) / rows)
    w = rs.randn(cols) * (rs.rand(cols) < 0.1)
    return a, w


def run(loss_name, A, b, args, partition, selection, update, block_size):
    """trainval.train's loop without its data loading and optimal-loss bookkeeping."""
    np.random.seed(1)
    args = dict(args)
    args.update({"L2": 0, "block_size": block_size, "update_rule": update})
    loss = losses.create_lossObject(loss_name, A, b, args)
    blocks = partition_rules.get_partition(A, b, loss, block_size, p_rule=partition)
    x = np.zeros(loss.n_params)
    values, selected = [], []
    for i in range(ITERATIONS + 1):
        values.append(float(loss.f_func(x, A, b)))
        if i == ITERATIONS:
            break
        if blocks is None:
            block, args = VB_selection_rules.select(selection, x, A, b, loss, args, iteration=i)
        else:
            block, args = FB_selection_rules.select(
                selection, x, A, b, loss, args, blocks, iteration=i
            )
        selected.append(np.sort(np.asarray(block)).tolist())
        x, args = update_rules.update(update, x, A, b, loss, args=args, block=block, iteration=i)
    return {
        "partition": partition,
        "selection": selection,
        "update": update,
        "block_size": block_size,
        "values": values,
        "blocks": selected,
    }


def main():
    rs = np.random.RandomState(2024)
    problems = {}

    a, w = design(30, 60, rs)
    b = a.dot(w) + rs.randn(30)
    runs = []
    for partition, selection in [
        ("Sort", "GS"),
        ("Sort", "GSL"),
        ("Sort", "GSD"),
        ("Sort", "GSQ"),
        ("VB", "GS"),
        ("VB", "GSD"),
        ("VB", "GSDHb"),
        ("VB", "IHT"),
    ]:
        for update in ["Lb", "Hb"]:
            if selection == "GSQ" and update == "Lb" or selection == "IHT" and update == "Lb":
                continue
            runs.append(run("ls", a, b, {}, partition, selection, update, 5))
    problems["least_squares"] = {"rows": 30, "cols": 60, "a": a.ravel().tolist(),
                                 "b": b.tolist(), "runs": runs}

    a, w = design(120, 30, rs)
    labels = np.sign(a.dot(w))
    labels[labels == 0] = 1.0
    labels = labels * np.sign(rs.rand(120) - 0.1)
    runs = []
    for partition, selection, update in [
        ("Sort", "GS", "Lb"),
        ("Sort", "GSL", "Lb"),
        ("Sort", "GSQ", "Hb"),
        ("Sort", "GSL", "LS"),
        ("VB", "GSD", "Lb"),
        ("VB", "GSDHb", "Hb"),
        ("VB", "IHT", "LS"),
        ("VB", "GS", "LS"),
    ]:
        runs.append(run("lg", a, labels, {}, partition, selection, update, 5))
    problems["logistic"] = {"rows": 120, "cols": 30, "a": a.ravel().tolist(),
                            "b": labels.tolist(), "runs": runs}

    # Data set D's construction (tree_datasets.py) on a 20 x 20 lattice with its 100 labels.
    side = 20
    W, y = tree_datasets.ising_Wy(side, side)
    n = y.size
    labelled = y != 0
    Q = np.diag(W.sum(0)) - W
    c = W[labelled].T.dot(y[labelled])
    free = np.where(~labelled)[0]
    Q, c = Q[free][:, free], c[free]
    args = {"data_lattice": True, "data_nrows": side, "data_ncols": side,
            "data_W": W, "data_y": y}
    runs = [run("bp", Q, c, args, "VB", s, "bpExact", -1)
            for s in ["GSTree", "TreePartitions", "RedBlackTree"]]
    runs.append(run("bp", Q, c, args, "Sort", "Cyclic", "Hb", 4))
    # The problem is rebuilt from the labels (0: unlabelled) and the weight 1e5 of ising_Wy.
    problems["lattice"] = {"side": side, "weight": 1e5, "labels": y.tolist(), "runs": runs}

    a, w = design(30, 60, rs)
    b = a.dot(w) + rs.randn(30)
    l1 = 0.1 * np.max(a.T.dot(b))
    runs = [run("lsl1nn", a, b, {"L1": float(l1)}, p, "gsq-nn", u, 5)
            for p in ["VB", "Sort"] for u in ["Lb-NN", "TMP-NN", "qp-nn"]]
    problems["nonnegative_lasso"] = {"rows": 30, "cols": 60, "l1": float(l1),
                                     "a": a.ravel().tolist(), "b": b.tolist(), "runs": runs}

    with open(out_path, "w") as f:
        json.dump({"iterations": ITERATIONS, "official_commit": "322066b", **problems}, f)
    print("wrote", out_path, {k: len(v["runs"]) for k, v in problems.items()})


if __name__ == "__main__":
    main()
