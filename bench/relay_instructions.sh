#!/usr/bin/env bash
# Instructions per same-dialect request (callgrind, user space, one serving thread) for the
# chat relay (/v1/chat/completions -> openai provider) and the Responses relay
# (/v1/responses -> openai provider with wire = "responses"), both unary, against bench_mock.
# Exact and repeatable where wall-clock CPU time is noisy. Each route runs twice under callgrind,
# with N1 and N2 requests; (instructions(N2) - instructions(N1)) / (N2 - N1) cancels start-up.
#
# Usage: bash bench/relay_instructions.sh [BIN_DIR]   (default: $CARGO_TARGET_DIR/release)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
N1=${N1:-200}
N2=${N2:-1200}
MOCK_PORT=${MOCK_PORT:-19181}
AR_PORT=${AR_PORT:-19182}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/bench_mock" "$MOCK_PORT" 1 & PIDS+=($!)
cat >"$WORK/config.toml" <<EOF
[server]
store_content = true
[providers.bm]
kind = "openai"
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
[providers.bmr]
kind = "openai"
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
wire = "responses"
EOF
export AROUTER_DATA_DIR=$WORK AROUTER_HTTP_THREADS=1 RUST_LOG=warn
KEY=$("$BIN/arouter" keys create --name bench | tail -1)

# One route under callgrind with n requests; prints its total user-space instructions.
run() {
  local path=$1 body=$2 n=$3 out="$WORK/cg.$RANDOM"
  timeout 600 valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$BIN/arouter" serve --port "$AR_PORT" >"$WORK/serve.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$AR_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  python3 - "$AR_PORT" "$KEY" "$path" "$body" "$n" <<'PY'
import http.client, sys
port, key, path, body, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
for _ in range(n):
    c.request("POST", path, body, {"authorization": "Bearer " + key, "content-type": "application/json"})
    r = c.getresponse()
    data = r.read()
    assert r.status == 200, (r.status, data[:300])
PY
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'
}

CHAT='{"model":"bm/gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":64}'
RESP='{"model":"bmr/gpt-4o-mini","instructions":"Be brief.","input":[{"role":"user","content":"Say hello to the benchmark."}],"max_output_tokens":64}'
for route in chat responses; do
  if [[ $route == chat ]]; then path=/v1/chat/completions body=$CHAT; else path=/v1/responses body=$RESP; fi
  a=$(run "$path" "$body" "$N1")
  b=$(run "$path" "$body" "$N2")
  echo "$route: $(( (b - a) / (N2 - N1) )) instructions per request (N1=$N1: $a, N2=$N2: $b)"
done
