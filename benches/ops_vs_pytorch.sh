#!/usr/bin/env bash
# Op-by-op comparison of a training step: every layer of MODEL timed alone in stoke
# (`stoke bench ops`) and in PyTorch (benches/reference/ops.py) in one run, forward, data
# gradient and weight gradient, with the ratios and each op's share of the step.
#
#   benches/ops_vs_pytorch.sh [MODEL] [BATCH] [INPUT] [REPS]
#   benches/ops_vs_pytorch.sh small_cnn 128 1x28x28 7
#   benches/ops_vs_pytorch.sh resnet18 128 3x32x32 3
#
# Needs PyPI torch 2.9 (PYTHON picks the interpreter). Threads: 2 for both.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-small_cnn} batch=${2:-128} input=${3:-1x28x28} reps=${4:-7}
threads=${THREADS:-2}
python=${PYTHON:-python3}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
./target/release/stoke bench ops --model "$model" --batch "$batch" --input "$input" \
  --reps "$reps" --json >"$tmp/stoke.json"
"$python" benches/reference/ops.py --stoke "$tmp/stoke.json" --reps "$reps" \
  --threads "$threads" --json >"$tmp/torch.json"
"$python" - "$tmp/stoke.json" "$tmp/torch.json" <<'PY'
import json, sys
stoke, torch = (json.load(open(p)) for p in sys.argv[1:3])
def name(op):
    o = op["op"]
    if o == "conv":
        return f"conv {op['cin']}->{op['cout']} {op['kernel']}x{op['kernel']}/{op['stride']} @{op['side']}"
    if o == "linear":
        return f"linear {op['inputs']}->{op['outputs']}"
    return f"{o} {op['channels']} @{op['side']}"
def total(op):
    return op["count"] * (op["forward_ms"] + op["data_grad_ms"] + op.get("weight_grad_ms", 0.0))
step_s, step_t = sum(map(total, stoke["ops"])), sum(map(total, torch["ops"]))
print(f"batch {stoke['batch']}, {stoke['threads']} threads; median ms; ratio = stoke / pytorch (above 1: stoke slower)")
print(f"{'layer':34} {'n':>2} | {'fwd':>7} {'dgrad':>7} {'wgrad':>7} | {'torch fwd':>9} {'dgrad':>7} {'wgrad':>7} | {'fwd x':>6} {'dgrad x':>7} {'wgrad x':>7} | {'share':>5}")
for s, t in zip(stoke["ops"], torch["ops"]):
    w_s, w_t = s.get("weight_grad_ms"), t.get("weight_grad_ms")
    ws = f"{w_s:7.2f}" if w_s is not None else f"{'-':>7}"
    wt = f"{w_t:7.2f}" if w_t is not None else f"{'-':>7}"
    wr = f"{w_s / w_t:7.2f}" if w_s is not None else f"{'-':>7}"
    print(f"{name(s):34} {s['count']:>2} | {s['forward_ms']:7.2f} {s['data_grad_ms']:7.2f} {ws} | "
          f"{t['forward_ms']:9.2f} {t['data_grad_ms']:7.2f} {wt} | "
          f"{s['forward_ms'] / t['forward_ms']:6.2f} {s['data_grad_ms'] / t['data_grad_ms']:7.2f} {wr} | "
          f"{100 * total(s) / step_s:4.1f}%")
print(f"sum over the step's layers: stoke {step_s:.1f} ms, pytorch {step_t:.1f} ms, ratio {step_s / step_t:.2f}x")
PY
