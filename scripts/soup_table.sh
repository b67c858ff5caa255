#!/usr/bin/env bash
# Issue 20's soup evidence at small scale: a base run of the quickstart preset (small CNN,
# Fashion-MNIST subset, 1000 training images held out), fine-tuned from its weights at six
# grid points (learning rate x data-order seed, `stoke sweep`), then the uniform and the
# greedy soup of the six (`stoke soup`, batch-norm statistics recomputed) and the WiSE-FT
# curve from the base run to the best fine-tuned one (`stoke interpolate`). Prints a table
# of held-out and test accuracy.
#
#   bash scripts/soup_table.sh OUT [BASE_STEPS] [TUNE_STEPS]
#
# STOKE picks the binary (default target/release/stoke). Finished runs in OUT are kept.
set -euo pipefail
out=$1 base_steps=${2:-300} tune_steps=${3:-150}
stoke=${STOKE:-target/release/stoke}
mkdir -p "$out"
if [ ! -f "$out/base/summary.json" ]; then
  rm -rf "$out/base"
  "$stoke" train quickstart dataset.holdout=1000 train.steps="$base_steps" \
    train.eval_every="$base_steps" --out "$out/base" --quiet >/dev/null
fi
"$stoke" sweep quickstart dataset.holdout=1000 train.steps="$tune_steps" \
  train.eval_every="$tune_steps" --from "$out/base" --grid optimizer.lr=0.01,0.03,0.1 \
  --grid seed=1,2 --out "$out/sweep" >/dev/null
points=("$out"/sweep/point-*)
for kind in uniform greedy; do
  [ -f "$out/$kind/soup.json" ] || "$stoke" soup "$kind" "${points[@]}" --out "$out/$kind" >"$out/$kind.txt"
done
value() { # file key: the first number after "key":
  grep -o "\"$2\": *[0-9.]*" "$1" | head -1 | awk -F: '{ printf "%.2f", 100 * $2 }'
}
{
  printf 'held-out and test accuracy (%%); the sweep points and soups with batch-norm statistics\n'
  printf 'recomputed on 20 training batches (like for like), the base run with its own\n'
  printf '%-34s %10s %8s\n' model holdout% test%
  printf '%-34s %10s %8s\n' "base ($base_steps steps)" "$(value "$out/base/summary.json" holdout_accuracy)" \
    "$(value "$out/base/summary.json" test_accuracy)"
  # "RUN: holdout H%, test T%" for each ingredient, then the soup's line.
  grep ': holdout' "$out/uniform.txt" | grep -v ' soup of ' | while read -r line; do
    p=${line%%:*}
    printf '%-34s %10s %8s\n' "$(basename "$p") ($(grep -o '^lr = [0-9.e-]*' "$p/config.toml" | head -1), seed $(grep -o '^seed = [0-9]*' "$p/config.toml" | cut -d' ' -f3))" \
      "$(echo "$line" | sed 's/.*holdout \([0-9.]*\)%.*/\1/')" \
      "$(echo "$line" | sed 's/.*test \([0-9.]*\)%.*/\1/')"
  done
  for kind in uniform greedy; do
    # "greedy soup of K of N runs: holdout H%, test T%; saved in ..."
    line=$(tail -1 "$out/$kind.txt")
    printf '%-34s %10s %8s\n' "$(echo "$line" | sed 's/ runs:.*/ runs/')" \
      "$(echo "$line" | sed 's/.*holdout \([0-9.]*\)%.*/\1/')" \
      "$(echo "$line" | sed 's/.*test \([0-9.]*\)%.*/\1/')"
  done
} | tee "$out/table.txt"
best=$(for p in "${points[@]}"; do echo "$(value "$p/summary.json" holdout_accuracy) $p"; done | sort -rn | head -1 | cut -d' ' -f2)
"$stoke" interpolate "$out/base" "$best" --alpha 0,0.2,0.4,0.6,0.8,1 --out "$out/wise-ft" | tee "$out/wise-ft.txt"
