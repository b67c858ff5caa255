#!/usr/bin/env python3
"""PyTorch's mixed-precision gradient error, the reference for tests/precision.rs.

For stoke's small_cnn and the CIFAR ResNet-18 (benches/reference/models.py), seeds 0-3: the
relative L2 error of the gradient of one training forward (batch of 8 N(0, 1) images, labels
0..7, train mode) under torch.autocast("cpu", bfloat16 / float16) against the f32 gradient,
and both losses. Needs torch (2.9.0 from PyPI was used):
    python3 scripts/mixed_precision_reference.py
"""

import itertools
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benches",
                                "reference"))
import models  # noqa: E402


def loss_and_gradient(model, x, y, dtype):
    model.zero_grad()
    with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.item(), torch.cat([p.grad.flatten() for p in model.parameters()])


def main():
    for name, seed in itertools.product(["small_cnn", "resnet18"], range(4)):
        torch.manual_seed(seed)
        model, shape = models.build(name, num_classes=10)
        model.train()
        x = torch.randn(8, *shape)
        y = torch.arange(8)
        loss32, grad32 = loss_and_gradient(model, x, y, None)
        for dtype in [torch.bfloat16, torch.float16]:
            loss, grad = loss_and_gradient(model, x, y, dtype)
            error = ((grad - grad32).norm() / grad32.norm()).item()
            print(f"{name} seed {seed} {dtype}: gradient error {error:.2e}, "
                  f"loss {loss:.6f} vs {loss32:.6f}")


if __name__ == "__main__":
    main()
