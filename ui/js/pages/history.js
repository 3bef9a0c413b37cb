// History: the request log with filters and paging, and one request's detail (timings, tokens,
// cost, failed attempts, stored request/response).

import { h, fill, card, pageHeader, emptyState, badge, pager, copyButton } from '../dom.js';
import { formatUsd, formatInt, formatTokens, formatMs, formatDateTime, formatAgo, buildQuery, isOkStatus } from '../format.js';

const PAGE = 50;
const FILTERS = ['app', 'model', 'provider', 'status', 'streamed'];

/** @param {HTMLElement} root @param {import('../app.js').Ctx} ctx */
export async function render(root, ctx) {
  if (ctx.route.rest[0]) return renderDetail(root, ctx, ctx.route.rest[0]);
  const q = ctx.route.query;
  const offset = Math.max(0, parseInt(q.offset || '0', 10) || 0);
  const filters = Object.fromEntries(FILTERS.map((k) => [k, q[k] || '']));
  const list = await ctx.api.requests({ limit: PAGE, offset, ...filters });
  const go = (patch) => ctx.go(`#/history${buildQuery({ ...filters, offset: offset || '', ...patch })}`);
  fill(root,
    pageHeader('History', 'Every request, newest first. Failed attempts of a request that fell back are listed with it.'),
    filterBar(filters, (f) => go({ ...f, offset: '' })),
    list.data.length
      ? card(null, null,
        h('div', { class: 'table-wrap' }, requestTable(list.data)),
        pager({ total: list.total, offset, limit: PAGE, onPage: (o) => go({ offset: o || '' }) }))
      : card(null, null, Object.values(filters).some(Boolean)
        ? emptyState('No request matches these filters', 'Clear a filter or widen it.', h('a', { class: 'btn', href: '#/history' }, 'Clear filters'))
        : emptyState('No requests yet', 'Send a request with an app key (see the Overview for snippets) and it shows up here.', h('a', { class: 'btn', href: '#/overview' }, 'Setup snippets'))));
}

/** @param {Record<string,string>} f @param {(f: Record<string,string>) => void} apply */
function filterBar(f, apply) {
  const text = (name, label, placeholder) => h('label', { class: 'filter' }, label,
    h('input', { type: 'search', name, value: f[name], placeholder, spellcheck: 'false' }));
  const form = h('form', {
    class: 'toolbar filters',
    onsubmit: (e) => {
      e.preventDefault();
      const data = new FormData(/** @type {HTMLFormElement} */ (form));
      apply(Object.fromEntries(FILTERS.map((k) => [k, String(data.get(k) || '').trim()])));
    },
  },
  text('app', 'App', 'any'),
  text('model', 'Model', 'any'),
  text('provider', 'Provider', 'any'),
  h('label', { class: 'filter' }, 'Status', h('select', { name: 'status' },
    [['', 'any'], ['ok', 'ok'], ['error', 'error']].map(([v, l]) => h('option', { value: v, selected: f.status === v }, l)))),
  h('label', { class: 'filter' }, 'Streamed', h('select', { name: 'streamed' },
    [['', 'any'], ['true', 'yes'], ['false', 'no']].map(([v, l]) => h('option', { value: v, selected: f.streamed === v }, l)))),
  h('div', { class: 'actions' },
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Filter'),
    h('a', { class: 'btn', href: '#/history' }, 'Clear')));
  return form;
}

/** @param {import('../api.js').RequestRow[]} rows */
function requestTable(rows) {
  return h('table', { class: 'table table-click', 'data-testid': 'requests-table' },
    h('thead', null, h('tr', null, ['Time', 'App', 'Model', 'Provider', 'Tokens in → out', 'Cost', 'Latency', 'Status']
      .map((c, i) => h('th', { class: i >= 4 && i <= 6 ? 'num' : null }, c)))),
    h('tbody', null, rows.map((r) => {
      const href = `#/history/${encodeURIComponent(r.id)}`;
      return h('tr', { 'data-id': r.id, onclick: (e) => { if (!(e.target instanceof HTMLAnchorElement)) location.hash = href; } },
        h('td', null, h('a', { href, title: formatDateTime(r.created_at) }, formatAgo(r.created_at))),
        h('td', null, r.app ?? '—'),
        h('td', null, h('code', null, r.served_model || r.requested_model || '—'),
          r.requested_model && r.served_model && r.requested_model !== r.served_model ? h('div', { class: 'muted small' }, `asked ${r.requested_model}`) : null),
        h('td', null, r.provider ?? '—'),
        h('td', { class: 'num' }, `${formatTokens(r.input_tokens)} → ${formatTokens(r.output_tokens)}`,
          r.estimated ? badge('estimated', 'warn') : null),
        h('td', { class: 'num' }, formatUsd(r.cost), r.priced === false ? badge('unpriced', 'warn') : null),
        h('td', { class: 'num' }, formatMs(r.latency_ms)),
        h('td', null, statusBadge(r), r.streamed ? badge('stream', 'muted') : null));
    })));
}

/** @param {import('../api.js').RequestRow} r */
function statusBadge(r) {
  if (isOkStatus(r.status)) return badge('ok', 'ok');
  const code = typeof r.status === 'number' || /^\d+$/.test(String(r.status)) ? ` ${r.status}` : '';
  return badge(`error${code}`, 'error');
}

/** @param {HTMLElement} root @param {import('../app.js').Ctx} ctx @param {string} id */
async function renderDetail(root, ctx, id) {
  const r = await ctx.api.request(id);
  const fact = (label, value) => [h('dt', null, label), h('dd', null, value ?? '—')];
  fill(root,
    h('p', null, h('a', { href: '#/history' }, '← History')),
    pageHeader(`Request ${r.id}`, formatDateTime(r.created_at), statusBadge(r)),
    r.error ? h('div', { class: 'alert alert-error' }, r.error) : null,
    h('div', { class: 'grid-2' },
      card('Routing', null, h('dl', { class: 'facts' },
        fact('App', r.app), fact('Key', r.key_name),
        fact('Surface', [r.surface, r.endpoint].filter(Boolean).join(' · ') || null),
        fact('Requested model', r.requested_model ? h('code', null, r.requested_model) : null),
        fact('Served model', r.served_model ? h('code', null, r.served_model) : null),
        fact('Provider', r.provider),
        fact('Attempt', r.attempt != null ? formatInt(r.attempt) : null),
        fact('Finish reason', r.finish_reason))),
      card('Timing and cost', null, h('dl', { class: 'facts', 'data-testid': 'detail-cost' },
        fact('Latency', formatMs(r.latency_ms)),
        fact('Time to first token', formatMs(r.ttft_ms)),
        fact('Streamed', r.streamed ? 'yes' : 'no'),
        fact('Input tokens', formatInt(r.input_tokens)),
        fact('Output tokens', formatInt(r.output_tokens)),
        fact('Reasoning tokens', formatInt(r.reasoning_tokens)),
        fact('Cache read / write', `${formatInt(r.cache_read_tokens)} / ${formatInt(r.cache_write_tokens)}`),
        fact('Cost', [formatUsd(r.cost), r.priced === false ? badge('unpriced: model has no price', 'warn') : null,
          r.estimated ? badge('estimated: the client left before the upstream reported usage', 'warn') : null])))),
    r.attempts?.length
      ? card(`Failed attempts (${r.attempts.length})`, null, h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
        h('thead', null, h('tr', null, ['Attempt', 'Model', 'Provider', 'Latency', 'Error'].map((c) => h('th', null, c)))),
        h('tbody', null, r.attempts.map((a) => h('tr', null,
          h('td', null, a.attempt != null ? formatInt(a.attempt) : a.id),
          h('td', null, h('code', null, a.served_model || a.requested_model || '—')),
          h('td', null, a.provider ?? '—'),
          h('td', null, formatMs(a.latency_ms)),
          h('td', { class: 'text-error' }, a.error || a.status)))))))
      : null,
    jsonCard('Request body', r.request),
    jsonCard('Response body', r.response));
}

/** @param {string} title @param {any} body */
function jsonCard(title, body) {
  if (body === null || body === undefined) {
    return card(title, null, h('p', { class: 'muted' }, 'Not stored. Turn on content logging in Settings to keep request and response bodies.'));
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2);
  return card(title, copyButton(text), h('pre', { class: 'code json' }, h('code', null, text)));
}
