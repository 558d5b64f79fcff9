#!/usr/bin/env bash
# Runs the criterion suite (benches/tokens.rs) several times and combines the
# runs into docs/BENCHMARKS.md's table and chart.
#
#   scripts/bench.sh [RUNS] [quick|full]      (default: 8 quick)
#
# Each run writes target/criterion-runs/<n>/; scripts/bench-chart.py then takes,
# per benchmark, the smallest of the runs' medians (on a shared machine
# interference only adds time) and writes docs/benchmarks.png.
set -euo pipefail

runs="${1:-8}"
mode="${2:-quick}"
cd "$(dirname "$0")/.."

quick=1
[ "$mode" = full ] && quick=0

args=()
mkdir -p target/criterion-runs
for i in $(seq 1 "$runs"); do
    dir="target/criterion-runs/$i"
    rm -rf "$dir"
    echo "== run $i of $runs ($mode), load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
    CRITERION_HOME="$PWD/$dir" SESAME_BENCH_QUICK="$quick" cargo bench --bench tokens >"$dir.log" 2>&1 || {
        tail -30 "$dir.log"
        exit 1
    }
    args+=(--criterion "$dir")
done
grep '^token_len' "target/criterion-runs/1.log"
python3 scripts/bench-chart.py "${args[@]}" --out docs/benchmarks.png
