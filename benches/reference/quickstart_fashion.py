#!/usr/bin/env python3
"""PyTorch reference for stoke's `quickstart` recipe: small_cnn on the Fashion-MNIST subset.

Trains stoke's `small_cnn` (see models.py) on the 10,000-image class-balanced subset written
by scripts/make_fashion_subset.py and reports the accuracy on its 2,000 test images together
with the training wall time, so that stoke's quickstart can be compared with PyTorch on the
same 2 CPU cores.

Recipe (the defaults):
  * data: datasets/fashion-mnist-subset/*.gz (gzipped IDX), pixels /255 then normalised with
    mean 0.2860, std 0.3530;
  * augmentation, redrawn each epoch: random crop 28x28 from the image zero-padded by 2 pixels
    on each side (padding applied before normalisation, i.e. black), random horizontal flip
    with probability 0.5;
  * batch 128, training set shuffled each epoch, last partial batch kept;
  * SGD, momentum 0.9, Nesterov, weight decay 5e-4 (on all parameters), peak LR 0.1;
  * LR per step: linear warm-up from 0 to the peak over the first epoch, then cosine decay to 0
    at the last step; 12 epochs;
  * torch.set_num_threads(2); evaluation (BN in eval mode) after training, not timed.

Run (from the repository root, needs torch and numpy):
    python3 benches/reference/quickstart_fashion.py [--seed 0] [--epochs 12] [--lr 0.1]
        [--threads 2] [--data datasets/fashion-mnist-subset] [--eval-every-epoch] [--json]
Architecture variants for experiments (defaults = stoke's small_cnn):
    --widths 24,48,96 --pools 1,1,1 --head flatten|gap --convs 1

Model (models.SmallCnn, 61,042 parameters): [conv3x3 pad 1 no bias, BN, ReLU, maxpool 2x2/2]
with 24, 48, 96 channels (28 -> 14 -> 7 -> 3), flatten 96x3x3 = 864, linear 864->10.
Measured on 2 cores (Xeon, torch 2.9.0, idle machine): ~41 s of training, 89.6-90.4 % test
accuracy over seeds 0-3.
"""

import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    """Read a gzipped IDX file: images -> (n, rows, cols) uint8, labels -> (n,) uint8."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic == 0x00000803:
        n, rows, cols = struct.unpack(">III", data[4:16])
        return np.frombuffer(data, np.uint8, n * rows * cols, 16).reshape(n, rows, cols)
    if magic == 0x00000801:
        n = struct.unpack(">I", data[4:8])[0]
        return np.frombuffer(data, np.uint8, n, 8)
    raise ValueError(f"{path}: unknown IDX magic 0x{magic:08x}")


def load_split(folder, prefix):
    images = read_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # n,1,28,28 in [0,1]
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def normalize(x):
    return (x - MEAN) / STD


def augment(x, pad, gen):
    """Random crop from a zero-padded copy plus random horizontal flip, for a whole set."""
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None]  # n,1,h,1
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :]  # n,1,1,w
    idx_n = torch.arange(n)[:, None, None, None]
    idx_c = torch.arange(c)[None, :, None, None]
    out = padded[idx_n, idx_c, rows, cols]
    flip = torch.rand(n, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def lr_at(step, total_steps, warmup_steps, peak):
    """Linear warm-up to `peak`, then cosine decay to 0 at `total_steps`."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return peak * 0.5 * (1.0 + math.cos(math.pi * t))


@torch.no_grad()
def evaluate(model, x, y, batch=500):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch):
        correct += (model(normalize(x[i:i + batch])).argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    return correct / x.shape[0]


def main(argv=None):
    p = argparse.ArgumentParser(description="small_cnn on the Fashion-MNIST subset (PyTorch)")
    p.add_argument("--data", default=os.path.join(ROOT, "datasets", "fashion-mnist-subset"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--pad", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--widths", default="24,48,96")
    p.add_argument("--pools", default="1,1,1")
    p.add_argument("--head", default="flatten", choices=["flatten", "gap"])
    p.add_argument("--convs", type=int, default=1)
    p.add_argument("--eval-every-epoch", action="store_true")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")

    model = models.SmallCnn(
        widths=tuple(int(v) for v in args.widths.split(",")),
        pools=tuple(v == "1" for v in args.pools.split(",")),
        head=args.head, convs=args.convs)
    params = models.count_params(model)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          nesterov=True, weight_decay=args.weight_decay)

    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / args.batch)
    total_steps = steps_per_epoch * args.epochs
    warmup_steps = max(1, round(steps_per_epoch * args.warmup_epochs))
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    log(f"small_cnn widths={args.widths} pools={args.pools} head={args.head} "
        f"convs={args.convs}: {params} trainable parameters")
    log(f"train {n}, test {x_test.shape[0]}, {steps_per_epoch} steps/epoch, "
        f"{args.epochs} epochs, peak lr {args.lr}, seed {args.seed}, threads {args.threads}")

    model.train()
    step, train_seconds = 0, 0.0
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        xa = normalize(augment(x_train, args.pad, gen))
        perm = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for i in range(0, n, args.batch):
            idx = perm[i:i + args.batch]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total_steps, warmup_steps, args.lr)
            loss = F.cross_entropy(model(xa[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * idx.numel()
            step += 1
        epoch_seconds = time.perf_counter() - t0
        train_seconds += epoch_seconds
        msg = f"epoch {epoch + 1:2d} loss {loss_sum / n:.4f} {epoch_seconds:.1f}s"
        if args.eval_every_epoch:
            msg += f" test acc {evaluate(model, x_test, y_test):.4f}"
        log(msg)

    acc = evaluate(model, x_test, y_test)
    log(f"test accuracy {acc:.4f} ({round(acc * x_test.shape[0])}/{x_test.shape[0]}), "
        f"training wall time {train_seconds:.1f}s")
    if args.json:
        print(json.dumps({
            "framework": "pytorch", "model": "small_cnn", "params": params,
            "widths": args.widths, "pools": args.pools, "head": args.head,
            "convs": args.convs, "seed": args.seed, "epochs": args.epochs, "lr": args.lr,
            "test_accuracy": acc, "train_seconds": round(train_seconds, 3),
        }))


if __name__ == "__main__":
    main()
