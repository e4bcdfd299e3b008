#!/usr/bin/env bash
# Local vs Ballista (a scheduler and 2 executors, 1 task slot each, on this machine) over the same
# raw files: B=<lakejob built with --features ballista> SCALE=<a generated lake under /tmp/bench/scale-SCALE>
# W=<work folder> JOBS="transaction_etl clickstream_aggregation" benches/scripts/ballista_vs_local.sh
set -euo pipefail
B=${B:-$HOME/.cache/lakejob/target/release/lakejob}; SCALE=${SCALE:-1}
W=${W:-/tmp/bl1}
rm -rf $W; mkdir -p $W
for lake in local cluster; do
  mkdir -p $W/$lake
  cp -r /tmp/bench/scale-$SCALE/raw /tmp/bench/scale-$SCALE/reference $W/$lake/
done
export LAKEJOB_LAKE=$W/cluster
RUST_LOG=ballista_scheduler=info $B cluster scheduler --bind 127.0.0.1:50050 > $W/sched.log 2>&1 &
sleep 1
for i in 1 2; do
  $B cluster executor --scheduler-address 127.0.0.1:50050 --flight-port 5${i}051 --grpc-port 5${i}052 --task-slots 1 --work-dir $W/ex$i > $W/ex$i.log 2>&1 &
done
sleep 3
for job in ${JOBS:-transaction_etl clickstream_aggregation}; do
  for engine in local ballista; do
    lake=$W/local; [ $engine = ballista ] && lake=$W/cluster
    /usr/bin/time -f "$job $engine wall=%e s user=%U sys=%S maxrss=%M KB" \
      $B --lake $lake run $job --engine $engine --scheduler df://127.0.0.1:50050 --output json > $W/$job-$engine.json 2>> $W/times.txt
  done
done
for pid in $(pgrep -f "lakejob cluster executor"); do grep VmHWM /proc/$pid/status; done
cat $W/times.txt
# A busy executor outlives SIGTERM; a leftover one would take the next run's tasks.
pkill -9 -f "lakejob cluster" || true
