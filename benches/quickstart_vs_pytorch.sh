#!/usr/bin/env bash
# The quickstart recipe end to end in stoke and in PyTorch (same model, data, augmentation,
# optimizer and schedule; benches/reference/quickstart_fashion.py), one after the other on the
# same machine; prints accuracy, training time and the time ratio.
#
#   benches/quickstart_vs_pytorch.sh [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-0}
threads=${THREADS:-2}
cargo build --release --quiet
out=$(mktemp -d)
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
stoke_json=$(./target/release/stoke train quickstart --seed "$seed" --quiet --json --out "$out/run")
torch_json=$(python3 benches/reference/quickstart_fashion.py --seed "$seed" --threads "$threads" --json)
python3 - "$stoke_json" "$torch_json" <<'PY'
import json, sys
stoke, torch = json.loads(sys.argv[1]), json.loads(sys.argv[2])
t_acc = torch.get("test_accuracy")
t_acc = t_acc / 100 if t_acc > 1 else t_acc
t_time = torch.get("train_seconds", torch.get("wall_seconds"))
print(f"stoke   : {100 * stoke['test_accuracy']:.2f}% in {stoke['wall_seconds']:.1f} s (evaluation each epoch included)")
print(f"pytorch : {100 * t_acc:.2f}% in {t_time:.1f} s (training only)")
print(f"stoke/pytorch time: {stoke['wall_seconds'] / t_time:.2f}x")
PY
