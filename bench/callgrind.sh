#!/usr/bin/env bash
# Instructions per request under callgrind (user space, exact, unaffected by other load on the
# machine): ARouter with one serving thread (AROUTER_HTTP_THREADS=1) under valgrind with
# instrumentation off; per route, 200 warm-up requests, then instrumentation on for exactly N
# requests (4 keep-alive connections, bench/callgrind_load.py), a dump, and instrumentation
# off. Prints total, ledger-writer thread and request-path instructions per request: the
# writer flushes in batches on its own thread, so how many rows it wrote inside the window
# varies run to run; the request path does not. (With fat LTO `run_writer` may be inlined into
# its thread closure; `write_batch`, the writer's bulk, is counted then.)
# Usage: bash bench/callgrind.sh BINDIR LABEL   (BINDIR has release `arouter` and `bench_mock`)
# Env: N (requests per route), MOCK_PORT/AR_PORT, EXTRA_CONFIG (TOML appended to the config,
# e.g. a [telemetry] table; the OTLP exporter thread's share is then printed as `exporter`).
set -euo pipefail
BIN=$1; LABEL=$2; N=${N:-3000}
MOCK_PORT=${MOCK_PORT:-19311} AR_PORT=${AR_PORT:-19312}
OUT=${OUT_ROOT:-/tmp/arouter-callgrind}/$LABEL; rm -rf "$OUT"; mkdir -p "$OUT/data"
PIDS=(); cleanup(){ for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }; trap cleanup EXIT
"$BIN/bench_mock" $MOCK_PORT 1 >"$OUT/mock.log" 2>&1 & PIDS+=($!)
for i in $(seq 100); do curl -fsS -o /dev/null http://127.0.0.1:$MOCK_PORT/healthz 2>/dev/null && break; sleep 0.1; done
cat >"$OUT/data/config.toml" <<EOT
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
EOT
printf '%b\n' "${EXTRA_CONFIG:-}" >>"$OUT/data/config.toml"
export BENCH_UPSTREAM_KEY=k RUST_LOG=warn AROUTER_HTTP_THREADS=1
KEY=$("$BIN/arouter" keys create --name bench --data-dir "$OUT/data" 2>/dev/null | tail -1)
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/cg.%p" \
  "$BIN/arouter" serve --data-dir "$OUT/data" >"$OUT/arouter.log" 2>&1 & AR=$!; PIDS+=($AR)
for i in $(seq 600); do curl -fsS -o /dev/null http://127.0.0.1:$AR_PORT/healthz 2>/dev/null && break; sleep 0.2; done
run() { # NAME URL MODEL COUNT
  local path=${2#http://127.0.0.1:$AR_PORT}
  timeout 900 python3 "$(dirname "$0")/callgrind_load.py" 127.0.0.1 $AR_PORT "$path" "$3" "$KEY" "$4" 4 >"$OUT/$1.load" 2>&1 || true
}
for route in "openai-same|http://127.0.0.1:$AR_PORT/v1/chat/completions|mockoa/bench-model" \
             "anthropic-same|http://127.0.0.1:$AR_PORT/v1/messages|mockan/bench-model" \
             "translated|http://127.0.0.1:$AR_PORT/v1/chat/completions|mockan/bench-model"; do
  IFS='|' read -r name url model <<<"$route"
  run "$name-warm" "$url" "$model" 200
  callgrind_control -z $AR >/dev/null; callgrind_control -i on $AR >/dev/null
  run "$name" "$url" "$model" $N
  callgrind_control -i off $AR >/dev/null
  callgrind_control -d "$name" $AR >/dev/null
  sleep 1
  reqs=$(grep -Eo 'requests=[0-9]+' "$OUT/$name.load" | cut -d= -f2)
  f=$(grep -l "Trigger: dump $name\$" "$OUT"/cg.$AR.* | head -1)
  ir=$(grep '^totals:' "$f" | awk '{print $2}')
  # The writer thread's root (`run_writer`, or `write_batch` where the compiler inlined it),
  # the trace exporter's thread, and the serving thread's.
  incl=$(callgrind_annotate --inclusive=yes "$f" 2>/dev/null)
  w=$(grep -E 'arouter_store::ledger::(run_writer|write_batch) ' <<<"$incl" | head -1 | awk '{gsub(",","",$1); print $1}' || true)
  x=$(grep -E 'arouter_core::telemetry::(export|otlp)::' <<<"$incl" | head -1 | awk '{gsub(",","",$1); print $1}' || true)
  s=$(grep -F 'arouter_core::http::cores::serve_thread::{{closure}}::{{closure}} ' <<<"$incl" | head -1 | awk '{gsub(",","",$1); print $1}' || true)
  non2xx=$(grep -Eo 'non2xx=[0-9]+' "$OUT/$name.load" | cut -d= -f2)
  echo "$LABEL $name requests=$reqs per_request=$((ir / reqs)) writer=$((${w:-0} / reqs)) exporter=$((${x:-0} / reqs)) request_path=$(((ir - ${w:-0} - ${x:-0}) / reqs)) serving_thread=$((${s:-0} / reqs)) non2xx=$non2xx"
done
