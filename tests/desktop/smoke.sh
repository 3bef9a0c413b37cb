#!/usr/bin/env bash
# Desktop smoke test: builds arouter-desktop, runs it under Xvfb with a private D-Bus session
# and throwaway XDG and data dirs, waits for the in-process router's /healthz, checks the
# window drew something, checks that a second launch hands over without starting a router,
# quits it with SIGTERM (exit 0, ledger written), then checks that a taken port is reported
# without the app dying.
# Needs: libwebkit2gtk-4.1-dev and friends, xvfb, xauth, imagemagick, at-spi2-core, curl.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/../.."

inside() {
  work=$AROUTER_SMOKE_DIR
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

  # Fresh per-run XDG dirs and data dir (WebKit and GTK write under XDG_*).
  fresh_env() {
    local run=$1
    export XDG_DATA_HOME=$work/$run/xdg-data XDG_CACHE_HOME=$work/$run/xdg-cache \
      XDG_CONFIG_HOME=$work/$run/xdg-config XDG_RUNTIME_DIR=$work/$run/xdg-runtime \
      AROUTER_DATA_DIR=$work/$run/data
    mkdir -p "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
    chmod 700 "$XDG_RUNTIME_DIR"
  }

  # Stops the app with SIGTERM; fails unless it exits 0 within 60 s.
  stop_app() {
    local pid=$1 rc=0
    kill -TERM "$pid"
    for _ in $(seq 1 120); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "FAIL: the app did not exit within 60 s of SIGTERM"; kill -KILL "$pid"; exit 1
    fi
    wait "$pid" || rc=$?
    if [ "$rc" != 0 ]; then echo "FAIL: exit code $rc after SIGTERM"; exit 1; fi
  }

  # 1. Normal start: router answers, the window draws, SIGTERM quits cleanly.
  fresh_env run1
  export AROUTER_PORT=$(free_port)
  "$AROUTER_DESKTOP_BIN" >"$work/run1.log" 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$AROUTER_PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { echo "FAIL: the app died"; cat "$work/run1.log"; exit 1; }
    sleep 0.5
  done
  curl -fsS "http://127.0.0.1:$AROUTER_PORT/healthz" >/dev/null ||
    { echo "FAIL: no /healthz on port $AROUTER_PORT"; cat "$work/run1.log"; exit 1; }
  echo "ok: router answers /healthz on $AROUTER_PORT"

  # The screen is black until the webview paints; wait for it (up to 30 s).
  spread=0
  for _ in $(seq 1 30); do
    sleep 1
    import -window root "$work/shot.png"
    spread=$(identify -format '%[fx:standard_deviation]' "$work/shot.png")
    python3 -c "import sys; sys.exit(0 if float('$spread') > 0.02 else 1)" && break
  done
  python3 -c "import sys; sys.exit(0 if float('$spread') > 0.02 else 1)" ||
    { echo "FAIL: the screen stayed blank (stddev $spread)"; cat "$work/run1.log"; exit 1; }
  echo "ok: the window drew something (stddev $spread)"

  # A second launch hands over to this instance and ends, before starting a router of its own
  # (it used to open the database and fail to bind the port first).
  second_rc=0
  timeout 30 "$AROUTER_DESKTOP_BIN" >"$work/second.log" 2>&1 </dev/null || second_rc=$?
  [ "$second_rc" = 0 ] || { echo "FAIL: a second launch exited $second_rc"; cat "$work/second.log"; exit 1; }
  if grep -qE "ARouter (listening|is not running)|cannot listen" "$work/second.log"; then
    echo "FAIL: a second launch started a router"; cat "$work/second.log"; exit 1
  fi
  curl -fsS "http://127.0.0.1:$AROUTER_PORT/healthz" >/dev/null ||
    { echo "FAIL: the first instance stopped answering after a second launch"; exit 1; }
  echo "ok: a second launch hands over to the running instance without starting a router"

  stop_app "$pid"
  [ -s "$AROUTER_DATA_DIR/arouter.db" ] || { echo "FAIL: no ledger at $AROUTER_DATA_DIR/arouter.db"; exit 1; }
  grep -q "ledger flushed" "$work/run1.log" || { echo "FAIL: the ledger was not flushed"; cat "$work/run1.log"; exit 1; }
  echo "ok: SIGTERM exits 0 after flushing the ledger"

  # 2. Port taken: the app keeps running and says so.
  fresh_env run2
  export AROUTER_PORT=$(free_port)
  python3 -c "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', $AROUTER_PORT)); s.listen(); time.sleep(60)" &
  blocker=$!
  sleep 1
  "$AROUTER_DESKTOP_BIN" >"$work/run2.log" 2>&1 </dev/null &
  pid=$!
  sleep 8
  kill -0 "$pid" 2>/dev/null || { echo "FAIL: the app died on a taken port"; cat "$work/run2.log"; exit 1; }
  grep -q "cannot listen on 127.0.0.1:$AROUTER_PORT" "$work/run2.log" ||
    { echo "FAIL: the taken port was not reported"; cat "$work/run2.log"; exit 1; }
  stop_app "$pid"
  kill "$blocker" 2>/dev/null || true
  echo "ok: a taken port is reported and the app stays up"
}

export CARGO_PROFILE_DEV_DEBUG=0

# `inside` runs under Xvfb and a private D-Bus session: this script calls itself there.
if [ "${1:-}" = --inside ]; then
  inside
  exit
fi

cargo build -p arouter-desktop --locked
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export AROUTER_DESKTOP_BIN="$target_dir/debug/arouter-desktop"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export AROUTER_SMOKE_DIR="$work"
timeout 10m xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash "$self" --inside </dev/null
echo "desktop smoke test passed"
