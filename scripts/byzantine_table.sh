#!/usr/bin/env bash
# Issue 19's evidence: test accuracy after a fixed budget for every aggregation rule under
# every attack, 15 workers on the Fashion-MNIST subset (the flag-fashion-mnist preset), f = 3
# faulty, and f = 1, 2 for mean, median, Krum and Flag. Prints two tables (rows: rules,
# columns: attacks) and each rule's mean seconds per aggregation.
#
#   bash scripts/byzantine_table.sh OUT [STEPS]
#
# STOKE picks the binary (default target/release/stoke). Finished runs in OUT are kept
# (rerunning continues).
set -euo pipefail
out=$1 steps=${2:-50}
stoke=${STOKE:-target/release/stoke}
rules=(mean median trimmed_mean phocas meamed krum multi_krum bulyan geometric_median flag)
attacks=(none random reversed little empire label_flip augmented)
mkdir -p "$out"
cell() { # rule attack faulty: the accuracy, or "diverged" when the weights became infinite
  local run="$out/$1-$2-f$3"
  if [ ! -f "$run/summary.json" ] && [ ! -f "$run.diverged" ]; then
    rm -rf "$run"
    if ! "$stoke" train flag-fashion-mnist train.steps="$steps" \
      byzantine.evaluate_every="$steps" byzantine.rule=\""$1"\" byzantine.attack=\""$2"\" \
      byzantine.faulty="$3" --out "$run" --quiet >/dev/null 2>"$run.stderr"; then
      grep -q "not finite" "$run.stderr" || { cat "$run.stderr" >&2; exit 1; }
      touch "$run.diverged"
    fi
  fi
  if [ -f "$run.diverged" ]; then
    printf diverged
  else
    grep -o '"test_accuracy": *[0-9.]*' "$run/summary.json" | awk -F: '{ printf "%.1f", 100 * $2 }'
  fi
}
table() { # faulty rules...
  local faulty=$1
  shift
  printf '\n%s faulty of 15, test accuracy (%%) after %s steps\n' "$faulty" "$steps"
  printf '%-17s' rule
  printf ' %10s' "${attacks[@]}"
  printf '\n'
  for rule in "$@"; do
    printf '%-17s' "$rule"
    for attack in "${attacks[@]}"; do
      # No attack: the faulty workers behave, so one column serves every f.
      printf ' %10s' "$(cell "$rule" "$attack" "$faulty")"
    done
    printf '\n'
  done
}
{
  table 3 "${rules[@]}"
  table 2 mean median krum flag
  table 1 mean median krum flag
  printf '\nseconds per aggregation (n = 15, mean over the f = 3 runs)\n'
  for rule in "${rules[@]}"; do
    cat "$out/$rule"-*-f3/summary.json 2>/dev/null | grep -o '"rule_seconds": *[0-9.eE+-]*' |
      awk -F: -v rule="$rule" '{ s += $2; n++ } END { printf "%-17s %.5f\n", rule, s / n }'
  done
} | tee "$out/table.txt"
