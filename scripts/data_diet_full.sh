#!/usr/bin/env bash
# Issue 20's Data Diet check on the full Fashion-MNIST (60,000 training images, Debian's
# dataset-fashion-mnist): the quickstart CNN and schedule, EL2N averaged over 3 runs after 2
# epochs (`stoke score`), then EPOCHS epochs on the top-scored half against a random half, 3
# training seeds each, and one full-data run of the same epochs for reference. Prints test
# accuracy (mean and spread over the seeds).
#
#   bash scripts/data_diet_full.sh OUT [EPOCHS]
#
# STOKE picks the binary (default target/release/stoke). Finished runs in OUT are kept.
set -euo pipefail
out=$1 epochs=${2:-4}
stoke=${STOKE:-target/release/stoke}
. "$(dirname "$0")/evidence_lib.sh"
data='dataset.name="fashion-mnist"'
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "the full Fashion-MNIST is missing: apt-get install dataset-fashion-mnist" >&2
  exit 1
fi
mkdir -p "$out"
[ -f "$out/el2n.json" ] || "$stoke" score quickstart "$data" --epochs 2 --seeds 3 --out "$out/el2n.json" >/dev/null 2>&1
{
  printf 'full Fashion-MNIST: test accuracy (%%) after %s epochs on the kept images\n' "$epochs"
  el2n=() random=()
  for seed in 0 1 2; do
    el2n+=("$(train_kept "$out" el2n-0.5 "$out/el2n.json:top:0.5" "$seed" train.epochs="$epochs" "$data")")
    random+=("$(train_kept "$out" random-0.5 random:0.5 "$seed" train.epochs="$epochs" "$data")")
  done
  printf '%-28s %s\n' "EL2N top 50% (seeds 0-2)" "$(stats "${el2n[@]}")"
  printf '%-28s %s\n' "random 50% (seeds 0-2)" "$(stats "${random[@]}")"
  printf '%-28s %s\n' "all 60,000 (seed 0)" "$(stats "$(train_kept "$out" all all 0 train.epochs="$epochs" "$data")")"
} | tee "$out/table.txt"
