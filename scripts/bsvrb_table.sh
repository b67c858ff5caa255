#!/usr/bin/env bash
# Issue 24 part 2's evidence: BSVRB v1 and v2 against the RSVRB baseline on the generated
# data re-weighting task (validation loss F, test loss and accuracy; 3 seeds), and the
# parallel speed-up of the per-block work at 1 and 2 threads on a larger problem (3
# alternating repetitions; the iterates must agree across thread counts).
#
#   bash scripts/bsvrb_table.sh OUT      (about 5 minutes on 2 cores)
#
# STOKE picks the binary (default target/release/stoke).
set -euo pipefail
out=$1
stoke=${STOKE:-target/release/stoke}
mkdir -p "$out"
{
  for seed in 0 1 2; do
    echo "== stoke solve bsvrb --seed $seed"
    "$stoke" solve bsvrb --quiet --seed "$seed" --svg "$out/seed$seed.svg"
  done
  for repeat in 1 2 3; do
    echo "== stoke solve bsvrb --threads 1,2 (larger problem, repetition $repeat)"
    "$stoke" solve bsvrb --quiet --threads 1,2 --tasks 100 --features 50 --train 8000 \
      --val 4000 --test 4000 --task-batch 20 --data-batch 128 --iterations 500 --eval-every 250
  done
} | tee "$out/table.txt"
