#!/usr/bin/env bash
# Launches the ARouter desktop app on Debian / Ubuntu: installs the WebKitGTK and tray
# libraries it builds against (only the missing ones, with sudo unless root), then builds and
# runs it. Arguments are passed to the app. Needs Rust (rustup) and a graphical session.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential pkg-config file libssl-dev libdbus-1-dev libwebkit2gtk-4.1-dev
  libgtk-3-dev libsoup-3.0-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
  echo "installing: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || {
  echo "cargo not found: install Rust with rustup first, then rerun this script" >&2
  exit 1
}
exec cargo run --release --locked -p arouter-desktop -- "$@"
