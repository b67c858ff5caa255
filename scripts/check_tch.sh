#!/usr/bin/env bash
# Builds stoke with the libtorch backend from PyPI's torch and trains the smoke recipe on it.
# Needs: pip install torch==2.9.0 (CPU or CUDA wheel). Not run by CI (the wheel is large).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -c 'import torch; assert torch.__version__.startswith("2.9"), torch.__version__' || {
    echo "check_tch: install PyTorch 2.9 first: pip install torch==2.9.0" >&2
    exit 2
}
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LIBTORCH_USE_PYTORCH=1
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# A separate target directory keeps the default (flex) build intact.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target-tch}
cargo build --release --features tch
bin="$CARGO_TARGET_DIR/release/stoke"
out=$(mktemp -d)
"$bin" ls devices | grep -q '^  tch .*available'
"$bin" train smoke --device tch --quiet --json --out "$out/run" | tee "$out/summary.json"
python3 - "$out/summary.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
assert summary["test_accuracy"] > 0.6, summary
print(f"check_tch: ok, smoke recipe on tch reached {100 * summary['test_accuracy']:.1f}% test accuracy")
PY
