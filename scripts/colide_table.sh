#!/usr/bin/env bash
# Issue 24 part 4's evidence: DAGMA, CoLiDE-EV and CoLiDE-NV on simulated linear SEMs
# (ER4 and SF4 graphs, 1,000 samples, weights +-U[0.5, 2]) with equal noise variances 1 and
# 10 and non-equal variances (uniform in [0.5, 10]), 20 and 50 nodes, seeds 0-2, the
# official schedule (lambda 0.05, threshold 0.3): mean SHD (sd), TPR, FDR per method.
#
#   bash scripts/colide_table.sh OUT      (about 6 minutes on 2 cores)
#
# STOKE picks the binary (default target/release/stoke).
set -euo pipefail
out=$1
stoke=${STOKE:-target/release/stoke}
mkdir -p "$out"
for nodes in 20 50; do
  for graph in er sf; do
    for variance in 1 10 nv; do
      echo "== stoke solve colide --nodes $nodes --graph $graph --variance $variance"
      "$stoke" solve colide --quiet --nodes "$nodes" --graph "$graph" --variance "$variance"
    done
  done
done | tee "$out/table.txt"
