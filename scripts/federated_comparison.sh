#!/usr/bin/env bash
# Compares federated methods on one preset over 3 seeds (issue 18's evidence): trains every
# method with every seed, prints each run's final test accuracy and the mean of its last 4
# evaluations, then the mean and spread over seeds per method, and plots test accuracy of
# the seed-0 runs against an x axis (SVG) and against uploaded bytes.
#
#   bash scripts/federated_comparison.sh OUT PRESET X "NAME:OVERRIDES" ...
#
# X is a metrics.jsonl key: round, clock (simulated time) or total_bytes_up. OVERRIDES are
# stoke train overrides separated by spaces. Finished runs in OUT are kept (rerunning
# continues). STOKE picks the binary (default target/release/stoke).
set -euo pipefail
out=$1 preset=$2 x=$3
shift 3
stoke=${STOKE:-target/release/stoke}
seeds=(0 1 2)
mkdir -p "$out"
for seed in "${seeds[@]}"; do
  for entry in "$@"; do
    run="$out/${entry%%:*}-seed$seed"
    [ -f "$run/summary.json" ] && continue
    rm -rf "$run"
    # shellcheck disable=SC2086
    "$stoke" train "$preset" seed="$seed" ${entry#*:} --out "$run" --quiet >/dev/null
  done
done
printf '%-16s %5s %9s %12s %9s\n' method seed final last-4-mean rounds | tee "$out/table.txt"
for entry in "$@"; do
  name=${entry%%:*}
  for seed in "${seeds[@]}"; do
    awk -v name="$name" -v seed="$seed" '
      match($0, /"test_accuracy":[ ]*[0-9.eE+-]+/) {
        split(substr($0, RSTART, RLENGTH), kv, ":"); acc[n++] = kv[2] + 0
      }
      match($0, /"round":[ ]*[0-9]+/) { split(substr($0, RSTART, RLENGTH), kv, ":"); r = kv[2] }
      END {
        k = n < 4 ? n : 4; s = 0; for (i = n - k; i < n; i++) s += acc[i]
        printf "%-16s %5d %8.2f%% %11.2f%% %9d\n", name, seed, 100 * acc[n - 1], 100 * s / k, r
      }' "$out/$name-seed$seed/metrics.jsonl"
  done
done | tee -a "$out/table.txt"
echo
tail -n +2 "$out/table.txt" | sed 's/%//g' | awk '
  { sum[$1] += $4; sq[$1] += $4 * $4; n[$1]++; if (!($1 in order)) order[$1] = ++m; names[order[$1]] = $1 }
  END { for (j = 1; j <= m; j++) { k = names[j]; mean = sum[k] / n[k];
        sd = n[k] > 1 ? sqrt((sq[k] - n[k] * mean * mean) / (n[k] - 1)) : 0
        printf "%-16s last-4 mean over %d seeds: %.2f%% (sd %.2f)\n", k, n[k], mean, sd } }' \
  | tee "$out/means.txt"
runs=()
for entry in "$@"; do runs+=("$out/${entry%%:*}-seed0"); done
"$stoke" plot "${runs[@]}" --metric test_accuracy --x "$x" --out "$out/accuracy-by-$x.svg" --force
"$stoke" plot "${runs[@]}" --metric test_accuracy --x total_bytes_up \
  --out "$out/accuracy-by-bytes.svg" --force
