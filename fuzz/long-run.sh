#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a given time each and prints, per target,
# the executions, their rate, the coverage reached and whether it crashed.
#
#   bash fuzz/long-run.sh [SECONDS_PER_TARGET] [TARGET ...]     (default 300 s, every target)
#
# Each target runs on a scratch copy of its committed corpus (the corpus is not changed; to
# keep what a long run found, copy the scratch directory it prints over `corpus/<target>`
# after minimising it with `cargo fuzz cmin`). A crash leaves its input under
# `fuzz/artifacts/<target>/` as cargo-fuzz does, and the script exits 1 after the table.
# Uses one core per run; CI runs the same targets for 20 s each (.ci/run).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-300}
shift || true
export RUSTC_BOOTSTRAP=1 CARGO_CACHE_RUSTC_INFO=0
cargo fuzz build --release >&2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
logs=$(mktemp -d)
failed=0
printf '%-22s %14s %10s %8s %8s  %s\n' target executions exec/s cov ft result
for t in "${targets[@]}"; do
  scratch=$(mktemp -d)
  cp "corpus/$t"/* "$scratch"/ 2>/dev/null || true
  log="$logs/$t.log"
  if cargo fuzz run "$t" "$scratch" -- -max_total_time="$secs" -print_final_stats=1 \
       >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log)"
    failed=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  printf '%-22s %14s %10s %8s %8s  %s (corpus %s)\n' "$t" "${execs:--}" "${rate:--}" \
    "${cov:--}" "${ft:--}" "$result" "$scratch"
done
exit $failed
