#!/usr/bin/env python3
"""Record golden values for stoke's adversarial-training losses (TRADES, AAER, WEAT, DONE).

Values are computed in float64 with PyTorch, following the OFFICIAL code of each paper:

* TRADES  -- github.com/yaodongyu/TRADES, ``trades.py::trades_loss``. Imported and CALLED at
  run time (see ``official_trades``).
* WEAT    -- github.com/OmnAI-Lab/Robust-Classifiers-under-the-lens-of-EBM,
  ``Adversarial ML/WEAT_loss.py::WEAT_nat`` / ``WEAT_adv``. Imported and CALLED at run time.
* AAER    -- github.com/tmllab/2023_NeurIPS_AAER, ``CIFAR10/AAER.py`` lines 109-142 (inside
  the training loop, so it cannot be called): ``aaer_loss`` below mirrors those lines,
  together with ``l2_square`` from ``CIFAR10/utils.py`` lines 20-24.
* DONE    -- no official code; closed form of the first-order version
  (w = softmax(l / r) over the batch, detached; loss = sum_i w_i l_i).

The official functions take a model and inputs, run the attack, and compute the loss from the
model's outputs. To evaluate them on FIXED logits we pass a lookup "model" that returns the
stored natural logits for the natural input and the stored adversarial logits for any other
input, and call them with ``perturb_steps=0`` (the attack loop then does nothing; x_adv is
x_natural + 0.001*randn clamped to [0, 1], which differs from x_natural, so the lookup
returns the adversarial logits for it). ``Tensor.cuda`` is made a no-op during the call
because the official code calls ``.cuda()`` unconditionally. ``WEAT_loss.py`` imports
torchvision without using it; a stub module is installed if torchvision is missing.

The official files are read from local git mirrors (bare repositories) with ``git show``:

    python3 scripts/golden_recipes.py \\
        --trades-git /work/.mirror/yaodongyu+TRADES/repo \\
        --weat-git /work/.mirror/OmnAI-Lab+Robust-Classifiers-under-the-lens-of-EBM/repo \\
        --out tests/golden/recipes.json

(those are the defaults). Any checkout works with ``--trades-dir`` / ``--weat-dir`` pointing
at the directory holding ``trades.py`` / ``WEAT_loss.py`` instead.

All inputs (logits, labels, losses) are generated here from fixed seeds and STORED in the JSON;
the Rust side reads them, it does not regenerate them. Besides the keys required by the Rust
tests, each case also stores the gradient of ``loss`` w.r.t. the input logits
(``grad_logits_nat``/``grad_logits_adv`` for TRADES and WEAT, ``grad_z0``/``grad_z1`` for AAER,
``grad_losses`` for DONE), which pins the official detach points.
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import types
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
warnings.filterwarnings("ignore")  # KLDivLoss(size_average=False) deprecation


# --------------------------------------------------------------------------------------------
# helpers to run the official model-based functions on fixed logits
# --------------------------------------------------------------------------------------------
class LookupModel(nn.Module):
    """Returns z_nat for the natural input (compared by value) and z_adv for anything else."""

    def __init__(self, x_nat, z_nat, z_adv):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))  # so an optimizer can be built
        self.x_nat, self.z_nat, self.z_adv = x_nat, z_nat, z_adv

    def forward(self, x):
        if torch.equal(x.detach(), self.x_nat):
            return self.z_nat
        assert not torch.allclose(x.detach(), self.x_nat, atol=1e-6, rtol=0.0)
        return self.z_adv


class NoCuda:
    def __enter__(self):
        self.saved = torch.Tensor.cuda
        torch.Tensor.cuda = lambda self, *a, **k: self
        return self

    def __exit__(self, *exc):
        torch.Tensor.cuda = self.saved


def call_official(fn, logits_nat, logits_adv, labels, beta, seed):
    """Run an official TRADES-style loss function on fixed logits; return loss and grads."""
    b = logits_nat.shape[0]
    x_nat = torch.linspace(0.2, 0.8, b).reshape(b, 1)  # away from the [0,1] clamp
    z_nat = logits_nat.clone().requires_grad_(True)
    z_adv = logits_adv.clone().requires_grad_(True)
    model = LookupModel(x_nat, z_nat, z_adv)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    torch.manual_seed(seed)
    with NoCuda():
        loss = fn(model=model, x_natural=x_nat, y=labels, optimizer=opt,
                  perturb_steps=0, beta=beta)
    loss.backward()
    return loss, z_nat.grad, z_adv.grad


def load_module(name, directory, git_dir, git_path):
    if directory is None:
        directory = tempfile.mkdtemp(prefix=f"official_{name}_")
        src = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"HEAD:{git_path}"],
                             check=True, capture_output=True).stdout
        with open(os.path.join(directory, f"{name}.py"), "wb") as f:
            f.write(src)
    sys.path.insert(0, directory)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


# --------------------------------------------------------------------------------------------
# AAER: mirror of tmllab/2023_NeurIPS_AAER CIFAR10/AAER.py lines 109-142 (+ utils.l2_square)
# --------------------------------------------------------------------------------------------
def l2_square(x, y):
    # CIFAR10/utils.py lines 20-24: squared L2 over classes (dim 1), MEAN over examples (dim 0)
    diff = x - y
    diff = diff * diff
    diff = diff.sum(1).mean(0)
    return diff


def aaer_loss(z0, z1, y, lamda1, lamda2, lamda3):
    """z0: logits of model(X + delta0) (line 109); z1: logits of model(X + delta1) (line 122).

    Returns the loss of line 142 plus the logged pieces. z0 and z1 are used exactly as
    ``output`` is at lines 109-113 and 122-125.
    """
    output = z0
    output_org = output.detach()                                     # line 110
    loss = nn.CrossEntropyLoss(reduction="none")(output, y)          # line 111 (reduce=False)
    loss_before = loss.detach()                                      # line 112
    # lines 113-121: mean, backward, FGSM step -- only builds delta1; z1 is given.
    output = z1                                                      # line 122
    loss = nn.CrossEntropyLoss(reduction="none")(output, y)          # line 123
    loss_after = loss.detach()                                       # line 124
    loss = loss.mean()                                               # line 125

    abnormal_example = loss_before > loss_after                      # line 127
    normal_example = loss_before <= loss_after                       # line 128
    abnormal_count = torch.count_nonzero(abnormal_example)           # line 129
    normal_count = torch.count_nonzero(normal_example)               # line 130

    abnormal_variation = normal_variation = abnormal_ce = None
    if abnormal_count != 0:                                          # lines 132-135
        abnormal_variation = l2_square(output_org[abnormal_example], output[abnormal_example])
        abnormal_ce = abnormal_example * (loss_before - loss_after)
        abnormal_ce = abnormal_ce.sum() / abnormal_count
    if normal_count != 0:                                            # lines 138-139
        normal_variation = l2_square(output_org[normal_example], output[normal_example])

    regularizer = 0.0
    if abnormal_count != 0 and normal_count != 0:                    # lines 141-142
        regularizer = (lamda1 * abnormal_count / y.size(0)) * (
            lamda2 * abnormal_ce + lamda3 * max(abnormal_variation - normal_variation.item(), 0))
        loss = loss + regularizer
    f = lambda t: 0.0 if t is None else float(t)
    return dict(loss=loss, abnormal=abnormal_example, abnormal_count=int(abnormal_count),
                ce_variation=f(abnormal_ce), var_abnormal=f(abnormal_variation),
                var_normal=f(normal_variation), regularizer=float(regularizer))


# --------------------------------------------------------------------------------------------
def tolist(t):
    return t.detach().tolist()


def trades_cases(trades):
    cases = []
    for seed, (b, k), scale in [(0, (6, 4), 1.5), (1, (6, 4), 3.0), (2, (5, 3), 2.0)]:
        g = torch.Generator().manual_seed(100 + seed)
        zn = scale * torch.randn(b, k, generator=g)
        za = zn + 1.0 * torch.randn(b, k, generator=g)
        y = torch.randint(0, k, (b,), generator=g)
        beta = 6.0
        loss, gn, ga = call_official(trades.trades_loss, zn, za, y, beta, seed)
        # independent recomputation (TRADES: CE mean + beta/B * sum KL(p_nat || p_adv))
        ce = F.cross_entropy(zn, y)
        pn = F.softmax(zn, 1)
        kl = (pn * (F.log_softmax(zn, 1) - F.log_softmax(za, 1))).sum() / b
        assert abs(float(loss) - float(ce + beta * kl)) < 1e-12
        cases.append(dict(logits_nat=tolist(zn), logits_adv=tolist(za), labels=tolist(y),
                          beta=beta, natural_ce=float(ce), robust_kl=float(kl),
                          loss=float(loss), grad_logits_nat=tolist(gn),
                          grad_logits_adv=tolist(ga)))
    return cases


def weat_cases(weat):
    cases = []
    for variant, fn in [("nat", weat.WEAT_nat), ("adv", weat.WEAT_adv)]:
        for seed, (b, k) in [(0, (6, 4)), (1, (5, 3))]:
            g = torch.Generator().manual_seed(200 + seed + (10 if variant == "adv" else 0))
            # row offsets spread the energies over both signs (E = -logsumexp)
            offs = torch.tensor([-4.0, -1.5, 0.0, 1.0, 3.0, -6.0][:b]).reshape(b, 1)
            zn = 1.5 * torch.randn(b, k, generator=g) + offs
            za = zn + 1.0 * torch.randn(b, k, generator=g)
            y = torch.randint(0, k, (b,), generator=g)
            beta = 6.0
            loss, gn, ga = call_official(fn, zn, za, y, beta, seed)
            energy = weat.energy_x(zn)
            w = weat.compute_weights(energy)
            assert (energy > 0).any() and (energy < 0).any()
            # independent recomputation
            ref_w = 1.0 / F.softplus(energy.abs())
            assert torch.allclose(w, ref_w, rtol=1e-13, atol=0)
            zc = zn if variant == "nat" else za
            ce = F.cross_entropy(zc, y, reduction="none")
            pn = F.softmax(zn, 1)
            kl = (pn * (torch.log(pn) - torch.log(F.softmax(za, 1) + 1e-12))).sum(1)
            ref = (w * ce).sum() / b + beta * (w * kl).sum() / b
            assert abs(float(loss) - float(ref)) < 1e-12
            cases.append(dict(logits_nat=tolist(zn), logits_adv=tolist(za), labels=tolist(y),
                              beta=beta, variant=variant, energy=tolist(energy),
                              weights=tolist(w), loss=float(loss),
                              grad_logits_nat=tolist(gn), grad_logits_adv=tolist(ga)))
    return cases


def aaer_cases():
    rs8, n16 = (1.0, 2.5, 1.5), (1.0, 8.5, 1.5)
    # (name, B, K, lambdas, pattern of +1 (push to abnormal) / -1 (normal) / 0 (z1 == z0),
    #  noise scale for abnormal rows, noise scale for normal rows)
    specs = [
        ("rs_aaer_eps8_mixed_varA_gt_varN", 6, 4, rs8, [1, -1, 1, -1, -1, 1], 1.0, 0.3),
        ("n_aaer_eps16_mixed_varA_lt_varN", 6, 4, n16, [-1, 1, -1, 1, -1, -1], 0.2, 1.5),
        ("rs_aaer_eps8_none_abnormal", 6, 4, rs8, [-1] * 6, 0.5, 0.5),
        ("n_aaer_eps16_all_abnormal", 6, 4, n16, [1] * 6, 0.5, 0.5),
        ("rs_aaer_eps8_b5k3_with_tie", 5, 3, rs8, [1, 0, -1, 1, -1], 0.8, 0.4),
    ]
    cases = []
    for i, (name, b, k, lam, pattern, s_ab, s_no) in enumerate(specs):
        g = torch.Generator().manual_seed(300 + i)
        z0 = 3.0 * torch.randn(b, k, generator=g)
        y = torch.randint(0, k, (b,), generator=g)
        noise = torch.randn(b, k, generator=g)
        onehot = F.one_hot(y, k).to(z0.dtype)
        z1 = z0.clone()
        ce = lambda z, r: float(F.cross_entropy(z[r:r + 1], y[r:r + 1]))
        for r, p in enumerate(pattern):
            push = 2.5  # doubled until the row lands on the intended side
            while p != 0:
                if p == 1:    # raise the true logit: CE falls (abnormal)
                    z1[r] = z0[r] + s_ab * noise[r] + push * onehot[r]
                    if ce(z0, r) > ce(z1, r):
                        break
                else:         # lower the true logit: CE rises (normal)
                    z1[r] = z0[r] + s_no * noise[r] - push * onehot[r]
                    if ce(z0, r) <= ce(z1, r):
                        break
                push *= 2.0
        z0 = z0.requires_grad_(True)
        z1 = z1.requires_grad_(True)
        out = aaer_loss(z0, z1, y, *lam)
        out["loss"].backward()
        ab = out["abnormal"]
        assert ab.tolist() == [p == 1 for p in pattern], (name, ab.tolist())
        # independent recomputation
        l0 = F.cross_entropy(z0.detach(), y, reduction="none")
        l1 = F.cross_entropy(z1.detach(), y, reduction="none")
        sq = ((z1.detach() - z0.detach()) ** 2).sum(1)
        reg = 0.0
        if 0 < int(ab.sum()) < b:
            va, vn = sq[ab].mean(), sq[~ab].mean()
            reg = lam[0] * int(ab.sum()) / b * (
                lam[1] * (l0 - l1)[ab].mean() + lam[2] * max(float(va - vn), 0.0))
        assert abs(float(out["loss"]) - (float(l1.mean()) + float(reg))) < 1e-12
        assert z0.grad is None or float(z0.grad.abs().max()) == 0.0
        cases.append(dict(
            name=name, z0=tolist(z0), z1=tolist(z1), labels=tolist(y),
            lambda1=lam[0], lambda2=lam[1], lambda3=lam[2],
            abnormal=ab.tolist(), abnormal_count=out["abnormal_count"],
            ce_variation=out["ce_variation"], var_abnormal=out["var_abnormal"],
            var_normal=out["var_normal"], regularizer=out["regularizer"],
            loss=float(out["loss"]), l0=tolist(l0), l1=tolist(l1),
            grad_z0=tolist(torch.zeros(b, k) if z0.grad is None else z0.grad),
            grad_z1=tolist(z1.grad)))
    return cases


def done_cases():
    cases = []
    for i, r in enumerate([1.0, 0.1]):
        g = torch.Generator().manual_seed(400 + i)
        losses = (2.0 * torch.rand(6, generator=g) + 0.1).requires_grad_(True)
        w = torch.softmax(losses.detach() / r, 0)  # weights detached
        loss = (w * losses).sum()
        loss.backward()
        cases.append(dict(losses=tolist(losses), r=r, weights=tolist(w), loss=float(loss),
                          grad_losses=tolist(losses.grad)))
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades-git", default="/work/.mirror/yaodongyu+TRADES/repo")
    ap.add_argument("--weat-git",
                    default="/work/.mirror/OmnAI-Lab+Robust-Classifiers-under-the-lens-of-EBM/repo")
    ap.add_argument("--trades-dir", default=None, help="directory holding trades.py")
    ap.add_argument("--weat-dir", default=None, help="directory holding WEAT_loss.py")
    ap.add_argument("--out", default="tests/golden/recipes.json")
    args = ap.parse_args()

    if "torchvision" not in sys.modules:
        try:
            import torchvision  # noqa: F401  (WEAT_loss.py imports it, unused)
        except ImportError:
            sys.modules["torchvision"] = types.ModuleType("torchvision")
    trades = load_module("trades", args.trades_dir, args.trades_git, "trades.py")
    weat = load_module("WEAT_loss", args.weat_dir, args.weat_git, "Adversarial ML/WEAT_loss.py")

    golden = dict(
        source=("scripts/golden_recipes.py; torch " + torch.__version__ + ", float64; "
                "TRADES trades.py::trades_loss and WEAT_loss.py::WEAT_nat/WEAT_adv called "
                "directly; AAER mirrors CIFAR10/AAER.py lines 109-142; DONE closed form"),
        trades=trades_cases(trades),
        aaer=aaer_cases(),
        weat=weat_cases(weat),
        done=done_cases(),
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: " + ", ".join(f"{k} {len(v)}" for k, v in golden.items()
                                            if isinstance(v, list)))


if __name__ == "__main__":
    main()
