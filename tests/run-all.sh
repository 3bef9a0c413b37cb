#!/usr/bin/env bash
# Runs every ARouter test: Rust unit + end-to-end tests (mock upstreams, real SQLite, a real
# Secret Service keychain under a private D-Bus session), the official Python SDKs against
# the running binary, and the web UI in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Python SDKs (pinned) in a venv of our own.
venv="$root/tests/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/sdk/requirements.txt
export AROUTER_PYTHON="$venv/bin/python"

# Browser driver for the UI tests: playwright-core only, driving Debian's chromium (never
# downloads a browser).
(cd tests/ui && npm ci --no-audit --no-fund --loglevel=error)
export AROUTER_UI_TESTS=1

# The real agent CLIs (pinned) that `arouter connect` is tested against; no install scripts.
(cd tests/agents && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
export AROUTER_AGENT_TESTS=1

# The desktop shell (the root package, Tauri) needs WebKitGTK: it is built and tested only with
# AROUTER_DESKTOP_TESTS=1 (.ci/run sets it), without debug info to halve its build.
if [ "${AROUTER_DESKTOP_TESTS:-0}" = 1 ]; then
  export CARGO_PROFILE_DEV_DEBUG=0
  export AROUTER_CARGO_SCOPE="--workspace"
else
  export AROUTER_CARGO_SCOPE="--workspace --exclude arouter-desktop"
fi

# No incremental caches for a one-shot run: they double the target dir (a cold CI machine's
# disk is not ours to size). Set CARGO_INCREMENTAL=1 to keep them while iterating.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

# shellcheck disable=SC2086 # the scope is a list of flags
cargo build $AROUTER_CARGO_SCOPE --all-targets --locked

# A private D-Bus session with an unlocked gnome-keyring: the keychain tests use the real
# Secret Service. `timeout` bounds everything (a locked keyring prompt would hang forever).
export AROUTER_TEST_KEYRING=1
timeout 45m dbus-run-session -- sh -c '
  printf %s ci-pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  cargo test $AROUTER_CARGO_SCOPE --locked -- --test-threads=2
'

# The headless crates need no libdbus: `cargo run --release -- serve` builds with Rust and a C
# compiler only (the keychain uses keyring's pure-Rust Secret Service client).
if cargo tree -p arouter -e normal -i libdbus-sys --locked 2>/dev/null | grep -q libdbus-sys; then
  echo "FAIL: the headless arouter depends on libdbus-sys:"
  cargo tree -p arouter -e normal -i libdbus-sys --locked
  exit 1
fi

# The desktop app under Xvfb: window drawn, router up, SIGTERM exits 0 with the ledger flushed.
# Then the Linux packages: built, installed with apt, run, removed (tests/desktop/package.sh).
if [ "${AROUTER_DESKTOP_TESTS:-0}" = 1 ]; then
  bash tests/desktop/smoke.sh
  # The tray under Xvfb with a real tray host: default model and Tools menus, clicked.
  bash tests/desktop/tray.sh
  bash tests/desktop/package.sh
fi

# Coverage-guided fuzzing on the stable toolchain (libFuzzer via libfuzzer-sys, no sanitizer):
# every target for AROUTER_FUZZ_SECS seconds (30 by default; 0 skips). See fuzz/run.sh.
if [ "${AROUTER_FUZZ_SECS:-30}" != 0 ]; then
  bash fuzz/run.sh "${AROUTER_FUZZ_SECS:-30}"
fi
