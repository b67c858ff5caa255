#!/usr/bin/env bash
# Side-by-side training-step benchmark: stoke (Burn) against PyTorch on CPU, same model,
# batch, optimizer and thread count, in one run; prints both and the ratio.
#
#   benches/train_step_vs_pytorch.sh [MODEL] [BATCH] [STEPS] [INPUT]
#   benches/train_step_vs_pytorch.sh resnet18 128 10 3x32x32
#   benches/train_step_vs_pytorch.sh small_cnn 128 30 1x28x28
#
# Needs PyPI torch 2.9 (pip install torch==2.9.0 numpy). Threads: 2 for both (RAYON and
# OpenMP), the machine this project targets.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resnet18}
batch=${2:-128}
steps=${3:-10}
input=${4:-3x32x32}
threads=${THREADS:-2}
warmup=2

cargo build --release --quiet
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
stoke_json=$(./target/release/stoke bench train-step --model "$model" --batch "$batch" \
    --steps "$steps" --warmup "$warmup" --input "$input" --json)
torch_json=$(python3 benches/reference/train_step.py --model "$model" --batch "$batch" \
    --steps "$steps" --warmup "$warmup" --threads "$threads" --json)
python3 - "$stoke_json" "$torch_json" <<'PY'
import json, sys
stoke, torch = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'':10} {'median img/s':>14} {'peak MB':>9}")
for name, r in (("stoke", stoke), ("pytorch", torch)):
    print(f"{name:10} {r['median_images_per_second']:14.1f} {r['peak_memory_mb']:9.0f}")
ratio = stoke["median_images_per_second"] / torch["median_images_per_second"]
memory = stoke["peak_memory_mb"] / torch["peak_memory_mb"]
print(f"stoke/pytorch: speed {ratio:.2f}x, peak memory {memory:.2f}x")
PY
