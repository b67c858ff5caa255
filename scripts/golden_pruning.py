#!/usr/bin/env python3
"""Record the masks PyTorch's pruning gives, as the official Sparse Model Soups code
(ZIB-IOL/SMS, strategies/strategies.py) prunes: each phase removes the fraction
q = 1 - (1 - goal)^(1/phases) of the remaining weights, globally over all tensors with
``torch.nn.utils.prune.global_unstructured(..., L1Unstructured, amount=q)`` (selector
"global") or per tensor with ``l1_unstructured`` (the official "uniform", stoke's "layer").
The pruning between phases is applied to the same weights each time (stoke's tests check
the selection, not training).

tests/pruning_golden.rs compares stoke::prune's masks with these. Run with torch 2.9 from
PyPI, from the repository root:

    python3 scripts/golden_pruning.py --out tests/golden/pruning.json
"""
import argparse
import json

import torch
import torch.nn.utils.prune as prune


def model(seed):
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, bias=True),
        torch.nn.Conv2d(8, 16, 3, bias=True),
        torch.nn.Linear(64, 10),
    )
    with torch.no_grad():
        for p in net.parameters():
            # Scales that differ per layer, so global and per-layer selections differ.
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 + p.numel() % 7))
    return net


def f32(tensor):
    """The values with 9 significant digits: exactly the float32 values, read back."""
    return [float("%.9g" % v) for v in tensor.detach().flatten().tolist()]


def masks(net):
    out = {}
    for i, module in enumerate(net):
        mask = getattr(module, "weight_mask", torch.ones_like(module.weight))
        out[f"{i}.weight"] = "".join("1" if k else "0" for k in mask.flatten().tolist())
    return out


def run(selector, goal, phases, seed):
    net = model(seed)
    weights = {
        f"{i}.weight": {"shape": list(m.weight.shape), "values": f32(m.weight)}
        for i, m in enumerate(net)
    }
    weights.update(
        {
            f"{i}.bias": {"shape": list(m.bias.shape), "values": f32(m.bias)}
            for i, m in enumerate(net)
        }
    )
    q = 1 - (1 - goal) ** (1.0 / phases)
    params = [(m, "weight") for m in net]
    per_phase = []
    for _ in range(phases):
        if selector == "global":
            prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=q)
        else:
            for m, name in params:
                prune.l1_unstructured(m, name=name, amount=q)
        per_phase.append(masks(net))
    return {
        "selector": selector,
        "goal": goal,
        "phases": phases,
        "seed": seed,
        "weights": weights,
        "masks": per_phase,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    cases = [
        run("global", 0.9, 3, 0),
        run("layer", 0.9, 3, 1),
        run("global", 0.5, 1, 2),
        run("layer", 0.75, 2, 3),
    ]
    with open(args.out, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
