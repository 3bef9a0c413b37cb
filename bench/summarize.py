#!/usr/bin/env python3
"""Summarises one bench/run.sh result directory as Markdown (stdout)."""

import json
import os
import re
import sys

OUT = sys.argv[1]


def read(name):
    path = os.path.join(OUT, name)
    return open(path).read() if os.path.exists(path) else ""


def kv(name):
    return dict(re.findall(r"(\w+)=([^\s]+)", read(name)))


def jsonl(name):
    return [json.loads(l) for l in read(name).splitlines() if l.strip().startswith("{")]


def oha(name):
    try:
        d = json.load(open(os.path.join(OUT, f"oha-{name}.json")))
    except (OSError, ValueError):
        return None
    pct = d.get("latencyPercentiles", {})
    s = d.get("summary", {})
    codes = d.get("statusCodeDistribution", {})
    total = sum(codes.values()) or 1
    return {
        "p50": pct.get("p50", float("nan")) * 1000,
        "p90": pct.get("p90", float("nan")) * 1000,
        "p99": pct.get("p99", float("nan")) * 1000,
        "rps": s.get("requestsPerSec", float("nan")),
        "ok": codes.get("200", 0) / total,
        "n": sum(codes.values()),
    }


def f(x, nd=3):
    return "n/a" if x is None or x != x else f"{x:.{nd}f}"


lines = []
p = lines.append
p(f"# Bench run {os.path.basename(OUT)}\n")
p("Machine: " + read("machine.txt").replace("\n", "; ") + "\n")

p("## Added latency at fixed rate (ms; ARouter minus direct, same round)\n")
p("| rate | route | round | direct p50/p90/p99 | ARouter p50/p90/p99 | added p50 | added p90 | added p99 | ok |")
p("|---|---|---|---|---|---|---|---|---|")
for rate, route, dname, aname in [
    (500, "openai→openai", "direct", "arouter"),
    (1000, "openai→openai", "direct", "arouter"),
    (1000, "openai→anthropic (translated)", "direct_anthropic", "arouter_translated"),
]:
    for r in range(1, 10):
        d, a = oha(f"q{rate}-r{r}-{dname}"), oha(f"q{rate}-r{r}-{aname}")
        if not d or not a:
            continue
        p(
            f"| {rate} | {route} | {r} | {f(d['p50'])}/{f(d['p90'])}/{f(d['p99'])} | "
            f"{f(a['p50'])}/{f(a['p90'])}/{f(a['p99'])} | {f(a['p50']-d['p50'])} | "
            f"{f(a['p90']-d['p90'])} | {f(a['p99']-d['p99'])} | {a['ok']:.3f} ({a['n']}) |"
        )

if oha("team-r1-direct"):
    p("\n## Team mode: 500 RPS with a limited key (rpm + budget), ms\n")
    p("| round | direct p50/p99 | SQLite limits p50/p99 | PostgreSQL limits p50/p99 | PG added vs SQLite p50 / p99 | ok |")
    p("|---|---|---|---|---|---|")
    for r in range(1, 10):
        d, sq, pg = (oha(f"team-r{r}-{n}") for n in ("direct", "sqlite_limited", "postgres_limited"))
        if not (d and sq and pg):
            continue
        p(
            f"| {r} | {f(d['p50'])}/{f(d['p99'])} | {f(sq['p50'])}/{f(sq['p99'])} | "
            f"{f(pg['p50'])}/{f(pg['p99'])} | {f(pg['p50']-sq['p50'])} / {f(pg['p99']-sq['p99'])} | "
            f"{sq['ok']:.3f} / {pg['ok']:.3f} |"
        )

p("\n## Max RPS at 50 connections\n")
p("| generator | round | direct RPS | ARouter RPS | ratio | ARouter p50/p99 ms | ARouter CPU µs/req |")
p("|---|---|---|---|---|---|---|")
cpu = [dict(re.findall(r"(\w+)=(\d+)", l)) for l in read("cpu.txt").splitlines()]
oha_cpu = [c for c in cpu if "arouter_ticks" in c]
wrk_cpu = [c for c in cpu if "wrk_arouter_ticks" in c]
for r in range(1, 10):
    d, a = oha(f"max-r{r}-direct"), oha(f"max-r{r}-arouter")
    if d and a:
        c = oha_cpu[r - 1] if r - 1 < len(oha_cpu) else {}
        tck = int(c.get("clk_tck", 100))
        us = int(c.get("arouter_ticks", 0)) * 1e6 / tck / max(a["n"], 1)
        p(f"| oha | {r} | {d['rps']:.0f} | {a['rps']:.0f} | {a['rps']/d['rps']:.2f} | {f(a['p50'])}/{f(a['p99'])} | {us:.0f} |")


def wrk(name):
    t = read(f"wrk-{name}.txt")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
    req = re.search(r"(\d+) requests in", t)
    return (float(rps.group(1)), int(req.group(1))) if rps and req else None


for r in range(1, 10):
    d, a = wrk(f"max-r{r}-direct"), wrk(f"max-r{r}-arouter")
    if d and a:
        c = wrk_cpu[r - 1] if r - 1 < len(wrk_cpu) else {}
        us = int(c.get("wrk_arouter_ticks", 0)) * 1e6 / 100 / max(a[1], 1)
        p(f"| wrk | {r} | {d[0]:.0f} | {a[0]:.0f} | {a[0]/d[0]:.2f} | – | {us:.0f} |")

for name, title in [("stream.jsonl", "50 chunks, 2 ms apart"), ("stream-burst.jsonl", "50 chunks back to back")]:
    rows = jsonl(name)
    if not rows:
        continue
    p(f"\n## Streaming ({title}; µs)\n")
    p("| target | TTFB p50 | first chunk p50 | chunk delay p50/p99/max | max gap between chunks (p50 / max) |")
    p("|---|---|---|---|---|")
    for row in rows:
        cd = row["chunk_delay_us"]
        g = row["max_gap_between_chunks_us"]
        p(
            f"| {row['target']} | {row['ttfb_us']['p50']:.0f} | {row['first_chunk_us']['p50']:.0f} | "
            f"{cd['p50']:.0f}/{cd['p99']:.0f}/{cd['max']:.0f} | {g['p50']:.0f} / {g['max']:.0f} |"
        )
    if len(rows) >= 5:
        base = {0: rows[0], 1: rows[0], 2: rows[2], 3: rows[2], 4: rows[2]}
        p("\nAdded by ARouter (vs the direct run of the upstream dialect):\n")
        for i, label in [(1, "openai→openai"), (3, "openai→anthropic (translated)"), (4, "anthropic→anthropic")]:
            r, b = rows[i], base[i]
            p(
                f"- {label}: first byte +{r['ttfb_us']['p50']-b['ttfb_us']['p50']:.0f} µs, first content chunk "
                f"+{r['first_chunk_us']['p50']-b['first_chunk_us']['p50']:.0f} µs, per-chunk delay p50 "
                f"+{r['chunk_delay_us']['p50']-b['chunk_delay_us']['p50']:.0f} µs, worst chunk "
                f"{r['chunk_delay_us']['max']/1000:.2f} ms"
            )

p("\n## Memory, cold start\n")
p("- RSS: " + read("rss.txt").replace("\n", "; "))
for row in jsonl("streams1000.jsonl"):
    p(f"- 1000 concurrent streams: {json.dumps(row)}")
for row in jsonl("coldstart.jsonl"):
    p(f"- cold start: {json.dumps(row)}")

p("\n## Ledger\n")
for row in jsonl("ledger.jsonl"):
    p(f"- {json.dumps(row)}")

if read("litellm.txt"):
    p("\n## LiteLLM proxy\n")
    p("- " + read("litellm.txt").replace("\n", "; "))
    for r in range(1, 10):
        d, l = oha(f"ll-q25-r{r}-direct"), oha(f"ll-q25-r{r}-litellm")
        if d and l:
            p(
                f"- 25 RPS round {r}: direct p50/p99 {f(d['p50'])}/{f(d['p99'])} ms, LiteLLM "
                f"{f(l['p50'])}/{f(l['p99'])} ms (added p50 {f(l['p50']-d['p50'])}, p99 {f(l['p99']-d['p99'])}; ok {l['ok']:.3f})"
            )
    mx = oha("ll-max-litellm")
    if mx:
        ticks = int(kv("litellm.txt").get("litellm_max_ticks", 0))
        p(f"- max RPS at 50 connections: {mx['rps']:.0f} (p50 {f(mx['p50'])} ms, ok {mx['ok']:.3f}; CPU {ticks*1e4/max(mx['n'],1):.0f} µs/req main process)")
    for row in jsonl("litellm-stream.jsonl"):
        p(f"- stream: {row['target']}: TTFB p50 {row['ttfb_us']['p50']:.0f} µs, first chunk p50 {row['first_chunk_us']['p50']:.0f} µs, chunk delay p99 {row['chunk_delay_us']['p99']:.0f} µs, max {row['chunk_delay_us']['max']:.0f} µs")

print("\n".join(lines))
