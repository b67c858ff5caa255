#!/usr/bin/env python3
"""PyTorch CPU reference of `stoke bench ops`: the same layers, timed the same way.

Reads the layer list from stoke's JSON (`stoke bench ops --json`) and times each layer in
PyTorch: the forward, then the backward of its output seeded with ones, with only the input
requiring a gradient (the data gradient) and, for convolutions and the linear head, only
the weight (the weight gradient); batch norm in training mode with input, scale and shift
tracked. Median of --reps runs after one warm-up, milliseconds, --threads intra-op threads.

    python3 benches/reference/ops.py --stoke stoke.json --reps 5 --threads 2 --json
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def time_op(reps, forward):
    fwd, bwd = [], []
    for rep in range(reps + 1):
        start = time.perf_counter()
        out = forward()
        forward_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        out.backward(torch.ones_like(out))
        backward_ms = (time.perf_counter() - start) * 1e3
        if rep > 0:
            fwd.append(forward_ms)
            bwd.append(backward_ms)
    return statistics.median(fwd), statistics.median(bwd)


def leaf(shape, grad):
    return torch.randn(*shape).requires_grad_(grad)


def time_layer(layer, batch, reps):
    op = layer["op"]
    weight = None
    if op == "conv":
        cin, cout, side = layer["cin"], layer["cout"], layer["side"]
        k, stride = layer["kernel"], layer["stride"]
        shape_x, shape_w = (batch, cin, side, side), (cout, cin, k, k)
        x, w = leaf(shape_x, True), leaf(shape_w, False)
        forward, data = time_op(reps, lambda: F.conv2d(x, w, None, stride, k // 2))
        x, w = leaf(shape_x, False), leaf(shape_w, True)
        _, weight = time_op(reps, lambda: F.conv2d(x, w, None, stride, k // 2))
    elif op == "batch_norm":
        c, side = layer["channels"], layer["side"]
        x, g, b = leaf((batch, c, side, side), True), leaf((c,), True), leaf((c,), True)
        forward, data = time_op(
            reps, lambda: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5)
        )
    elif op == "relu":
        x = leaf((batch, layer["channels"], layer["side"], layer["side"]), True)
        forward, data = time_op(reps, lambda: F.relu(x))
    elif op == "max_pool":
        x = leaf((batch, layer["channels"], layer["side"], layer["side"]), True)
        forward, data = time_op(reps, lambda: F.max_pool2d(x, 2))
    elif op == "linear":
        i, o = layer["inputs"], layer["outputs"]
        x, w = leaf((batch, i), True), leaf((o, i), False)
        forward, data = time_op(reps, lambda: F.linear(x, w))
        x, w = leaf((batch, i), False), leaf((o, i), True)
        _, weight = time_op(reps, lambda: F.linear(x, w))
    else:
        raise SystemExit(f"unknown op {op}")
    out = dict(layer)
    out.update(forward_ms=forward, data_grad_ms=data)
    if weight is not None:
        out["weight_grad_ms"] = weight
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stoke", required=True, help="stoke bench ops --json output")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.stoke) as f:
        stoke = json.load(f)
    ops = [time_layer(layer, stoke["batch"], args.reps) for layer in stoke["ops"]]
    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "batch": stoke["batch"],
        "threads": args.threads,
        "ops": ops,
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
