#!/usr/bin/env bash
# Issue 20's WiSE-FT / BANG evidence on multicolour Fashion-MNIST (the multicolor-fashion-
# mnist preset: the embedded subset framed by 32 spuriously coloured patches). Per seed:
# pre-train 6 epochs on colours independent of the labels (the broad "pre-trained" model),
# fine-tune 2 epochs from it on colours that follow the label with q = 0.9 (plain; BANG's
# calibrated fine-tuning, MixUp alpha 0.4 and label smoothing 0.1; and label smoothing 0.1
# alone, the paper's other variant), then score
# alpha = 0, 0.5, 1 of each interpolation (`stoke interpolate`, batch-norm statistics
# recomputed) in distribution (q = 0.9), with the correlation broken (q = 0) and reversed
# (q = -1: every patch shows another class's colour). Prints test accuracies (mean +- std
# over seeds 0-2) and the FalseFalseTrue counts on the OOD splits (images the pre-trained
# and the fine-tuned model both get wrong and the average gets right).
#
#   bash scripts/bang_table.sh OUT
#
# STOKE picks the binary (default target/release/stoke). Finished steps in OUT are kept.
set -euo pipefail
out=$1
stoke=${STOKE:-target/release/stoke}
. "$(dirname "$0")/evidence_lib.sh"
mkdir -p "$out"
spurious=(dataset.correlation=0.9 dataset.test_correlation=0.9)
finetune=(optimizer.lr=0.05 train.epochs=2 schedule.warmup_epochs=0)
train() { # dir overrides...
  local dir=$1
  shift
  if [ ! -f "$dir/summary.json" ]; then
    rm -rf "$dir"
    "$stoke" train multicolor-fashion-mnist "$@" --out "$dir" --quiet >/dev/null
  fi
}
curve() { # pre ft name shift
  [ -f "$3/interpolation.json" ] ||
    "$stoke" interpolate "$1" "$2" --alpha 0,0.5,1 --shift "$4" --out "$3" >/dev/null
}
field() { # interpolation.json alpha key: the value
  awk -v a="$2" -v k="\"$3\":" '$1 == "\"alpha\":" { gsub(",", "", $2); on = ($2 + 0 == a + 0) }
    on && $1 == k { gsub(",", "", $2); print $2 }' "$1"
}
for seed in 0 1 2; do
  base="$out/seed$seed"
  train "$base/pre" --seed "$seed"
  train "$base/ft" --seed "$seed" train.init_from="$base/pre" "${spurious[@]}" "${finetune[@]}"
  train "$base/bang" --seed "$seed" train.init_from="$base/pre" "${spurious[@]}" "${finetune[@]}" \
    recipe.mixup=0.4 recipe.label_smoothing=0.1
  train "$base/ls" --seed "$seed" train.init_from="$base/pre" "${spurious[@]}" "${finetune[@]}" \
    recipe.label_smoothing=0.1
  for tuned in ft bang ls; do
    curve "$base/pre" "$base/$tuned" "$base/$tuned-broken" dataset.test_correlation=0
    curve "$base/pre" "$base/$tuned" "$base/$tuned-reversed" dataset.test_correlation=-1
  done
done
counts() { printf '%s\n' "$@" | paste -sd/ -; }
row() { # label tuned alpha
  local id=() broken=() reversed=() fb=() fr=()
  for seed in 0 1 2; do
    local base="$out/seed$seed/$2"
    id+=("$(field "$base-broken/interpolation.json" "$3" test_accuracy)")
    broken+=("$(field "$base-broken/interpolation.json" "$3" shifted_accuracy)")
    reversed+=("$(field "$base-reversed/interpolation.json" "$3" shifted_accuracy)")
    fb+=("$(field "$base-broken/interpolation.json" "$3" shifted_false_false_true)")
    fr+=("$(field "$base-reversed/interpolation.json" "$3" shifted_false_false_true)")
  done
  printf '%-26s %16s %16s %16s %12s %12s\n' "$1" "$(stats "${id[@]}")" "$(stats "${broken[@]}")" \
    "$(stats "${reversed[@]}")" "$(counts "${fb[@]}")" "$(counts "${fr[@]}")"
}
{
  echo "test accuracy (%, mean +- std over seeds 0-2); FFT: FalseFalseTrue images per seed (of 2,000)"
  printf '%-26s %16s %16s %16s %12s %12s\n' model "ID (q 0.9)" "OOD broken" "OOD reversed" "FFT broken" "FFT reversed"
  row "pre-trained" ft 0
  row "fine-tuned" ft 1
  row "WiSE-FT (alpha 0.5)" ft 0.5
  row "fine-tuned, MixUp + LS" bang 1
  row "BANG (alpha 0.5)" bang 0.5
  row "fine-tuned, LS only" ls 1
  row "BANG, LS only (alpha 0.5)" ls 0.5
} | tee "$out/table.txt"
