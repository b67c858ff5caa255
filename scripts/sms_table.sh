#!/usr/bin/env bash
# Issue 21 part 1's evidence: iterative magnitude pruning (IMP) against Sparse Model Soups
# (SMS) on the built-in Fashion-MNIST subset with the `sms-fashion-mnist` preset (small CNN,
# dense 8 epochs, 4 phases to 95% sparsity, 2 retraining epochs per copy and phase, 1000
# training images held out). Per seed:
#   sms   3 copies per phase (seeds differ), uniform soup (the preset);
#   imp   1 copy per phase (pruning.soup_size=1): plain IMP;
#   imp3  1 copy retrained 3x longer (6 epochs): IMP with SMS's retraining budget.
# All three start from the same dense run (same seed: trained once, copied). Prints, per
# phase, test accuracy (%) as mean +- std over the seeds of IMP, IMP 3x, the best single SMS
# copy (by held-out accuracy: "IMP + best single retrain"), the mean SMS copy and the soup.
#
#   bash scripts/sms_table.sh OUT [SEEDS]     (about 40 minutes for 3 seeds on 2 cores)
#
# STOKE picks the binary (default target/release/stoke); needs jq. Finished runs are kept,
# interrupted ones resume.
set -euo pipefail
out=$1 seeds=${2:-0,1,2}
stoke=${STOKE:-target/release/stoke}
command -v jq >/dev/null || { echo "sms_table.sh needs jq (apt-get install jq)" >&2; exit 1; }
mkdir -p "$out"

# run NAME SEED [OVERRIDES...]: trains (or resumes) OUT/NAME-seedSEED.
run() {
  local name=$1 seed=$2
  shift 2
  local dir="$out/$name-seed$seed"
  [ -f "$dir/summary.json" ] && return
  if [ -f "$dir/config.toml" ]; then
    "$stoke" train --resume "$dir" --quiet >/dev/null
  else
    if [ "$name" != sms ] && [ ! -d "$dir/dense" ]; then
      mkdir -p "$dir"
      cp -r "$out/sms-seed$seed/dense" "$dir/dense"
    fi
    "$stoke" train sms-fashion-mnist "$@" --seed "$seed" --out "$dir" --quiet >/dev/null
  fi
}

IFS=, read -r -a seed_list <<<"$seeds"
for seed in "${seed_list[@]}"; do
  run sms "$seed"
  run imp "$seed" pruning.soup_size=1
  run imp3 "$seed" pruning.soup_size=1 pruning.retrain_epochs=6
done

# column NAME JQ: the JQ expression's value over the seeds' summaries, as mean +- std (%).
column() {
  local values=()
  for seed in "${seed_list[@]}"; do
    values+=("$(jq -r "$2" "$out/$1-seed$seed/summary.json")")
  done
  printf '%s\n' "${values[@]}" | awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; v = q / n - m * m; if (v < 0) v = 0; printf "%.2f +- %.2f", 100 * m, 100 * sqrt(v) }'
}
phases=$(jq '.phases | length' "$out/sms-seed${seed_list[0]}/summary.json")
{
  printf 'test accuracy (%%), mean +- std over seeds %s; batch-norm statistics recomputed on 20\n' "$seeds"
  printf 'training batches for every model (the official code recalibrates every candidate)\n'
  printf '%-9s %-15s %-15s %-15s %-15s %-15s\n' sparsity IMP "IMP 3x" "SMS best copy" "SMS mean copy" "SMS soup"
  dense=$(column sms '.dense.test_accuracy')
  printf '%-9s %-15s %-15s %-15s %-15s %-15s\n' "0 (dense)" "$dense" "$dense" "$dense" "$dense" "$dense"
  for ((k = 0; k < phases; k++)); do
    printf '%-9s %-15s %-15s %-15s %-15s %-15s\n' "$(printf '%.1f%%' "$(jq ".phases[$k].sparsity * 100" "$out/sms-seed${seed_list[0]}/summary.json")")" \
      "$(column imp ".phases[$k].model.test_accuracy")" \
      "$(column imp3 ".phases[$k].model.test_accuracy")" \
      "$(column sms ".phases[$k].copies | max_by(.scores.holdout_accuracy) | .scores.test_accuracy")" \
      "$(column sms "[.phases[$k].copies[].scores.test_accuracy] | add / length")" \
      "$(column sms ".phases[$k].model.test_accuracy")"
  done
} | tee "$out/table.txt"
