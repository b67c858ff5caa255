# Shell helpers the evidence scripts source (`. "$(dirname "$0")/evidence_lib.sh"`).

# stats VALUES...: mean +- population standard deviation of fractions, in percent.
stats() {
  printf '%s\n' "$@" | awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; v = q / n - m * m; if (v < 0) v = 0; printf "%.2f +- %.2f", 100 * m, 100 * sqrt(v) }'
}

# train_kept OUT NAME KEEP SEED [OVERRIDES...]: the test accuracy of `stoke train quickstart`
# (seed SEED, OVERRIDES, and `dataset.keep = KEEP` unless KEEP is `all`), trained into
# OUT/NAME-seedSEED once and read back after.
train_kept() {
  local out=$1 name=$2 keep=$3 seed=$4
  shift 4
  local dir="$out/$name-seed$seed"
  if [ ! -f "$dir/summary.json" ]; then
    rm -rf "$dir"
    local extra=("$@")
    [ "$keep" = all ] || extra+=("dataset.keep=\"$keep\"")
    "$stoke" train quickstart train.eval_every=0 "${extra[@]}" --seed "$seed" --out "$dir" \
      --quiet >/dev/null
  fi
  grep -o '"test_accuracy": *[0-9.]*' "$dir/summary.json" | awk -F: '{ printf "%.4f\n", $2 }'
}

# mean_std VALUES...: mean +- population standard deviation, as given (3 decimals).
mean_std() {
  printf '%s\n' "$@" | awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; v = q / n - m * m; if (v < 0) v = 0; printf "%.3f +- %.3f", m, sqrt(v) }'
}
