#!/usr/bin/env python3
"""Generates crates/arouter-core/src/catalog.json from LiteLLM's maintained price map.

Source: `litellm/model_prices_and_context_window_backup.json` inside the `litellm` wheel on PyPI
(MIT licence). Pinned versions and their file hashes are below; updating the catalog is one
command:

    python3 scripts/gen-catalog.py                    # re-generate from the pins below
    python3 scripts/gen-catalog.py --pin 1.111.0      # move the primary pin (prints the new hash)

The first pin is the primary source. Later pins are older releases that still list models the
primary has retired (Claude Opus 4.1, Grok 4 Fast, Groq's Llama names...): a model keeps its last
maintained facts rather than vanishing. A key from an earlier pin always wins.

What is kept, and why (the bundle is compiled into the binary and parsed on first use):
  - modes `chat`, `responses` and `embedding` (what ARouter serves); image, audio, video,
    rerank, OCR, moderation and search models are left out;
  - providers a user can point ARouter at directly: the first-party APIs (OpenAI, Anthropic,
    Gemini, Mistral, DeepSeek, xAI, Moonshot, Z.ai) and the OpenAI-compatible hosts (Groq,
    Together, Fireworks, DeepInfra, Cerebras, Perplexity, OpenRouter). Azure, Bedrock and
    Vertex need cloud-signed auth ARouter does not speak; their ids become aliases of the
    canonical model instead of separate entries;
  - a dated snapshot (`gpt-4o-2024-08-06`) whose facts equal its undated model is folded into
    it (lookups strip date suffixes); one whose facts differ stays its own entry;
  - batch, flex, priority, regional and per-second prices are dropped: ARouter sends standard
    requests.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SOURCE_FILE = "litellm/model_prices_and_context_window_backup.json"
# (version, sha256 of SOURCE_FILE inside that wheel, date the wheel was pinned)
PINS = [
    ("1.110.2", "8943af58bf9f979c6a4bef815687117ffa341e462a41faed9be17b5c33d3dcc2", "2026-12-06"),
    ("1.81.0", "a28db57d4f3ff11cf4476cf7591da41b0d2c259b90e0f2c2352e6d795b2253e1", "2026-12-06"),
    ("1.80.0", "3087c6346c60ba8da7a0f2e0abcd39480b7d8d3993c31b0aabae28b640fad567", "2026-12-06"),
]

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/arouter-core/src/catalog.json"
ALIASES = ROOT / "scripts/catalog-aliases.json"

MODES = {"chat", "responses", "embedding"}

# LiteLLM provider -> (host slug in the catalog, vendor slug for canonical ids or None for a
# host of other vendors' open models). Order = preference when several hosts serve one model.
PROVIDERS = {
    "openai": ("openai", "openai"),
    "anthropic": ("anthropic", "anthropic"),
    "gemini": ("google", "google"),
    "mistral": ("mistralai", "mistralai"),
    "deepseek": ("deepseek", "deepseek"),
    "xai": ("x-ai", "x-ai"),
    "moonshot": ("moonshotai", "moonshotai"),
    "zai": ("z-ai", "z-ai"),
    "openrouter": ("openrouter", None),
    "groq": ("groq", None),
    "together_ai": ("together", None),
    "fireworks_ai": ("fireworks", None),
    "deepinfra": ("deepinfra", None),
    "cerebras": ("cerebras", None),
    "perplexity": ("perplexity", "perplexity"),
}

# Extra sampling parameters each vendor's API accepts (OpenRouter's parameter names).
VENDOR_PARAMS = {
    "openai": ["frequency_penalty", "presence_penalty", "seed", "logit_bias", "logprobs",
               "top_logprobs"],
    "anthropic": ["top_k"],
    "google": ["top_k", "seed", "frequency_penalty", "presence_penalty"],
    "mistralai": ["seed", "frequency_penalty", "presence_penalty"],
    "deepseek": ["frequency_penalty", "presence_penalty", "logprobs", "top_logprobs"],
    "x-ai": ["seed", "logprobs", "top_logprobs"],
    "perplexity": ["top_k", "frequency_penalty", "presence_penalty"],
}
OPEN_HOST_PARAMS = ["seed", "frequency_penalty", "presence_penalty"]

DATE_RE = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|\d{4})$")
TIER_RE = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")


def fetch_source(version: str, cache: Path) -> bytes:
    """The price map inside litellm==version's wheel (pip download, no dependencies)."""
    cache.mkdir(parents=True, exist_ok=True)
    wheels = [p for p in cache.glob(f"litellm-{version}-*.whl")]
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"litellm=={version}", "--no-deps",
             "--only-binary", ":all:", "-d", str(cache), "-q"],
            check=True,
        )
        wheels = [p for p in cache.glob(f"litellm-{version}-*.whl")]
    with zipfile.ZipFile(wheels[0]) as z:
        return z.read(SOURCE_FILE)


def per_mtok(v) -> float | None:
    """USD per token -> USD per million tokens, without float noise."""
    if not isinstance(v, (int, float)):
        return None
    return round(v * 1e6, 6)


def canonical_model(vendor: str, name: str) -> str:
    """OpenRouter-style model part: Anthropic's `claude-sonnet-4-5` is `claude-sonnet-4.5`."""
    if vendor == "anthropic":
        name = re.sub(r"(?<=-)(\d)-(\d)(?=$|-)", r"\1.\2", name)
    return name


def open_model_id(api: str) -> str | None:
    """A host's Hugging Face style name (`meta-llama/Llama-3.3-70B-Instruct-Turbo`) as an
    OpenRouter-style canonical id (`meta-llama/llama-3.3-70b-instruct`)."""
    if api.startswith("accounts/"):
        return None
    if "/" not in api:
        return None
    org, model = api.split("/", 1)
    model = re.sub(r"-(turbo|fp8|fp16|bf16)$", "", model, flags=re.I)
    return f"{org.lower()}/{model.lower()}"


def tier_of(v: dict) -> dict | None:
    """The lowest above-N-tokens price tier, applied to the whole request when the prompt
    exceeds N tokens (how Gemini, Anthropic's 1M context and OpenAI's long context bill)."""
    found = sorted(int(m.group(1)) for k in v if (m := TIER_RE.match(k)))
    if not found:
        return None
    n = found[0]
    sfx = f"_above_{n}k_tokens"
    t = {"at": n * 1000}
    for key, src in (("in", "input_cost_per_token"), ("o", "output_cost_per_token"),
                     ("cr", "cache_read_input_token_cost"),
                     ("cw", "cache_creation_input_token_cost")):
        p = per_mtok(v.get(src + sfx))
        if p is not None:
            t[key] = p
    return t if len(t) > 1 else None


def params_of(v: dict, vendor_or_host: str, open_host: bool) -> list[str]:
    if v.get("mode") == "embedding":
        return ["dimensions"] if v.get("output_vector_size") else []
    p = ["max_tokens", "stop"]
    reasoning = bool(v.get("supports_reasoning"))
    openai_reasoning = vendor_or_host == "openai" and reasoning
    if v.get("supports_sampling_params") is not False and not openai_reasoning:
        p += ["temperature", "top_p"]
        p += OPEN_HOST_PARAMS if open_host else VENDOR_PARAMS.get(vendor_or_host, [])
    if v.get("supports_function_calling"):
        p.append("tools")
    if v.get("supports_tool_choice") or v.get("supports_function_calling"):
        p.append("tool_choice")
    if v.get("supports_parallel_function_calling"):
        p.append("parallel_tool_calls")
    if v.get("supports_response_schema"):
        p += ["response_format", "structured_outputs"]
    if reasoning:
        p += ["reasoning", "include_reasoning"]
    if v.get("supports_web_search"):
        p.append("web_search_options")
    out = []
    for x in p:
        if x not in out:
            out.append(x)
    return out


def caps_of(v: dict) -> list[str]:
    if v.get("mode") == "embedding":
        return ["embeddings"]
    c = []
    for cap, flag in (("tools", "supports_function_calling"),
                      ("json_schema", "supports_response_schema"),
                      ("json_object", "supports_response_schema"),
                      ("reasoning", "supports_reasoning"), ("vision", "supports_vision"),
                      ("pdf", "supports_pdf_input"), ("audio", "supports_audio_input"),
                      ("caching", "supports_prompt_caching"),
                      ("web_search", "supports_web_search")):
        if v.get(flag) and cap not in c:
            c.append(cap)
    if v.get("mode") == "responses":
        c.append("responses_only")
    return c


def row_of(key: str, v: dict) -> dict | None:
    prov = v.get("litellm_provider")
    if prov not in PROVIDERS or v.get("mode") not in MODES:
        return None
    host, vendor = PROVIDERS[prov]
    api = key.split("/", 1)[1] if key.startswith(prov + "/") else key
    if "/" in key and not key.startswith(prov + "/") and prov not in ("openai", "anthropic"):
        return None  # region- or deployment-prefixed duplicates
    if prov in ("openai", "anthropic") and "/" in key:
        return None  # `ft:`, `azure/...` style keys filed under the vendor
    inp, out = per_mtok(v.get("input_cost_per_token")), per_mtok(v.get("output_cost_per_token"))
    if inp is None and out is None and v.get("input_cost_per_request") is None:
        return None  # a listing without prices adds nothing over a live refresh
    if vendor:
        cid = f"{vendor}/{canonical_model(vendor, api)}"
    elif prov == "openrouter":
        cid = api
    else:
        cid = open_model_id(api) or f"{host}/{api}"
    r = {"id": cid, "host": host}
    if api != cid.split("/", 1)[1] or "/" in api:
        r["api"] = api
    if v.get("mode") == "embedding":
        r["mode"] = "embedding"
    r["ctx"] = int(v.get("max_input_tokens") or v.get("max_tokens") or 0)
    r["out"] = int(v.get("max_output_tokens") or 0) if v.get("mode") != "embedding" else 0
    r["in"] = inp or 0.0
    r["o"] = out or 0.0
    cr = per_mtok(v.get("cache_read_input_token_cost"))
    cw = per_mtok(v.get("cache_creation_input_token_cost"))
    if cr is not None and cr != r["in"]:
        r["cr"] = cr
    if cw is not None and cw != r["in"]:
        r["cw"] = cw
    rp = per_mtok(v.get("output_cost_per_reasoning_token"))
    if rp is not None and rp != r["o"]:
        r["r"] = rp
    if isinstance(v.get("input_cost_per_request"), (int, float)) and v["input_cost_per_request"]:
        r["req"] = v["input_cost_per_request"]
    if isinstance(v.get("input_cost_per_image"), (int, float)) and v["input_cost_per_image"]:
        r["img"] = v["input_cost_per_image"]
    if t := tier_of(v):
        r["tier"] = t
    r["caps"] = caps_of(v)
    r["params"] = params_of(v, host if vendor else host, vendor is None)
    return r


def facts(r: dict) -> dict:
    return {k: v for k, v in r.items() if k not in ("id", "api")}


def cloud_alias(key: str, v: dict) -> str | None:
    """Bedrock / Vertex / Azure ids reduced to the vendor's own model name."""
    prov = v.get("litellm_provider") or ""
    if not (prov.startswith("bedrock") or prov.startswith("vertex_ai") or prov.startswith("azure")):
        return None
    name = key.split("/")[-1]
    name = re.sub(r"^(?:[a-z]{2}(?:-gov)?\.|global\.|apac\.)", "", name)
    name = re.sub(r"^(anthropic|meta|mistral|amazon|cohere|deepseek|openai|qwen|xai)\.", "", name)
    name = re.sub(r"-v\d+(:\d+)?$", "", name)
    name = re.sub(r"@.*$", "", name)
    return name


def norm(s: str) -> str:
    s = s.lower()
    if s.startswith("models/"):
        s = s[7:]
    return s.replace(".", "-")


def model_flags(sources: list[tuple[str, dict]]) -> dict[str, dict]:
    """`supports_*` flags any listing (cloud, gateway or vendor) sets for a model name: what a
    model can do does not depend on who resells it, and older listings often omit flags."""
    flags: dict[str, dict] = {}
    for _version, data in sources:
        for key, v in data.items():
            if not isinstance(v, dict) or v.get("mode") not in MODES:
                continue
            name = norm(DATE_RE.sub("", cloud_alias(key, {"litellm_provider": "bedrock"}) or key))
            f = flags.setdefault(name, {})
            for k, x in v.items():
                if k.startswith("supports_") and x is True:
                    f[k] = True
    return flags


def build(sources: list[tuple[str, dict]], manual_aliases: dict) -> dict:
    rows: dict[tuple[str, str], dict] = {}  # (host, api) -> row
    seen_keys: set[str] = set()
    cloud: list[tuple[str, dict]] = []
    flags = model_flags(sources)
    for _version, data in sources:
        # A provider-prefixed key (`deepseek/deepseek-chat`) is the provider's own listing and
        # wins over a bare duplicate (`deepseek-chat`).
        prefixed = sorted(data, key=lambda k: not (isinstance(data[k], dict) and
                          k.startswith(f"{data[k].get('litellm_provider')}/")))
        for key in prefixed:
            v = data[key]
            if key == "sample_spec" or not isinstance(v, dict) or key in seen_keys:
                continue
            seen_keys.add(key)
            prov = v.get("litellm_provider")
            if PROVIDERS.get(prov, (None, None))[1] or prov == "openrouter":
                name = norm(DATE_RE.sub("", key.split("/")[-1]))
                v = {**flags.get(name, {}), **v}
            r = row_of(key, v)
            if r is None:
                if cloud_alias(key, v):
                    cloud.append((key, v))
                continue
            api = r.get("api", r["id"].split("/", 1)[1])
            rows.setdefault((r["host"], api), r)
    # Fold dated snapshots whose facts equal their undated model.
    by_host_api = {(h, norm(a)): r for (h, a), r in rows.items()}
    out_rows = []
    folded = 0
    for (host, api), r in rows.items():
        m = DATE_RE.search(api)
        base = by_host_api.get((host, norm(api[: m.start()]))) if m else None
        if base is not None and base is not r and facts(base) == facts(r):
            folded += 1
            continue
        out_rows.append(r)
    host_rank = {h: i for i, (h, _v) in enumerate(PROVIDERS.values())}
    out_rows.sort(key=lambda r: (host_rank[r["host"]], r["id"], r.get("api", "")))
    # A host's private name (`groq/llama-3.3-70b-versatile`) takes the canonical id the
    # alias table gives it (`meta-llama/llama-3.3-70b-instruct`), so aggregators get that id.
    by_id = {norm(r["id"]): r for r in out_rows}
    for alias, target in manual_aliases.items():
        r = by_id.get(norm(target))
        open_host = r is not None and r["host"] in {h for h, vendor in PROVIDERS.values() if not vendor}
        if open_host and "/" in alias and r["id"].startswith(r["host"] + "/") and r["id"] != alias:
            if "api" not in r:
                r["api"] = r["id"].split("/", 1)[1]
            r["id"] = alias
    # Aliases: cloud ids, then the hand-kept table for names no source links.
    known = {}
    for r in out_rows:
        known.setdefault(norm(r["id"]), r["id"])
        known.setdefault(norm(r.get("api", r["id"].split("/", 1)[1])), r["id"])
    aliases = {}
    for key, v in cloud:
        name = cloud_alias(key, v)
        short = norm(DATE_RE.sub("", name))
        target = known.get(short) or known.get(norm(name))
        if target and norm(key) not in known:
            aliases[key] = target
    for alias, target in manual_aliases.items():
        if alias.startswith("_"):
            continue
        t = known.get(norm(target)) or by_id.get(norm(target), {}).get("id")
        if not t:
            sys.exit(f"scripts/catalog-aliases.json: {alias} -> {target}: no such model")
        if norm(alias) != norm(t):
            aliases[alias] = t
    return {"rows": out_rows, "aliases": dict(sorted(aliases.items())), "folded": folded}


def dump(catalog: dict) -> str:
    """One model per line: small diffs when the pin moves."""
    head = {k: v for k, v in catalog.items() if k not in ("models", "aliases")}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))},")
    lines.append('"aliases":' + json.dumps(catalog["aliases"], separators=(",", ":")) + ",")
    lines.append('"models":[')
    ms = catalog["models"]
    for i, m in enumerate(ms):
        lines.append(json.dumps(m, separators=(",", ":")) + ("," if i + 1 < len(ms) else ""))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pin", help="move the primary pin to this litellm version")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "arouter-litellm"))
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    pins = list(PINS)
    if args.pin:
        pins[0] = (args.pin, None, None)
    sources, meta = [], []
    for version, sha, date in pins:
        raw = fetch_source(version, Path(args.cache) / version)
        digest = hashlib.sha256(raw).hexdigest()
        if sha and digest != sha:
            sys.exit(f"litellm {version}: {SOURCE_FILE} sha256 {digest}, pinned {sha}")
        if not sha:
            print(f"litellm {version}: sha256 {digest} (record it in PINS)", file=sys.stderr)
        sources.append((version, json.loads(raw)))
        meta.append({"package": f"litellm=={version}", "sha256": digest,
                     "pinned": date or "unpinned"})
    built = build(sources, json.loads(ALIASES.read_text()))
    catalog = {
        "source": {
            "name": "LiteLLM model price map",
            "file": SOURCE_FILE,
            "license": "MIT",
            "pins": meta,
            "generator": "scripts/gen-catalog.py",
        },
        "filter": "chat, responses and embedding models of directly routable providers; "
                  "see scripts/gen-catalog.py",
        "aliases": built["aliases"],
        "models": built["rows"],
    }
    text = dump(catalog)
    Path(args.out).write_text(text)
    print(f"{args.out}: {len(built['rows'])} models, {len(built['aliases'])} aliases, "
          f"{built['folded']} dated snapshots folded, {len(text)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
