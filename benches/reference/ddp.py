#!/usr/bin/env python3
"""PyTorch CPU data-parallel reference: DistributedDataParallel over gloo, to compare stoke's
MPI data parallelism against on the same machine.

Two measurements, each over --ranks processes on this machine (torch.multiprocessing):
  train      full training steps of a model (forward, cross-entropy, backward with DDP's
             bucketed all-reduce overlapping it, SGD momentum 0.9 / weight decay 5e-4) on a
             fixed random global batch of --batch images split evenly over the ranks; the
             result is the median of the per-step global images/second after --warmup steps.
  all-reduce one dist.all_reduce (sum) of a float32 tensor of the model's trainable size,
             median seconds over --repeats after two warm-ups.
With --ranks 1 `train` runs the plain model without DDP (the single-process baseline).
Threads per rank: --threads (default: the machine's cores divided by the ranks).

Run (from the repository root, needs torch 2.9):
    python3 benches/reference/ddp.py train --ranks 2 --batch 128 --steps 8 --json
    python3 benches/reference/ddp.py all-reduce --ranks 2 --json
With --json, stdout is exactly one JSON object.
"""

import argparse
import json
import os
import statistics
import sys
import time
from queue import Empty

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402


def setup(rank, ranks, port, threads):
    torch.set_num_threads(threads)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    if ranks > 1:
        dist.init_process_group("gloo", rank=rank, world_size=ranks)


def train_worker(rank, args, queue):
    setup(rank, args.ranks, args.port, args.threads)
    torch.manual_seed(0)
    model, shape = models.build(args.model)
    if args.ranks > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    local = args.batch // args.ranks
    generator = torch.Generator().manual_seed(rank)
    x = torch.randn(local, *shape, generator=generator)
    y = torch.randint(0, 10, (local,), generator=generator)
    seconds = []
    for step in range(args.warmup + args.steps):
        if args.ranks > 1:
            dist.barrier()
        started = time.perf_counter()
        optim.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optim.step()
        if args.ranks > 1:
            # The step ends when every rank's does.
            dist.barrier()
        if step >= args.warmup:
            seconds.append(time.perf_counter() - started)
    if rank == 0:
        queue.put(seconds)
    if args.ranks > 1:
        dist.destroy_process_group()


def all_reduce_worker(rank, args, queue):
    setup(rank, args.ranks, args.port, args.threads)
    floats = models.count_params(models.build(args.model)[0])
    seconds = []
    for round_ in range(args.repeats + 2):
        tensor = torch.full((floats,), float(rank + 1))
        dist.barrier()
        started = time.perf_counter()
        dist.all_reduce(tensor)
        elapsed = time.perf_counter() - started
        expected = args.ranks * (args.ranks + 1) / 2
        assert torch.all(tensor == expected), "wrong all-reduce sums"
        if round_ >= 2:
            seconds.append(elapsed)
    if rank == 0:
        queue.put((floats, seconds))
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["train", "all-reduce"])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--port", type=int, default=29517)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads == 0:
        args.threads = max(1, (os.cpu_count() or 1) // args.ranks)
    if args.what == "all-reduce" and args.ranks < 2:
        parser.error("all-reduce needs --ranks >= 2")
    context = mp.get_context("spawn")
    queue = context.Queue()
    worker = train_worker if args.what == "train" else all_reduce_worker
    processes = [
        context.Process(target=worker, args=(rank, args, queue)) for rank in range(args.ranks)
    ]
    for p in processes:
        p.start()
    # A rank that dies must not leave the parent waiting for its result.
    while True:
        try:
            result = queue.get(timeout=1)
            break
        except Empty:
            if any(p.exitcode not in (None, 0) for p in processes):
                for p in processes:
                    p.kill()
                sys.exit("a rank failed (see above)")
    for p in processes:
        p.join()
        if p.exitcode != 0:
            sys.exit(f"rank exited with {p.exitcode}")
    if args.what == "train":
        seconds = result
        report = {
            "framework": "pytorch-ddp-gloo" if args.ranks > 1 else "pytorch",
            "model": args.model,
            "ranks": args.ranks,
            "threads_per_rank": args.threads,
            "batch": args.batch,
            "median_images_per_second": args.batch / statistics.median(seconds),
            "step_seconds": seconds,
        }
    else:
        floats, seconds = result
        median = statistics.median(seconds)
        algorithm = floats * 4 / median / 1e9
        report = {
            "framework": "pytorch-gloo",
            "model": args.model,
            "ranks": args.ranks,
            "floats": floats,
            "median_seconds": median,
            "algorithm_gb_per_s": algorithm,
            "bus_gb_per_s": algorithm * 2 * (args.ranks - 1) / args.ranks,
        }
    print(json.dumps(report) if args.json else report)


if __name__ == "__main__":
    main()
