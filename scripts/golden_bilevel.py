"""Golden numbers for stoke's BSVRB v1/v2 and RSVRB (tests/bilevel.rs).

Runs the official code (github.com/quanqihu/BSVRB_ICML2023, Hyperparameter_Optimization/HO,
main.py at a4ed311) UNMODIFIED on a tiny generated problem and records, by tracing the locals
of its BSVRB() and RSVRB() loops, the initial variables, each iteration's sampled batches and
the variables after each of the first iterations, plus the official f_evaluation of the
final w on the validation and test sets. The data are generated here with numpy (shipped in
the JSON); torch and libsvm, which main.py imports but this path does not use, are stubbed.

Two sets of runs:
  official   - main.py as is: its hess_yy_g has the wrong sign on the data term, and BSVRBv2
               takes `np.transpose(1-D)[0]` (first entry, broadcast) of H v and of the cross
               Jacobian times v.
  corrected  - the same code and seed with both bugs patched at import time, no file edited:
               hess_yy_g is replaced by 2 lambda I - official (= lambda I + the data term),
               and main.py's `np` is a proxy whose `transpose` turns a 1-D array into one row,
               so `np.transpose(x)[0]` is the whole x.

    mkdir -p /tmp/bsvrb_ho && git --git-dir=<mirror of quanqihu/BSVRB_ICML2023> archive HEAD \
        Hyperparameter_Optimization/HO/{main.py,util.py,datasets.py,sig_list.p} \
        | tar -x -C /tmp/bsvrb_ho
    python3 -m venv /tmp/bsvrb-venv && /tmp/bsvrb-venv/bin/pip install numpy
    /tmp/bsvrb-venv/bin/python scripts/golden_bilevel.py \
        /tmp/bsvrb_ho/Hyperparameter_Optimization/HO tests/golden/bilevel.json

Version used for the committed file: numpy 2.4.6, Python 3.11.7.
"""

import inspect
import json
import os
import pickle
import sys
import types

import numpy as np

HO = os.path.abspath(sys.argv[1])
OUT = sys.argv[2]

# Stubs for the two imports the HO path never calls.
torch = types.ModuleType("torch")
torch.manual_seed = lambda seed: None
torch.backends = types.SimpleNamespace(
    cudnn=types.SimpleNamespace(deterministic=False, benchmark=False)
)
sys.modules["torch"] = torch
libsvm = types.ModuleType("libsvm")
svmutil = types.ModuleType("libsvm.svmutil")
svmutil.__all__ = []
sys.modules["libsvm"] = libsvm
sys.modules["libsvm.svmutil"] = svmutil

sys.path.insert(0, HO)
import main as M  # noqa: E402  (the official module)

CFG = dict(m=4, features=2, train=12, val=8, test=6, data_batch=2, task_batch=2)
HYPER = dict(lamb=1e-5, eta=0.05, alpha=0.9, gamma=1.0, tau=0.5, beta=0.9, tau_v=0.3,
             H_bound=10.0, v_bound=2.0)
ITERATIONS = 5


def generate():
    rs = np.random.RandomState(24)  # independent of the algorithms' global RNG
    rule = rs.randn(CFG["features"])

    def split(n, flip):
        x = rs.randn(n, CFG["features"])
        y = np.where(x @ rule >= 0, 1.0, -1.0)
        return x, np.where(rs.rand(n) < flip, -y, y)

    return (*split(CFG["train"], 0.25), *split(CFG["val"], 0.0), *split(CFG["test"], 0.0))


DATA = generate()
M.Datasets = lambda name: (*DATA, CFG["train"], CFG["val"])
with open(os.path.join(HO, "sig_list.p"), "rb") as f:
    M.sigma_list = pickle.load(f)


def args_for(method):
    return types.SimpleNamespace(
        SEED=123, total_epoch=2, method=method, dataset="generated", task_num=CFG["m"],
        data_batch_size=CFG["data_batch"], task_batch_size=CFG["task_batch"],
        stag_decay=False, eva_per=10**9, results_path=".", **HYPER)


STATE = ["p_0", "p_1", "w_0", "w_1", "v_0", "v_1", "s_1", "u_1", "H_0", "H_1", "z_1",
         "V_1", "d_1", "delay_count"]
BATCH = ["tr_bat_all", "val_bat_all", "task_bat", "task_bat2"]


def line_of(fn, text):
    lines, first = inspect.getsourcelines(fn)
    return first + next(k for k, line in enumerate(lines) if text in line)


def record(method, fn):
    """Runs the official fn for `method` and records init, batches and states by tracing."""
    M.args = args_for(method)
    start = line_of(fn, "while epoch <= args.total_epoch")
    batch = line_of(fn, "H_new = H_1.copy()")
    end = line_of(fn, "iter_num += 1")
    rec = {"init": None, "batches": [], "after": []}

    def snap(frame, keys):
        return {k: np.asarray(frame.f_locals[k]).tolist() for k in keys if k in frame.f_locals}

    def local(frame, event, arg):
        if event == "line":
            if frame.f_lineno == start and rec["init"] is None:
                rec["init"] = snap(frame, STATE)
            elif frame.f_lineno == batch and len(rec["batches"]) < ITERATIONS:
                rec["batches"].append(snap(frame, BATCH))
            elif frame.f_lineno == end and len(rec["after"]) < ITERATIONS:
                rec["after"].append(snap(frame, STATE))
                if len(rec["after"]) == ITERATIONS:
                    w = np.asarray(frame.f_locals["w_1"])
                    rec["final_upper_objective"] = float(M.f_evaluation(w, DATA[2], DATA[3]))
                    rec["final_test_loss"] = float(M.f_evaluation(w, DATA[4], DATA[5]))
        return local

    sys.settrace(lambda frame, event, arg: local if frame.f_code is fn.__code__ else None)
    try:
        fn()
    finally:
        sys.settrace(None)
    assert len(rec["after"]) == ITERATIONS, "the run ended early"
    return rec


def runs():
    return {
        "bsvrb_v1": record("BSVRBv1", M.BSVRB),
        "bsvrb_v2": record("BSVRBv2", M.BSVRB),
        "rsvrb": record("RSVRB", M.RSVRB),
    }


class RowTranspose(types.ModuleType):
    """numpy, except that transpose of a 1-D array is one row (so `[0]` is the whole array)."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def transpose(a, *rest):
        a = np.asarray(a)
        return a[None, :] if a.ndim == 1 else np.transpose(a, *rest)


out = {
    "cfg": CFG,
    "hyper": HYPER,
    "data": [np.asarray(a).tolist() for a in DATA],
    "sigma": np.asarray(M.sigma_list[: CFG["m"]]).tolist(),
    "official": runs(),
}
official_hess_yy_g = M.hess_yy_g
M.hess_yy_g = lambda p, w, X, Y, lamb, i, b: (
    2 * lamb * np.identity(len(w[0])) - official_hess_yy_g(p, w, X, Y, lamb, i, b))
M.np = RowTranspose("numpy")
out["corrected"] = runs()
with open(OUT, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", OUT)
