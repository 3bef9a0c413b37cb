// Usage: range and grouping pickers, stacked daily bars, and the breakdown table with totals.

import { h, fill, card, pageHeader, emptyState, badge } from '../dom.js';
import { RANGES, rangeStart, localDay, stackDaily, formatUsd, formatInt, formatTokens } from '../format.js';
import { stackedBars } from '../chart.js';

const GROUPS = [
  { key: 'app', label: 'App' },
  { key: 'model', label: 'Model' },
  { key: 'provider', label: 'Provider' },
  { key: 'key', label: 'Key' },
];
const METRICS = [
  { key: 'cost', label: 'Cost', format: formatUsd },
  { key: 'requests', label: 'Requests', format: formatInt },
  { key: 'tokens', label: 'Tokens', format: formatTokens },
];

/** @param {HTMLElement} root @param {import('../app.js').Ctx} ctx */
export async function render(root, ctx) {
  const q = ctx.route.query;
  const range = RANGES.some((r) => r.key === q.range) ? q.range : '7d';
  const by = GROUPS.some((g) => g.key === q.by) ? q.by : 'app';
  const metric = METRICS.find((m) => m.key === q.metric) || METRICS[0];
  const now = new Date();
  const since = rangeStart(/** @type {any} */ (range), now);
  const [usage, daily] = await Promise.all([
    ctx.api.usage({ since: since.getTime(), by: /** @type {any} */ (by) }),
    ctx.api.usageDaily({ since: since.getTime(), by: /** @type {any} */ (by) }),
  ]);
  const go = (patch) => {
    const next = { range, by, metric: metric.key, ...patch };
    ctx.go(`#/usage?${new URLSearchParams(next)}`);
  };
  const controls = h('div', { class: 'toolbar' },
    h('div', { class: 'segmented', role: 'group', 'aria-label': 'Range' }, RANGES.map((r) => h('button', {
      type: 'button', class: 'seg', 'aria-pressed': String(r.key === range), onclick: () => go({ range: r.key }),
    }, r.label))),
    h('label', { class: 'inline-label' }, 'Group by ', h('select', { 'data-testid': 'group-by', onchange: (e) => go({ by: e.target.value }) },
      GROUPS.map((g) => h('option', { value: g.key, selected: g.key === by }, g.label)))),
    h('label', { class: 'inline-label' }, 'Chart ', h('select', { onchange: (e) => go({ metric: e.target.value }) },
      METRICS.map((m) => h('option', { value: m.key, selected: m.key === metric.key }, m.label)))));
  const t = usage.totals || {};
  const rows = (usage.data || []).slice().sort((a, b) => b.cost - a.cost || b.requests - a.requests);
  const groupLabel = GROUPS.find((g) => g.key === by)?.label || 'Group';
  const content = !rows.length && !(t.requests > 0)
    ? card(null, null, emptyState('No requests in this range',
      'Point a tool at ARouter (see the snippets on the Overview) with an app key, and its usage shows up here.',
      h('a', { class: 'btn', href: '#/overview' }, 'Setup snippets')))
    : [
      card(`${metric.label} per day`, null, stackedBars(
        stackDaily(daily, metric.key, { from: localDay(since), to: localDay(now) }),
        { format: metric.format, label: metric.label })),
      card(`By ${groupLabel.toLowerCase()}`, null, h('div', { class: 'table-wrap' }, breakdown(rows, t, groupLabel))),
    ];
  fill(root,
    pageHeader('Usage', 'Requests, tokens and cost from the local ledger.'),
    controls,
    totalsRow(t),
    content);
}

/** @param {any} t */
function totalsRow(t) {
  return h('dl', { class: 'stats stats-wide card', 'data-testid': 'usage-totals' },
    h('div', { class: 'stat' }, h('dt', null, 'Requests'), h('dd', null, formatInt(t.requests ?? 0))),
    h('div', { class: 'stat' }, h('dt', null, 'Errors'), h('dd', null, formatInt(t.errors ?? 0))),
    h('div', { class: 'stat' }, h('dt', null, 'Input tokens'), h('dd', null, formatTokens(t.input_tokens ?? 0))),
    h('div', { class: 'stat' }, h('dt', null, 'Output tokens'), h('dd', null, formatTokens(t.output_tokens ?? 0))),
    h('div', { class: 'stat' }, h('dt', null, 'Cost'), h('dd', null, formatUsd(t.cost ?? 0)),
      t.unpriced ? h('div', { class: 'small text-warn' }, unpricedText(t.unpriced)) : null));
}

/** @param {number|boolean} n */
function unpricedText(n) {
  return typeof n === 'number' ? `${formatInt(n)} unpriced request${n === 1 ? '' : 's'}: cost is a lower bound` : 'some requests unpriced: cost is a lower bound';
}

/** @param {import('../api.js').UsageRow[]} rows @param {any} t @param {string} groupLabel */
function breakdown(rows, t, groupLabel) {
  const num = (v) => h('td', { class: 'num' }, v);
  return h('table', { class: 'table', 'data-testid': 'usage-table' },
    h('thead', null, h('tr', null, h('th', null, groupLabel),
      ['Requests', 'Errors', 'Input', 'Output', 'Reasoning', 'Cache read', 'Cache write', 'Cost'].map((c) => h('th', { class: 'num' }, c)))),
    h('tbody', null, rows.map((r) => h('tr', { 'data-group': r.group ?? '' },
      h('td', null, r.group ?? h('span', { class: 'muted' }, '(none)'),
        r.unpriced ? badge(typeof r.unpriced === 'number' ? `${r.unpriced} unpriced` : 'unpriced', 'warn') : null),
      num(formatInt(r.requests)), num(formatInt(r.errors)), num(formatTokens(r.input_tokens)), num(formatTokens(r.output_tokens)),
      num(formatTokens(r.reasoning_tokens)), num(formatTokens(r.cache_read_tokens)), num(formatTokens(r.cache_write_tokens)),
      // A group whose every request is unpriced has no cost to show, not a cost of $0.
      h('td', { class: 'num', 'data-testid': 'cost' }, typeof r.unpriced === 'number' && r.unpriced > 0 && r.unpriced === r.requests ? 'unpriced' : formatUsd(r.cost))))),
    h('tfoot', null, h('tr', null, h('th', null, 'Total'),
      [formatInt(t.requests), formatInt(t.errors), formatTokens(t.input_tokens), formatTokens(t.output_tokens),
        formatTokens(t.reasoning_tokens), formatTokens(t.cache_read_tokens), formatTokens(t.cache_write_tokens), formatUsd(t.cost)]
        .map((v) => h('th', { class: 'num' }, v)))));
}
