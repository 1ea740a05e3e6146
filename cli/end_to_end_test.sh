#!/usr/bin/env bash
# End-to-end test of the ebm tool ($EBM): one tiny epoch, relax, gradcheck and plot each
# produce their files; a resumed run continues; a bad config is rejected naming the field.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat > "$dir/run.toml" <<TOML
[model]
sizes = [784, 16, 10]
[data]
train_size = 200
test_size = 100
validation_size = 20
eval_train_size = 50
batch_size = 20
epochs = 1
[relax.free]
max_steps = 20
[relax.nudged]
max_steps = 10
[parallel]
threads = 2
chunk = 10
TOML

"$EBM" train --config "$dir/run.toml" --out "$dir/run" > "$dir/train.log" || fail "train: $(cat "$dir/train.log")"
for f in config.toml metrics.csv checkpoint.bin; do [ -s "$dir/run/$f" ] || fail "train wrote no $f"; done
grep -q "^epoch 1:" "$dir/train.log" || fail "no epoch line: $(cat "$dir/train.log")"
[ "$(wc -l < "$dir/run/metrics.csv")" -eq 2 ] || fail "metrics.csv should have a header and one row"
grep -q "seed = 1" "$dir/run/config.toml" || fail "effective config lacks the seed"

# --resume continues to epoch 2 (flags override the file).
"$EBM" train --config "$dir/run.toml" --out "$dir/run" --epochs 2 --resume "$dir/run/checkpoint.bin" > "$dir/resume.log" \
  || fail "resume: $(cat "$dir/resume.log")"
grep -q "^epoch 2:" "$dir/resume.log" || fail "resume did not train epoch 2"
[ "$(wc -l < "$dir/run/metrics.csv")" -eq 3 ] || fail "metrics.csv should have two rows after the resume"

"$EBM" relax --checkpoint "$dir/run/checkpoint.bin" --examples 4 --out "$dir/run" > "$dir/relax.log" \
  || fail "relax: $(cat "$dir/relax.log")"
grep -q "^free," "$dir/run/trace.csv" && grep -q "^nudged," "$dir/run/trace.csv" || fail "trace.csv lacks a phase"

# The default β sweep: two values cannot establish an order, and gradcheck now judges it (exit 3).
"$EBM" gradcheck --set model.sizes=[784,6,10] --set model.activation=logistic --examples 2 \
  --out "$dir/run" > "$dir/grad.log" || fail "gradcheck: $(cat "$dir/grad.log")"
grep -q "ep_symmetric" "$dir/run/gradcheck.csv" || fail "gradcheck.csv lacks the symmetric estimator"

"$EBM" plot "$dir/run" > "$dir/plot.log" || fail "plot: $(cat "$dir/plot.log")"
for f in learning_curves.png trace.png gradcheck.png; do [ -s "$dir/run/$f" ] || fail "plot wrote no $f"; done

# A bad config field, a bad override and an unknown key are rejected, naming them.
printf '[relax.free]\ndt = -1.0\n' > "$dir/bad.toml"
if "$EBM" train --config "$dir/bad.toml" --out "$dir/bad" 2> "$dir/bad.log"; then fail "bad config accepted"; fi
grep -q "relax.free.dt must be positive" "$dir/bad.log" || fail "bad config message: $(cat "$dir/bad.log")"
if "$EBM" train --set optimizer.momentum=2 --out "$dir/bad" 2> "$dir/bad.log"; then fail "bad override accepted"; fi
grep -q "optimizer.momentum must be in" "$dir/bad.log" || fail "bad override message: $(cat "$dir/bad.log")"
if "$EBM" train --set model.size=3 --out "$dir/bad" 2> "$dir/bad.log"; then fail "unknown key accepted"; fi
grep -q "unknown config key 'model.size'" "$dir/bad.log" || fail "unknown key message: $(cat "$dir/bad.log")"
if "$EBM" train --bogus 2> "$dir/bad.log"; then fail "bad flag accepted"; fi
grep -q -- "--bogus" "$dir/bad.log" || fail "bad flag message: $(cat "$dir/bad.log")"
"$EBM" train --help | grep -q -- "--resume" || fail "train --help"
echo "end-to-end OK"
