#!/usr/bin/env bash
# The registry through the tool ($EBM: an ebm with the built-in kinds plus the example's
# linear_readout, examples/custom_model.cpp; or, with EBM_CUSTOM_KIND=0, the built-in kinds alone):
# every registered model is trained by every rule that
# `ebm kinds` says applies to it, on a small Fashion-MNIST subset, with exit 0 and finite metrics;
# each trained checkpoint is inspected and relaxed from. Unsupported combinations exit 1 with a
# message naming the field.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

common=(--set data.train_size=300 --set data.test_size=100 --set data.eval_train_size=50 --set data.batch_size=25
        --set parallel.chunk=13 --set relax.free.max_steps=20 --set relax.nudged.max_steps=8 --epochs 1)
# What each rule needs to be quick on this subset (its own fields, and Langevin phases for stochastic_ep).
rule_settings() {
  case "$1" in
    stochastic_ep) echo "--set relax.free.method=ula --set relax.free.schedule=synchronous --set relax.free.dt=0.1
                         --set relax.free.temperature=0.0005 --set estimator.burn_in=10 --set estimator.samples=10
                         --set estimator.chains=2" ;;
    bptt) echo "--set estimator.steps=15" ;;
    *) echo "" ;;
  esac
}
model_settings() {
  case "$1" in
    layered_hopfield) echo "--set model.sizes=[784,16,10]" ;;
    xie_seung) echo "--set model.sizes=[784,16,10] --set model.gamma=0.5 --set relax.free.max_steps=40
                     --set relax.nudged.max_steps=40" ;;
    predictive_coding) echo "--set model.sizes=[784,16,10]" ;;
    # Fewer images: a conv epoch under the sanitizers takes 14 s on the common 300 (two minibatches
    # exercise every path as well).
    conv_hopfield) echo "--set model.channels=[4,8] --set data.train_size=50 --set data.test_size=25
                         --set data.eval_train_size=25" ;;
    linear_readout) echo "--set model.hidden=16 --set relax.free.method=euler --set relax.free.dt=0.3
                          --set relax.nudged.method=euler --set relax.nudged.dt=0.3" ;;
    *) echo "" ;;
  esac
}

"$EBM" kinds > "$dir/kinds.txt" || fail "ebm kinds"
models=$(awk '/^models/ {m = 1; next} /^learning rules/ {m = 0} m && /^  [a-z_]+:/ {sub(":", "", $1); print $1}' "$dir/kinds.txt")
[ -n "$models" ] || fail "no models in: $(cat "$dir/kinds.txt")"
# EBM_CUSTOM_KIND=0: $EBM is the plain tool (the checked builds, which do not build the examples).
if [ "${EBM_CUSTOM_KIND:-1}" = 1 ]; then
  grep -q "linear_readout" <<< "$models" || fail "the example's model is not registered: $models"
fi
runs=0
for model in $models; do
  # In the models section only: a rule may share a model's name (predictive_coding).
  rules=$(awk -v m="$model" '/^models/ {s = 1; next} /^learning rules/ {s = 0} s && $1 == m":" {getline; sub(/^ *rules:/, ""); print}' "$dir/kinds.txt")
  [ -n "$rules" ] || fail "no rules for $model"
  for rule in $rules; do
    out="$dir/$model-$rule"
    # shellcheck disable=SC2046
    if ! "$EBM" train --model "$model" --estimator "$rule" "${common[@]}" $(model_settings "$model") \
         $(rule_settings "$rule") --out "$out" > "$out.log" 2>&1; then
      fail "$model by $rule: $(cat "$out.log")"
    fi
    line=$(grep "^epoch 1:" "$out.log") || fail "$model by $rule: no epoch line: $(cat "$out.log")"
    grep -Eqi "nan|inf" <<< "${line%%|*}" && fail "$model by $rule: non-finite metrics: $line"
    "$EBM" inspect "$out/checkpoint.bin" | grep -q "model_kind $model" || fail "$model by $rule: inspect"
    "$EBM" relax --checkpoint "$out/checkpoint.bin" --examples 4 --out "$out" \
      --set relax.free.method=euler --set relax.nudged.method=euler --set relax.free.max_steps=20 \
      --set relax.free.schedule=synchronous --set relax.nudged.schedule=synchronous \
      --set relax.nudged.max_steps=5 > "$out.relax" 2>&1 ||
      fail "$model by $rule: relax from its checkpoint: $(cat "$out.relax")"
    runs=$((runs + 1))
    echo "ok: $model by $rule: ${line:0:60}"
  done
done
[ "$runs" -ge 11 ] || fail "only $runs model/rule pairs trained"

# Unsupported combinations: exit 1, the field named.
expect1() {
  local what=$1; shift
  local status=0
  "$EBM" train "${common[@]}" --out "$dir/bad" "$@" > "$dir/bad.log" 2>&1 || status=$?
  [ "$status" -eq 1 ] || fail "exit $status (expected 1) for $*: $(cat "$dir/bad.log")"
  grep -qF -- "$what" "$dir/bad.log" || fail "expected '$what' for $*, got: $(cat "$dir/bad.log")"
}
expect1 "relax.free.method = mala: estimator.kind = \"bptt\" has no Langevin phases" --set relax.free.method=mala --estimator bptt
expect1 "estimator.kind = \"ep\" samples its phases when relax.nudged.method is ula or mala" --set relax.free.method=mala
expect1 "unknown config key 'model.gamma'" --set model.gamma=0.5
expect1 "unknown config key 'estimator.gamma'" --set estimator.gamma=0.5
expect1 "has 3 output units but the labels have 10 classes" --set "model.sizes=[784,16,3]"
expect1 "estimator.kind = \"ep\" does not apply to model.kind = \"xie_seung\"" --model xie_seung
if [ "${EBM_CUSTOM_KIND:-1}" = 1 ]; then
  expect1 "estimator.kind = \"bptt\" does not apply to model.kind = \"linear_readout\"" --model linear_readout --estimator bptt
fi
expect1 "estimator.kind = \"backprop\" is not a registered learning rule" --estimator backprop
expect1 "estimator.kind = \"predictive_coding\" does not apply to model.kind = \"layered_hopfield\"" \
  --estimator predictive_coding
expect1 "estimator.output = \"clamped\" sets the output to the target" --model predictive_coding \
  --estimator predictive_coding --set estimator.cost=\"cross_entropy\"
echo "registry matrix: $runs model/rule pairs trained; unsupported combinations refused"
