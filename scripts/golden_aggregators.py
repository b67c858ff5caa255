#!/usr/bin/env python3
"""Record golden outputs of Byzantine-robust aggregation rules from their reference code.

The Rust tests (tests/aggregate.rs) compare stoke::aggregate's rules against the numbers
this script writes. The rules themselves are NOT part of this repository:

- coordinate-wise median, trimmed mean, MeaMed and the geometric median come from PyPI's
  ``byzfl`` (0.0.11; ``pip install --no-deps byzfl==0.0.11`` beside torch 2.9 and numpy;
  only its aggregators module is imported), on torch tensors (torch's median is the lower
  median);
- Krum / Multi-Krum and the Flag Aggregator come from the official Flag repository
  (github.com/hamidralmasi/FlagAggregator), imported unmodified from a directory given with
  ``--official``. Extract it like this (the path is the local git mirror; any checkout of
  the same files works):

      mkdir -p /tmp/official
      cd /work/.mirror/hamidralmasi+FlagAggregator/repo && \\
          git show HEAD:aggregators/krum.py > /tmp/official/krum.py && \\
          git show HEAD:aggregators/center_algorithms_torch.py \\
          > /tmp/official/center_algorithms_torch.py

The Flag Aggregator starts from a random subspace (torch's generator); the script records
that start so the Rust side starts from the same one. flag.py's ``aggregate`` writes CSV
files to hard-coded paths, so the script calls its IRLS (``irls_flag``) and applies
flag.py's last step, (1/r) sum_i Y Y^T x_i over the normalised gradients, itself.

Then, from the repository root:

    python3 scripts/golden_aggregators.py --official /tmp/official \\
        --out tests/golden/aggregators.json
"""

import argparse
import importlib.util
import itertools
import json
import sys
import types

import torch
import torch.nn.functional as F


def load_byzfl_aggregators():
    """byzfl's aggregators module without byzfl/__init__.py (which imports its training
    framework: torchvision, matplotlib, seaborn)."""
    spec = importlib.util.find_spec("byzfl")
    package = types.ModuleType("byzfl")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["byzfl"] = package
    from byzfl.aggregators import aggregators

    return aggregators


def load_official(directory):
    """krum.py and center_algorithms_torch.py with stubs for the repository's framework."""
    package = types.ModuleType("flagrepo")
    package.__path__ = [directory]
    package.register = lambda *args, **kwargs: None
    sys.modules["flagrepo"] = package
    tools = types.ModuleType("tools")
    tools.pairwise = lambda items: itertools.combinations(items, 2)
    sys.modules["tools"] = tools
    modules = {}
    for name in ["krum", "center_algorithms_torch"]:
        spec = importlib.util.spec_from_file_location(
            f"flagrepo.{name}", f"{directory}/{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"flagrepo.{name}"] = module
        spec.loader.exec_module(module)
        modules[name] = module
    return modules


def flag(cat, gradients, rank, lam, iterations, seed):
    """flag.py's aggregate with a recorded start: IRLS, then (1/r) sum_i Y Y^T x_i."""
    normalised = [F.normalize(g, p=2.0, dim=0)[:, None] for g in gradients]
    generator = torch.Generator().manual_seed(seed)
    start = torch.linalg.qr(torch.rand(len(gradients[0]), rank, generator=generator) - 0.5)[0]
    y = cat.irls_flag(
        normalised, rank, iterations, "sine", opt_err="sine", init=start, lambda_=lam
    )[0]
    output = torch.sum(torch.stack([y @ (y.T @ x) for x in normalised]), dim=0).div(rank)
    return start, output[:, 0]


def case(name, vectors, f, modules, seed):
    krum = modules["krum"]
    cat = modules["center_algorithms_torch"]
    byzfl = modules["byzfl"]
    stacked = torch.stack(vectors)
    n = len(vectors)
    results = {
        "median": byzfl.Median()(stacked),
        "trimmed_mean": byzfl.TrMean(f=f)(stacked),
        "meamed": byzfl.Meamed(f=f)(stacked),
        "geometric_median": byzfl.GeometricMedian(nu=0.1, T=3)(stacked),
        "krum": krum.aggregate([v.clone() for v in vectors], f, m=1),
        "multi_krum": krum.aggregate([v.clone() for v in vectors], f),
    }
    flags = []
    for rank, lam, iterations in [(1, 0.0, 1), (2, 0.0, 3), (1, 1.0, 2)]:
        start, output = flag(cat, vectors, rank, lam, iterations, seed)
        flags.append(
            {
                "rank": rank,
                "lambda": lam,
                "iterations": iterations,
                "start": start.T.tolist(),
                "output": output.tolist(),
            }
        )
    return {
        "name": name,
        "f": f,
        "multi_krum_m": n - f - 2,
        "vectors": [v.tolist() for v in vectors],
        "results": {key: value.tolist() for key, value in results.items()},
        "flag": flags,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--official", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    modules = load_official(args.official)
    modules["byzfl"] = load_byzfl_aggregators()
    generator = torch.Generator().manual_seed(0)
    cases = []
    # 6 honest workers around a common gradient, 1 reversed and scaled (-10 g).
    honest = torch.randn(12, generator=generator)
    vectors = [honest + 0.3 * torch.randn(12, generator=generator) for _ in range(6)]
    vectors.append(-10.0 * honest)
    cases.append(case("reversed-n7-f1", vectors, 1, modules, seed=1))
    # 12 honest workers and 3 random ones (N(0, 20^2)), the paper's n = 15, f = 3.
    honest = 1.0 + 0.5 * torch.randn(20, generator=generator)
    vectors = [honest + 0.5 * torch.randn(20, generator=generator) for _ in range(12)]
    vectors += [20.0 * torch.randn(20, generator=generator) for _ in range(3)]
    cases.append(case("random-n15-f3", vectors, 3, modules, seed=2))
    with open(args.out, "w") as out:
        json.dump({"byzfl": "0.0.11", "torch": torch.__version__, "cases": cases}, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
