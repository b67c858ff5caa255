#!/usr/bin/env bash
# Issue 17 part 3: the effect of the allocator settings (src/main.rs; `STOKE_MALLOC=glibc`
# turns them off) and of gemm's AVX-512 kernels (feature `x86-v4`), measured separately:
# stoke with neither, each alone and both, and PyTorch, train the same model side by side
# in ROUNDS alternating rounds; prints each median img/s, peak memory and the ratios.
#
#   benches/allocator_gemm_ablation.sh [MODEL] [BATCH] [STEPS] [INPUT] [ROUNDS]
#   benches/allocator_gemm_ablation.sh resnet18 128 4 3x32x32 3
#   benches/allocator_gemm_ablation.sh small_cnn 128 30 1x28x28 3
#
# Builds the binaries with and without `x86-v4` into target/ablation/ first (a few
# minutes; skipped when SKIP_BUILD=1). PYTHON picks the interpreter with PyPI torch 2.9
# (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resnet18}
batch=${2:-128}
steps=${3:-4}
input=${4:-3x32x32}
rounds=${5:-3}
python=${PYTHON:-python3}
threads=${THREADS:-2}
mkdir -p target/ablation
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  for features in flex flex,x86-v4; do
    cargo build --release --quiet --no-default-features --features "$features"
    cp target/release/stoke "target/ablation/stoke-$features"
  done
fi
# name:binary features:STOKE_MALLOC
variants="base:flex:glibc malloc-settings:flex:tuned x86-v4:flex,x86-v4:glibc both:flex,x86-v4:tuned"
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
results=$(mktemp)
for round in $(seq "$rounds"); do
  for v in $variants; do
    IFS=: read -r name features malloc <<< "$v"
    json=$(STOKE_MALLOC=$malloc "target/ablation/stoke-$features" bench train-step \
      --model "$model" --batch "$batch" --steps "$steps" --warmup 1 --input "$input" --json)
    echo "$name $json" >> "$results"
  done
  json=$("$python" benches/reference/train_step.py --model "$model" --batch "$batch" \
    --steps "$steps" --warmup 1 --threads "$threads" --json 2>/dev/null)
  echo "pytorch $json" >> "$results"
done
"$python" - "$results" "$model" "$batch" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, text = line.split(" ", 1)
    runs.setdefault(name, []).append(json.loads(text))
print(f"{sys.argv[2]}, batch {sys.argv[3]}: median over rounds of each run's median img/s")
print(f"{'':16} {'img/s':>8} {'rounds':>20} {'peak MB':>8} {'vs base':>8} {'vs torch':>9}")
speed = {n: statistics.median(r["median_images_per_second"] for r in rs) for n, rs in runs.items()}
for name, rs in runs.items():
    each = " ".join(f"{r['median_images_per_second']:.1f}" for r in rs)
    peak = max(r["peak_memory_mb"] for r in rs)
    print(f"{name:16} {speed[name]:8.1f} {each:>20} {peak:8.0f} "
          f"{speed[name] / speed['base']:7.2f}x {speed[name] / speed['pytorch']:8.2f}x")
PY
rm -f "$results"
