#!/usr/bin/env python3
"""Record golden optimizer trajectories from the OFFICIAL PyTorch implementations.

The Rust tests compare stoke's AdamP, SGDP, diffGrad, AdaHessian, Adagrad and
AdaGrad-Norm against the trajectories written by this script. The optimizer
code itself is NOT part of this repository: Adagrad is PyTorch's own
``torch.optim.Adagrad``; the others are imported, unmodified, from a directory
given with ``--official``. Extract it from the upstream repositories like this
(the paths below are the local git mirrors; any checkout of the same files
works):

    mkdir -p /tmp/official
    cd /work/.mirror/clovaai+AdamP/repo && \\
        git show HEAD:adamp/adamp.py > /tmp/official/adamp.py && \\
        git show HEAD:adamp/sgdp.py > /tmp/official/sgdp.py
    cd /work/.mirror/shivram1987+diffGrad/repo && \\
        git show HEAD:diffGrad_v2.py > /tmp/official/diffgrad_v2.py
    cd /work/.mirror/amirgholami+adahessian/repo && \\
        git show HEAD:image_classification/optim_adahessian.py \\
        > /tmp/official/optim_adahessian.py
    cd /work/.mirror/timlautk+AdAdaGrad/repo && \\
        git show HEAD:adagradnorm.py > /tmp/official/adagradnorm.py

Upstream repositories: github.com/clovaai/AdamP, github.com/shivram1987/diffGrad,
github.com/amirgholami/adahessian, github.com/timlautk/AdAdaGrad.

Then, from the repository root:

    python3 scripts/golden_optimizers.py --official /tmp/official \\
        --out tests/golden/optimizers.json

Notes on running the official code under torch 2.9:

* diffGrad_v2.py uses the deprecated ``add_(Number, Tensor)``,
  ``addcmul_(Number, Tensor, Tensor)`` and ``addcdiv_(Number, Tensor, Tensor)``
  overloads. torch 2.9 still accepts them (with a UserWarning), so nothing is
  patched; the warning is silenced below.
* AdaHessian draws Rademacher probes with ``torch.randint_like(p, high=2)``.
  During each ``Adahessian.step()`` call (and only then) ``torch.randint_like``
  is replaced by a deterministic generator that reproduces stoke's RNG, so the
  Rust side can use the identical probe vectors (see ``probe_bits``).
  Nothing else in the official code is touched.
* adagradnorm.py (class ``Adagradnorm``) uses the deprecated
  ``add_(Number, Tensor)`` overload for its momentum buffer and its
  weight-decay line. torch 2.9 still accepts it (same UserWarning as above),
  so nothing is patched. What the official step() does, as run here:
  - 4-D and 2-D parameters: the accumulator gains the squared L2 norm of each
    output row, ``grad.view(out, -1).norm(dim=1)**2``, shared by the row.
  - any other rank: its ``try`` refers to ``grad_sqaure``, which is unbound
    when no 2-D/4-D parameter came before it in the same step (always the case
    for the single parameters used here), so the bare ``except`` takes the
    elementwise fallback ``sum += grad * grad``. run_case checks which branch
    ran by watching the optimizer state.
  - update: ``p -= clr * grad / (sqrt(sum) + 1e-10)`` with
    ``clr = lr / (1 + (step - 1) * lr_decay)``.
  - ``momentum`` m > 0: ``buf = m * buf + (1 - m) * grad`` (buf starts at 0)
    and ``p -= clr * buf / (sqrt(sum) + 1e-10)``; the accumulator still uses
    the raw gradient.
  - ``weight_decay`` is not an L2 penalty on the weights: after the update it
    does ``p -= clr * weight_decay * grad`` (an extra plain gradient step with
    the raw gradient, not the weights and not the momentum buffer).

Everything runs in float32 on the CPU, single-threaded.
"""

import argparse
import json
import math
import os
import sys
import warnings

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# stoke's RNG (src side is Rust; all arithmetic is wrapping mod 2^64)
# ---------------------------------------------------------------------------

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix(z):
    """SplitMix64 finaliser, identical to stoke's `mix`."""
    z = (z + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def key(seed, stream, counter, index):
    """stoke's `key(seed, stream, counter, index)`."""
    z = mix((seed ^ (stream << 56)) & MASK64)
    z = mix(z ^ counter)
    return mix(z ^ ((index * 0xD6E8FEB86659FD93) & MASK64))


class Rng:
    """stoke's `Rng`: state = key(...); next_u64 advances by GOLDEN and mixes."""

    def __init__(self, seed, stream, counter, index):
        self.state = key(seed, stream, counter, index)

    def next_u64(self):
        self.state = (self.state + GOLDEN) & MASK64
        return mix(self.state)


PROBE_SEED = 0
PROBE_STREAM = 7


def probe_bits(step, param_index, numel):
    """0/1 bits of the AdaHessian probe for optimizer step `step` (0-based) and
    parameter tensor `param_index`. Element j (row-major) is bit j % 64 of word
    j // 64; the probe sign is z = 2*b - 1 (+1 when the bit is set)."""
    rng = Rng(PROBE_SEED, PROBE_STREAM, step, param_index)
    bits = []
    word = 0
    for j in range(numel):
        if j % 64 == 0:
            word = rng.next_u64()
        bits.append((word >> (j % 64)) & 1)
    return bits


class DeterministicProbes:
    """Context manager that swaps `torch.randint_like` for the deterministic
    probe generator while one AdaHessian step runs.

    The official `get_trace` evaluates `2 * torch.randint_like(p, high=2) - 1`
    once per parameter, in parameter order, so the n-th call inside a step is
    parameter index n."""

    def __init__(self, step):
        self.step = step
        self.calls = 0

    def _randint_like(self, input, *args, **kwargs):
        # Only the exact call pattern of the official code is supported.
        high = kwargs.get("high", args[0] if len(args) == 1 else None)
        assert high == 2 and len(args) <= 1 and set(kwargs) <= {"high"}, (args, kwargs)
        bits = probe_bits(self.step, self.calls, input.numel())
        self.calls += 1
        return torch.tensor(bits, dtype=input.dtype).reshape(input.shape)

    def __enter__(self):
        self._saved = torch.randint_like
        torch.randint_like = self._randint_like
        return self

    def __exit__(self, *exc):
        torch.randint_like = self._saved
        return False


# ---------------------------------------------------------------------------
# Test problems. Each returns (start tensor, loss function of that tensor).
# Constants are computed in float64 (Python floats) and then cast to float32.
# ---------------------------------------------------------------------------

F32 = torch.float32


def f32(values):
    return torch.tensor(values, dtype=torch.float64).to(F32)


def rosenbrock(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + (y - x * x) ** 2


def rosenbrock100(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def quadratic(p):
    return p[0] * p[0] + p[1] * p[1]


def beale(p):
    x, y = p[0], p[1]
    return ((1.5 - x + x * y) ** 2
            + (2.25 - x + x * y * y) ** 2
            + (2.625 - x + x * y * y * y) ** 2)


# Scale-invariant regression: the loss only depends on the row directions of
# W (each row is normalised), so the gradient is orthogonal to every row and
# AdamP/SGDP's projection fires.
SI_X = f32([[math.sin(0.7 * (8 * n + i) + 0.3) for i in range(8)] for n in range(16)])
SI_Y = f32([[math.cos(1.3 * (4 * n + r)) for r in range(4)] for n in range(16)])
SI_W0 = f32([[math.sin(1.1 * (8 * r + i) + 0.5) for i in range(8)] for r in range(4)])


def scale_invariant(w):
    w_hat = w / w.norm(dim=1, keepdim=True)  # no eps
    pred = SI_X @ w_hat.t()
    return ((pred - SI_Y) ** 2).mean()


# Tiny convolution: tanh(conv2d(I, K)) regressed onto T. Conv kernels are 4-D,
# which exercises AdaHessian's 3x3 block-averaged Hessian diagonal.
CONV_I = f32([[math.sin(0.5 * (6 * h + w) + 0.1) for w in range(6)] for h in range(6)]).reshape(1, 1, 6, 6)
CONV_T = f32([[[0.5 * math.cos(0.9 * (16 * o + 4 * h + w)) for w in range(4)] for h in range(4)]
              for o in range(2)]).reshape(1, 2, 4, 4)
CONV_K0 = f32([[[[0.4 * math.sin(1.7 * (9 * o + 3 * a + b) + 0.2) for b in range(3)] for a in range(3)]]
               for o in range(2)])


def conv(k):
    out = torch.tanh(F.conv2d(CONV_I, k))  # no bias, no padding
    return ((out - CONV_T) ** 2).mean()


PROBLEMS = {
    "rosenbrock": rosenbrock,
    "rosenbrock100": rosenbrock100,
    "quadratic": quadratic,
    "beale": beale,
    "scale-invariant": scale_invariant,
    "conv": conv,
}
FIXED_STARTS = {"scale-invariant": SI_W0, "conv": CONV_K0}
DEFAULT_START = [1.5, 1.5]


# ---------------------------------------------------------------------------
# Mapping from stoke's option names to the official constructor arguments.
# Unspecified options keep the official defaults:
#   AdamP:      betas=(0.9, 0.999), eps=1e-8, weight_decay=0, delta=0.1, wd_ratio=0.1, nesterov=False
#   SGDP:       momentum=0, dampening=0, weight_decay=0, nesterov=False, eps=1e-8, delta=0.1, wd_ratio=0.1
#   diffgrad:   betas=(0.9, 0.999), eps=1e-8, weight_decay=0
#   Adahessian: betas=(0.9, 0.999), eps=1e-4, weight_decay=0, hessian_power=1
#   Adagrad (torch.optim.Adagrad): lr_decay=0, weight_decay=0,
#               initial_accumulator_value=0, eps=1e-10
#   Adagradnorm: momentum=0, lr_decay=0, weight_decay=0, initial_accumulator_value=1e-2
# ---------------------------------------------------------------------------

def official_kwargs(name, options):
    kw = {}
    for k, v in options.items():
        if k in ("beta1", "beta2"):
            continue
        kw[k] = v  # all other stoke names equal the official argument names
    if "beta1" in options or "beta2" in options:
        b1 = options.get("beta1", 0.9)
        b2 = options.get("beta2", 0.999)
        kw["betas"] = (b1, b2)
    allowed = {
        "adamp": {"betas", "eps", "weight_decay", "delta", "wd_ratio", "nesterov"},
        "sgdp": {"momentum", "dampening", "weight_decay", "nesterov", "eps", "delta", "wd_ratio"},
        "diffgrad": {"betas", "eps", "weight_decay"},
        "adahessian": {"betas", "eps", "weight_decay", "hessian_power"},
        "adagrad": {"lr_decay", "weight_decay", "initial_accumulator_value", "eps"},
        "adagrad_norm": {"momentum", "lr_decay", "weight_decay", "initial_accumulator_value"},
    }[name]
    assert set(kw) <= allowed, (name, kw)
    return kw


def make_optimizer(mods, name, params, lr, options):
    cls = {
        "adamp": mods["AdamP"],
        "sgdp": mods["SGDP"],
        "diffgrad": mods["diffgrad"],
        "adahessian": mods["Adahessian"],
        "adagrad": torch.optim.Adagrad,
        "adagrad_norm": mods["Adagradnorm"],
    }[name]
    return cls(params, lr=lr, **official_kwargs(name, options))


def projection_fires(grad, p, eps, delta):
    """Re-implementation (for reporting only) of the test in the official
    AdamP/SGDP `_projection`: the update is projected if the channel view, or
    failing that the layer view, has max |cos(grad, p)| < delta / sqrt(width)."""
    for view in (lambda x: x.view(x.size(0), -1), lambda x: x.view(1, -1)):
        cos = F.cosine_similarity(view(grad), view(p), dim=1, eps=eps).abs_()
        if cos.max() < delta / math.sqrt(view(p).size(1)):
            return True
    return False


def adagrad_norm_branch(before, after, grad):
    """Observational check (reporting only) of which accumulator branch the
    official Adagradnorm step took, from its state['sum'] before and after."""
    if grad.dim() in (2, 4):
        rows = after.view(grad.size(0), -1)
        assert torch.equal(rows, rows[:, :1].expand_as(rows)), "row accumulator not shared by the row"
        return "row-norm"
    assert torch.equal(after, before + grad * grad), "not the elementwise fallback"
    return "elementwise"


def flat(t):
    # float32 -> Python float is exact, so repr() keeps full precision.
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def run_case(mods, name, problem, lr, steps, options, start=None):
    f = PROBLEMS[problem]
    if problem in FIXED_STARTS:
        assert start is None
        p0 = FIXED_STARTS[problem].clone()
    else:
        start = DEFAULT_START if start is None else start
        p0 = torch.tensor(start, dtype=F32)
    p = p0.clone().requires_grad_(True)
    opt = make_optimizer(mods, name, [p], lr, options)

    track_projection = problem == "scale-invariant" and name in ("adamp", "sgdp")
    projected, observed = [], []
    if track_projection:
        # Observational cross-check of the reported flag: wrap the optimizer
        # instance's own _projection and note whether it returned the reduced
        # weight-decay ratio (wd_ratio != 1 in every case below). The wrapper
        # returns the original result unchanged.
        assert opt.defaults["wd_ratio"] != 1
        original = opt._projection

        def spy(*args, **kwargs):
            out = original(*args, **kwargs)
            observed.append(out[1] != 1)
            return out

        opt._projection = spy

    second_order = name == "adahessian"
    branches = set()
    trajectory, losses = [], []
    for t in range(steps):
        p.grad = None  # zero grads
        loss = f(p)
        trajectory.append(flat(p))
        losses.append(float(loss.detach()))
        loss.backward(create_graph=second_order)
        if track_projection:
            group = opt.param_groups[0]
            projected.append(projection_fires(p.grad.detach(), p.detach(), group["eps"], group["delta"]))
        if second_order:
            with DeterministicProbes(t) as probes:
                opt.step()
            assert probes.calls == 1  # one parameter tensor -> one probe
        elif name == "adagrad_norm":
            before = opt.state[p]["sum"].clone()
            opt.step()
            branches.add(adagrad_norm_branch(before, opt.state[p]["sum"], p.grad.detach()))
        else:
            opt.step()
    p.grad = None
    trajectory.append(flat(p))
    with torch.no_grad():
        losses.append(float(f(p)))

    case = {
        "optimizer": name,
        "problem": problem,
        "start": None if problem in FIXED_STARTS else [float(v) for v in start],
        "lr": lr,
        "steps": steps,
        "options": options,
        "trajectory": trajectory,
        "loss": losses,
    }
    if track_projection:
        assert observed == projected, (name, problem, options, observed, projected)
        case["projected"] = projected
    return case, branches


CASES = [
    # (optimizer, problem, lr, steps, options)
    ("diffgrad", "rosenbrock", 0.1, 60, {}),
    ("diffgrad", "rosenbrock", 0.1, 60, {"weight_decay": 0.1}),
    ("diffgrad", "beale", 0.05, 60, {"beta1": 0.8, "beta2": 0.99}),
    ("diffgrad", "scale-invariant", 0.05, 40, {}),
    ("adamp", "rosenbrock", 0.01, 80, {"beta1": 0.9, "beta2": 0.95, "eps": 1e-3}),
    ("adamp", "rosenbrock", 0.01, 80, {"nesterov": True, "weight_decay": 0.05}),
    ("adamp", "scale-invariant", 0.05, 40, {}),
    ("adamp", "scale-invariant", 0.05, 40,
     {"nesterov": True, "weight_decay": 0.1, "delta": 0.1, "wd_ratio": 0.1}),
    ("sgdp", "rosenbrock", 0.002, 80, {"momentum": 0.91}),
    ("sgdp", "rosenbrock", 0.01, 80, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("sgdp", "quadratic", 0.05, 50, {"momentum": 0.5, "dampening": 0.1}),
    ("sgdp", "scale-invariant", 0.1, 40, {"momentum": 0.9, "weight_decay": 0.1}),
    ("sgdp", "scale-invariant", 0.1, 40, {"momentum": 0.9, "nesterov": True}),
    ("adahessian", "rosenbrock", 0.15, 60, {"hessian_power": 1.0}),
    ("adahessian", "rosenbrock", 0.15, 60, {"hessian_power": 0.6}),
    ("adahessian", "quadratic", 0.1, 40, {"weight_decay": 0.01}),
    ("adahessian", "beale", 0.1, 60, {"hessian_power": 0.5}),
    ("adahessian", "conv", 0.05, 40, {}),
    ("adahessian", "conv", 0.05, 40, {"hessian_power": 0.6, "weight_decay": 0.001}),
    ("adagrad", "rosenbrock", 0.5, 60, {}),
    ("adagrad", "rosenbrock", 0.5, 60,
     {"lr_decay": 0.01, "weight_decay": 0.05, "initial_accumulator_value": 0.1}),
    ("adagrad", "beale", 0.3, 60, {}),
    ("adagrad", "scale-invariant", 0.5, 40, {}),
    ("adagrad", "conv", 0.2, 40, {"eps": 1e-6}),
    ("adagrad_norm", "rosenbrock", 0.5, 60, {}),
    ("adagrad_norm", "scale-invariant", 0.5, 40, {}),
    ("adagrad_norm", "scale-invariant", 0.5, 40, {"momentum": 0.9}),
    ("adagrad_norm", "conv", 0.2, 40, {}),
    ("adagrad_norm", "conv", 0.2, 40, {"initial_accumulator_value": 0.1, "lr_decay": 0.01}),
]


def import_official(directory):
    sys.path.insert(0, os.path.abspath(directory))
    from adamp import AdamP
    from sgdp import SGDP
    from diffgrad_v2 import diffgrad
    from optim_adahessian import Adahessian
    from adagradnorm import Adagradnorm
    return {"AdamP": AdamP, "SGDP": SGDP, "diffgrad": diffgrad, "Adahessian": Adahessian,
            "Adagradnorm": Adagradnorm}


def dump(doc):
    """JSON with one trajectory point per line (compact but reviewable)."""
    lines = ["{"]
    for k in ("generator", "torch", "probe_seed"):
        lines.append(f"  {json.dumps(k)}: {json.dumps(doc[k])},")
    lines.append('  "cases": [')
    for ci, case in enumerate(doc["cases"]):
        lines.append("    {")
        items = list(case.items())
        for ki, (k, v) in enumerate(items):
            sep = "," if ki + 1 < len(items) else ""
            if k == "trajectory":
                rows = [json.dumps(row) for row in v]
                body = ",\n".join("        " + r for r in rows)
                lines.append(f'      "trajectory": [\n{body}\n      ]{sep}')
            else:
                lines.append(f"      {json.dumps(k)}: {json.dumps(v)}{sep}")
        lines.append("    }" + ("," if ci + 1 < len(doc["cases"]) else ""))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", required=True, help="directory holding the extracted official optimizer files")
    ap.add_argument("--out", required=True, help="output JSON path (tests/golden/optimizers.json)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.set_default_dtype(F32)
    # diffGrad_v2.py's and adagradnorm.py's deprecated overloads still work on
    # torch 2.9; silence the warnings. AdaHessian's create_graph=True backward
    # warns about a reference cycle between parameters and their grads;
    # harmless here.
    warnings.filterwarnings("ignore", message="This overload of .* is deprecated")
    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")

    # Self-check for the Rust side: first probe word of Rng(0, 7, 0, 0).
    first = Rng(PROBE_SEED, PROBE_STREAM, 0, 0).next_u64()
    print(f"probe self-check: key(0,7,0,0)={key(0, 7, 0, 0):#018x} first next_u64={first:#018x}")

    mods = import_official(args.official)
    cases = []
    for name, problem, lr, steps, options in CASES:
        case, branches = run_case(mods, name, problem, lr, steps, options)
        cases.append(case)
        loss = case["loss"]
        extra = ""
        if "projected" in case:
            extra = f" projected {sum(case['projected'])}/{steps}"
        if branches:
            extra += f" accumulator {'/'.join(sorted(branches))}"
        print(f"{name:12s} {problem:15s} lr={lr:<6g} steps={steps:3d} {json.dumps(options)}: "
              f"loss {loss[0]:.6g} -> {loss[-1]:.6g} (min {min(loss):.6g}){extra}")

    doc = {
        "generator": "scripts/golden_optimizers.py",
        "torch": torch.__version__,
        "probe_seed": PROBE_SEED,
        "cases": cases,
    }
    text = dump(doc)
    json.loads(text)  # sanity: valid JSON
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(text)
    print(f"wrote {args.out} ({len(text)} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
