#!/usr/bin/env bash
# `ebm gradcheck` ($EBM) on a predictive_coding model (THEORY.md §5): on a 784-32-10 and a
# 784-24-16-10 tanh network it passes, with the relaxed rule's error falling at every variance
# ratio at order -1 and the fixed-prediction variant equal to backprop from step L - 1; a loose
# relaxation imposed by --relax-from-config fails (exit 3); the hard sigmoid is refused (exit 1).
set -u
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

run() {  # run NAME ARGS...: gradcheck into $dir/NAME, output in $dir/NAME.log, returns its status
  local name=$1; shift
  "$EBM" gradcheck --set model.kind=predictive_coding --set model.scalar=double --examples 3 --out "$dir/$name" \
    "$@" > "$dir/$name.log" 2>&1
}

# Reads gradcheck.json and asserts what the theory says (L = the number of layers after the input).
check_json() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); L = int(sys.argv[2])
assert d["verdict"] == "pass", d["failures"]
assert d["fixed_prediction_first_exact_step"] == L - 1, d["fixed_prediction_first_exact_step"]
rows = {(r["estimator"], r["group"]): r for r in d["rows"]}
for g in ["all"] + ["layer%d" % k for k in range(1, L + 1)]:
    r = rows[("pc_relaxed", g)]
    e = r["rel_error"]
    assert all(b < a for a, b in zip(e, e[1:])), (g, e)            # falls at every ratio
    assert abs(r["order"] + 1) <= 0.2, (g, r["order"])             # as the inverse ratio
    assert r["verdict"] == "pass", (g, r["verdict"])
    f = rows[("pc_fixed_prediction", g)]
    steps, fe = f["sweep"]["values"], f["rel_error"]
    assert all(err <= 1e-12 for k, err in zip(steps, fe) if k >= L - 1), (g, fe)
assert rows[("pc_fixed_prediction", "layer1")]["rel_error"][0] == 1.0  # not reached at step 0
assert rows[("recurrent_backprop", "all")]["rel_error"][0] <= 1e-8
PY
}

run one --set model.sizes=[784,32,10] --set model.activation=tanh
status=$?
[ $status -eq 0 ] || fail "784-32-10: exit $status, expected 0: $(tail -20 "$dir/one.log")"
grep -q "^verdict: pass" "$dir/one.log" || fail "784-32-10: no passing verdict line"
grep -q "^pc_relaxed" "$dir/one.log" || fail "784-32-10: no pc_relaxed table"
check_json "$dir/one/gradcheck.json" 2 || fail "784-32-10: gradcheck.json: $(cat "$dir/one.log")"

run two --set model.sizes=[784,24,16,10] --set model.activation=logistic --set model.hidden_variance=0.5
status=$?
[ $status -eq 0 ] || fail "784-24-16-10: exit $status, expected 0: $(tail -20 "$dir/two.log")"
check_json "$dir/two/gradcheck.json" 3 || fail "784-24-16-10: gradcheck.json: $(cat "$dir/two.log")"

# A relaxation stopped after 2 Euler steps cannot show the order: exit 3, the phase named.
run loose --set model.sizes=[784,32,10] --set model.activation=tanh --set relax.nudged.method=euler \
  --set relax.nudged.dt=0.1 --set relax.nudged.max_steps=2 --set relax.nudged.grad_tol=1e-11 --relax-from-config
status=$?
[ $status -eq 3 ] || fail "loose relaxation: exit $status, expected 3: $(tail -5 "$dir/loose.log")"
grep -q "the clamped phase stopped at" "$dir/loose.log" || fail "loose relaxation: the phase is not named"

run hard --set model.sizes=[784,32,10] --set model.activation=hard_sigmoid
status=$?
[ $status -eq 1 ] || fail "hard sigmoid: exit $status, expected 1"
grep -q "C^2" "$dir/hard.log" || fail "hard sigmoid: the refusal does not say why"
echo "predictive-coding gradcheck test passed"
