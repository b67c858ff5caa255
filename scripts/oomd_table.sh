#!/usr/bin/env bash
# Issue 25 part 1's evidence: regret against rounds of optimistic OMD and the plain
# baselines in simulated SEA environments, for each loss family (Euclidean convex, entropic
# convex, strongly convex, exp-concave) and each (sigma, variation) setting: fixed losses,
# slow drift, an alternating adversary, small and large noise, both. 65,536 rounds, seeds
# 0-2, SVGs of the mean regret against rounds in OUT.
#
#   bash scripts/oomd_table.sh OUT      (about 1 minute on 2 cores)
#
# STOKE picks the binary (default target/release/stoke).
set -euo pipefail
out=$1
stoke=${STOKE:-target/release/stoke}
mkdir -p "$out"
{
  for loss in linear experts quadratic regression; do
    methods=oomd,ogd
    [ "$loss" = regression ] && methods=oomd,ons,ogd
    for setting in "0 0" "0 0.01" "0 1" "0.1 0" "1 0" "0.5 0.1"; do
      set -- $setting
      echo "== stoke solve oomd --loss $loss --sigma $1 --variation $2 --methods $methods"
      "$stoke" solve oomd --quiet --loss "$loss" --sigma "$1" --variation "$2" \
        --methods "$methods" --rounds 65536 --seeds 0,1,2 \
        --svg "$out/$loss-sigma$1-variation$2.svg"
    done
  done
} | tee "$out/table.txt"
