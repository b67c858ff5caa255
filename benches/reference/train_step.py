#!/usr/bin/env python3
"""PyTorch CPU reference benchmark of full training steps, to compare stoke against.

One step = forward, cross-entropy loss, backward, SGD step (momentum 0.9, weight decay 5e-4,
LR 0.01) on a fixed random batch (inputs ~ N(0, 1), random labels; the data content does not
change the cost). Each step is timed with time.perf_counter() after `--warmup` untimed steps;
the result is the median images/second over the timed steps and the peak resident memory of
the process (resource.getrusage(RUSAGE_SELF).ru_maxrss, converted to MB = 2^20 bytes). The
peak right after `import torch` is reported as well ("rss_after_import_mb"), since the PyPI
wheel alone accounts for several hundred MB of it.

Models (see models.py):
  resnet18   CIFAR ResNet-18 (3x3 stride-1 stem, no max-pool, BasicBlocks [2,2,2,2]),
             input 3x32x32, 10 classes, 11,173,962 trainable parameters (checked);
  small_cnn  stoke's quickstart model (conv-BN-ReLU-maxpool x3, widths 24/48/96, flatten,
             linear), input 1x28x28, 10 classes, 61,042 trainable parameters (checked).

--precision bf16|f16 runs the forward under torch.autocast("cpu", dtype) (f32 weights, the
backward follows the forward's dtypes), the PyTorch counterpart of stoke's train.precision.

Run (from the repository root, needs torch 2.9 and numpy):
    python3 benches/reference/train_step.py --model resnet18 --batch 128 --steps 10 \
        --warmup 2 --threads 2 --json
    python3 benches/reference/train_step.py --model small_cnn --batch 128 --steps 30 \
        --warmup 3 --threads 2 --json
With --json, stdout is exactly one JSON object:
    {"framework": "pytorch", "model": ..., "batch": ..., "steps": ...,
     "median_images_per_second": ..., "peak_memory_mb": ..., "step_seconds": [...], ...}
and the human-readable lines go to stderr.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# Peak RSS once torch is imported, before any model exists: the PyPI wheel maps large
# libraries, so this baseline is reported too (as "rss_after_import_mb").
RSS_AFTER_IMPORT_KB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402


def peak_rss_mb():
    """Peak resident set size of this process in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    p = argparse.ArgumentParser(description="PyTorch CPU training-step benchmark")
    p.add_argument("--model", choices=["resnet18", "small_cnn"], default="resnet18")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before timing")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=["f32", "bf16", "f16"], default="f32",
                   help="bf16/f16: the forward under torch.autocast('cpu', dtype), f32 weights")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model, shape = models.build(args.model, num_classes=10)
    params = models.count_params(model)
    expected = {"resnet18": models.RESNET18_CIFAR10_PARAMS,
                "small_cnn": models.SMALL_CNN_PARAMS}[args.model]
    if params != expected:
        sys.exit(f"{args.model} has {params} parameters, expected {expected}")
    log(f"{args.model}: {params} trainable parameters, input {shape}, batch {args.batch}, "
        f"threads {torch.get_num_threads()}, torch {torch.__version__}")

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(args.batch, *shape)
    y = torch.randint(0, 10, (args.batch,))

    dtype = {"bf16": torch.bfloat16, "f16": torch.float16}.get(args.precision)
    # f16 would also need a GradScaler to train; its cost is not part of this comparison.
    autocast = torch.autocast("cpu", dtype=dtype, enabled=dtype is not None)

    def step():
        with autocast:
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()  # forces completion of the step

    for _ in range(args.warmup):
        step()
    seconds = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - t0)
        log(f"step {i + 1}/{args.steps}: {seconds[-1]:.4f}s")

    median_s = statistics.median(seconds)
    ips = args.batch / median_s
    mem = peak_rss_mb()
    log(f"median {median_s:.4f}s/step = {ips:.1f} images/s, peak RSS {mem:.0f} MB")
    if args.json:
        print(json.dumps({
            "framework": "pytorch",
            "model": args.model,
            "batch": args.batch,
            "precision": args.precision,
            "steps": args.steps,
            "median_images_per_second": round(ips, 2),
            "peak_memory_mb": round(mem, 1),
            "step_seconds": [round(s, 5) for s in seconds],
            "warmup": args.warmup,
            "threads": args.threads,
            "params": params,
            "torch": torch.__version__,
            "load_average_1m": round(os.getloadavg()[0], 2),
            "rss_after_import_mb": round(RSS_AFTER_IMPORT_KB / 1024, 1),
            "cpu": cpu_name(),
        }))


if __name__ == "__main__":
    main()
