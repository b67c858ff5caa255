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
mkdir -p "$out"
[ -f "$out/el2n.json" ] || "$stoke" score quickstart --epochs 2 --seeds 3 --out "$out/el2n.json" >/dev/null 2>&1
[ -f "$out/grand.json" ] || "$stoke" score quickstart --method grand --epochs 0 --seeds 3 --out "$out/grand.json" >/dev/null 2>&1
train() { # name keep seed
  local dir="$out/$1-seed$3"
  if [ ! -f "$dir/summary.json" ]; then
    rm -rf "$dir"
    local keep=()
    [ "$2" = all ] || keep=("dataset.keep=\"$2\"")
    "$stoke" train quickstart train.epochs="$epochs" train.eval_every=0 "${keep[@]}" \
      --seed "$3" --out "$dir" --quiet >/dev/null
  fi
  grep -o '"test_accuracy": *[0-9.]*' "$dir/summary.json" | awk -F: '{ printf "%.4f\n", $2 }'
}
stats() { # values...: mean +- population std in percent
  printf '%s\n' "$@" | awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; v = q / n - m * m; if (v < 0) v = 0; printf "%.2f +- %.2f", 100 * m, 100 * sqrt(v) }'
}
{
  printf 'test accuracy (%%, mean +- std over seeds 0-2) after %s epochs on the kept images\n' "$epochs"
  printf '%-10s %18s %18s %18s\n' kept "EL2N top" "GraNd top" random
  for fraction in 0.3 0.5 0.7; do
    el2n=() grand=() random=()
    for seed in 0 1 2; do
      el2n+=("$(train "el2n-$fraction" "$out/el2n.json:top:$fraction" "$seed")")
      grand+=("$(train "grand-$fraction" "$out/grand.json:top:$fraction" "$seed")")
      random+=("$(train "random-$fraction" "random:$fraction" "$seed")")
    done
    printf '%-10s %18s %18s %18s\n' "$fraction" "$(stats "${el2n[@]}")" "$(stats "${grand[@]}")" "$(stats "${random[@]}")"
  done
  all=()
  for seed in 0 1 2; do all+=("$(train all all "$seed")"); done
  printf '%-10s %18s %18s %18s\n' 1.0 "$(stats "${all[@]}")" "$(stats "${all[@]}")" "$(stats "${all[@]}")"
} | tee "$out/table.txt"
