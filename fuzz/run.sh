#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a bounded time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]     (default 60)
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Seeds come from fuzz/corpus/<target> (read only); new inputs go to a scratch
# directory, so the committed corpus is not touched. Crashes are written to
# fuzz/artifacts/<target>/. Prints libFuzzer's execution count per target and
# the total, and exits non-zero if any target crashed or failed to run.
set -uo pipefail

secs="${1:-60}"
toolchain="${FUZZ_TOOLCHAIN:-+nightly}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cd "$root"

if ! cargo "$toolchain" fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: needs cargo-fuzz on a nightly toolchain: rustup toolchain install nightly && cargo install cargo-fuzz" >&2
    exit 2
fi

echo "== building fuzz targets"
cargo "$toolchain" fuzz build || { echo "fuzz/run.sh: build failed" >&2; exit 1; }

scratch="$(mktemp -d "${TMPDIR:-/tmp}/sesame-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

total=0
failed=()
summary=()
for target in $(cargo "$toolchain" fuzz list); do
    mkdir -p "$scratch/corpus/$target" "fuzz/corpus/$target"
    log="$scratch/$target.log"
    echo "== $target: ${secs}s"
    cargo "$toolchain" fuzz run "$target" "$scratch/corpus/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$log" 2>&1
    status=$?
    runs="$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1 | grep -Eo '[0-9]+' || true)"
    if [ "$status" -ne 0 ] || [ -z "$runs" ]; then
        failed+=("$target")
        summary+=("$(printf '%-12s FAILED (exit %s)' "$target" "$status")")
        echo "-- $target failed (exit $status); the failure and the last lines of its log:"
        grep -m1 -A3 -E "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer|SUMMARY:" "$log" || true
        echo "   ..."
        tail -40 "$log"
        ls "fuzz/artifacts/$target" 2>/dev/null | sed 's/^/   artifact: /'
        continue
    fi
    total=$((total + runs))
    summary+=("$(printf '%-12s %12s runs' "$target" "$runs")")
    echo "-- $target: $runs runs"
done

echo
echo "== fuzz summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
printf '%-12s %12s runs\n' total "$total"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz/run.sh: crashed or failed: ${failed[*]}" >&2
    exit 1
fi
