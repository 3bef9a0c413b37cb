#!/usr/bin/env bash
# Packaging check (issue 20), run by tests/run-all.sh when AROUTER_DESKTOP_TESTS=1: builds the
# .deb and .rpm with scripts/package.sh (the README's command), checks their metadata, installs
# the .deb with apt (so its Depends are resolved), runs the installed app under Xvfb with a
# private D-Bus session and an unlocked gnome-keyring, then removes the package again.
# Runs as root, as CI does (apt). Needs (see .ci/run): rpm, systemd, dpkg-dev, xvfb, xauth,
# imagemagick, dbus, gnome-keyring, libsecret-tools, curl.
# Artefacts (window screenshot, app log, timings) go to $AROUTER_PACKAGE_ARTEFACTS
# (default: package-check/ in the cargo target dir).
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/../.."

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
now_ms() { date +%s%3N; }

# ---------------------------------------------------------------------------------------------
# The installed app, under Xvfb and a private D-Bus session (this script calls itself there).
inside() {
  art=$AROUTER_PACKAGE_ARTEFACTS
  home=$AROUTER_PACKAGE_WORK/home
  export HOME=$home XDG_DATA_HOME=$home/.local/share XDG_CONFIG_HOME=$home/.config \
    XDG_CACHE_HOME=$home/.cache XDG_RUNTIME_DIR=$home/runtime
  mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  printf %s pkg-pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null

  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export AROUTER_PORT=$port
  base=http://127.0.0.1:$port

  # Launch -> first /healthz and launch -> a drawn window, measured separately.
  start=$(now_ms)
  /usr/bin/arouter-desktop >"$art/app.log" 2>&1 </dev/null &
  pid=$!
  healthz_ms=""
  for _ in $(seq 1 600); do
    if curl -fsS "$base/healthz" >/dev/null 2>&1; then
      healthz_ms=$(($(now_ms) - start))
      break
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$art/app.log"; fail "the installed app died"; }
    sleep 0.05
  done
  [ -n "$healthz_ms" ] || { cat "$art/app.log"; fail "no /healthz on $port within 30 s"; }
  echo "ok: the installed app answers /healthz (${healthz_ms} ms after launch)"

  # Drawn = the screen holds real content: many colours and a spread, not one flat colour.
  window_ms=""
  for _ in $(seq 1 120); do
    import -window root "$art/window.png" 2>/dev/null || true
    colours=$(identify -format '%k' "$art/window.png" 2>/dev/null || echo 0)
    spread=$(identify -format '%[fx:standard_deviation]' "$art/window.png" 2>/dev/null || echo 0)
    if [ "$colours" -gt 64 ] && python3 -c "import sys; sys.exit(0 if float('$spread') > 0.02 else 1)"; then
      window_ms=$(($(now_ms) - start))
      break
    fi
    sleep 0.25
  done
  [ -n "$window_ms" ] ||
    { cat "$art/app.log"; fail "the window never drew (${colours:-0} colours, stddev ${spread:-0})"; }
  echo "ok: the window drew ($colours colours, stddev $spread; ${window_ms} ms after launch)"
  printf 'launch_to_healthz_ms=%s\nlaunch_to_window_ms=%s\n' "$healthz_ms" "$window_ms" >>"$art/timings.txt"

  # A provider key set through the installed app's management API (what its window's UI calls)
  # lands in the Secret Service, and nowhere in the user's data dir.
  admin=$(/usr/bin/arouter keys create --name package-check --admin | tail -n 1)
  secret="sk-package-check-$$"
  code=$(curl -sS -o "$art/set-key.json" -w '%{http_code}' -X PUT \
    -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d "{\"key\": \"$secret\"}" "$base/api/v1/providers/openai/credential")
  [ "$code" = 200 ] || { cat "$art/set-key.json" "$art/app.log"; fail "setting the key answered $code"; }
  stored=$(timeout 20 secret-tool lookup service arouter username openai) ||
    fail "no Secret Service item for service=arouter username=openai"
  [ "$stored" = "$secret" ] || fail "the Secret Service holds another value for openai"
  if grep -rqF "$secret" "$XDG_DATA_HOME/arouter"; then fail "the key was written to the data dir"; fi
  echo "ok: a key set through the installed app is in the Secret Service (secret-tool) only"

  # Start at login, turned on in the running app (a second launch forwards --autostart to it).
  entry=$XDG_CONFIG_HOME/autostart/ARouter.desktop
  timeout 30 /usr/bin/arouter-desktop --autostart on >>"$art/app.log" 2>&1 </dev/null ||
    fail "the second launch with --autostart on failed"
  for _ in $(seq 1 40); do [ -f "$entry" ] && break; sleep 0.25; done
  [ -f "$entry" ] || { cat "$art/app.log"; fail "no autostart entry at $entry"; }
  grep -qx 'Exec=/usr/bin/arouter-desktop --hidden' "$entry" ||
    { cat "$entry"; fail "the autostart entry does not start the installed binary hidden"; }
  kill -0 "$pid" 2>/dev/null || fail "the first instance quit on the second launch"
  echo "ok: start at login writes $entry -> /usr/bin/arouter-desktop --hidden"
  timeout 30 /usr/bin/arouter-desktop --autostart=off >>"$art/app.log" 2>&1 </dev/null
  for _ in $(seq 1 40); do [ -f "$entry" ] || break; sleep 0.25; done
  [ ! -f "$entry" ] || fail "turning start at login off left $entry"
  echo "ok: start at login off removes the entry"

  # SIGTERM: exit 0 with the ledger flushed.
  kill -TERM "$pid"
  rc=0
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fail "no exit within 60 s of SIGTERM"; fi
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || { cat "$art/app.log"; fail "exit code $rc after SIGTERM"; }
  grep -q "ledger flushed" "$art/app.log" || fail "the ledger was not flushed"
  echo "ok: SIGTERM exits 0 after flushing the ledger"

  timeout 10 secret-tool clear service arouter username openai || true
}

if [ "${1:-}" = --inside ]; then
  inside
  exit
fi

# ---------------------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || fail "run as root (apt install / remove), as CI does"

target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
art=${AROUTER_PACKAGE_ARTEFACTS:-$target_dir/package-check}
rm -rf "$art"
mkdir -p "$art"
export AROUTER_PACKAGE_ARTEFACTS=$art
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export AROUTER_PACKAGE_WORK=$work

# 1. Build, exactly as the README says.
t0=$(date +%s)
bash scripts/package.sh | tee "$art/package.log"
build_s=$(($(date +%s) - t0))
version=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "arouter-desktop"))')
deb=$target_dir/release/bundle/deb/arouter_${version}_amd64.deb
rpm=$target_dir/release/bundle/rpm/arouter-${version}-1.x86_64.rpm
[ -f "$deb" ] || fail "no $deb"
[ -f "$rpm" ] || fail "no $rpm"
echo "ok: scripts/package.sh built $(basename "$deb") and $(basename "$rpm") in ${build_s} s"

# 2. The .deb's metadata and contents.
[ "$(dpkg-deb -f "$deb" Package)" = arouter ] || fail "the .deb is not named arouter"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
names=$(echo "$depends" | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/ //g' | grep -v '^$')
dups=$(echo "$names" | sort | uniq -d)
[ -z "$dups" ] || fail "Depends lists more than once: $dups"
for n in $names; do
  apt-cache show "$n" >/dev/null 2>&1 || fail "Depends names $n, which apt does not know"
done
# Complete: every package that the binaries' shared libraries come from (dpkg-shlibdeps).
mkdir -p "$work/deb/debian"
dpkg-deb -x "$deb" "$work/deb"
printf 'Source: arouter\n\nPackage: arouter\nArchitecture: any\n' >"$work/deb/debian/control"
needed=$(cd "$work/deb" && dpkg-shlibdeps -O -e usr/bin/arouter-desktop -e usr/bin/arouter 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p' | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/ //g' | grep -v '^$')
[ -n "$needed" ] || fail "dpkg-shlibdeps found nothing"
for n in $needed; do
  echo "$names" | grep -qx "$n" || fail "Depends lacks $n (the binaries link a library from it)"
done
echo "ok: Depends are unique, known to apt and cover every linked library ($(echo "$names" | wc -l) packages)"

contents=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')
for f in /usr/bin/arouter-desktop /usr/bin/arouter /usr/lib/systemd/user/arouter.service \
  /usr/share/applications/arouter.desktop /usr/share/icons/hicolor/32x32/apps/arouter-desktop.png \
  /usr/share/icons/hicolor/128x128/apps/arouter-desktop.png \
  /usr/share/icons/hicolor/256x256@2/apps/arouter-desktop.png; do
  echo "$contents" | grep -qx "$f" || fail "the .deb lacks $f"
done
desktop=$work/deb/usr/share/applications/arouter.desktop
for line in 'Name=ARouter' 'Exec=arouter-desktop' 'Icon=arouter-desktop' 'Type=Application'; do
  grep -qx "$line" "$desktop" || { cat "$desktop"; fail "the desktop entry lacks $line"; }
done
echo "ok: the .deb holds both binaries, the user unit, the desktop entry and icons"

# 3. The .rpm's metadata and file list.
rpm -qip "$rpm" >"$art/rpm-info.txt" 2>&1 || { cat "$art/rpm-info.txt"; fail "rpm -qip failed"; }
grep -Eq '^Name *: arouter$' "$art/rpm-info.txt" || { cat "$art/rpm-info.txt"; fail "the .rpm is not named arouter"; }
grep -Eq "^Version *: $version\$" "$art/rpm-info.txt" || fail "the .rpm's version is not $version"
rpm -qlp "$rpm" >"$art/rpm-files.txt" 2>/dev/null
for f in /usr/bin/arouter-desktop /usr/bin/arouter /usr/lib/systemd/user/arouter.service \
  /usr/share/applications/arouter.desktop /usr/share/icons/hicolor/128x128/apps/arouter-desktop.png; do
  grep -qx "$f" "$art/rpm-files.txt" || fail "the .rpm lacks $f"
done
rpm -qp --requires "$rpm" 2>/dev/null | grep -q 'libwebkit2gtk-4.1.so.0' || fail "the .rpm does not require WebKitGTK"
echo "ok: rpm -qip / -qlp: arouter $version with both binaries, unit, desktop entry and icons"

# 4. Install with apt: the Depends are resolved from the archive.
if dpkg-query -W -f '${Status}' arouter 2>/dev/null | grep -q 'install ok installed'; then
  fail "a package named arouter is already installed here; remove it first"
fi
apt-get install -y -qq "$deb" >"$art/apt-install.log" 2>&1 || { cat "$art/apt-install.log"; fail "apt install failed"; }
dpkg -L arouter >"$work/installed.txt"
[ "$(command -v arouter)" = /usr/bin/arouter ] || fail "arouter is not on PATH"
if ldd /usr/bin/arouter | grep -q libdbus; then fail "the headless arouter links libdbus"; fi
systemd-analyze verify /usr/lib/systemd/user/arouter.service >"$art/unit-verify.txt" 2>&1 ||
  { cat "$art/unit-verify.txt"; fail "systemd-analyze verify rejects the user unit"; }
echo "ok: apt installed it; arouter on PATH without libdbus; the user unit verifies"

# 5. The installed app.
timeout 10m xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash "$self" --inside </dev/null

# 6. apt remove: nothing of the package is left, the user's data dir is.
apt-get remove -y -qq arouter >"$art/apt-remove.log" 2>&1 || { cat "$art/apt-remove.log"; fail "apt remove failed"; }
left=""
while read -r f; do
  [ -d "$f" ] && continue
  if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
done <"$work/installed.txt"
[ -z "$left" ] || fail "apt remove left:$left"
[ ! -e /usr/lib/arouter ] || fail "apt remove left /usr/lib/arouter"
if dpkg-query -W -f '${Status}' arouter 2>/dev/null | grep -q installed; then fail "arouter still installed"; fi
[ -s "$work/home/.local/share/arouter/arouter.db" ] || fail "the user's data dir lost its ledger"
echo "ok: apt remove leaves none of its files (the user's data dir is the user's)"

# Sizes for BENCHMARKS.md.
installed_kib=$(dpkg-deb -f "$deb" Installed-Size)
{
  echo "package_build_s=$build_s"
  echo "deb_bytes=$(stat -c %s "$deb")"
  echo "rpm_bytes=$(stat -c %s "$rpm")"
  echo "installed_kib=$installed_kib"
} >>"$art/timings.txt"
cat "$art/timings.txt"
echo "packaging check passed (artefacts in $art)"
