#!/usr/bin/env bash
# Data-parallel benchmark, side by side in one run: training throughput of one process vs
# N ranks on this machine, for stoke (MPI, `stoke launch`) and PyTorch (DDP over gloo), and
# the time of one all-reduce of the model's gradient size in both.
#
#   benches/data_parallel_vs_pytorch.sh [MODEL] [RANKS] [BATCH] [STEPS]
#   benches/data_parallel_vs_pytorch.sh resnet18 2 128 8
#
# One process uses all cores (2 threads here); each of N ranks gets cores/N threads, so the
# ideal data-parallel throughput on one machine equals the one-process throughput: the
# scaling efficiency printed is (N ranks) / (1 process), and on a 2-core machine it measures
# the cost of the split (smaller per-rank batches, the all-reduce), not a speed-up.
# (Gloo prints connection lines on stdout: the JSON result is the last line.)
# Needs Open MPI (Debian: openmpi-bin libopenmpi-dev libclang-dev) and PyPI torch 2.9.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resnet18}
ranks=${2:-2}
batch=${3:-128}
steps=${4:-8}
warmup=2
cores=$(nproc)

cargo build --release --quiet --features mpi
stoke=./target/release/stoke
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/config.toml" <<EOF
description = "data-parallel benchmark: $model on synthetic 3x32x32 images"
seed = 0
[recipe]
name = "erm"
[dataset]
name = "synthetic"
image_size = [32, 32]
channels = 3
num_classes = 10
train_size = $((batch * (steps + warmup)))
test_size = 16
[data]
batch_size = $batch
eval_batch_size = 16
crop_padding = 4
hflip = true
[model]
name = "$model"
[optimizer]
name = "sgd"
lr = 0.01
momentum = 0.9
weight_decay = 5e-4
[schedule]
name = "constant"
[train]
epochs = 1
log_every = 1
eval_every = 100000
EOF

# Median global images/second of the timed steps (the per-step lines of metrics.jsonl).
median_rate() {
    python3 - "$1/metrics.jsonl" "$warmup" <<'PY'
import json, statistics, sys
rates = [json.loads(l)["images_per_second"] for l in open(sys.argv[1]) if '"images_per_second"' in l]
print(statistics.median(rates[int(sys.argv[2]):]))
PY
}

RAYON_NUM_THREADS=$cores $stoke train "$work/config.toml" --quiet --out "$work/one" >/dev/null
stoke_one=$(median_rate "$work/one")
$stoke launch -n "$ranks" -- train "$work/config.toml" --quiet --out "$work/many" >/dev/null
stoke_many=$(median_rate "$work/many")
torch_one=$(python3 benches/reference/ddp.py train --model "$model" --ranks 1 --threads "$cores" \
    --batch "$batch" --steps "$steps" --warmup "$warmup" --json | tail -1)
torch_many=$(python3 benches/reference/ddp.py train --model "$model" --ranks "$ranks" \
    --batch "$batch" --steps "$steps" --warmup "$warmup" --json | tail -1)
stoke_reduce=$($stoke launch -n "$ranks" -- bench all-reduce --model "$model" --json)
torch_reduce=$(python3 benches/reference/ddp.py all-reduce --model "$model" --ranks "$ranks" --json | tail -1)

python3 - "$ranks" "$stoke_one" "$stoke_many" "$torch_one" "$torch_many" "$stoke_reduce" "$torch_reduce" <<'PY'
import json, sys
ranks = int(sys.argv[1])
stoke_one, stoke_many = float(sys.argv[2]), float(sys.argv[3])
torch_one = json.loads(sys.argv[4])["median_images_per_second"]
torch_many = json.loads(sys.argv[5])["median_images_per_second"]
stoke_reduce, torch_reduce = json.loads(sys.argv[6]), json.loads(sys.argv[7])
print(f"training, median global images/s    {'1 process':>10} {f'{ranks} ranks':>10} {'efficiency':>11}")
for name, one, many in (("stoke (MPI)", stoke_one, stoke_many), ("pytorch (DDP, gloo)", torch_one, torch_many)):
    print(f"  {name:33} {one:10.1f} {many:10.1f} {many / one:10.2f}x")
print(f"  stoke/pytorch                     {stoke_one / torch_one:9.2f}x {stoke_many / torch_many:9.2f}x")
print(f"all-reduce of {stoke_reduce['floats'] / 1e6:.2f} M floats over {ranks} ranks (median)")
for name, r in (("stoke (Open MPI)", stoke_reduce), ("pytorch (gloo)", torch_reduce)):
    print(f"  {name:20} {r['median_seconds'] * 1e3:8.1f} ms  {r['algorithm_gb_per_s']:6.2f} GB/s algorithm, {r['bus_gb_per_s']:6.2f} GB/s bus")
print(f"  stoke/pytorch time {stoke_reduce['median_seconds'] / torch_reduce['median_seconds']:.2f}x")
PY
