// Pure helpers (no DOM): formatting, date ranges, validation, list editing, chart data.
// Kept free of browser globals so `node --test` can exercise them directly.

/** Provider ids the router keeps for its own paths (config.rs RESERVED_PROVIDER_IDS). */
export const RESERVED_PROVIDER_IDS = ['v1', 'v1beta', 'api', 'ui', 'healthz', 'openapi.yaml'];

/** @typedef {'today'|'7d'|'30d'|'90d'|'365d'} RangeKey */
/** @type {{key: RangeKey, label: string, days: number}[]} */
export const RANGES = [
  { key: 'today', label: 'Today', days: 1 },
  { key: '7d', label: '7 days', days: 7 },
  { key: '30d', label: '30 days', days: 30 },
  { key: '90d', label: '90 days', days: 90 },
  { key: '365d', label: '365 days', days: 365 },
];

/**
 * USD for display: whole cents for larger sums, more digits for the tiny amounts LLM calls cost.
 * @param {number|null|undefined} usd
 */
export function formatUsd(usd) {
  if (usd === null || usd === undefined || Number.isNaN(usd)) return '—';
  const n = Number(usd);
  const abs = Math.abs(n);
  let digits = 2;
  if (abs > 0 && abs < 0.01) digits = 6;
  else if (abs > 0 && abs < 1) digits = 4;
  const s = abs.toFixed(digits).replace(/(\.\d\d\d*?)0+$/, '$1');
  return (n < 0 ? '-$' : '$') + s;
}

/** Integer with thousands separators. @param {number|null|undefined} n */
export function formatInt(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return Math.round(Number(n)).toLocaleString('en-US');
}

/** Compact token count: 950, 12.3k, 4.5M. @param {number|null|undefined} n */
export function formatTokens(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  const v = Number(n);
  const abs = Math.abs(v);
  if (abs < 1000) return String(Math.round(v));
  if (abs < 1e6) return trimZero((v / 1e3).toFixed(abs < 1e4 ? 1 : 0)) + 'k';
  if (abs < 1e9) return trimZero((v / 1e6).toFixed(abs < 1e7 ? 2 : 1)) + 'M';
  return trimZero((v / 1e9).toFixed(2)) + 'B';
}

function trimZero(s) {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** Milliseconds as "850 ms" / "2.4 s". @param {number|null|undefined} ms */
export function formatMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${trimZero((ms / 1000).toFixed(ms < 10000 ? 2 : 1))} s`;
}

/** ISO time in the viewer's locale. @param {string|null|undefined} iso */
export function formatDateTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

/**
 * "3 min ago" style; falls back to the date for anything older than a week.
 * @param {string|null|undefined} iso
 * @param {Date} [now]
 */
export function formatAgo(iso, now = new Date()) {
  if (!iso) return 'never';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return String(iso);
  const s = Math.round((now.getTime() - t) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 7 * 86400) return `${Math.floor(s / 86400)} d ago`;
  return formatDateTime(iso);
}

/**
 * USD per token as the catalog gives it (a decimal string) → USD per million tokens, by moving
 * the decimal point rather than multiplying floats ("0.00000015" → "0.15").
 * @param {string|number|null|undefined} perToken
 * @returns {string|null}
 */
export function perMillion(perToken) {
  if (perToken === null || perToken === undefined || perToken === '') return null;
  let s = String(perToken).trim();
  if (!/^-?\d*\.?\d+(e-?\d+)?$/i.test(s)) return null;
  if (/e/i.test(s)) s = Number(s).toFixed(20);
  const neg = s.startsWith('-');
  if (neg) s = s.slice(1);
  let [int, frac = ''] = s.split('.');
  frac = frac.padEnd(6, '0');
  int = (int + frac.slice(0, 6)).replace(/^0+(?=\d)/, '');
  frac = frac.slice(6).replace(/0+$/, '');
  return (neg ? '-' : '') + int + (frac ? '.' + frac : '');
}

/** "$0.15" from a per-token string, "—" when missing. @param {string|null|undefined} perToken */
export function formatPerMillion(perToken) {
  const m = perMillion(perToken);
  return m === null ? '—' : '$' + m;
}

/** Local midnight of `d`. @param {Date} d */
export function startOfDay(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

/**
 * Start of a range as a local-midnight Date: "today" is since midnight, "7d" is today plus the
 * six days before it.
 * @param {RangeKey} key
 * @param {Date} [now]
 */
export function rangeStart(key, now = new Date()) {
  const r = RANGES.find((x) => x.key === key) || RANGES[1];
  const d = startOfDay(now);
  d.setDate(d.getDate() - (r.days - 1));
  return d;
}

/** First day of this month, local midnight. @param {Date} [now] */
export function monthStart(now = new Date()) {
  return new Date(now.getFullYear(), now.getMonth(), 1);
}

/** YYYY-MM-DD of a Date in local time. @param {Date} d */
export function localDay(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/**
 * Every YYYY-MM-DD from `from` to `to` inclusive (both day strings), in order.
 * @param {string} from
 * @param {string} to
 */
export function daySpan(from, to) {
  const out = [];
  const d = new Date(from + 'T00:00:00Z');
  const end = new Date(to + 'T00:00:00Z');
  if (Number.isNaN(d.getTime()) || Number.isNaN(end.getTime())) return out;
  while (d <= end && out.length < 1000) {
    out.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}

/**
 * Query string from params, leaving out null, undefined and empty values.
 * @param {Record<string, string|number|boolean|null|undefined>} params
 */
export function buildQuery(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined || v === '') continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/**
 * Model ids typed as a list: commas, spaces or new lines; trimmed, de-duplicated, in order.
 * @param {string} text
 */
export function parseList(text) {
  const seen = new Set();
  const out = [];
  for (const part of String(text || '').split(/[\s,]+/)) {
    const t = part.trim();
    if (t && !seen.has(t)) {
      seen.add(t);
      out.push(t);
    }
  }
  return out;
}

/**
 * A copy of `list` with the item at `from` moved to index `to` (clamped).
 * @template T
 * @param {T[]} list
 * @param {number} from
 * @param {number} to
 * @returns {T[]}
 */
export function moveItem(list, from, to) {
  const out = list.slice();
  if (from < 0 || from >= out.length) return out;
  const dest = Math.max(0, Math.min(out.length - 1, to));
  const [item] = out.splice(from, 1);
  out.splice(dest, 0, item);
  return out;
}

/** @param {string} s */
function isHttpUrl(s) {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !!u.host;
  } catch {
    return false;
  }
}

/**
 * Checks a provider form before sending. Returns `{field: message}`; empty when valid.
 * @param {{id?: string, kind?: string, base_url?: string, api_key_env?: string}} v
 * @param {{existingIds?: string[], editing?: boolean}} [opts]
 */
export function validateProvider(v, opts = {}) {
  /** @type {Record<string,string>} */
  const errors = {};
  const id = (v.id || '').trim();
  if (!opts.editing) {
    if (!id) errors.id = 'Give the provider an id: it becomes the prefix of its model ids (e.g. "openai").';
    else if (!/^[A-Za-z0-9._-]+$/.test(id)) errors.id = 'Use only letters, digits, "-", "_" and ".".';
    else if (RESERVED_PROVIDER_IDS.includes(id)) errors.id = `"${id}" is reserved for the router's own paths.`;
    else if ((opts.existingIds || []).includes(id)) errors.id = `A provider called "${id}" already exists.`;
  }
  if (!['openai', 'anthropic', 'gemini'].includes(v.kind || '')) {
    errors.kind = 'Choose the wire protocol: openai, anthropic or gemini.';
  }
  const url = (v.base_url || '').trim();
  if (!url) errors.base_url = 'Enter the base URL the vendor SDK uses.';
  else if (!isHttpUrl(url)) errors.base_url = 'Enter a full http:// or https:// URL.';
  const env = (v.api_key_env || '').trim();
  if (env && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(env)) {
    errors.api_key_env = 'An environment variable name: letters, digits and "_", not starting with a digit.';
  }
  return errors;
}

/**
 * Checks a fallback list (alias) before sending.
 * @param {string} name
 * @param {string[]} models
 * @param {{aliases?: string[], editing?: boolean}} [opts]
 */
export function validateAlias(name, models, opts = {}) {
  /** @type {Record<string,string>} */
  const errors = {};
  const n = (name || '').trim();
  if (!n) errors.name = 'Name the list; tools use the name as the model (e.g. "fast").';
  else if (n.includes('/')) errors.name = 'A list name cannot contain "/" (that is how model ids look).';
  else if (/\s/.test(n)) errors.name = 'A list name cannot contain spaces.';
  else if (!opts.editing && (opts.aliases || []).includes(n)) errors.name = `A list called "${n}" already exists.`;
  if (!models.length) errors.models = 'Add at least one model.';
  const bad = models.find((m) => m === n || (!m.includes('/') && !(opts.aliases || []).includes(m)));
  if (!errors.models && bad) {
    errors.models = bad === n
      ? 'A list cannot contain itself.'
      : `"${bad}" is neither a provider/model id nor another list.`;
  }
  return errors;
}

/**
 * Parses an optional non-negative number field. `''` → null.
 * @param {string} raw
 * @returns {{value: number|null, error?: string}}
 */
export function optionalNumber(raw, { integer = false, min = 0 } = {}) {
  const s = String(raw ?? '').trim();
  if (!s) return { value: null };
  const n = Number(s);
  if (!Number.isFinite(n)) return { value: null, error: 'Enter a number.' };
  if (n < min) return { value: null, error: `Must be at least ${min}.` };
  if (integer && !Number.isInteger(n)) return { value: null, error: 'Enter a whole number.' };
  return { value: n };
}

/**
 * Checks the create/edit key form. Returns the body to send and per-field errors.
 * @param {{name: string, rpm: string, limit: string, limit_reset: string}} v
 */
export function validateKeyForm(v) {
  /** @type {Record<string,string>} */
  const errors = {};
  const name = (v.name || '').trim();
  if (!name) errors.name = 'Name the key after the app that will use it (e.g. "cursor").';
  else if (name.length > 100) errors.name = 'Keep the name under 100 characters.';
  const rpm = optionalNumber(v.rpm, { integer: true, min: 1 });
  if (rpm.error) errors.rpm = rpm.error;
  const limit = optionalNumber(v.limit, { min: 0 });
  if (limit.error) errors.limit = limit.error;
  const reset = v.limit_reset || null;
  if (reset && !['daily', 'weekly', 'monthly'].includes(reset)) errors.limit_reset = 'Choose daily, weekly or monthly.';
  if (reset && limit.value === null && !limit.error) errors.limit_reset = 'A reset period needs a limit.';
  return {
    errors,
    body: { name, rpm: rpm.value, limit: limit.value, limit_reset: reset },
  };
}

/**
 * Checks a price override form (USD per million tokens).
 * @param {{input: string, output: string, cache_read: string, cache_write: string, context: string}} v
 */
export function validateOverride(v) {
  /** @type {Record<string,string>} */
  const errors = {};
  /** @type {Record<string, number>} */
  const body = {};
  const fields = [
    ['input', 'input_per_mtok', true],
    ['output', 'output_per_mtok', true],
    ['cache_read', 'cache_read_per_mtok', false],
    ['cache_write', 'cache_write_per_mtok', false],
  ];
  for (const [field, key, required] of fields) {
    const r = optionalNumber(v[field]);
    if (r.error) errors[field] = r.error;
    else if (r.value === null && required) errors[field] = 'Required (0 for free).';
    else if (r.value !== null) body[key] = r.value;
  }
  const ctx = optionalNumber(v.context, { integer: true, min: 1 });
  if (ctx.error) errors.context = ctx.error;
  else if (ctx.value !== null) body.context_length = ctx.value;
  return { errors, body };
}

/**
 * Splits `provider/model` at the first slash (the rest may contain more slashes).
 * @param {string} id
 * @returns {{provider: string, model: string}|null}
 */
export function splitModelId(id) {
  const i = String(id || '').indexOf('/');
  if (i <= 0 || i === id.length - 1) return null;
  return { provider: id.slice(0, i), model: id.slice(i + 1) };
}

/**
 * Daily rows → the stacked-bar series: one column per day (gaps filled), one stack per group,
 * groups ordered by their total (largest first). Groups beyond `maxGroups` are summed as "other".
 * @param {{day: string, group: string|null, [metric: string]: any}[]} rows
 * @param {string} metric  "cost" | "requests" | "tokens" (input + output)
 * @param {{from: string, to: string, maxGroups?: number}} span
 */
export function stackDaily(rows, metric, span) {
  const value = (r) => metric === 'tokens'
    ? Number(r.input_tokens || 0) + Number(r.output_tokens || 0)
    : Number(r[metric] || 0);
  const days = (rows || []).map((r) => r.day).filter(Boolean).sort();
  const from = days.length && days[0] < span.from ? days[0] : span.from;
  const to = days.length && days[days.length - 1] > span.to ? days[days.length - 1] : span.to;
  const axis = daySpan(from, to);
  const totals = new Map();
  for (const r of rows || []) {
    const g = r.group ?? '(none)';
    totals.set(g, (totals.get(g) || 0) + value(r));
  }
  let groups = [...totals.entries()].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0]))).map((e) => e[0]);
  const max = span.maxGroups ?? 8;
  const kept = new Set(groups.slice(0, max));
  if (groups.length > max) groups = [...groups.slice(0, max), 'other'];
  const index = new Map(axis.map((d, i) => [d, i]));
  const series = groups.map(() => axis.map(() => 0));
  for (const r of rows || []) {
    const col = index.get(r.day);
    if (col === undefined) continue;
    const g = r.group ?? '(none)';
    const gi = kept.has(g) ? groups.indexOf(g) : groups.length - 1;
    series[gi][col] += value(r);
  }
  const dayTotals = axis.map((_, i) => series.reduce((s, row) => s + row[i], 0));
  return { days: axis, groups, series, dayTotals, max: Math.max(0, ...dayTotals) };
}

/**
 * Round axis ticks from 0 to at least `max` (about `count` of them).
 * @param {number} max
 * @param {number} [count]
 */
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const ticks = [];
  for (let t = 0; t < max + step * 0.999; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

/**
 * "1–50 of 120" and whether previous/next pages exist.
 * @param {number} total
 * @param {number} offset
 * @param {number} limit
 */
export function pageInfo(total, offset, limit) {
  const start = total === 0 ? 0 : offset + 1;
  const end = Math.min(total, offset + limit);
  return {
    label: total === 0 ? 'No results' : `${formatInt(start)}–${formatInt(end)} of ${formatInt(total)}`,
    hasPrev: offset > 0,
    hasNext: offset + limit < total,
    prevOffset: Math.max(0, offset - limit),
    nextOffset: offset + limit,
  };
}

/**
 * Parses the hash route: "#/history/gen-1?app=x" → {page: "history", rest: ["gen-1"], query}.
 * @param {string} hash
 */
export function parseRoute(hash) {
  const h = String(hash || '').replace(/^#/, '');
  const [path, qs = ''] = h.split('?');
  const parts = path.split('/').filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  /** @type {Record<string,string>} */
  const query = {};
  for (const [k, v] of new URLSearchParams(qs)) query[k] = v;
  return { page: parts[0] || 'overview', rest: parts.slice(1), query };
}

/**
 * The one-time login token from a "#token=..." hash, or null.
 * @param {string} hash
 */
export function tokenFromHash(hash) {
  const m = /^#token=([^&]+)/.exec(String(hash || ''));
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

/**
 * Whether a request row succeeded: the ledger may give "ok"/"error" or an HTTP status.
 * @param {string|number|null|undefined} status
 */
export function isOkStatus(status) {
  if (typeof status === 'number') return status >= 200 && status < 300;
  const s = String(status ?? '').trim();
  if (/^\d+$/.test(s)) return Number(s) >= 200 && Number(s) < 300;
  return s === 'ok' || s === 'success';
}

/** File name for the CSV export. @param {Date} [now] */
export function csvFileName(now = new Date()) {
  return `arouter-usage-${localDay(now)}.csv`;
}
