#!/usr/bin/env bash
# Issue 20's PA&DA evidence on the Fashion-MNIST subset (the supernet-fashion-mnist preset
# with 8 channels, 4 epochs and 1000 training images held out): the 27 architectures of the
# cell space each trained alone (seed 0), then per seed 0-2 a supernet trained with uniform
# path and data sampling (SPOS) and one with PA&DA's importance sampling of both, each
# ranked by `stoke nas rank` (inherited weights, batch-norm statistics recomputed per
# architecture, held-out accuracy) against the stand-alone test accuracies. Prints Kendall's
# tau-b and the gradient variance over the epochs (mean of the per-epoch values each run
# logs), mean +- std over the seeds, and the per-seed values.
#
#   bash scripts/pada_table.sh OUT
#
# STOKE picks the binary (default target/release/stoke). Finished steps in OUT are kept.
set -euo pipefail
out=$1
stoke=${STOKE:-target/release/stoke}
. "$(dirname "$0")/evidence_lib.sh"
mkdir -p "$out/alone"
common=(dataset.holdout=1000 model.channels=8 train.epochs=4)
pada=(recipe.path_sampling='"importance"' recipe.data_sampling='"importance"')
train() { # dir overrides...
  local dir=$1
  shift
  if [ ! -f "$dir/summary.json" ]; then
    rm -rf "$dir"
    "$stoke" train supernet-fashion-mnist "${common[@]}" "$@" --out "$dir" --quiet >/dev/null
  fi
}
for a in $(seq 0 26); do
  train "$out/alone/arch$(printf %02d "$a")" recipe.architecture="$a"
done
for seed in 0 1 2; do
  train "$out/spos-seed$seed" --seed "$seed"
  train "$out/pada-seed$seed" --seed "$seed" "${pada[@]}"
  for arm in spos pada; do
    ranking="$out/$arm-seed$seed.ranking.json"
    [ -f "$ranking" ] || "$stoke" nas rank "$out/$arm-seed$seed" --standalone "$out"/alone/arch* \
      --out "$ranking" --json >/dev/null
  done
done
tau() { # ranking.json: Kendall's tau-b, nan when undefined (null)
  grep -o '"kendall_tau": *[-0-9.enul]*' "$1" | awk -F: '{ v = $2; gsub(/ /, "", v); print (v == "null" ? "nan" : v + 0) }'
}
variance() { # metrics.jsonl: the mean of the per-epoch gradient variances
  grep -o '"grad_variance":[-0-9.e+]*' "$1" | awk -F: '{ s += $2; n++ } END { printf "%.4f\n", s / n }'
}
echo "sampling   Kendall tau-b     gradient variance   per seed (tau / variance)"
for arm in spos pada; do
  taus=() variances=()
  for seed in 0 1 2; do
    taus+=("$(tau "$out/$arm-seed$seed.ranking.json")")
    variances+=("$(variance "$out/$arm-seed$seed/metrics.jsonl")")
  done
  label=$([ "$arm" = spos ] && echo "uniform" || echo "PA&DA  ")
  printf '%s    %s   %s      %s / %s\n' "$label" "$(mean_std "${taus[@]}")" \
    "$(mean_std "${variances[@]}")" "$(printf '%s,' "${taus[@]}")" "$(printf '%s,' "${variances[@]}")"
done
accuracies=$(grep -ho '"test_accuracy": *[0-9.]*' "$out"/alone/arch*/summary.json |
  awk -F: '{ print $2 + 0 }' | sort -n)
echo "stand-alone test accuracy over the 27 architectures: $(echo "$accuracies" | head -1) to $(echo "$accuracies" | tail -1)"
