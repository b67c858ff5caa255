#!/usr/bin/env bash
# Issue 19's gossip evidence ("Vanishing Variance Problem in Fully Decentralized
# Neural-Network Systems" at small scale): the gossip-fashion-mnist preset (20 nodes from
# independent initializations, one batch per round, self weight 0.5) with plain and with
# variance-corrected averaging on four topologies (seed 0), the random 4-regular graph also
# with seeds 1 and 2, and the paper's shape (50 nodes, random 8-regular). Prints a table of
# the nodes' mean test accuracy (+- their spread) by round, the weight variance ratio (the
# nodes' variance of each weight tensor over its value at initialization, mean over tensors:
# its lowest value and its value at the end) and the final consensus distance; writes two
# SVG plots (accuracy and variance ratio by round) for the random 4-regular graph.
#
#   bash scripts/gossip_table.sh OUT [ROUNDS]
#
# STOKE picks the binary (default target/release/stoke). Finished runs in OUT are kept
# (rerunning continues).
set -euo pipefail
out=$1 rounds=${2:-100}
stoke=${STOKE:-target/release/stoke}
mkdir -p "$out"
checkpoints=(10 25 50 "$rounds")
run() { # name overrides...: trains once
  local dir="$out/$1"
  shift
  if [ ! -f "$dir/summary.json" ]; then
    rm -rf "$dir"
    "$stoke" train gossip-fashion-mnist gossip.rounds="$rounds" gossip.evaluate_every=5 "$@" \
      --out "$dir" --quiet >/dev/null
  fi
}
field() { # run round key: the value of key on the metrics line of that round
  grep "\"round\":$2," "$out/$1/metrics.jsonl" | grep -o "\"$3\":[0-9.eE+-]*" | cut -d: -f2
}
row() { # label run
  printf '%-34s' "$1"
  for r in "${checkpoints[@]}"; do
    printf ' %12s' "$(awk -v a="$(field "$2" "$r" test_accuracy)" \
      -v s="$(field "$2" "$r" test_accuracy_std)" 'BEGIN { printf "%.1f+-%.1f", 100 * a, 100 * s }')"
  done
  local lowest
  lowest=$(grep -o '"variance_ratio":[0-9.eE+-]*' "$out/$2/metrics.jsonl" | cut -d: -f2 |
    sort -g | head -1)
  printf ' %8.3f %8.3f %9.3f\n' "$lowest" "$(field "$2" "$rounds" variance_ratio)" \
    "$(field "$2" "$rounds" consensus_distance)"
}
for correct in false true; do
  run "random4-$correct" gossip.variance_correction="$correct"
  run "ring-$correct" gossip.variance_correction="$correct" gossip.topology=\"ring\" \
    gossip.degree=2
  run "torus-$correct" gossip.variance_correction="$correct" gossip.topology=\"torus\" \
    gossip.degree=4
  run "full-$correct" gossip.variance_correction="$correct" gossip.topology=\"full\" \
    gossip.degree=19
  for seed in 1 2; do
    run "random4-$correct-seed$seed" gossip.variance_correction="$correct" --seed "$seed"
  done
  run "paper50-$correct" gossip.variance_correction="$correct" gossip.nodes=50 gossip.degree=8
done
{
  printf 'node test accuracy (%%, mean+-std over nodes) by round; weight variance ratio (lowest, end); consensus distance (end)\n'
  printf '%-34s' run
  printf ' %12s' "${checkpoints[@]/#/round }"
  printf ' %8s %8s %9s\n' lowest end consensus
  for topology in random4 ring torus full random4-seed1 random4-seed2 paper50; do
    for correct in false true; do
      name=${topology/-seed/-$correct-seed}
      [ "$name" = "$topology" ] && name="$topology-$correct"
      label="$topology $([ "$correct" = true ] && echo corrected || echo plain)"
      row "$label" "$name"
    done
  done
} | tee "$out/table.txt"
"$stoke" plot "$out/random4-false" "$out/random4-true" --x step --metric test_accuracy \
  --title "gossip, 20 nodes, random 4-regular: node test accuracy by round (plain vs corrected)" \
  --out "$out/accuracy.svg" --force
"$stoke" plot "$out/random4-false" "$out/random4-true" --x step --metric variance_ratio \
  --title "gossip, 20 nodes, random 4-regular: weight variance / initial by round" \
  --out "$out/variance.svg" --force
