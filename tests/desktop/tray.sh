#!/usr/bin/env bash
# The tray as a person uses it: under Xvfb with a real XEmbed tray host (trayer), click the
# ARouter icon, pick a default model in "Default model" and connect Claude Code in "Tools"
# (xdotool, keyboard navigation of the GTK menu), then check config.toml, the tool's
# ~/.claude/settings.json and the management API the web UI reads. Screenshots of the open
# menus are kept in tests/desktop/artifacts/ (tray-*.png).
# Needs: the desktop build deps, xvfb, xauth, trayer, xdotool, imagemagick, curl.
set -euo pipefail
self=$(realpath "$0")
root="$(dirname "$self")/../.."
cd "$root"
artifacts="$root/tests/desktop/artifacts"

inside() {
  work=$AROUTER_TRAY_DIR
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  fail() { echo "FAIL: $*"; import -window root "$artifacts/tray-failure.png" || true; tail -30 "$work/app.log" || true; exit 1; }
  export HOME=$work/home XDG_DATA_HOME=$work/xdg-data XDG_CACHE_HOME=$work/xdg-cache \
    XDG_CONFIG_HOME=$work/xdg-config XDG_RUNTIME_DIR=$work/xdg-runtime AROUTER_DATA_DIR=$work/data
  unset CODEX_HOME
  mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR" "$AROUTER_DATA_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  # An unlocked keyring: a locked one would put a password prompt over the screen.
  printf %s ci-pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  export AROUTER_PORT=$(free_port)
  # Three chat choices and one embedding model, which the Default model menu must not offer.
  cat >"$AROUTER_DATA_DIR/config.toml" <<TOML
default_model = "mock/chat-a"

[providers.mock]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
models = ["chat-a", "chat-b", "text-embedding-3-small"]

[aliases]
fast = ["mock/chat-a"]
TOML

  trayer --edge top --align right --widthtype request --height 32 --SetDockType true \
    --expand false --transparent false >"$work/trayer.log" 2>&1 &
  sleep 1
  "$AROUTER_DESKTOP_BIN" >"$work/app.log" 2>&1 </dev/null &
  app=$!
  trap 'kill -TERM $app 2>/dev/null || true' EXIT
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$AROUTER_PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$app" 2>/dev/null || fail "the app died"
    sleep 0.5
  done
  admin=$("$AROUTER_BIN" keys create --name tray-test-admin --admin 2>/dev/null | tail -1)
  api() { curl -fsS -H "Authorization: Bearer $admin" "http://127.0.0.1:$AROUTER_PORT/api/v1/$1"; }

  # The icon: the one client trayer embeds. Wait until it has one (trayer grows from 0 wide).
  found=""
  for _ in $(seq 1 60); do
    for w in $(xdotool search --class trayer 2>/dev/null || true); do
      eval "$(xdotool getwindowgeometry --shell "$w")"
      if [ "${WIDTH:-0}" -ge 16 ] && [ "${HEIGHT:-0}" -ge 16 ]; then found=$w; break 2; fi
    done
    sleep 0.5
  done
  [ -n "$found" ] || fail "no tray icon in trayer"
  icon_x=$((X + WIDTH / 2)) icon_y=$((Y + HEIGHT / 2))
  echo "ok: tray icon at $icon_x,$icon_y"

  open_menu() {
    xdotool mousemove "$icon_x" "$icon_y" click 1
    sleep 1.5
  }
  # GTK menus: Down walks the enabled items (the status line and separators are skipped),
  # Right opens a submenu on its first item, Return chooses.
  keys() { for k in "$@"; do xdotool key --clearmodifiers "$k"; sleep 0.3; done; }

  # 1. Default model → the 3rd choice (fast, mock/chat-a, mock/chat-b).
  open_menu
  keys Down Down Right
  sleep 0.5
  import -window root "$artifacts/tray-default-model-menu.png"
  keys Down Down Return
  sleep 1
  for _ in $(seq 1 20); do
    grep -q '^default_model = "mock/chat-b"' "$AROUTER_DATA_DIR/config.toml" && break
    sleep 0.5
  done
  grep -q '^default_model = "mock/chat-b"' "$AROUTER_DATA_DIR/config.toml" ||
    fail "config.toml: $(grep default_model "$AROUTER_DATA_DIR/config.toml")"
  api settings | grep -q '"default_model":"mock/chat-b"' || fail "the API (web UI) does not show the new default"
  echo "ok: Default model → mock/chat-b in config.toml and the API"

  # 2. Tools → Claude Code (the first tool): connects with the default model.
  open_menu
  keys Down Down Down Right
  sleep 0.5
  import -window root "$artifacts/tray-tools-menu.png"
  keys Return
  settings=$HOME/.claude/settings.json
  for _ in $(seq 1 20); do [ -s "$settings" ] && break; sleep 0.5; done
  [ -s "$settings" ] || fail "no $settings after Tools → Claude Code"
  grep -q "\"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:$AROUTER_PORT\"" "$settings" || fail "settings.json: $(cat "$settings")"
  grep -q '"ANTHROPIC_MODEL": "mock/chat-b"' "$settings" || fail "settings.json: $(cat "$settings")"
  api tools | python3 -c '
import json, sys
tools = {t["id"]: t for t in json.load(sys.stdin)["data"]}
cc = tools["claude-code"]
assert cc["connected"] and cc["key_name"] == "claude-code", cc
' || fail "the API (web UI) does not show Claude Code connected"
  echo "ok: Tools → Claude Code wrote ~/.claude/settings.json; the API shows it connected"

  # 3. The Tools menu now shows the check; choosing it again disconnects.
  open_menu
  keys Down Down Down Right
  sleep 0.5
  import -window root "$artifacts/tray-tools-connected.png"
  keys Return
  for _ in $(seq 1 20); do [ ! -e "$settings" ] && break; sleep 0.5; done
  [ ! -e "$settings" ] || fail "settings.json is still there after disconnecting"
  echo "ok: choosing Claude Code again disconnects it (settings.json removed)"

  kill -TERM "$app"
  wait "$app" || true
  trap - EXIT
}

export CARGO_PROFILE_DEV_DEBUG=0
if [ "${1:-}" = --inside ]; then
  inside
  exit
fi

mkdir -p "$artifacts"
rm -f "$artifacts"/tray-*.png
cargo build -p arouter-desktop -p arouter --locked
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export AROUTER_DESKTOP_BIN="$target_dir/debug/arouter-desktop" AROUTER_BIN="$target_dir/debug/arouter"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export AROUTER_TRAY_DIR="$work"
timeout 5m xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash "$self" --inside </dev/null
echo "desktop tray test passed"
