#!/usr/bin/env bash
# Builds the desktop app's Linux packages in release: a .deb and an .rpm named `arouter`, each
# holding the tray app (/usr/bin/arouter-desktop), the headless router (/usr/bin/arouter), a
# systemd user unit for it, the desktop entry and icons. Prints the paths of the packages.
#
# Needs the desktop build dependencies (scripts/desktop.sh installs them) and Node.js/npm: the
# Tauri CLI comes prebuilt from npm, pinned in scripts/tauri-cli/package-lock.json. No AppImage:
# Tauri fetches linuxdeploy from the network to make one (see README, "Packages").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

(cd scripts/tauri-cli && npm ci --no-audit --no-fund --loglevel=error)

target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

# The headless binary is not a Tauri sidecar: the bundler just copies it once it is built.
extra_files=$(python3 -c 'import json, sys
f = {"/usr/bin/arouter": sys.argv[1] + "/release/arouter"}
print(json.dumps({"bundle": {"linux": {"deb": {"files": f}, "rpm": {"files": f}}}}))' "$target_dir")

# Both binaries in one cargo call: `-p` selects the root desktop package (the workspace's
# default member is the headless crate), and one feature resolution serves both.
scripts/tauri-cli/node_modules/.bin/tauri build --ci --bundles deb,rpm --config "$extra_files" \
  -- -p arouter-desktop -p arouter --locked

ls -1 "$target_dir"/release/bundle/deb/*.deb "$target_dir"/release/bundle/rpm/*.rpm
