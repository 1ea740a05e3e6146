#!/usr/bin/env bash
# One-epoch accuracy of the main job's configuration (configs/fashion_ep.toml) over several
# seeds, for each `ebm` binary given, with the tiled fast path and the per-chunk reference path
# (parallel.tiled_update = true / false). One epoch's test accuracy swings by several points with
# the last SGD steps at rate 0.1 (a change of float rounding alone moves it), so compare means
# over seeds, and also the running training accuracy of the epoch (an average over its steps).
#   bench/one_epoch_accuracy.sh build/cli/ebm [another/build/cli/ebm …]   (EBM_SEEDS="1 2 3 4 5")
# A build without parallel.tiled_update (older) runs its one path.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${EBM_SEEDS:-1 2 3 4 5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ebm in "$@"; do
  for path in true false; do
    accs="" running=""
    for seed in $seeds; do
      args=(train --config configs/fashion_ep.toml --epochs 1 --set "data.seed=$seed" --set "model.init_seed=$seed"
            --set data.eval_train_size=1000 --out "$out/run")
      if ! "$ebm" "${args[@]}" --set "parallel.tiled_update=$path" > "$out/log" 2>&1; then
        grep -q "parallel.tiled_update" "$out/log" || { cat "$out/log"; exit 1; }
        [ "$path" = false ] && break 2>/dev/null
        "$ebm" "${args[@]}" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
      fi
      accs+=" $(sed -n 's/.*test \([0-9.]*\)%.*/\1/p' "$out/log" | tail -1)"
      running+=" $(sed -n 's/.*, train \([0-9.]*\)%.*/\1/p' "$out/log" | tail -1)"
      rm -rf "$out/run"
    done
    if [ -n "$accs" ]; then
      for what in "test %:$accs" "running train %:$running"; do
        echo "$ebm tiled_update=$path: $what" |
          awk '{ s = 0; q = 0; n = 0; for (i = 1; i <= NF; ++i) if ($i ~ /^[0-9.]+$/) { s += $i; q += $i * $i; ++n }
                 m = s / n; printf "%s  mean %.2f ± %.2f (s.e.)\n", $0, m, sqrt((q / n - m * m) / (n > 1 ? n - 1 : 1)) }'
      done
    fi
  done
done
