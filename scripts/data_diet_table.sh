#!/usr/bin/env bash
# Issue 20's Data Diet evidence on the Fashion-MNIST subset (the quickstart preset: small
# CNN, 10,000 training images): EL2N scores averaged over 3 runs after 2 epochs and GraNd
# scores averaged over 3 initialisations (the paper's choices; `stoke score`), then training
# for a fixed number of epochs on the top-scored fraction (`dataset.keep =
# "el2n.json:top:F"`) against a random fraction of the same size, for F in 0.3, 0.5, 0.7 and
# the full set, 3 training seeds each. Prints test accuracy (mean and spread over the seeds)
# per fraction.
#
#   bash scripts/data_diet_table.sh OUT [EPOCHS]
#
# STOKE picks the binary (default target/release/stoke). Finished runs in OUT are kept.
set -euo pipefail
out=$1 epochs=${2:-6}
stoke=${STOKE:-target/release/stoke}
. "$(dirname "$0")/evidence_lib.sh"
mkdir -p "$out"
[ -f "$out/el2n.json" ] || "$stoke" score quickstart --epochs 2 --seeds 3 --out "$out/el2n.json" >/dev/null 2>&1
[ -f "$out/grand.json" ] || "$stoke" score quickstart --method grand --epochs 0 --seeds 3 --out "$out/grand.json" >/dev/null 2>&1
{
  printf 'test accuracy (%%, mean +- std over seeds 0-2) after %s epochs on the kept images\n' "$epochs"
  printf '%-10s %18s %18s %18s\n' kept "EL2N top" "GraNd top" random
  for fraction in 0.3 0.5 0.7; do
    el2n=() grand=() random=()
    for seed in 0 1 2; do
      el2n+=("$(train_kept "$out" "el2n-$fraction" "$out/el2n.json:top:$fraction" "$seed" train.epochs="$epochs")")
      grand+=("$(train_kept "$out" "grand-$fraction" "$out/grand.json:top:$fraction" "$seed" train.epochs="$epochs")")
      random+=("$(train_kept "$out" "random-$fraction" "random:$fraction" "$seed" train.epochs="$epochs")")
    done
    printf '%-10s %18s %18s %18s\n' "$fraction" "$(stats "${el2n[@]}")" "$(stats "${grand[@]}")" "$(stats "${random[@]}")"
  done
  all=()
  for seed in 0 1 2; do all+=("$(train_kept "$out" all all "$seed" train.epochs="$epochs")"); done
  printf '%-10s %18s %18s %18s\n' 1.0 "$(stats "${all[@]}")" "$(stats "${all[@]}")" "$(stats "${all[@]}")"
} | tee "$out/table.txt"
