#!/usr/bin/env bash
# Issue 24 part 1's evidence: the comparisons of Nutini, Laradji and Schmidt's figures at
# small scale, f - f* after 50, 250 and 500 iterations and the seconds taken, with SVGs of
# f - f* against iterations and against time for each.
#   rules         least squares 200 x 2,000, blocks of 5, gradient steps (figures 4a, 8)
#   logistic      logistic regression 2,000 x 400, the same rules (figure 8, data set B)
#   matrix        least squares, matrix updates, GSQ (figures 5a, 11)
#   newton        logistic regression, matrix updates against Newton, blocks of 50 (figure 12)
#   forest        50 x 50 lattice, message passing on forest blocks (figure 6a)
#   active-set    non-negative L1 least squares, projected updates (figures 7, 13)
#
#   bash scripts/bcd_table.sh OUT      (about 1 minute on 2 cores)
#
# STOKE picks the binary (default target/release/stoke).
set -euo pipefail
out=$1
stoke=${STOKE:-target/release/stoke}
mkdir -p "$out"
run() {
  local name=$1
  shift
  echo "== stoke solve bcd $*"
  "$stoke" solve bcd --quiet --svg "$out/$name.svg" --svg-seconds "$out/$name-seconds.svg" "$@"
}
{
  run rules --figure rules
  run logistic --figure logistic-rules
  run matrix --figure matrix
  run newton --figure newton --tau 50
  run forest --figure forest
  run active-set --figure active-set
} | tee "$out/table.txt"
