#!/usr/bin/env bash
# ARouter benchmark suite — one command: `bash bench/run.sh` (never part of CI's tests).
#
# Builds --release (arouter, bench_mock, bench_client, bench_ledger), runs the mock upstream
# and ARouter on loopback, and measures, alternating direct-to-mock and through-ARouter runs
# so machine noise is shared: added latency at fixed 500/1000 RPS, max RPS at 50 connections
# with ARouter's CPU time per request, streaming first byte / first chunk / per-chunk delay on
# three routes, RSS idle and under 1000 concurrent streams, cold start, ledger write rate and
# dashboard queries over 1M rows, and the same load through the LiteLLM proxy as the peer.
# Every step is bounded in time. Raw results land in bench/results/<timestamp>/; the summary
# is printed at the end (and saved as summary.md there).
#
# Knobs (environment): DUR (seconds per load run, default 8), ROUNDS (alternations, 2),
# LEDGER_ROWS (1000000), SECTIONS (subset of "latency maxrps stream rss coldstart ledger team litellm"),
# SKIP_LITELLM=1, SKIP_BUILD=1, CARGO_TARGET_DIR, BIN (a dir with prebuilt release binaries),
# EXTRA_CONFIG (TOML appended to ARouter's config, e.g. a [telemetry] table), PORT_BASE (first
# of four ports, default 19101; BENCH_PORT_BASE is the same).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DUR=${DUR:-8}
ROUNDS=${ROUNDS:-2}
LEDGER_ROWS=${LEDGER_ROWS:-1000000}
SECTIONS=${SECTIONS:-latency maxrps stream rss coldstart ledger team litellm}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${BIN:-$TARGET_DIR/release}
OUT=$ROOT/bench/results/$(date -u +%Y%m%d-%H%M%S)
PORT_BASE=${PORT_BASE:-${BENCH_PORT_BASE:-19101}}
MOCK_PORT=$PORT_BASE AR_PORT=$((PORT_BASE + 1)) LL_PORT=$((PORT_BASE + 2)) COLD_PORT=$((PORT_BASE + 3))
mkdir -p "$OUT"
echo "results: $OUT"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

log() { printf '\n== %s\n' "$*"; }

# ---- build and tools -------------------------------------------------------------------
if [[ -z "${SKIP_BUILD:-}" ]]; then
  log "building (release)"
  CARGO_TARGET_DIR=$TARGET_DIR timeout 1800 cargo build --release -p arouter -p arouter-tests \
    --bin arouter --bin bench_mock --bin bench_client --bin bench_ledger --bin bench_team_ledger
fi
OHA=""
for c in "$ROOT/bench/.tools/bin/oha" "$HOME/.cargo/bin/oha" "$(command -v oha || true)"; do
  if [[ -n "$c" && -x "$c" ]]; then OHA=$c; break; fi
done
if [[ -z "$OHA" ]]; then
  log "installing oha into bench/.tools (bounded: 20 min)"
  timeout 1200 cargo install oha --locked --root "$ROOT/bench/.tools" >"$OUT/oha-install.log" 2>&1 || true
  [[ -x "$ROOT/bench/.tools/bin/oha" ]] && OHA=$ROOT/bench/.tools/bin/oha
fi
[[ -n "$OHA" ]] || echo "oha unavailable: fixed-rate latency runs are skipped (wrk still measures max RPS)"
WRK=$(command -v wrk || true)
OHA_JSON=(-j)
if [[ -n "$OHA" ]] && "$OHA" --help 2>&1 | grep -q -- '--output-format'; then OHA_JSON=(--output-format json); fi

{
  echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "loadavg_at_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "git=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "oha=$([[ -n "$OHA" ]] && "$OHA" --version 2>/dev/null | head -1)"
  echo "wrk=$([[ -n "$WRK" ]] && echo yes)"
  echo "dur_s=$DUR rounds=$ROUNDS"
} >"$OUT/machine.txt"

# ---- helpers -----------------------------------------------------------------------------
wait_http() { # URL SECONDS [PID that must stay alive]
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    [[ -z "${3:-}" ]] || kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# Sum of RSS over a process and its descendants (LiteLLM runs workers).
tree_rss_mib() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" 2>/dev/null || true); do
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  awk -v t="$total" 'BEGIN {printf "%.1f", t/1024}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
body() { # MODEL STREAM
  printf '{"model":"%s","max_tokens":64,"stream":%s,"messages":[{"role":"user","content":"Say hello."}]}' "$1" "$2"
}
oha_run() { # NAME URL MODEL KEY EXTRA-ARGS...
  local name=$1 url=$2 model=$3 key=$4; shift 4
  [[ -n "$OHA" ]] || return 0
  local auth=()
  [[ -n "$key" ]] && auth=(-H "authorization: Bearer $key")
  timeout $((DUR + 30)) "$OHA" --no-tui "${OHA_JSON[@]}" -z "${DUR}s" "$@" -m POST \
    -H 'content-type: application/json' "${auth[@]}" -d "$(body "$model" false)" "$url" \
    >"$OUT/oha-$name.json" 2>"$OUT/oha-$name.err" || echo "oha $name failed (see $OUT/oha-$name.err)"
}
wrk_run() { # NAME URL MODEL KEY
  [[ -n "$WRK" ]] || return 0
  local lua=$OUT/wrk-$1.lua auth=""
  [[ -n "$4" ]] && auth="wrk.headers[\"authorization\"] = \"Bearer $4\""
  cat >"$lua" <<EOF
wrk.method = "POST"
wrk.body = '$(body "$3" false)'
wrk.headers["content-type"] = "application/json"
$auth
EOF
  timeout $((DUR + 30)) "$WRK" -t2 -c50 -d"${DUR}s" --latency -s "$lua" "$2" >"$OUT/wrk-$1.txt" 2>&1 || true
}

# ---- mock upstream and ARouter -----------------------------------------------------------
log "starting the mock upstream and ARouter"
"$BIN/bench_mock" $MOCK_PORT 2 >"$OUT/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_http "http://127.0.0.1:$MOCK_PORT/healthz" 10

DATA=$OUT/data
mkdir -p "$DATA"
cat >"$DATA/config.toml" <<EOF
[server]
host = "127.0.0.1"
port = $AR_PORT

[providers.mockoa]
kind = "openai"
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
api_key_env = "BENCH_UPSTREAM_KEY"

[providers.mockan]
kind = "anthropic"
base_url = "http://127.0.0.1:$MOCK_PORT"
api_key_env = "BENCH_UPSTREAM_KEY"
EOF
printf '%b\n' "${EXTRA_CONFIG:-}" >>"$DATA/config.toml"
export BENCH_UPSTREAM_KEY=bench-upstream-key RUST_LOG=warn
KEY=$("$BIN/arouter" keys create --name bench --data-dir "$DATA" 2>/dev/null | tail -1)
"$BIN/arouter" serve --data-dir "$DATA" >"$OUT/arouter.log" 2>&1 &
AR_PID=$!
PIDS+=("$AR_PID")
wait_http "http://127.0.0.1:$AR_PORT/healthz" 10
sleep 1
echo "idle_rss_mib_fresh=$(rss_mib $AR_PID)" >"$OUT/rss.txt"

D_OA=http://127.0.0.1:$MOCK_PORT/v1/chat/completions
D_AN=http://127.0.0.1:$MOCK_PORT/v1/messages
R_OA=http://127.0.0.1:$AR_PORT/v1/chat/completions
R_AN=http://127.0.0.1:$AR_PORT/v1/messages

# Sanity: one request per route must succeed before anything is measured.
for spec in "$R_OA|mockoa/bench" "$R_OA|mockan/bench"; do
  curl -fsS -o /dev/null -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d "$(body "${spec#*|}" false)" "${spec%|*}" || { echo "sanity request failed: $spec"; exit 1; }
done
curl -fsS -o /dev/null -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
  -d "$(body mockan/bench false)" "$R_AN" || { echo "sanity request failed: anthropic surface"; exit 1; }

# ---- fixed-rate latency (alternating) ------------------------------------------------------
if want latency; then
log "fixed-rate latency: 500 and 1000 RPS, direct vs ARouter, $ROUNDS rounds x ${DUR}s"
for rate in 500 1000; do
  for round in $(seq "$ROUNDS"); do
    oha_run "q$rate-r$round-direct" "$D_OA" bench "" -q "$rate" -c 50
    oha_run "q$rate-r$round-arouter" "$R_OA" mockoa/bench "$KEY" -q "$rate" -c 50
  done
done
log "fixed-rate latency at 1000 RPS on the translated route (OpenAI surface -> anthropic upstream)"
for round in $(seq "$ROUNDS"); do
  oha_run "q1000-r$round-direct_anthropic" "$D_AN" bench "" -q 1000 -c 50
  oha_run "q1000-r$round-arouter_translated" "$R_OA" mockan/bench "$KEY" -q 1000 -c 50
done
fi

# ---- max RPS and CPU per request (alternating) -----------------------------------------------
if want maxrps; then
log "max RPS at 50 connections, direct vs ARouter"
for round in $(seq "$ROUNDS"); do
  m0=$(cpu_ticks $MOCK_PID)
  oha_run "max-r$round-direct" "$D_OA" bench "" -c 50
  m1=$(cpu_ticks $MOCK_PID)
  a0=$(cpu_ticks $AR_PID); m2=$(cpu_ticks $MOCK_PID)
  oha_run "max-r$round-arouter" "$R_OA" mockoa/bench "$KEY" -c 50
  a1=$(cpu_ticks $AR_PID); m3=$(cpu_ticks $MOCK_PID)
  echo "round=$round mock_ticks_direct=$((m1 - m0)) arouter_ticks=$((a1 - a0)) mock_ticks_via_arouter=$((m3 - m2)) clk_tck=$(getconf CLK_TCK)" >>"$OUT/cpu.txt"
  if [[ -n "$WRK" ]]; then
    wrk_run "max-r$round-direct" "$D_OA" bench ""
    a0=$(cpu_ticks $AR_PID)
    wrk_run "max-r$round-arouter" "$R_OA" mockoa/bench "$KEY"
    a1=$(cpu_ticks $AR_PID)
    echo "round=$round wrk_arouter_ticks=$((a1 - a0))" >>"$OUT/cpu.txt"
  fi
done
echo "rss_after_load_mib=$(rss_mib $AR_PID)" >>"$OUT/rss.txt"
fi

# ---- streaming -------------------------------------------------------------------------------
if want stream; then
log "streaming: 50 chunks 2 ms apart, 4 routes interleaved per round"
timeout 200 "$BIN/bench_client" stream 30 \
  "openai|$D_OA|bench-c50-i2|" \
  "openai|$R_OA|mockoa/bench-c50-i2|$KEY" \
  "anthropic|$D_AN|bench-c50-i2|" \
  "openai|$R_OA|mockan/bench-c50-i2|$KEY" \
  "anthropic|$R_AN|mockan/bench-c50-i2|$KEY" >"$OUT/stream.jsonl" || echo "stream run failed"
log "streaming: 50 chunks back to back (no pause), same routes"
timeout 200 "$BIN/bench_client" stream 30 \
  "openai|$D_OA|bench-c50-i0|" \
  "openai|$R_OA|mockoa/bench-c50-i0|$KEY" \
  "anthropic|$D_AN|bench-c50-i0|" \
  "openai|$R_OA|mockan/bench-c50-i0|$KEY" \
  "anthropic|$R_AN|mockan/bench-c50-i0|$KEY" >"$OUT/stream-burst.jsonl" || echo "burst stream run failed"
fi

# ---- RSS ---------------------------------------------------------------------------------------
if want rss; then
sleep 2
echo "idle_rss_mib_after_load=$(rss_mib $AR_PID)" >>"$OUT/rss.txt"
log "RSS under 1000 concurrent streams (50 chunks x 20 ms each)"
timeout 120 "$BIN/bench_client" streams 1000 "$AR_PID" "openai|$R_OA|mockoa/bench-c50-i20|$KEY" \
  >"$OUT/streams1000.jsonl" || echo "1000-stream run failed"
fi

# ---- cold start ----------------------------------------------------------------------------------
if want coldstart; then
log "cold start: spawn -> /healthz 200 -> first chat 200 (5 spawns)"
kill "$AR_PID"; wait "$AR_PID" 2>/dev/null || true
timeout 120 "$BIN/bench_client" coldstart 5 $COLD_PORT "$KEY" mockoa/bench \
  "$BIN/arouter" serve --data-dir "$DATA" --port $COLD_PORT >"$OUT/coldstart.jsonl" || echo "cold start run failed"
fi

# ---- ledger --------------------------------------------------------------------------------------
if want ledger; then
log "ledger: write rate and dashboard queries over $LEDGER_ROWS rows"
timeout 600 "$BIN/bench_ledger" "$OUT" "$LEDGER_ROWS" >"$OUT/ledger.jsonl" || echo "ledger run failed"
rm -f "$OUT"/ledger-bench.db*
fi

# ---- team mode: the ledger writer on PostgreSQL next to SQLite (needs Debian's postgresql) -------
if want team && [[ -d /usr/lib/postgresql ]]; then
log "team mode: ledger rows/s on PostgreSQL vs SQLite"
timeout 600 "$BIN/bench_team_ledger" 100000 >"$OUT/team_ledger.jsonl" || echo "team ledger run failed"

# Whole requests with a limited key (rpm and a budget, never reached): the same priced model
# on an ARouter over SQLite (limits in memory) and one over PostgreSQL (an rpm check and a
# budget hold + settle in the database per request), alternating with direct runs.
if [[ -n "$OHA" ]]; then
log "team mode: added latency at 500 RPS with a limited key, SQLite vs PostgreSQL"
T_SQ_PORT=$COLD_PORT T_PG_PORT=$((PORT_BASE + 4))
coproc PGHOLD { timeout 900 "$BIN/bench_team_ledger" --hold-db 2>"$OUT/pg-hold.log"; }
PIDS+=("$PGHOLD_PID")
read -r -t 60 PG_URL <&"${PGHOLD[0]}" || PG_URL=""
if [[ "$PG_URL" == postgres://* ]]; then
  for kind in sq pg; do
    d=$OUT/team-$kind; mkdir -p "$d"
    port=$T_SQ_PORT; [[ $kind == pg ]] && port=$T_PG_PORT
    sed "s/^port = .*/port = $port/" "$DATA/config.toml" >"$d/config.toml"
    printf '\n[models."mockoa/bench"]\ninput_per_mtok = 0.15\noutput_per_mtok = 0.6\n' >>"$d/config.toml"
    db_env=(); [[ $kind == pg ]] && db_env=(AROUTER_DATABASE_URL="$PG_URL")
    key=$(env "${db_env[@]}" "$BIN/arouter" keys create --name limited --rpm 10000000 \
      --limit-usd 1000000 --data-dir "$d" 2>/dev/null | tail -1)
    env "${db_env[@]}" "$BIN/arouter" serve --data-dir "$d" >"$OUT/arouter-team-$kind.log" 2>&1 &
    PIDS+=("$!")
    wait_http "http://127.0.0.1:$port/healthz" 20 || echo "team $kind server did not start"
    printf -v "KEY_$kind" '%s' "$key"
  done
  for round in $(seq "$ROUNDS"); do
    oha_run "team-r$round-direct" "$D_OA" bench "" -q 500 -c 50
    oha_run "team-r$round-sqlite_limited" "http://127.0.0.1:$T_SQ_PORT/v1/chat/completions" mockoa/bench "$KEY_sq" -q 500 -c 50
    oha_run "team-r$round-postgres_limited" "http://127.0.0.1:$T_PG_PORT/v1/chat/completions" mockoa/bench "$KEY_pg" -q 500 -c 50
  done
else
  echo "no PostgreSQL database for the team latency runs (see $OUT/pg-hold.log)"
fi
eval "exec ${PGHOLD[1]}>&-" 2>/dev/null || true
fi
fi

# ---- LiteLLM (the reference peer) ----------------------------------------------------------------
if want litellm && [[ -z "${SKIP_LITELLM:-}" ]]; then
  log "LiteLLM proxy (bounded: install 10 min, start 3 min)"
  VENV=$ROOT/bench/.venv
  if [[ ! -x "$VENV/bin/litellm" ]]; then
    (timeout 600 bash -c "python3 -m venv '$VENV' && '$VENV/bin/pip' install -q 'litellm[proxy]'") \
      >"$OUT/litellm-install.log" 2>&1 || echo "litellm install failed (see litellm-install.log)"
  fi
  if [[ -x "$VENV/bin/litellm" ]]; then
    cat >"$OUT/litellm.yaml" <<EOF
model_list:
  - model_name: bench
    litellm_params:
      model: openai/bench
      api_base: http://127.0.0.1:$MOCK_PORT/v1
      api_key: bench-upstream-key
  - model_name: bench-c50-i2
    litellm_params:
      model: openai/bench-c50-i2
      api_base: http://127.0.0.1:$MOCK_PORT/v1
      api_key: bench-upstream-key
EOF
    LL_KEY=sk-litellm-bench-master
    start=$(date +%s.%N)
    LITELLM_MASTER_KEY=$LL_KEY LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR "$VENV/bin/litellm" --config "$OUT/litellm.yaml" \
      --host 127.0.0.1 --port $LL_PORT --num_workers 1 >"$OUT/litellm.log" 2>&1 &
    LL_PID=$!
    PIDS+=("$LL_PID")
    if wait_http "http://127.0.0.1:$LL_PORT/health/liveliness" 180 "$LL_PID"; then
      echo "litellm_spawn_to_liveliness_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')" >"$OUT/litellm.txt"
      L_OA=http://127.0.0.1:$LL_PORT/v1/chat/completions
      curl -fsS -o /dev/null -H "authorization: Bearer $LL_KEY" -H 'content-type: application/json' -d "$(body bench false)" "$L_OA" \
        || echo "litellm sanity request failed"
      echo "litellm_idle_rss_mib=$(tree_rss_mib $LL_PID)" >>"$OUT/litellm.txt"
      for round in $(seq "$ROUNDS"); do
        oha_run "ll-q25-r$round-direct" "$D_OA" bench "" -q 25 -c 10
        oha_run "ll-q25-r$round-litellm" "$L_OA" bench "$LL_KEY" -q 25 -c 10
      done
      l0=$(cpu_ticks $LL_PID)
      oha_run "ll-max-litellm" "$L_OA" bench "$LL_KEY" -c 50
      l1=$(cpu_ticks $LL_PID)
      echo "litellm_max_ticks=$((l1 - l0))" >>"$OUT/litellm.txt"
      echo "litellm_rss_after_load_mib=$(tree_rss_mib $LL_PID)" >>"$OUT/litellm.txt"
      timeout 120 "$BIN/bench_client" stream 10 \
        "openai|$D_OA|bench-c50-i2|" "openai|$L_OA|bench-c50-i2|$LL_KEY" >"$OUT/litellm-stream.jsonl" \
        || echo "litellm stream run failed"
    else
      echo "litellm did not start (no answer within 180 s or it exited; see litellm.log)" | tee "$OUT/litellm.txt"
    fi
    kill "$LL_PID" 2>/dev/null || true
  fi
fi

log "summary"
python3 "$ROOT/bench/summarize.py" "$OUT" | tee "$OUT/summary.md"
