#!/usr/bin/env bash
# FedAU's claim at small scale (issue 18's evidence): FedAU vs FedAvg (participants' average)
# vs FedAvg with the true participation probabilities, and MIFA, on 100 Dirichlet(0.1)
# clients of the Fashion-MNIST subset whose unknown participation probabilities follow their
# labels (recipes/fedau-fashion-mnist.toml), over 3 seeds. Prints each run's final test
# accuracy and the mean over its last 4 evaluations (rounds 175-250), then mean and spread per
# method, and draws test accuracy against rounds (SVG).
#
#   bash scripts/fedau_comparison.sh [OUT_DIR] [extra overrides...]
#
# About 4 minutes a run on 2 cores; 4 methods x 3 seeds, under an hour.
set -euo pipefail
out=${1:-runs/fedau-comparison}
shift || true
stoke=${STOKE:-target/release/stoke}
methods=(
  "fedau:federated.algorithm=fedau"
  "fedavg:federated.algorithm=fedavg"
  "fedavg-known:federated.algorithm=fedavg federated.aggregation=known_probability"
  "mifa:federated.algorithm=mifa"
)
mkdir -p "$out"
for seed in 0 1 2; do
  for entry in "${methods[@]}"; do
    name=${entry%%:*}
    run="$out/$name-seed$seed"
    [ -f "$run/summary.json" ] && continue
    rm -rf "$run"
    # shellcheck disable=SC2086
    "$stoke" train fedau-fashion-mnist seed=$seed ${entry#*:} "$@" --out "$run" --quiet >/dev/null
  done
done
printf '%-14s %6s %10s %12s\n' method seed final last-4-mean
for entry in "${methods[@]}"; do
  name=${entry%%:*}
  for seed in 0 1 2; do
    awk -v name="$name" -v seed="$seed" '
      match($0, /"test_accuracy":[ ]*[0-9.eE+-]+/) {
        split(substr($0, RSTART, RLENGTH), kv, ":"); acc[n++] = kv[2] + 0
      }
      END {
        s = 0; for (i = n - 4; i < n; i++) s += acc[i]
        printf "%-14s %6d %9.2f%% %11.2f%%\n", name, seed, 100 * acc[n - 1], 25 * s
      }' "$out/$name-seed$seed/metrics.jsonl"
  done
done | tee "$out/table.txt"
echo
awk '{ sum[$1] += $4; sq[$1] += $4 * $4; n[$1]++ }
     END { for (m in sum) { mean = sum[m] / n[m]; sd = sqrt((sq[m] - n[m] * mean * mean) / (n[m] - 1));
           printf "%-14s last-4 mean over seeds %.2f%% (sd %.2f)\n", m, mean, sd } }' \
  <(sed 's/%//g' "$out/table.txt") | sort
runs=()
for entry in "${methods[@]}"; do runs+=("$out/${entry%%:*}-seed0"); done
"$stoke" plot "${runs[@]}" --metric test_accuracy --x step --out "$out/accuracy.svg"
echo "plot: $out/accuracy.svg"
