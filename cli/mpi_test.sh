#!/usr/bin/env bash
# MPI (cli/mpi.cpp, training/collective.hpp): `mpirun -np 2` and `-np 3` train weights
# bit-identical to one process (params_crc32 of `ebm inspect`, and the metrics), on the tiled
# and the per-chunk paths; a run started on 2 ranks resumes on 3 to the same weights; a numerical
# fault and a bad data file stop every rank with one message and the status of one process; an
# error on one rank alone (rank 0 cannot write) aborts the job with its message; a
# rank killed with SIGKILL stops the job (non-zero status) and leaves a readable checkpoint
# that resumes to the same weights; `ebm sweep` over 4 configurations on 2 ranks writes its table,
# and a second call skips the finished runs.
set -euo pipefail
: "${EBM:?set EBM to the ebm binary}"
: "${MPIRUN:=mpirun}"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/small_dataset.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Tests run as root in CI containers; ranks share 2 cores, so no binding and one thread each.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi() { local n=$1; shift; "$MPIRUN" --oversubscribe --bind-to none -np "$n" "$@"; }

small_dataset "$dir/data" 120 || fail "could not cut a small dataset out of Fashion-MNIST"
# The determinism test's run (small_run_config), with Polyak averaging and one thread per rank.
small_run_config "$dir" | sed -e 's/^learning_rate = 0.01$/&\naverage_decay = 0.9/' -e 's/^chunk = 3$/&\nthreads = 1/' > "$dir/run.toml"
cd "$dir"

crc() { "$EBM" inspect "$1" | grep -v '^checkpoint '; }
metrics() { cut -d, -f1-8,10- "$1"; }  # without the seconds
train() {  # train NAME RANKS [ARGS…]: RANKS 0 is one process without mpirun
  local name=$1 n=$2; shift 2
  if [ "$n" -eq 0 ]; then "$EBM" train --config run.toml --out "$name" "$@" > "$name.log" 2>&1
  else mpi "$n" "$EBM" train --config run.toml --out "$name" "$@" > "$name.log" 2>&1; fi
}

# Bit-identity, tiled path (EP) and per-chunk path, with 2 and 3 ranks (7 chunks a minibatch).
for path in true false; do
  train one_$path 0 --set parallel.tiled_update=$path || fail "one process: $(cat one_$path.log)"
  crc one_$path/checkpoint.bin > one_$path.inspect
  grep -q '^epoch 3$' one_$path.inspect || fail "did not train 3 epochs: $(cat one_$path.inspect)"
  for n in 2 3; do
    train np${n}_$path "$n" --set parallel.tiled_update=$path || fail "-np $n: $(cat np${n}_$path.log)"
    crc np${n}_$path/checkpoint.bin | diff one_$path.inspect - \
      || fail "-np $n (tiled_update=$path) gives other weights than one process"
    diff <(metrics one_$path/metrics.csv) <(metrics np${n}_$path/metrics.csv) \
      || fail "-np $n (tiled_update=$path) gives other metrics than one process"
  done
done
[ "$(grep -o 'epoch 3:' np3_true.log | wc -l)" -eq 1 ] || fail "-np 3: not one line per epoch: $(cat np3_true.log)"

# 1 epoch on 2 ranks, resumed to 3 on 3 ranks: the weights of one process's 3 epochs.
train part 2 --epochs 1 || fail "-np 2, 1 epoch: $(cat part.log)"
train part 3 --resume part/checkpoint.bin || fail "resume on -np 3: $(cat part.log)"
crc part/checkpoint.bin | diff one_true.inspect - || fail "2 ranks resumed on 3 give other weights"

# A numerical fault (a learning rate far too large): every rank stops at the same step, one message.
set +e
train fault 2 --lr 1e12 --set optimizer.average_decay=0; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "a fault under mpirun gave status $rc, not 2: $(cat fault.log)"
[ "$(grep -c '^error: training stopped' fault.log)" -eq 1 ] || fail "not one message for a fault: $(cat fault.log)"

# A missing data file: status 1, one message.
set +e
train missing 3 --set data.train_images=\"$dir/nothing\"; rc=$?
set -e
[ "$rc" -eq 1 ] || fail "a missing file under mpirun gave status $rc, not 1: $(cat missing.log)"
[ "$(grep -c '^error: .*nothing' missing.log)" -eq 1 ] || fail "not one message for a missing file: $(cat missing.log)"

# An error on rank 0 alone (it cannot write its checkpoint; the others do not write): it prints the
# message and aborts the job after the grace period, status 1.
mkdir -p alone/checkpoint.bin/x
set +e
EBM_MPI_GRACE=0.5 train alone 3; rc=$?
set -e
[ "$rc" -eq 1 ] || fail "an error on rank 0 alone gave status $rc, not 1: $(cat alone.log)"
grep -q "error: cannot rename the temporary file onto 'alone/checkpoint.bin'" alone.log || fail "no message: $(cat alone.log)"
grep -q "error: process 0 of 3 stopped alone" alone.log || fail "rank 0 did not stop the others: $(cat alone.log)"

# A rank killed (SIGKILL) during training: the job stops with a non-zero status, nothing is left
# running, the files on disk are whole, and resuming gives the uninterrupted run's weights.
train long_ref 0 --epochs 20 || fail "one process, 20 epochs: $(cat long_ref.log)"
mpi 3 "$EBM" train --config run.toml --out killed --epochs 20 > killed.log 2>&1 &
job=$!
victim=
for _ in $(seq 1 500); do  # wait for the first checkpoint, then find rank 1
  if [ -s killed/checkpoint.bin ]; then
    for p in $(pgrep -P "$job" 2>/dev/null; pgrep -f "$EBM train --config run.toml --out killed" 2>/dev/null); do
      if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then victim=$p; break; fi
    done
    [ -n "$victim" ] && break
  fi
  sleep 0.02
done
[ -n "$victim" ] || { kill "$job" 2>/dev/null; fail "rank 1 not found while training: $(cat killed.log)"; }
kill -9 "$victim"
set +e
wait "$job"; rc=$?
set -e
[ "$rc" -ne 0 ] || fail "the job went on (status 0) after a rank was killed: $(cat killed.log)"
sleep 0.2
! pgrep -f "$EBM train --config run.toml --out killed" > /dev/null || fail "processes left running after the kill"
"$EBM" inspect killed/checkpoint.bin > /dev/null || fail "the checkpoint left by the killed job does not read"
train killed 2 --epochs 20 --resume killed/checkpoint.bin || fail "resume after the kill: $(cat killed.log)"
diff <(crc long_ref/checkpoint.bin) <(crc killed/checkpoint.bin) || fail "killed and resumed: other weights"

# A sweep of 4 configurations on 2 ranks, then again (everything skipped, and plotted), then its first run
# compared with the same training done directly.
grid=(--grid optimizer.learning_rate=0.01,0.02 --grid estimator.beta=0.3,0.6)
mpi 2 "$EBM" sweep --config run.toml --set data.epochs=2 "${grid[@]}" --out sw --script "" > sweep.log 2>&1 || fail "sweep: $(cat sweep.log)"
[ "$(wc -l < sw/sweep.csv)" -eq 5 ] || fail "sweep.csv is not a header and 4 rows: $(cat sw/sweep.csv)"
[ "$(grep -c ',finished,' sw/sweep.csv)" -eq 4 ] || fail "not every run finished: $(cat sw/sweep.csv)"
head -1 sw/sweep.csv | grep -q '^run,status,dir,optimizer.learning_rate,estimator.beta,epoch,' \
  || fail "sweep.csv header: $(head -1 sw/sweep.csv)"
mpi 2 "$EBM" sweep --config run.toml --set data.epochs=2 "${grid[@]}" --out sw > sweep2.log 2>&1 || fail "sweep again: $(cat sweep2.log)"
[ "$(grep -c 'skipped' sweep2.log)" -eq 4 ] || fail "the second sweep did not skip the 4 finished runs: $(cat sweep2.log)"
# The plot (matplotlib takes seconds to start: only this once).
[ -s sw/sweep.png ] || fail "no sweep.png: $(cat sweep2.log)"
train direct 0 --epochs 2 --set optimizer.learning_rate=0.01 --set estimator.beta=0.3 || fail "$(cat direct.log)"
diff <(crc direct/checkpoint.bin) <(crc sw/run_000/checkpoint.bin) || fail "the sweep's run_000 differs from train"
echo "mpi OK: $(grep params_crc32 one_true.inspect); sweep table $(wc -l < sw/sweep.csv) lines"
