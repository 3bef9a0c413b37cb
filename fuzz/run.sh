#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer on the STABLE toolchain and runs each for a while.
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 30 s, every target)
#
# How it works without nightly: cargo-fuzz needs nightly only for `-Zsanitizer`. libfuzzer-sys
# builds libFuzzer itself (C++, needs g++), and coverage comes from LLVM's SanitizerCoverage
# pass, which stable rustc runs with `-Cpasses=sancov-module` and `-Cllvm-args`. So this is
# cargo-fuzz's `--sanitizer none` build, done by hand: no AddressSanitizer, but panics,
# debug assertions and overflow checks still abort and are reported as crashes.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-30}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(query sse dialect_request stream_decoder raw_edit config)
fi
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
  -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
  -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares \
  -Cdebug-assertions -Coverflow-checks"
# With an explicit --target, RUSTFLAGS reach only the target code, not build scripts and
# proc macros (which would otherwise be linked against the instrumentation and fail).
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked --bins --target "$host"
mkdir -p corpus artifacts
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  # Seeds kept in the repo, plus whatever earlier runs found.
  [ -d "seeds/$t" ] && cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  log="artifacts/$t.log"
  if "$CARGO_TARGET_DIR/$host/release/$t" "corpus/$t" -max_total_time="$secs" -max_len=65536 \
      -rss_limit_mb=2048 -timeout=10 -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
      >"$log" 2>&1; then
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "$t: ok, ${execs:-?} executions in ${secs}s"
  else
    echo "$t: CRASH (see fuzz/$log and fuzz/artifacts/$t/)"
    tail -n 40 "$log"
    status=1
  fi
done
exit $status
