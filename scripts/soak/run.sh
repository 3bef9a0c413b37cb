#!/usr/bin/env bash
# Fault soak of `arouter serve` on loopback (not run in CI): bash scripts/soak/run.sh [SECONDS] [CLIENTS]
# Builds the router and the soak driver (debug, like the e2e tests), then runs the driver,
# which starts mock upstreams and the router itself. Figures go to stdout; exit 1 on a failed check.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q -p arouter --bins
cargo build -q -p arouter-tests --bin soak
target=${CARGO_TARGET_DIR:-target}
AROUTER_BIN="$target/debug/arouter" "$target/debug/soak" "${1:-600}" "${2:-8}"
