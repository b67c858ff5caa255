#!/usr/bin/env bash
# Issue 26's quantile-aggregation evidence: `stoke quantile` on the three exported data sets
# (scripts/export_regression_datasets.py: diabetes, engel, fair), seeds 0-2, the paper's 99
# levels and 5 folds. Prints per data set the mean (sd) over seeds of the post-sorted WIS of
# each base model, the plain average, the best single model (chosen by out-of-fold WIS) and
# each aggregator, its 80% coverage before and after CQR, and the check of the paper's
# proposition (post-sorting never worsens the WIS).
#
#   bash scripts/quantile_table.sh OUT
#
# STOKE picks the binary (default target/release/stoke). Finished data sets in OUT are kept.
set -euo pipefail
out=$1
stoke=${STOKE:-target/release/stoke}
mkdir -p "$out"
for name in diabetes engel fair; do
  if [ ! -s "$out/$name.json" ]; then
    "$stoke" quantile "datasets/regression/$name.csv" --seeds 0,1,2 --json >"$out/$name.json.part"
    mv "$out/$name.json.part" "$out/$name.json"
  fi
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for name in ["diabetes", "engel", "fair"]:
    r = json.load(open(f"{out}/{name}.json"))
    s = {m["method"]: m for m in r["summary"]}
    best = s["best-single"]["wis_sorted_mean"]
    avg = s["average"]["wis_sorted_mean"]
    print(f"\n{name}: {r['rows']} rows, {r['features']} features; sorting or isotonic worsened "
          f"{r['repairs_worse']} of {r['repairs_checked']} (method, seed) pairs")
    print("| method | WIS (sd) | vs best single | vs average | raw WIS | cov 80% | cov 80% CQR |")
    print("|---|---|---|---|---|---|---|")
    for m in r["summary"]:
        w = m["wis_sorted_mean"]
        print(f"| {m['method']} | {w:.4f} ({m['wis_sorted_sd']:.4f}) | {w / best:.3f} | {w / avg:.3f} "
              f"| {m['wis_raw_mean']:.4f} | {m['coverage_mean']:.3f} | {m['coverage_cqr_mean']:.3f} |")
PY
