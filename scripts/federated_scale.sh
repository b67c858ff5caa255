#!/usr/bin/env bash
# Issue 18's scale evidence: 1,000 clients of the full Fashion-MNIST (60,000 images, Debian's
# dataset-fashion-mnist) in one process, against one centralized training of the same model
# and batch, and the model-sized per-client state in memory against on disk. Prints each
# run's wall time, seconds per round, peak resident memory (GNU time), client_state_bytes
# and the bytes its client-state directory holds at the end.
#
#   bash scripts/federated_scale.sh OUT [ROUNDS]
#
# STOKE picks the binary (default target/release/stoke). Finished runs in OUT are kept.
set -euo pipefail
out=$1 rounds=${2:-30}
stoke=${STOKE:-target/release/stoke}
mkdir -p "$out"
common=(dataset.name=\"fashion-mnist\" data.crop_padding=0 data.hflip=false
  federated.clients=1000 federated.rounds="$rounds" federated.evaluate_every="$rounds")
runs=(
  "centralized:fashion-mnist model={name=\"small_cnn\"} data.batch_size=32 train.epochs=0 train.steps=$((rounds * 100)) schedule.name=\"constant\" data.crop_padding=0 data.hflip=false recipe.label_smoothing=0 optimizer.weight_decay=0 optimizer.nesterov=false optimizer.lr=0.05 train.eval_every=$((rounds * 100))"
  "fedavg:fedavg-fashion-mnist ${common[*]}"
  "scaffold-m-memory:scaffold-m-fashion-mnist ${common[*]} federated.partition=\"iid\""
  "scaffold-m-disk:scaffold-m-fashion-mnist ${common[*]} federated.partition=\"iid\" federated.client_state=\"disk\""
  "mifa-memory:mifa-fashion-mnist ${common[*]} federated.partition=\"iid\" federated.participation_mean=0.01 federated.participation_min=0.002"
  "mifa-disk:mifa-fashion-mnist ${common[*]} federated.partition=\"iid\" federated.participation_mean=0.01 federated.participation_min=0.002 federated.client_state=\"disk\""
)
for entry in "${runs[@]}"; do
  name=${entry%%:*} args=${entry#*:}
  run="$out/$name"
  [ -f "$run/summary.json" ] && continue
  rm -rf "$run" "$run.time"
  # shellcheck disable=SC2086
  /usr/bin/time -v -o "$run.time" "$stoke" train $args --out "$run" --quiet >/dev/null
done
printf '%-18s %8s %10s %12s %14s %12s\n' run wall_s s/round peak_rss_MB state_MB disk_MB |
  tee "$out/table.txt"
for entry in "${runs[@]}"; do
  name=${entry%%:*}
  run="$out/$name"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0;
    for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$run.time")
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$run.time")
  state=$(grep -o '"client_state_bytes": *[0-9]*' "$run/summary.json" | grep -o '[0-9]*$' || echo 0)
  disk=$(du -sb "$run/client-state" 2>/dev/null | cut -f1 || true)
  per_round=$(awk -v w="$wall" -v r="$rounds" -v n="$name" 'BEGIN {
    if (n == "centralized") print "-"; else printf "%.2f", w / r }')
  printf '%-18s %8.0f %10s %12s %14.1f %12.1f\n' "$name" "$wall" "$per_round" "$rss" \
    "$(awk -v b="${state:-0}" 'BEGIN { print b / 1e6 }')" \
    "$(awk -v b="${disk:-0}" 'BEGIN { print b / 1e6 }')" | tee -a "$out/table.txt"
done
