#!/usr/bin/env bash
# Issue 24 part 3's evidence: Sinkhorn against Sinkhorn-Newton-Sparse at eta = 1200 on the
# paper's three problem kinds (a random 500 x 500 assignment problem, two Fashion-MNIST test
# images with W2 and with W1 pixel costs): iterations (seconds) to marginal errors 1e-3 ...
# 1e-12, for the paper's sparsity (density 3; for W1 700 Sinkhorn sweeps and density 29)
# and stoke's default (density 10). Writes each run's table and an SVG of the random case.
#
#   bash scripts/transport_table.sh OUT      (about 4 minutes on 2 cores)
#
# STOKE picks the binary (default target/release/stoke).
set -euo pipefail
out=$1
stoke=${STOKE:-target/release/stoke}
mkdir -p "$out"
run() {
  echo "== stoke solve transport $*"
  "$stoke" solve transport --quiet "$@"
}
{
  run --problem random --methods sinkhorn,sns --density 3 --svg "$out/random.svg"
  run --problem random --methods sns --density 10
  run --problem images-l2 --methods sinkhorn,sns --density 3
  run --problem images-l2 --methods sns --density 10
  run --problem images-l1 --methods sinkhorn,sns --sinkhorn-sweeps 700 --density 29
  run --problem images-l1 --methods sns --density 10
} | tee "$out/table.txt"
