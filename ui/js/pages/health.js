// Health: how each provider has been doing lately (state, error rate, p50/p95 latency and time
// to first token over the last 15 minutes, last error) and whether usage rows were ever lost,
// so a person can see why a tool is slow or failing without reading logs.

import { h, fill, pageHeader, emptyState, badge, errorBox } from '../dom.js';
import { formatMs, formatAgo } from '../format.js';

/** How often the open page re-reads the numbers. */
const REFRESH_MS = 10_000;

/** @type {Record<string, [string, string, string]>} state → [label, badge kind, explanation] */
const STATES = {
  ok: ['ok', 'ok', 'Its latest attempt succeeded.'],
  cooling_down: ['cooling down', 'warn', 'It failed several times in a row; ARouter tries it after healthy providers until the cooldown passes.'],
  failing: ['failing', 'error', 'Its latest attempt failed.'],
  unknown: ['no traffic yet', 'muted', 'No request has reached it since ARouter started.'],
};

/** @param {string} state */
export function stateBadge(state) {
  const [label, kind, why] = STATES[state] || [state, 'muted', ''];
  const b = badge(label, kind);
  b.title = why;
  b.setAttribute('data-testid', 'health-state');
  return b;
}

/** "12% (3 of 25)" or "—". @param {{attempts: number, errors: number, error_rate: number|null}} r */
export function errorRateText(r) {
  if (!r || !r.attempts) return '—';
  const pct = Math.round((r.error_rate ?? 0) * 1000) / 10;
  return `${pct}% (${r.errors} of ${r.attempts})`;
}

/** "850 ms / 2.4 s" (p50 / p95). @param {{p50: number|null, p95: number|null}} q */
export function quantilesText(q) {
  if (!q || q.p50 === null || q.p50 === undefined) return '—';
  return `${formatMs(q.p50)} / ${formatMs(q.p95)}`;
}

/** @param {any} p */
function providerRow(p) {
  const r = p.recent || {};
  const last = p.last_error
    ? h('div', null,
      h('div', { class: 'text-error', 'data-testid': 'health-last-error' }, p.last_error),
      h('div', { class: 'muted' }, formatAgo(p.last_error_at_ms ? new Date(p.last_error_at_ms).toISOString() : null)))
    : h('span', { class: 'muted' }, 'none');
  return h('tr', { 'data-provider': p.id },
    h('td', null, h('strong', null, p.id), ' ', h('span', { class: 'muted' }, p.kind)),
    h('td', null, stateBadge(p.state)),
    h('td', { class: 'num', 'data-testid': 'health-error-rate' }, errorRateText(r)),
    h('td', { class: 'num', 'data-testid': 'health-latency' }, quantilesText(r.latency_ms)),
    h('td', { class: 'num', 'data-testid': 'health-ttft' }, quantilesText(r.ttft_ms)),
    h('td', null, last));
}

/** @param {any} data */
function view(data) {
  const lost = data.ledger?.rows_lost || 0;
  const providers = data.providers || [];
  const table = providers.length
    ? h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'health-table' },
      h('thead', null, h('tr', null,
        h('th', null, 'Provider'), h('th', null, 'State'), h('th', { class: 'num' }, 'Errors'),
        h('th', { class: 'num' }, 'Latency p50 / p95'), h('th', { class: 'num' }, 'First token p50 / p95'),
        h('th', null, 'Last error'))),
      h('tbody', null, providers.map(providerRow))))
    : emptyState('No providers configured', 'Add a provider on the Providers page; its health shows here once requests reach it.');
  const traces = data.traces?.enabled
    ? h('p', { class: 'muted', 'data-testid': 'health-traces' },
      `Traces: ${data.traces.exported} spans exported, ${data.traces.dropped} dropped (collector unreachable or too slow).`)
    : null;
  return [
    lost > 0
      ? h('div', { class: 'alert alert-error', 'data-testid': 'rows-lost' },
        `${lost} usage ${lost === 1 ? 'row was' : 'rows were'} lost since ARouter started (the ledger could not be written). Usage and budgets miss ${lost === 1 ? 'that request' : 'those requests'}; the log says why.`)
      : null,
    h('section', { class: 'card' },
      h('p', { class: 'muted' }, 'Errors and timings cover each provider\'s last 256 attempts within 15 minutes. Latency runs from the request\'s arrival to its last byte; first token is for streamed answers.'),
      table),
    traces,
  ];
}

/** @param {HTMLElement} root @param {import('../app.js').Ctx} ctx */
export async function render(root, ctx) {
  const body = h('div', { 'data-testid': 'health-body' });
  const refresh = h('button', { type: 'button', class: 'btn', 'data-testid': 'health-refresh', onclick: () => load() }, 'Refresh');
  const load = async () => {
    try {
      fill(body, ...view(await ctx.api.health()));
    } catch (err) {
      if (err && err.status === 401) return;
      fill(body, errorBox(err));
    }
  };
  await load();
  fill(root, pageHeader('Health', 'Is each provider answering, how fast, and what failed last.', refresh), body);
  const timer = setInterval(() => {
    if (!root.isConnected) clearInterval(timer); else load();
  }, REFRESH_MS);
}
