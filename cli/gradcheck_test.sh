#!/usr/bin/env bash
# `ebm gradcheck` ($EBM) end to end: its verdicts on a Fashion-MNIST-sized net (784-32-10, tanh)
# and on a two-hidden-layer net (784-24-16-10, logistic), in double; a loose relaxation imposed by
# --relax-from-config must fail (exit 3) naming the residual; a tightened expectation must fail;
# the hard sigmoid is refused (exit 1) unless nothing was given (then the default network is checked
# with the logistic, announced); gradcheck.json holds what the plots read.
# Few examples and small hidden layers keep it to a few seconds per run on 2 cores.
set -u
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Reads gradcheck.json: prints "estimator group order verdict" for every judged EP row.
orders() {
  python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["rows"]:
    if r["estimator"].startswith("ep_") and (r["group"] == "all" or r["group"].startswith("layer")):
        print(r["estimator"], r["group"], r["order"], r["verdict"])
EOF
}

# Every judged EP row passes with the order the theory gives (one-sided 1 +- 0.2, symmetric 2 +- 0.3).
check_orders() {
  local json=$1 lines
  lines=$(orders "$json") || fail "cannot read $json"
  [ -n "$lines" ] || fail "$json has no EP rows"
  while read -r est group order verdict; do
    [ "$verdict" = "pass" ] || fail "$json: $est $group verdict '$verdict'"
    case $est in
      ep_symmetric) want=2; tol=0.3 ;;
      *) want=1; tol=0.2 ;;
    esac
    python3 -c "import sys; sys.exit(0 if abs($order - $want) <= $tol else 1)" ||
      fail "$json: $est $group order $order, expected $want +- $tol"
  done <<< "$lines"
}

run() {  # run NAME ARGS...: runs gradcheck into $dir/NAME, output in $dir/NAME.log, returns its status
  local name=$1; shift
  "$EBM" gradcheck --set model.scalar=double --examples 3 --out "$dir/$name" "$@" > "$dir/$name.log" 2>&1
}

# 1. Fashion-MNIST-sized, one hidden layer.
run one --set model.sizes=[784,32,10] --set model.activation=tanh
status=$?
[ $status -eq 0 ] || fail "784-32-10 tanh: exit $status, expected 0: $(tail -20 "$dir/one.log")"
grep -q "^verdict: pass" "$dir/one.log" || fail "784-32-10: no passing verdict line"
for key in "model " "data " "precision " "cost " "relaxation " "reference "; do
  grep -q "^  $key" "$dir/one.log" || fail "the header lacks '$key'"
done
check_orders "$dir/one/gradcheck.json"
grep -q "^ep_one_sided_negative_beta" "$dir/one.log" || fail "no negative-beta (random-sign) row"
[ "$(grep -c '^ep_random_sign' "$dir/one.log")" -eq 0 ] || fail "a duplicated random-sign table is back"
for f in gradcheck.csv gradcheck.json stepbystep.csv; do [ -s "$dir/one/$f" ] || fail "no $f"; done
python3 - "$dir/one/gradcheck.json" <<'EOF' || fail "gradcheck.json lacks keys or estimators"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "pass", d["failures"]
assert d["first_change"] == [2, 1], d["first_change"]  # output layer at step 1, hidden at step 2
keys = {"estimator", "group", "sweep", "rel_error", "cosine", "sign_agreement", "residual", "order", "verdict"}
names = {r["estimator"] for r in d["rows"]}
for r in d["rows"]:
    assert keys <= set(r), set(r) ^ keys
for n in ("ep_one_sided", "ep_symmetric", "early_inference_vs_exact", "early_inference_vs_bptt",
          "bptt_vs_exact", "step_by_step_neural", "step_by_step_synaptic", "chl"):
    assert n in names, n
EOF

# 2. Two hidden layers, logistic.
run two --set model.sizes=[784,24,16,10] --set model.activation=logistic
status=$?
[ $status -eq 0 ] || fail "784-24-16-10 logistic: exit $status, expected 0: $(tail -20 "$dir/two.log")"
check_orders "$dir/two/gradcheck.json"
python3 -c "import json,sys; d=json.load(open('$dir/two/gradcheck.json')); sys.exit(0 if d['first_change']==[3,2,1] else 1)" ||
  fail "two hidden layers: the signal does not reach one layer per step"

# 3. The user's loose relaxation imposed: the residual over beta swamps the bias; exit 3, naming it.
run loose --set model.sizes=[784,32,10] --set model.activation=tanh --set relax.free.grad_tol=1e-2 \
  --set relax.free.max_steps=20 --relax-from-config
status=$?
[ $status -eq 3 ] || fail "loose relaxation: exit $status, expected 3: $(tail -5 "$dir/loose.log")"
grep -q "^verdict: FAIL" "$dir/loose.log" || fail "loose relaxation: no failing verdict line"
grep -q "residual |dF/ds| = .* needed" "$dir/loose.log" || fail "loose relaxation: the residual is not named"

# 4. An expectation the estimator cannot meet (one-sided EP is first order) fails, naming the row.
run expect --set model.sizes=[784,32,10] --set model.activation=tanh --expect ep_one_sided=2:0.1
status=$?
[ $status -eq 3 ] || fail "--expect ep_one_sided=2:0.1: exit $status, expected 3"
grep -q "^  ep_one_sided layer1: order" "$dir/expect.log" || fail "--expect: the failing row is not named"

# 5. The hard sigmoid is refused with the reason.
run hard --set model.sizes=[784,32,10] --set model.activation=hard_sigmoid
status=$?
[ $status -eq 1 ] || fail "hard sigmoid: exit $status, expected 1"
grep -q "C² energy" "$dir/hard.log" || fail "hard sigmoid: the refusal does not say why"

# 5b. With nothing given (a new user's first `ebm gradcheck`), the default network is checked with
# the logistic instead of the defaults' hard sigmoid, and the output says so.
"$EBM" gradcheck --examples 1 --out "$dir/defaults" > "$dir/defaults.log" 2>&1
status=$?
[ $status -eq 0 ] || fail "gradcheck with the defaults: exit $status, expected 0: $(tail -5 "$dir/defaults.log")"
grep -q "^gradcheck: no config given, so the default network with model.activation = logistic" "$dir/defaults.log" ||
  fail "gradcheck with the defaults: the switch to the logistic is not announced"
grep -q "^  model .*activation = 'logistic'" "$dir/defaults.log" || fail "gradcheck with the defaults: the header's model is not the logistic one"
grep -q "^verdict: pass" "$dir/defaults.log" || fail "gradcheck with the defaults: no passing verdict"

# 6. The plots, where matplotlib is installed.
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  "$EBM" plot "$dir/two" --script "$(dirname "$0")/../scripts/plot.py" > "$dir/plot.log" 2>&1 || fail "plot: $(cat "$dir/plot.log")"
  for f in gradcheck.png gradcheck_early_inference.png gradcheck_step_by_step.png; do
    [ -s "$dir/two/$f" ] || fail "plot wrote no $f"
  done
fi
echo "gradcheck test passed"
