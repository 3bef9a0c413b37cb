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

cargo build --workspace --all-targets --locked

# A private D-Bus session with an unlocked gnome-keyring: the keychain tests use the real
# Secret Service. `timeout` bounds everything (a locked keyring prompt would hang forever).
export AROUTER_TEST_KEYRING=1
timeout 45m dbus-run-session -- sh -c '
  printf %s ci-pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  cargo test --workspace --locked -- --test-threads=2
'
