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
data='dataset.name="fashion-mnist"'
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "the full Fashion-MNIST is missing: apt-get install dataset-fashion-mnist" >&2
  exit 1
fi
mkdir -p "$out"
[ -f "$out/el2n.json" ] || "$stoke" score quickstart "$data" --epochs 2 --seeds 3 --out "$out/el2n.json" >/dev/null 2>&1
train() { # name keep seed
  local dir="$out/$1-seed$3"
  if [ ! -f "$dir/summary.json" ]; then
    rm -rf "$dir"
    local keep=()
    [ "$2" = all ] || keep=("dataset.keep=\"$2\"")
    "$stoke" train quickstart "$data" train.epochs="$epochs" train.eval_every=0 "${keep[@]}" \
      --seed "$3" --out "$dir" --quiet >/dev/null
  fi
  grep -o '"test_accuracy": *[0-9.]*' "$dir/summary.json" | awk -F: '{ printf "%.4f\n", $2 }'
}
stats() { # values...: mean +- population std in percent
  printf '%s\n' "$@" | awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; v = q / n - m * m; if (v < 0) v = 0; printf "%.2f +- %.2f", 100 * m, 100 * sqrt(v) }'
}
{
  printf 'full Fashion-MNIST: test accuracy (%%) after %s epochs on the kept images\n' "$epochs"
  el2n=() random=()
  for seed in 0 1 2; do
    el2n+=("$(train el2n-0.5 "$out/el2n.json:top:0.5" "$seed")")
    random+=("$(train random-0.5 random:0.5 "$seed")")
  done
  printf '%-28s %s\n' "EL2N top 50% (seeds 0-2)" "$(stats "${el2n[@]}")"
  printf '%-28s %s\n' "random 50% (seeds 0-2)" "$(stats "${random[@]}")"
  printf '%-28s %s\n' "all 60,000 (seed 0)" "$(stats "$(train all all 0)")"
} | tee "$out/table.txt"
